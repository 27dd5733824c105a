// SPDX-License-Identifier: Apache-2.0
// The etcd collector in the collector table: its config keys (collectors.etcd.*).
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>

#include "etcd_config.h"
#include "registry.h"

static const char *const read_paths[] = {"/proc/self", NULL};
/* Rewriting the state file (opened during setup) in place; reconnecting to the configured
 * endpoints (their ports only, by Landlock; addresses resolved and TLS files read in setup). */
static const char *const extra_syscalls[] = {"ftruncate",   "socket",	  "connect",
					     "setsockopt",  "getsockopt", "getsockname",
					     "getpeername", NULL};
static const char *const policy_names[] = {"none", "digest", "metadata", NULL};

#define C struct config_etcd
static const struct config_key keys[] = {
	CONFIG_LIST(C, "endpoints", endpoints, 3, 255,
		    "[https://]host:port of etcd members, tried in order (empty: 127.0.0.1:2379)"),
	CONFIG_STRING(C, "prefix", prefix, "/registry/", NULL, "the watched key prefix"),
	CONFIG_ENUM(
		C, "value_policy", value_policy, enum config_etcd_value_policy,
		CONFIG_ETCD_VALUE_METADATA, policy_names,
		"what of a value is emitted: none (size), digest, metadata (never Secret data)"),
	CONFIG_STRING(C, "credentials_file", credentials_file, "", NULL,
		      "\"\" = no auth; a file with one line user:password"),
	CONFIG_BOOL(C, "tls", tls, false, "TLS (implied by https:// endpoints or a CA file)"),
	CONFIG_STRING(C, "tls_ca_file", tls_ca_file, "", NULL, "\"\" = the system store"),
	CONFIG_STRING(C, "tls_cert_file", tls_cert_file, "", NULL,
		      "client certificate (PEM); etcd of Kubernetes wants one"),
	CONFIG_STRING(C, "tls_key_file", tls_key_file, "", NULL,
		      "its key (PEM); \"\" = in the certificate file"),
	CONFIG_STRING(C, "tls_server_name", tls_server_name, "", NULL,
		      "name the server certificate must have (\"\" = endpoint host)"),
	CONFIG_STRING(C, "state_file", state_file, "/var/lib/tapio/etcd.state", NULL,
		      "last revision and keys, to resume across restarts (\"\" = none)"),
	CONFIG_U32(C, "rpc_timeout_ms", rpc_timeout_ms, 5000, 100, 60000, "per-RPC deadline"),
	CONFIG_U32(C, "health_interval_ms", health_interval_ms, 10000, 100, 3600000,
		   "etcd.health summaries and change checks"),
	CONFIG_U32(C, "reconnect_ms", reconnect_ms, 5000, 100, 600000,
		   "longest wait between reconnect rounds (backoff with jitter)"),
	CONFIG_U32(C, "state_interval_ms", state_interval_ms, 5000, 100, 3600000, NULL),
	CONFIG_U32(C, "page_size", page_size, 500, 1, 100000, "keys per Range when listing"),
	CONFIG_BOOL(C, "sync_trace", sync_trace, true,
		    "eBPF: fdatasync/fsync/sync_file_range latency of the etcd process"),
	CONFIG_U32(C, "sync_threshold_ms", sync_threshold_ms, 10, 0, 60000,
		   "etcd.slow_fsync for a sync over this (etcd's WAL fsync p99 guidance)"),
	CONFIG_STRING(C, "sync_comm", sync_comm, "etcd", NULL, "the etcd process by name ..."),
	CONFIG_U32(C, "sync_pid", sync_pid, 0, 0, 4194304, "... or by pid (0: by name)"),
};
#undef C

static int check(const struct config *all, const void *section, const char **ret_key, char *msg,
		 size_t size)
{
	(void)all;
	const struct config_etcd *c = section;
	if (c->endpoints.n > ETCD_ENDPOINTS_MAX) {
		*ret_key = "endpoints";
		snprintf(msg, size, "at most %d endpoints", ETCD_ENDPOINTS_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->endpoints.n; i++) {
		const char *e = c->endpoints.items[i];
		if (strncmp(e, "https://", 8) == 0)
			e += 8;
		else if (strncmp(e, "http://", 7) == 0)
			e += 7;
		const char *colon = strrchr(e, ':');
		if (!colon || colon == e || colon[1] == '\0') {
			*ret_key = "endpoints";
			snprintf(msg, size, "'%s' is not host:port", e);
			return -EINVAL;
		}
	}
	if (c->tls_key_file && *c->tls_key_file && !(c->tls_cert_file && *c->tls_cert_file)) {
		*ret_key = "tls_key_file";
		snprintf(msg, size, "set without tls_cert_file");
		return -EINVAL;
	}
	if (!c->sync_comm || strlen(c->sync_comm) > 15) {
		*ret_key = "sync_comm";
		snprintf(msg, size, "a process name has at most 15 characters");
		return -EINVAL;
	}
	if (!c->prefix || c->prefix[0] != '/') {
		*ret_key = "prefix";
		snprintf(msg, size, "must start with '/'");
		return -EINVAL;
	}
	return 0;
}

/* The client connects over TCP to the configured endpoints, during setup and again from the
 * running worker (connect() to their ports only); a lost connection fails over to the next
 * endpoint and resumes the watch after the last revision emitted. BPF capabilities for the
 * disk-sync tracer (optional: without them the API part runs and the tracer is reported
 * missing). */
const struct registry_entry collector_def_etcd = {
	.name = "etcd",
	.id_slot = 4,
	.setup_caps = REGISTRY_CAPS_SANDBOX | REGISTRY_CAPS_BPF_TRACING,
	.read_paths = read_paths,
	.extra_syscalls = extra_syscalls,
	.bpf_map_read = 1, /* the latency histogram */
	.enabled = false,
	.config_size = sizeof(struct config_etcd),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "etcd: every change below a prefix (Kubernetes keys and values understood,\n"
		   "Secret values never emitted) and etcd's health (README: collectors/etcd/)",
	.check = check,
};
