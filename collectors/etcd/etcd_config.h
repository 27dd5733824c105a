/* SPDX-License-Identifier: Apache-2.0 */
/* The etcd collector's config section, collectors.etcd.
 * Keys, defaults and ranges: etcd_def.c. */
#pragma once
#include "config.h"

#define ETCD_ENDPOINTS_MAX 16 /* endpoints in the list (one allowed connect port each) */

enum config_etcd_value_policy {
	CONFIG_ETCD_VALUE_NONE = 0,	/* size only */
	CONFIG_ETCD_VALUE_DIGEST = 1,	/* size and sha256 */
	CONFIG_ETCD_VALUE_METADATA = 2, /* size, sha256 and the object's type and ObjectMeta */
};

struct config_etcd {
	struct config_collector_common common;
	/* [http://|https://]host:port, tried in order; empty = 127.0.0.1:2379 */
	struct config_string_list endpoints;
	char *prefix; /* owned; the watched key prefix */
	enum config_etcd_value_policy value_policy;
	char *credentials_file; /* owned; "" = no auth; one line "user:password" */
	bool tls;		/* TLS to every endpoint (also implied by https:// or a CA file) */
	char *tls_ca_file;	/* owned; "" = the system store */
	char *tls_cert_file;	/* owned; client certificate (PEM), "" = none */
	char *tls_key_file;	/* owned; its key (PEM), "" = in the certificate file */
	char *tls_server_name;	/* owned; "" = the endpoint's host */
	char *state_file;	/* owned; "" = no resume across restarts */
	uint32_t rpc_timeout_ms;
	uint32_t health_interval_ms;
	uint32_t reconnect_ms; /* the longest wait between reconnect rounds (backoff cap) */
	uint32_t state_interval_ms;
	uint32_t page_size;	    /* keys per Range page when listing */
	bool sync_trace;	    /* eBPF: disk-sync latency of the etcd process */
	uint32_t sync_threshold_ms; /* etcd.slow_fsync over this (0: every call) */
	char *sync_comm;	    /* owned; the etcd process by name ... */
	uint32_t sync_pid;	    /* ... or by pid (0: by name) */
};
