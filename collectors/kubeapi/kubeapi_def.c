// SPDX-License-Identifier: Apache-2.0
// The kubeapi collector in the collector table: no capability beyond dropping privileges, the
// credential files it keeps reading, the network syscalls of its HTTPS client, its config keys
// (collectors.kubeapi.*).
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>

#include "kubeapi_config.h"
#include "kubeapi_res.h"
#include "registry.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* The token is re-read when it rotates (projected tokens: about hourly); the CA file and the
 * client certificate are read by TLS at every new connection. Paths given in the config
 * outside these directories are added by the worker before the sandbox (kubeapi.c). */
static const char *const read_paths[] = {SA_DIR, "/run/secrets/kubernetes.io/serviceaccount",
					 "/proc/self", "/etc/ssl/certs", NULL};

/* libcurl + OpenSSL on non-blocking TCP sockets. */
static const char *const extra_syscalls[] = {
	"socket",   "connect",	 "getsockopt", "setsockopt", "getsockname",   "getpeername",
	"sendto",   "recvfrom",	 "sendmsg",    "recvmsg",    "poll",	      "ppoll",
	"shutdown", "getrandom", "newfstatat", "fstat",	     "statx",	      "uname",
	"pipe2",    "eventfd2",	 "socketpair", "getpid",     "clock_gettime", NULL};

static const char *const watch_list_names[] = {"auto", "on", "off", NULL};

#define C struct config_kubeapi
static const struct config_key keys[] = {
	CONFIG_STRING(
		C, "api_server", api_server, "", NULL,
		"\"\" = in cluster (https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)"),
	CONFIG_STRING(C, "kubeconfig", kubeconfig, "", NULL,
		      "a kubeconfig file instead (file paths only; exec plugins unsupported)"),
	CONFIG_STRING(C, "token_file", token_file, SA_DIR "/token", NULL,
		      "bearer token, re-read when it changes; \"\" = none"),
	CONFIG_STRING(C, "ca_file", ca_file, SA_DIR "/ca.crt", NULL,
		      "CA the server must verify with"),
	CONFIG_STRING(C, "cert_file", cert_file, "", NULL, "client certificate; \"\" = none"),
	CONFIG_STRING(C, "key_file", key_file, "", NULL, "its key; \"\" = in cert_file"),
	CONFIG_LIST(C, "resources", resources, 1, 32,
		    "[] = pods services endpointslices deployments replicasets statefulsets "
		    "daemonsets jobs cronjobs nodes namespaces events configmaps secrets "
		    "networkpolicies"),
	CONFIG_LIST(C, "namespaces_include", namespaces_include, 1, 63,
		    "[] = all; else one watch per namespace"),
	CONFIG_LIST(C, "namespaces_exclude", namespaces_exclude, 1, 63,
		    "a field selector metadata.namespace!=NS on every request"),
	CONFIG_LIST(C, "annotations", annotations, 1, 253, "annotation keys copied into events"),
	CONFIG_BOOL(C, "pods_all_nodes", pods_all_nodes, false,
		    "false: only this node's pods (spec.nodeName=<node_name>)"),
	CONFIG_BOOL(C, "initial_events", initial_events, true,
		    "ADDED for every object the first list finds"),
	CONFIG_ENUM(C, "watch_list", watch_list, enum config_kubeapi_watch_list,
		    CONFIG_KUBEAPI_WATCH_LIST_AUTO, watch_list_names,
		    "initial state by watch (sendInitialEvents); auto: list+watch where refused"),
	CONFIG_U32(C, "max_object_kib", max_object_kib, 2048, 16, 65536,
		   "a larger object is skipped and counted"),
	CONFIG_U32(C, "page_size", page_size, 500, 1, 10000, "list pages (limit=)"),
	CONFIG_U32(C, "watch_timeout_s", watch_timeout_s, 300, 1, 3600,
		   "server-side watch timeout, jittered up to twice this"),
	CONFIG_U32(C, "backoff_initial_ms", backoff_initial_ms, 800, 10, 600000, NULL),
	CONFIG_U32(C, "backoff_max_ms", backoff_max_ms, 30000, 10, 3600000, "with ±50 % jitter"),
	CONFIG_U32(C, "probe_timeout_ms", probe_timeout_ms, 5000, 100, 60000,
		   "reachability and RBAC probe before READY"),
};
#undef C

static int check(const struct config *cfg, const void *section, const char **ret_key, char *msg,
		 size_t size)
{
	const struct config_kubeapi *c = section;
	for (size_t i = 0; i < c->resources.n; i++) {
		if (kubeapi_resource_find(c->resources.items[i]) < 0) {
			*ret_key = "resources";
			snprintf(msg, size, "unknown resource '%s'", c->resources.items[i]);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < c->annotations.n; i++) {
		if (strcmp(c->annotations.items[i],
			   "kubectl.kubernetes.io/last-applied-configuration") == 0) {
			*ret_key = "annotations";
			snprintf(msg, size,
				 "last-applied-configuration holds whole objects "
				 "(Secret data included): never copied");
			return -EINVAL;
		}
	}
	if (c->namespaces_include.n && c->namespaces_exclude.n) {
		*ret_key = "namespaces_exclude";
		snprintf(msg, size, "use namespaces_include or namespaces_exclude, not both");
		return -EINVAL;
	}
	if (c->backoff_initial_ms > c->backoff_max_ms) {
		*ret_key = "backoff_initial_ms";
		snprintf(msg, size, "above backoff_max_ms");
		return -EINVAL;
	}
	return 0;
}

const struct registry_entry collector_def_kubeapi = {
	.name = "kubeapi",
	.id_slot = 6,
	.setup_caps = REGISTRY_CAPS_SANDBOX,
	.read_paths = read_paths,
	.extra_syscalls = extra_syscalls,
	.pod_metadata = REGISTRY_POD_METADATA_OWNERS, /* its Pod events: uid → top owner */
	.enabled = false,
	.config_size = sizeof(struct config_kubeapi),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "the cluster's objects and their relations: list+watch of the kube-apiserver\n"
		   "(README: collectors/kubeapi/)",
	.check = check,
};
