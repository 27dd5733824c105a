// SPDX-License-Identifier: Apache-2.0
// tapiod's HTTP endpoint: /metrics parses as the Prometheus text format (a parser of our own,
// and `promtool check metrics` where it is installed), its values match `tapioctl status`,
// /healthz answers, and /readyz flips to 503 when a collector goes FAILED.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static int port_for_test(void)
{
	return 30000 + (int)(getpid() % 20000);
}

/* GET path from 127.0.0.1:port: the status code, and the body in *ret_body (malloc'd). */
static int http_get(int port, const char *path, char **ret_body)
{
	char *buf = harness_http_get(port, path);
	if (!buf)
		return -errno;
	int code = 0;
	cr_assert_eq(sscanf(buf, "HTTP/1.1 %d", &code), 1, "response: %s", buf);
	char *body = strstr(buf, "\r\n\r\n");
	cr_assert_not_null(body);
	long clen = -1;
	const char *cl = strstr(buf, "Content-Length: ");
	cr_assert_not_null(cl);
	clen = strtol(cl + 16, NULL, 10);
	cr_assert_eq((size_t)clen, strlen(body + 4), "Content-Length matches the body");
	*ret_body = strdup(body + 4);
	free(buf);
	return code;
}

/* ---- a parser of the text exposition format (0.0.4) ------------------------------------------ */

struct sample {
	char name[128];
	char labels[256]; /* as written, between the braces */
	double value;
};

struct families {
	char names[128][128];
	char types[128][16];
	size_t n;
};

static bool metric_name_ok(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

/* Labels: name="value" pairs separated by commas; values with \\ \" \n escapes only. */
static bool labels_ok(const char *p, const char *end)
{
	while (p < end) {
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (!eq || !metric_name_ok(p, (size_t)(eq - p)) || strchr(p, ':') == p)
			return false;
		p = eq + 1;
		if (p >= end || *p != '"')
			return false;
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\' && (++p >= end || (*p != '\\' && *p != '"' && *p != 'n')))
				return false;
		if (p >= end)
			return false;
		p++;
		if (p < end && *p++ != ',')
			return false;
	}
	return true;
}

static size_t parse_exposition(const char *text, struct sample *out, size_t max,
			       struct families *fam)
{
	size_t n = 0;
	fam->n = 0;
	char *copy = strdup(text), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			char kind[8], name[128], rest[128];
			int k = sscanf(line, "# %7s %127s %127s", kind, name, rest);
			cr_assert_geq(k, 2, "comment line: %s", line);
			if (strcmp(kind, "TYPE") == 0) {
				cr_assert_eq(k, 3);
				cr_assert(strcmp(rest, "counter") == 0 ||
						  strcmp(rest, "gauge") == 0,
					  "type %s", rest);
				for (size_t i = 0; i < fam->n; i++)
					cr_assert_str_neq(fam->names[i], name, "TYPE twice: %s",
							  name);
				cr_assert_lt(fam->n, 128);
				snprintf(fam->names[fam->n], 128, "%s", name);
				snprintf(fam->types[fam->n], 16, "%.15s", rest);
				fam->n++;
				/* Conventions: counters end in _total, no unit but base units. */
				if (strcmp(rest, "counter") == 0)
					cr_assert(strlen(name) > 6 &&
							  strcmp(name + strlen(name) - 6,
								 "_total") == 0,
						  "counter %s without _total", name);
				cr_assert_null(strstr(name, "_kib"), "%s: base units", name);
				cr_assert_null(strstr(name, "_ms"), "%s: base units", name);
			}
			continue;
		}
		cr_assert_lt(n, max);
		struct sample *s = &out[n];
		memset(s, 0, sizeof(*s));
		const char *brace = strchr(line, '{'), *sp = strchr(line, ' ');
		cr_assert_not_null(sp, "sample line: %s", line);
		const char *name_end = brace && brace < sp ? brace : sp;
		cr_assert(metric_name_ok(line, (size_t)(name_end - line)), "name in: %s", line);
		snprintf(s->name, sizeof(s->name), "%.*s", (int)(name_end - line), line);
		const char *vstart = sp + 1;
		if (brace && brace < sp) {
			const char *close = strrchr(line, '}');
			cr_assert_not_null(close, "labels in: %s", line);
			cr_assert(labels_ok(brace + 1, close), "labels in: %s", line);
			snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(close - brace - 1),
				 brace + 1);
			cr_assert_eq(close[1], ' ', "%s", line);
			vstart = close + 2;
		}
		char *end;
		s->value = strtod(vstart, &end);
		cr_assert(end != vstart && *end == '\0', "value in: %s", line);
		/* The sample belongs to the family whose TYPE came last before it. */
		cr_assert_gt(fam->n, 0);
		cr_assert_str_eq(fam->names[fam->n - 1], s->name, "sample %s under TYPE %s",
				 s->name, fam->names[fam->n - 1]);
		for (size_t i = 0; i < n; i++)
			cr_assert(strcmp(out[i].name, s->name) || strcmp(out[i].labels, s->labels),
				  "series twice: %s", line);
		n++;
	}
	free(copy);
	return n;
}

