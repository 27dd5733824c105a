/* SPDX-License-Identifier: Apache-2.0 */
/* Metrics and health over HTTP (http.c): GET /metrics (Prometheus text format 0.0.4), /healthz
 * and /readyz, served on tapiod's loop by a small HTTP/1.1 responder. Like control.c it only
 * reads struct sup; nothing below calls it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "strbuf.h"
#include "sup.h"

struct http_conn;

struct http_server {
	struct sup *sup; /* borrowed */
	uv_tcp_t listener;
	bool open;
	struct http_conn *conns; /* owned list */
	unsigned n_conns;
	uint64_t requests, refused;
};

/* Listen on http.address:http.port. A failure is logged and returned; tapiod runs on. */
int http_open(struct http_server *h, struct sup *sup);
void http_close(struct http_server *h);

/* The bodies, for tests: the /metrics text; whether tapiod is ready (and why not). */
int http_render_metrics(const struct sup *sup, struct strbuf *out);
bool http_ready(const struct sup *sup, char *why, size_t why_len);
