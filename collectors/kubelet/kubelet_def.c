// SPDX-License-Identifier: Apache-2.0
// The kubelet collector in the collector table: capabilities, paths, syscalls and config keys
// (collectors.kubelet.*) with their checks.
#include <errno.h>
#include <linux/capability.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kubelet_config.h"
#include "registry.h"

/* The token, CA and client files come from the config: the worker declares their directories
 * itself (worker_add_read_path), and the kubelet's port (worker_allow_connect). */
static const char *const read_paths[] = {"/proc/self", "/sys/fs/cgroup", "/etc/ssl/certs",
					 "/usr/share/ca-certificates", NULL};
/* libcurl after the sandbox: new connections to the kubelet (socket, connect, name lookup of
 * the local address), TLS reads and writes, its own poll(2) with a zero timeout. */
static const char *const extra_syscalls[] = {
	"socket",      "connect",  "getsockopt", "setsockopt", "getsockname",
	"getpeername", "recvfrom", "recvmsg",	 "poll",       "ppoll",
	"shutdown",    "pipe2",	   "socketpair", "eventfd2",   NULL,
};

#define C struct config_kubelet
static const struct config_key keys[] = {
	CONFIG_STRING(C, "url", url, "https://127.0.0.1:10250", NULL,
		      "the kubelet's API; https:// unless allow_http"),
	CONFIG_STRING(C, "token_file", token_file,
		      "/var/run/secrets/kubernetes.io/serviceaccount/token", NULL,
		      "bearer token, re-read when it rotates; \"\" = none"),
	CONFIG_STRING(C, "ca_file", ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
		      NULL, "CA of the kubelet's serving certificate; \"\" = the system's"),
	CONFIG_STRING(C, "cert_file", cert_file, "", NULL, "client certificate (PEM), optional"),
	CONFIG_STRING(C, "key_file", key_file, "", NULL, "its key, when not in cert_file"),
	CONFIG_BOOL(C, "allow_http", allow_http, false, "permit an http:// url (tests only)"),
	CONFIG_U32(C, "poll_interval_ms", poll_interval_ms, 10000, 1000, 3600000,
		   "/pods and /stats/summary"),
	CONFIG_U32(C, "request_timeout_ms", request_timeout_ms, 5000, 100, 60000, NULL),
	CONFIG_U32(C, "backoff_max_ms", backoff_max_ms, 60000, 1000, 3600000,
		   "retry delay cap while the kubelet fails"),
	CONFIG_U32(C, "node_stats_interval_ms", node_stats_interval_ms, 60000, 1000, 86400000,
		   "kubelet.node_stats"),
	CONFIG_U32(C, "cgroup_interval_ms", cgroup_interval_ms, 5000, 1000, 3600000,
		   "cpu.stat and memory reads per container"),
	CONFIG_U32(C, "max_response_kib", max_response_kib, 16384, 64, 262144,
		   "a larger answer is rejected and counted"),
	CONFIG_STRING(C, "cgroup_root", cgroup_root, "/sys/fs/cgroup", NULL, NULL),
	CONFIG_U32(C, "crash_loop_restarts", crash_loop_restarts, 3, 1, 100000,
		   "crash_loop at this many restarts, then at each doubling"),
	CONFIG_U32(C, "throttle_ratio_pct", throttle_ratio_pct, 25, 1, 100,
		   "throttled periods share"),
	CONFIG_U32(C, "throttle_usage_pct", throttle_usage_pct, 80, 1, 100,
		   "... and usage of the CPU limit"),
	CONFIG_U32(C, "memory_limit_pct", memory_limit_pct, 90, 10, 100,
		   "working set of the memory limit"),
	CONFIG_U32(C, "ephemeral_storage_mib", ephemeral_storage_mib, 10240, 1, 16777216,
		   "per pod, when it has no ephemeral-storage limit"),
	CONFIG_U32(C, "ephemeral_storage_pct", ephemeral_storage_pct, 90, 1, 100,
		   "of its ephemeral-storage limit"),
	CONFIG_U32(C, "memory_available_mib", memory_available_mib, 100, 1, 1048576,
		   "MemoryPressure below (the kubelet's default eviction threshold)"),
	CONFIG_U32(C, "nodefs_available_pct", nodefs_available_pct, 10, 1, 99,
		   "DiskPressure below"),
	CONFIG_U32(C, "imagefs_available_pct", imagefs_available_pct, 15, 1, 99,
		   "DiskPressure below"),
	CONFIG_U32(C, "pid_available_pct", pid_available_pct, 10, 1, 99, "PIDPressure below"),
};
#undef C

static int check(const struct config *cfg, const void *section, const char **ret_key, char *msg,
		 size_t size)
{
	const struct config_kubelet *c = section;
	if (strncmp(c->url, "https://", 8) != 0 &&
	    !(c->allow_http && strncmp(c->url, "http://", 7) == 0)) {
		*ret_key = "url";
		snprintf(msg, size,
			 "must start with https:// (http:// only with allow_http: true)");
		return -EINVAL;
	}
	const char *p = strstr(c->url, "://") + 3;
	if (!*p || *p == '/' || strlen(c->url) > 1024) {
		*ret_key = "url";
		snprintf(msg, size, "names no host");
		return -EINVAL;
	}
	if (c->key_file[0] && !c->cert_file[0]) {
		*ret_key = "key_file";
		snprintf(msg, size, "set without cert_file");
		return -EINVAL;
	}
	static const struct {
		const char *key;
		size_t off;
	} files[] = {
		{"token_file", offsetof(struct config_kubelet, token_file)},
		{"ca_file", offsetof(struct config_kubelet, ca_file)},
		{"cert_file", offsetof(struct config_kubelet, cert_file)},
		{"key_file", offsetof(struct config_kubelet, key_file)},
		{"cgroup_root", offsetof(struct config_kubelet, cgroup_root)},
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *v = *(char *const *)((const char *)c + files[i].off);
		if (v[0] && (v[0] != '/' || strlen(v) > 512)) {
			*ret_key = files[i].key;
			snprintf(msg, size, "must be an absolute path (at most 512 characters)");
			return -EINVAL;
		}
	}
	if (!c->cgroup_root[0]) {
		*ret_key = "cgroup_root";
		snprintf(msg, size, "must not be empty");
		return -EINVAL;
	}
	return 0;
}

const struct registry_entry collector_def_kubelet = {
	.name = "kubelet",
	.id_slot = 7,
	.setup_caps = REGISTRY_CAPS_SANDBOX, /* only what switching to its own uid needs */
	.read_paths = read_paths,
	.extra_syscalls = extra_syscalls,
	.bpf_map_read = 0,
	.enabled = false,
	.config_size = sizeof(struct config_kubelet),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "pod and container health from the kubelet's API, CPU throttling and memory\n"
		   "limits from cgroups (README: collectors/kubelet/)",
	.check = check,
};