static double sample(const struct sample *v, size_t n, const char *name, const char *labels)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0 && strcmp(v[i].labels, labels) == 0)
			return v[i].value;
	cr_assert_fail("no sample %s{%s}", name, labels);
	return -1;
}

Test(http_parser, refuses_what_is_not_the_exposition_format)
{
	/* The parser must be able to fail: a bad line makes cr_assert fail, so check the
	 * helpers it is built from. */
	cr_assert(metric_name_ok("tapio_x_total", 13));
	cr_assert_not(metric_name_ok("1tapio", 6));
	cr_assert_not(metric_name_ok("tapio-x", 7));
	const char *good = "a=\"b\",c=\"d\\\"e\"";
	cr_assert(labels_ok(good, good + strlen(good)));
	const char *bad1 = "a=b";
	cr_assert_not(labels_ok(bad1, bad1 + strlen(bad1)));
	const char *bad2 = "a=\"b\\x\"";
	cr_assert_not(labels_ok(bad2, bad2 + strlen(bad2)));
	const char *bad3 = "a=\"b\"c=\"d\"";
	cr_assert_not(labels_ok(bad3, bad3 + strlen(bad3)));
}

/* The numbers of the `testing` row of `tapioctl status`. */
struct status_row {
	char state[16];
	long long restarts, events, kernel, wqueue, gaps, squeue, decode;
};

static bool status_row(const struct tapiod *t, struct status_row *r)
{
	char sock[300];
	TAPIOD_CTL_SOCK(t, sock);
	const char *args[] = {"status", NULL};
	int st;
	char *out = tapioctl_run(t, &st, args);
	cr_assert_not_null(out);
	const char *p = strstr(out, "\ntesting ");
	bool ok = false;
	if (p) {
		char pid[16], up[16], rate[16];
		ok = sscanf(p + 1, "testing %15s %15s %15s %lld %15s %lld %lld %lld %lld %lld %lld",
			    r->state, pid, up, &r->restarts, rate, &r->events, &r->kernel,
			    &r->wqueue, &r->gaps, &r->squeue, &r->decode) == 11;
	}
	free(out);
	return ok;
}

Test(http, metrics_match_tapioctl_status_and_readyz_follows_a_failed_collector, .timeout = 60)
{
	harness_require_root();
	int port = port_for_test();
	char top[128];
	snprintf(top, sizeof(top), "http:\n  port: %d\n", port);
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, top, "",
				       "  process:\n    enabled: false\n"
				       "  testing:\n    enabled: true\n    tick_ms: 1000\n"
				       "    mode: exit\n    exit_code: 100\n    after_ms: 4000\n"),
		     0);
	cr_assert(tapiod_wait_state(&t, "testing", "READY", 15000));
	char *body = NULL;
	cr_assert_eq(http_get(port, "/healthz", &body), 200);
	cr_assert_str_eq(body, "ok\n");
	free(body);
	cr_assert_eq(http_get(port, "/readyz", &body), 200, "%s", body);
	free(body);
	cr_assert_eq(http_get(port, "/nothing", &body), 404);
	free(body);

	struct status_row before, after;
	cr_assert(status_row(&t, &before));
	cr_assert_eq(http_get(port, "/metrics", &body), 200);
	cr_assert(status_row(&t, &after));
	static struct sample v[1024];
	struct families fam;
	size_t n = parse_exposition(body, v, 1024, &fam);
	cr_assert_gt(n, 20);
	cr_assert_eq(sample(v, n, "tapio_collector_state", "collector=\"testing\",state=\"READY\""),
		     1);
	cr_assert_eq(
		sample(v, n, "tapio_collector_state", "collector=\"testing\",state=\"FAILED\""), 0);
	cr_assert_str_eq(before.state, "READY");
	double ev = sample(v, n, "tapio_collector_events_total", "collector=\"testing\"");
	cr_assert(ev >= (double)before.events && ev <= (double)after.events,
		  "events %g between %lld and %lld", ev, before.events, after.events);
	cr_assert_eq(sample(v, n, "tapio_collector_restarts_total", "collector=\"testing\""),
		     (double)after.restarts);
	cr_assert_eq(sample(v, n, "tapio_collector_dropped_events_total",
			    "collector=\"testing\",hop=\"kernel\""),
		     (double)after.kernel);
	cr_assert_eq(sample(v, n, "tapio_collector_dropped_events_total",
			    "collector=\"testing\",hop=\"worker_queue\""),
		     (double)after.wqueue);
	cr_assert_eq(sample(v, n, "tapio_collector_dropped_events_total",
			    "collector=\"testing\",hop=\"sequence_gap\""),
		     (double)after.gaps);
	cr_assert_eq(sample(v, n, "tapio_collector_dropped_events_total",
			    "collector=\"testing\",hop=\"sink_queue\""),
		     (double)after.squeue);
	cr_assert_gt(sample(v, n, "tapio_worker_resident_memory_bytes", "collector=\"testing\""),
		     100000);
	cr_assert_eq(sample(v, n, "tapio_ready", ""), 1);
	cr_assert_eq(sample(v, n, "tapio_sink_up", "sink=\"stdout\""), 1);

	/* promtool, where Debian's prometheus package is installed, must agree. */
	if (access("/usr/bin/promtool", X_OK) == 0) {
		char path[128];
		snprintf(path, sizeof(path), "/tmp/tapio-metrics-%d.txt", (int)getpid());
		FILE *f = fopen(path, "w");
		fputs(body, f);
		fclose(f);
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
		cr_assert_eq(system(cmd), 0, "promtool check metrics");
		unlink(path);
	}
	free(body);

	/* The worker exits with 100 (a configuration error): FAILED, not restarted. */
	cr_assert(tapiod_wait_state(&t, "testing", "FAILED", 15000));
	cr_assert_eq(http_get(port, "/readyz", &body), 503, "%s", body);
	cr_assert_str_eq(body, "collector testing is FAILED\n");
	free(body);
	cr_assert_eq(http_get(port, "/metrics", &body), 200);
	n = parse_exposition(body, v, 1024, &fam);
	cr_assert_eq(
		sample(v, n, "tapio_collector_state", "collector=\"testing\",state=\"FAILED\""), 1);
	cr_assert_eq(sample(v, n, "tapio_ready", ""), 0);
	free(body);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
}

