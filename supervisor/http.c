// SPDX-License-Identifier: Apache-2.0
// /metrics, /healthz and /readyz on tapiod's loop. A responder of its own rather than
// libmicrohttpd: on the loop, a scrape reads struct sup between two events, so the snapshot is
// consistent without a lock or a second thread; it answers only `GET <path>` (4 KiB of request
// at most, 5 s to send it, 16 connections) and closes after each answer.
#include <arpa/inet.h>
#include <errno.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "http.h"
#include "log.h"
#include "policy.h"
#include "timeconv.h"
#include "wire.h"

#ifndef TAPIO_VERSION
#define TAPIO_VERSION "dev"
#endif

#define REQUEST_MAX 4096
#define CONNS_MAX   16
#define TIMEOUT_MS  5000
#define METRICS_MAX (4u << 20)

struct http_conn {
	struct http_server *h;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	char req[REQUEST_MAX];
	size_t len;
	struct strbuf resp;
	bool answered;
	int handles; /* open handles; freed when both are closed */
	struct http_conn *next;
};

/* ---- the bodies ---------------------------------------------------------------------------- */

/* utime + stime of a process in seconds, from /proc/PID/stat; -1 when unknown. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	/* After the name: state (3) ... utime (14), stime (15). */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	return hz > 0 ? (double)(ut + st) / (double)hz : -1;
}

