/* SPDX-License-Identifier: Apache-2.0 */
/* The kubeapi collector's config section, collectors.kubeapi.
 * Keys, defaults and ranges: kubeapi_def.c. */
#pragma once
#include "config.h"

/* watch_list: the initial state streamed by a watch (sendInitialEvents=true, Kubernetes 1.27+
 * with the WatchList feature) instead of a paged list. */
enum config_kubeapi_watch_list {
	CONFIG_KUBEAPI_WATCH_LIST_AUTO = 0, /* used; list+watch where the server rejects it */
	CONFIG_KUBEAPI_WATCH_LIST_ON = 1,   /* used; a rejection is an error (retried) */
	CONFIG_KUBEAPI_WATCH_LIST_OFF = 2,  /* list+watch only */
};

struct config_kubeapi {
	struct config_collector_common common;
	char *api_server; /* owned; "" = in cluster: https://$KUBERNETES_SERVICE_HOST:PORT */
	char *kubeconfig; /* owned; "" = none; else server, CA and credentials come from it */
	char *token_file; /* owned; bearer token, re-read when it changes; "" = none */
	char *ca_file;	  /* owned; CA bundle the server is verified with */
	char *cert_file;  /* owned; client certificate; "" = none */
	char *key_file;	  /* owned; its key; "" = in cert_file */
	struct config_string_list resources;	      /* [] = all of kubeapi_resources[] */
	struct config_string_list namespaces_include; /* [] = all */
	struct config_string_list namespaces_exclude;
	struct config_string_list annotations; /* annotation keys copied into events */
	bool pods_all_nodes;		       /* false: spec.nodeName=<this node> */
	bool initial_events;		       /* ADDED for what the first list finds */
	enum config_kubeapi_watch_list watch_list;
	uint32_t max_object_kib;  /* a larger object is skipped and counted */
	uint32_t page_size;	  /* list pages (limit=) */
	uint32_t watch_timeout_s; /* server-side timeoutSeconds, jittered up to 2x */
	uint32_t backoff_initial_ms;
	uint32_t backoff_max_ms;
	uint32_t probe_timeout_ms; /* the reachability/RBAC probe during setup */
};