Test(http, binds_to_loopback_by_default, .timeout = 30)
{
	harness_require_root();
	int port = port_for_test() + 1;
	char top[128];
	snprintf(top, sizeof(top), "http:\n  port: %d\n", port);
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, top, "",
				       "  process:\n    enabled: false\n"
				       "  testing:\n    enabled: true\n"),
		     0);
	cr_assert(tapiod_wait_state(&t, "testing", "READY", 15000));
	/* /proc/net/tcp lists the listener as 0100007F:<port hex>. */
	char want[32], line[512];
	snprintf(want, sizeof(want), "0100007F:%04X", port);
	FILE *f = fopen("/proc/net/tcp", "r");
	bool found = false;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, want) && strstr(line, " 0A "))
			found = true;
	fclose(f);
	cr_assert(found, "listening on 127.0.0.1:%d", port);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
}

/* A running worker loses its source and gets it back (issue 15/18: Status frames): /metrics
 * shows the DEGRADED state and counts the loss, /readyz stays 200 and names it. */
Test(http, a_degraded_worker_is_in_metrics_and_readyz, .timeout = 60)
{
	harness_require_root();
	int port = port_for_test() + 2;
	char top[128];
	snprintf(top, sizeof(top), "http:\n  port: %d\n", port);
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, top, "",
				       "  process:\n    enabled: false\n"
				       "  testing:\n    enabled: true\n    tick_ms: 50\n"
				       "    mode: flap\n    after_ms: 1500\n"),
		     0);
	cr_assert(tapiod_wait_state(&t, "testing", "DEGRADED", 15000));
	char *body = NULL;
	bool named = false;
	for (int i = 0; i < 50 && !named; i++) {
		free(body);
		cr_assert_eq(http_get(port, "/readyz", &body), 200, "%s", body);
		named = strstr(body, "testing DEGRADED: testing: source lost") != NULL;
		if (!named)
			tapiod_pump(&t, 50);
	}
	cr_assert(named, "/readyz: %s", body);
	cr_assert_eq(strncmp(body, "ready", 5), 0, "%s", body);
	free(body);
	static struct sample v[1024];
	struct families fam;
	cr_assert_eq(http_get(port, "/metrics", &body), 200);
	size_t n = parse_exposition(body, v, 1024, &fam);
	double deg =
		sample(v, n, "tapio_collector_state", "collector=\"testing\",state=\"DEGRADED\"");
	double ready = sample(v, n, "tapio_ready", "");
	double lost =
		sample(v, n, "tapio_collector_degraded_transitions_total", "collector=\"testing\"");
	free(body);
	cr_assert_eq(deg, 1);
	cr_assert_eq(ready, 1);
	cr_assert_eq(lost, 1);

	cr_assert(tapiod_wait_state(&t, "testing", "READY", 15000), "not READY again");
	cr_assert_eq(http_get(port, "/readyz", &body), 200);
	cr_assert_str_eq(body, "ready\n");
	free(body);
	cr_assert_eq(http_get(port, "/metrics", &body), 200);
	n = parse_exposition(body, v, 1024, &fam);
	cr_assert_eq(sample(v, n, "tapio_collector_state", "collector=\"testing\",state=\"READY\""),
		     1);
	cr_assert_eq(
		sample(v, n, "tapio_collector_degraded_transitions_total", "collector=\"testing\""),
		1);
	free(body);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
}