static void help(struct strbuf *o, const char *name, const char *type, const char *text)
{
	strbuf_appendf(o, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

int http_render_metrics(const struct sup *sup, struct strbuf *o)
{
	uint64_t now = timeconv_now_mono_ns();
	help(o, "tapio_build_info", "gauge", "tapiod's version and protocol; always 1.");
	strbuf_appendf(o,
		       "tapio_build_info{version=\"%s\",protocol=\"%u\",libnats=\"%s\",node=\"%s\","
		       "run_id=\"%s\"} 1\n",
		       TAPIO_VERSION, (unsigned)WIRE_PROTOCOL_VERSION, nats_GetVersion(),
		       sup->cfg->node_name, sup->run_id);
	help(o, "tapio_uptime_seconds", "gauge", "Seconds since tapiod started.");
	strbuf_appendf(o, "tapio_uptime_seconds %.3f\n", (double)(now - sup->start_mono_ns) / 1e9);

	help(o, "tapio_collector_state", "gauge",
	     "1 for the state each collector is in, 0 for the others.");
	for (size_t i = 0; i < sup->n_children; i++)
		for (int s = 0; s < CHILD_STATE_MAX; s++)
			strbuf_appendf(
				o, "tapio_collector_state{collector=\"%s\",state=\"%s\"} %d\n",
				sup->children[i].reg->name, policy_state_name((enum child_state)s),
				sup->children[i].state == (enum child_state)s);
	struct {
		const char *name, *type, *help;
		size_t off; /* in struct child_counters; SIZE_MAX: restarts */
	} counters[] = {
		{"tapio_collector_restarts_total", "counter", "Worker restarts.", SIZE_MAX},
		{"tapio_collector_events_total", "counter", "Events received from the worker.",
		 offsetof(struct child_counters, events)},
		{"tapio_collector_filtered_events_total", "counter",
		 "Events the worker filtered out on purpose.",
		 offsetof(struct child_counters, filtered)},
		{"tapio_collector_protocol_errors_total", "counter",
		 "Frames that broke the protocol (the worker was killed).",
		 offsetof(struct child_counters, protocol_errors)},
		{"tapio_collector_sandbox_violations_total", "counter", "Worker deaths by SIGSYS.",
		 offsetof(struct child_counters, sandbox_violations)},
		{"tapio_collector_degraded_transitions_total", "counter",
		 "A running worker went from READY to DEGRADED (its source went away).",
		 offsetof(struct child_counters, degraded_transitions)},
	};
	for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		help(o, counters[k].name, counters[k].type, counters[k].help);
		for (size_t i = 0; i < sup->n_children; i++) {
			const struct child *c = &sup->children[i];
			uint64_t v = counters[k].off == SIZE_MAX
					     ? c->restarts
					     : *(const uint64_t *)((const char *)&c->cnt +
								   counters[k].off);
			strbuf_appendf(o, "%s{collector=\"%s\"} %llu\n", counters[k].name,
				       c->reg->name, (unsigned long long)v);
		}
	}
	/* Loss per hop, from the kernel to the sinks. */
	help(o, "tapio_collector_dropped_events_total", "counter",
	     "Events lost, by the hop that lost them.");
	for (size_t i = 0; i < sup->n_children; i++) {
		const struct child *c = &sup->children[i];
		const struct {
			const char *hop;
			uint64_t v;
		} hops[] = {
			{"kernel", c->cnt.kernel_drops},
			{"worker_queue", c->cnt.queue_drops},
			{"decode", c->cnt.decode_errors},
			{"sequence_gap", c->cnt.seq_gaps},
			{"sink_queue", c->cnt.sink_queue_drops},
		};
		for (size_t k = 0; k < sizeof(hops) / sizeof(hops[0]); k++)
			strbuf_appendf(o,
				       "tapio_collector_dropped_events_total{collector=\"%s\","
				       "hop=\"%s\"} %llu\n",
				       c->reg->name, hops[k].hop, (unsigned long long)hops[k].v);
	}
	help(o, "tapio_worker_resident_memory_bytes", "gauge", "RSS of the running worker.");
	for (size_t i = 0; i < sup->n_children; i++) {
		const struct child *c = &sup->children[i];
		if (c->pid > 0)
			strbuf_appendf(
				o, "tapio_worker_resident_memory_bytes{collector=\"%s\"} %llu\n",
				c->reg->name, (unsigned long long)budget_rss_kib(c->pid) * 1024ull);
	}
	help(o, "tapio_worker_cpu_seconds_total", "counter",
	     "CPU time (user + system) of the running worker.");
	for (size_t i = 0; i < sup->n_children; i++) {
		const struct child *c = &sup->children[i];
		double cpu = c->pid > 0 ? cpu_seconds(c->pid) : -1;
		if (cpu >= 0)
			strbuf_appendf(o, "tapio_worker_cpu_seconds_total{collector=\"%s\"} %.2f\n",
				       c->reg->name, cpu);
	}
	double self_cpu = cpu_seconds(getpid());
	help(o, "tapio_supervisor_resident_memory_bytes", "gauge", "RSS of tapiod.");
	strbuf_appendf(o, "tapio_supervisor_resident_memory_bytes %llu\n",
		       (unsigned long long)budget_rss_kib(getpid()) * 1024ull);
	help(o, "tapio_supervisor_cpu_seconds_total", "counter", "CPU time of tapiod.");
	strbuf_appendf(o, "tapio_supervisor_cpu_seconds_total %.2f\n", self_cpu < 0 ? 0 : self_cpu);

	struct sink_stats st[SINKS_MAX];
	for (size_t i = 0; i < sup->sinks.n; i++)
		sup->sinks.v[i]->ops->stats(sup->sinks.v[i], &st[i]);
	struct {
		const char *name, *type, *help;
		size_t off;
		bool spooled; /* only for sinks with a spool */
	} sk[] = {
		{"tapio_sink_events_total", "counter", "Events a sink took.",
		 offsetof(struct sink_stats, written), false},
		{"tapio_sink_dropped_events_total", "counter", "Events a sink dropped.",
		 offsetof(struct sink_stats, dropped), false},
		{"tapio_sink_write_errors_total", "counter", "Failed writes or publishes.",
		 offsetof(struct sink_stats, write_errors), false},
		{"tapio_sink_queue_bytes", "gauge", "Bytes waiting in a sink's memory queue.",
		 offsetof(struct sink_stats, queued_bytes), false},
		{"tapio_sink_acknowledged_events_total", "counter",
		 "Events the destination acknowledged (NATS JetStream).",
		 offsetof(struct sink_stats, acked), true},
		{"tapio_sink_spool_bytes", "gauge",
		 "Bytes in a sink's disk spool not yet acknowledged.",
		 offsetof(struct sink_stats, spool_bytes), true},
	};
	for (size_t k = 0; k < sizeof(sk) / sizeof(sk[0]); k++) {
		help(o, sk[k].name, sk[k].type, sk[k].help);
		for (size_t i = 0; i < sup->sinks.n; i++)
			if (!sk[k].spooled || st[i].spooled)
				strbuf_appendf(o, "%s{sink=\"%s\"} %llu\n", sk[k].name,
					       sup->sinks.v[i]->name,
					       (unsigned long long)*(
						       const uint64_t *)((const char *)&st[i] +
									 sk[k].off));
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t wall = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	help(o, "tapio_sink_spool_oldest_age_seconds", "gauge",
	     "Age of the oldest event in a sink's spool (0 when empty).");
	for (size_t i = 0; i < sup->sinks.n; i++) {
		if (!st[i].spooled)
			continue;
		double age = st[i].spool_oldest_ns && wall > st[i].spool_oldest_ns
				     ? (double)(wall - st[i].spool_oldest_ns) / 1e9
				     : 0;
		strbuf_appendf(o, "tapio_sink_spool_oldest_age_seconds{sink=\"%s\"} %.3f\n",
			       sup->sinks.v[i]->name, age);
	}
	help(o, "tapio_sink_up", "gauge", "1 when a sink can deliver now.");
	for (size_t i = 0; i < sup->sinks.n; i++)
		strbuf_appendf(o, "tapio_sink_up{sink=\"%s\"} %d\n", sup->sinks.v[i]->name,
			       !st[i].failing);
	char why[8];
	help(o, "tapio_ready", "gauge", "1 when /readyz answers 200.");
	return strbuf_appendf(o, "tapio_ready %d\n", http_ready(sup, why, sizeof(why)));
}

bool http_ready(const struct sup *sup, char *why, size_t why_len)
{
	for (size_t i = 0; i < sup->n_children; i++) {
		const struct child *c = &sup->children[i];
		if (c->state != CHILD_READY && c->state != CHILD_DEGRADED) {
			snprintf(why, why_len, "collector %s is %s", c->reg->name,
				 policy_state_name(c->state));
			return false;
		}
	}
	for (size_t i = 0; i < sup->sinks.n; i++) {
		struct sink_stats st;
		sup->sinks.v[i]->ops->stats(sup->sinks.v[i], &st);
		if (st.failing) {
			snprintf(why, why_len, "sink %s is failing", sup->sinks.v[i]->name);
			return false;
		}
	}
	/* DEGRADED is running (it still serves what it can): ready, and said so */
	size_t o = (size_t)snprintf(why, why_len, "ready");
	for (size_t i = 0; i < sup->n_children && o < why_len; i++) {
		const struct child *c = &sup->children[i];
		if (c->state == CHILD_DEGRADED)
			o += (size_t)snprintf(why + o, why_len - o, "; %s DEGRADED: %s",
					      c->reg->name,
					      c->degraded_reason ? c->degraded_reason : "?");
	}
	return true;
}

/* ---- the responder ------------------------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *handle)
{
	struct http_conn *c = handle->data;
	if (--c->handles)
		return;
	struct http_server *h = c->h;
	for (struct http_conn **p = &h->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	h->n_conns--;
	strbuf_release(&c->resp);
	free(c);
}

static void conn_close(struct http_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
	conn_close(req->data);
}

static void respond(struct http_conn *c, int code, const char *type, const struct strbuf *body)
{
	const char *reason = code == 200   ? "OK"
			     : code == 404 ? "Not Found"
			     : code == 405 ? "Method Not Allowed"
			     : code == 503 ? "Service Unavailable"
					   : "Bad Request";
	c->answered = true;
	strbuf_init(&c->resp, METRICS_MAX + 1024);
	strbuf_appendf(&c->resp,
		       "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\nCache-Control: no-store\r\n\r\n",
		       code, reason, type, body ? body->len : 0);
	if (body && body->len)
		strbuf_append(&c->resp, body->data, body->len);
	uv_buf_t b = uv_buf_init(c->resp.data, (unsigned)c->resp.len);
	c->wr.data = c;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
		conn_close(c);
}

static void respond_text(struct http_conn *c, int code, const char *text)
{
	struct strbuf b;
	strbuf_init(&b, 4096);
	strbuf_append_str(&b, text);
	respond(c, code, "text/plain; charset=utf-8", &b);
	strbuf_release(&b);
}

static void handle_request(struct http_conn *c)
{
	struct http_server *h = c->h;
	h->requests++;
	char method[8], target[256];
	if (sscanf(c->req, "%7s %255s HTTP/1.", method, target) != 2) {
		respond_text(c, 400, "bad request\n");
		return;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head) {
		respond_text(c, 405, "only GET\n");
		return;
	}
	target[strcspn(target, "?")] = '\0';
	if (strcmp(target, "/metrics") == 0) {
		struct strbuf b;
		strbuf_init(&b, METRICS_MAX);
		if (http_render_metrics(h->sup, &b) < 0) {
			strbuf_release(&b);
			respond_text(c, 503, "metrics too large\n");
			return;
		}
		respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", head ? NULL : &b);
		strbuf_release(&b);
	} else if (strcmp(target, "/healthz") == 0) {
		respond_text(c, 200, "ok\n");
	} else if (strcmp(target, "/readyz") == 0) {
		char why[160], line[170];
		bool ok = http_ready(h->sup, why, sizeof(why));
		snprintf(line, sizeof(line), "%s\n", why);
		respond_text(c, ok ? 200 : 503, line);
	} else {
		respond_text(c, 404, "not found: /metrics /healthz /readyz\n");
	}
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = handle->data;
	*buf = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct http_conn *c = s->data;
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->answered)
		return;
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		handle_request(c);
	else if (c->len >= sizeof(c->req) - 1)
		respond_text(c, 400, "request too large\n");
}

static void on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct http_server *h = server->data;
	if (status < 0)
		return;
	struct http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->h = h;
	uv_tcp_init(server->loop, &c->tcp);
	uv_timer_init(server->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	c->next = h->conns;
	h->conns = c;
	h->n_conns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || h->n_conns > CONNS_MAX) {
		h->refused++;
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timeout, TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int http_open(struct http_server *h, struct sup *sup)
{
	memset(h, 0, sizeof(*h));
	h->sup = sup;
	const char *addr = sup->cfg->http.address;
	unsigned port = sup->cfg->http.port;
	struct sockaddr_storage sa;
	int r = uv_ip4_addr(addr, (int)port, (struct sockaddr_in *)&sa);
	if (r < 0)
		r = uv_ip6_addr(addr, (int)port, (struct sockaddr_in6 *)&sa);
	if (r < 0) {
		log_error("http: %s is not a numeric IPv4 or IPv6 address", addr);
		return r;
	}
	uv_tcp_init(sup->loop, &h->listener);
	h->listener.data = h;
	h->open = true;
	r = uv_tcp_bind(&h->listener, (const struct sockaddr *)&sa, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&h->listener, 32, on_connection);
	if (r < 0) {
		log_warn("http: cannot listen on %s port %u: %s; no /metrics, /healthz, /readyz",
			 addr, port, uv_strerror(r));
		http_close(h);
		return r;
	}
	log_info("http: /metrics /healthz /readyz on %s port %u", addr, port);
	return 0;
}

void http_close(struct http_server *h)
{
	if (h->open && !uv_is_closing((uv_handle_t *)&h->listener))
		uv_close((uv_handle_t *)&h->listener, NULL);
	h->open = false;
	for (struct http_conn *c = h->conns; c; c = c->next)
		conn_close(c);
}
