// SPDX-License-Identifier: Apache-2.0
// The NATS JetStream sink against a real nats-server (Debian's, -js, on loopback): subjects and
// message ids, an outage under load with nothing lost or doubled, a full spool that drops
// exactly what it counts, and a kill -9 with events in the spool that go out after a restart.
// The stream is read back with libnats (js_GetMsg), counted by message id.
#include <criterion/criterion.h>
#include <errno.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "supervisor/spool.h"
#include "tapio/v1/event.pb-c.h"

#define STREAM "TAPIO"

struct nats_server {
	pid_t pid;
	int port;
	char dir[64];
	char url[64];
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static bool have_nats_server(void)
{
	return access("/usr/sbin/nats-server", X_OK) == 0 ||
	       access("/usr/bin/nats-server", X_OK) == 0;
}

static void server_start(struct nats_server *s)
{
	s->pid = fork();
	cr_assert_geq(s->pid, 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char port[16], log[128];
		snprintf(port, sizeof(port), "%d", s->port);
		snprintf(log, sizeof(log), "%s/server.log", s->dir);
		freopen(log, "a", stderr);
		freopen("/dev/null", "w", stdout);
		execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd",
		       s->dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		natsConnection *nc = NULL;
		if (natsConnection_ConnectTo(&nc, s->url) == NATS_OK) {
			natsConnection_Destroy(nc);
			return;
		}
		sleep_ms(50);
	}
	cr_assert_fail("nats-server did not come up on %s", s->url);
}

static void server_stop(struct nats_server *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static void server_init(struct nats_server *s)
{
	harness_require_root();
	if (!have_nats_server())
		cr_skip_test("nats-server is not installed (scripts/install-deps.sh)");
	memset(s, 0, sizeof(*s));
	/* A port of our own: tests of other processes may hold others. */
	s->port = 20000 + (int)(getpid() % 20000);
	snprintf(s->dir, sizeof(s->dir), "/tmp/tapio-nats-XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
}

static void server_cleanup(struct nats_server *s)
{
	server_stop(s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", s->dir);
}

/* What the stream holds. ids are malloc'd. */
struct stream_content {
	char **ids;
	char **subjects;
	size_t n;
	size_t distinct, duplicates;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void stream_read(const struct nats_server *s, struct stream_content *ret)
{
	memset(ret, 0, sizeof(*ret));
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	cr_assert_eq(natsConnection_ConnectTo(&nc, s->url), NATS_OK);
	cr_assert_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus st = js_GetStreamInfo(&si, js, STREAM, NULL, &jerr);
	if (st != NATS_OK) {
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
		return; /* no stream: nothing arrived */
	}
	uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	size_t cap = last >= first ? (size_t)(last - first + 1) : 0;
	ret->ids = calloc(cap + 1, sizeof(char *));
	ret->subjects = calloc(cap + 1, sizeof(char *));
	for (uint64_t q = first; q <= last && cap; q++) {
		natsMsg *m = NULL;
		if (js_GetMsg(&m, js, STREAM, q, NULL, &jerr) != NATS_OK)
			continue;
		const char *id = NULL;
		natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
		ret->ids[ret->n] = strdup(id ? id : "");
		ret->subjects[ret->n] = strdup(natsMsg_GetSubject(m));
		ret->n++;
		natsMsg_Destroy(m);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	char **sorted = calloc(ret->n + 1, sizeof(char *));
	memcpy(sorted, ret->ids, ret->n * sizeof(char *));
	qsort(sorted, ret->n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < ret->n; i++) {
		if (i && strcmp(sorted[i], sorted[i - 1]) == 0)
			ret->duplicates++;
		else
			ret->distinct++;
	}
	free(sorted);
}

static bool stream_has(const struct stream_content *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->ids[i], id) == 0)
			return true;
	return false;
}

static void stream_free(struct stream_content *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->ids[i]);
		free(c->subjects[i]);
	}
	free(c->ids);
	free(c->subjects);
}

/* "nats sink: W events written, D dropped" and "nats sink: A acknowledged, ... B bytes left"
 * from tapiod's log after it stopped. */
struct sink_totals {
	long long written, dropped, acked, left;
};

static struct sink_totals sink_totals(const struct tapiod *t)
{
	struct sink_totals r = {-1, -1, -1, -1};
	char *log = tapiod_log(t);
	cr_assert_not_null(log);
	const char *p = strstr(log, "nats sink: ");
	while (p) {
		long long a, b, c;
		if (sscanf(p, "nats sink: %lld events written, %lld dropped", &a, &b) == 2) {
			r.written = a;
			r.dropped = b;
		} else if (sscanf(p, "nats sink: %lld acknowledged, %lld dropped, %lld bytes left",
				  &a, &b, &c) == 3) {
			r.acked = a;
			r.left = c;
		}
		p = strstr(p + 1, "nats sink: ");
	}
	free(log);
	return r;
}

static void sinks_yaml(char *buf, size_t n, const struct nats_server *s, const char *spool,
		       const char *extra)
{
	snprintf(buf, n,
		 "  stdout:\n    enabled: false\n"
		 "  nats:\n    enabled: true\n    servers: [%s]\n    stream: " STREAM "\n"
		 "    ack_timeout_ms: 1000\n    reconnect_wait_ms: 100\n"
		 "    spool:\n      dir: %s\n%s",
		 s->url, spool, extra);
}

#define TESTING(tick)                                                                              \
	"  process:\n    enabled: false\n  testing:\n    enabled: true\n    tick_ms: " tick "\n"
#define NO_HTTP "http:\n  enabled: false\n"

Test(nats_sink, events_arrive_with_subjects_and_message_ids, .timeout = 60)
{
	struct nats_server s;
	server_init(&s);
	server_start(&s);
	char spool[128], sinks[1024];
	snprintf(spool, sizeof(spool), "%s/spool", s.dir);
	sinks_yaml(sinks, sizeof(sinks), &s, spool, "");
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, NO_HTTP, sinks, TESTING("5")), 0);
	cr_assert(tapiod_wait_state(&t, "testing", "READY", 15000));
	sleep_ms(1500);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	struct sink_totals tot = sink_totals(&t);
	cr_assert_gt(tot.written, 50, "written %lld", tot.written);
	cr_assert_eq(tot.dropped, 0);
	cr_assert_eq(tot.acked, tot.written);
	cr_assert_eq(tot.left, 0, "the spool drained");

	struct stream_content c;
	stream_read(&s, &c);
	cr_assert_eq((long long)c.n, tot.written);
	cr_assert_eq(c.duplicates, 0);
	for (size_t i = 0; i < c.n; i++) {
		cr_assert_str_eq(c.subjects[i], "tapio.it-node.testing.testing_tick");
		/* ids are "<run id>-<n>", n from 1 in order */
		const char *dash = strrchr(c.ids[i], '-');
		cr_assert_not_null(dash, "id %s", c.ids[i]);
		cr_assert_eq(strtoull(dash + 1, NULL, 10), i + 1, "id %s at %zu", c.ids[i], i);
	}
	/* The payload is the JSON line, whose id is the message id. */
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	cr_assert_eq(natsConnection_ConnectTo(&nc, s.url), NATS_OK);
	cr_assert_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	natsMsg *m = NULL;
	jsErrCode jerr;
	cr_assert_eq(js_GetMsg(&m, js, STREAM, 1, NULL, &jerr), NATS_OK);
	char want[160];
	snprintf(want, sizeof(want), "\"id\":\"%s\"", c.ids[0]);
	char *data = strndup(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
	cr_assert_not_null(strstr(data, want), "%s", data);
	cr_assert_not_null(strstr(data, "\"collector\":\"testing\""));
	free(data);
	natsMsg_Destroy(m);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	stream_free(&c);
	tapiod_cleanup(&t);
	server_cleanup(&s);
}

Test(nats_sink, an_outage_under_load_loses_and_doubles_nothing, .timeout = 90)
{
	struct nats_server s;
	server_init(&s);
	server_start(&s);
	char spool[128], sinks[1024];
	snprintf(spool, sizeof(spool), "%s/spool", s.dir);
	sinks_yaml(sinks, sizeof(sinks), &s, spool, "");
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, NO_HTTP, sinks, TESTING("1")), 0);
	cr_assert(tapiod_wait_state(&t, "testing", "READY", 15000));
	sleep_ms(1000);
	server_stop(&s); /* mid-stream: publishes in flight lose their acks */
	sleep_ms(3000);
	server_start(&s);
	sleep_ms(1000);
	cr_assert_eq(tapiod_stop(&t, 15000), 0);
	struct sink_totals tot = sink_totals(&t);
	cr_assert_gt(tot.written, 2000, "written %lld", tot.written);
	cr_assert_eq(tot.dropped, 0);
	cr_assert_eq(tot.left, 0, "the spool drained");

	struct stream_content c;
	stream_read(&s, &c);
	cr_assert_eq(c.duplicates, 0, "JetStream deduplicated by message id");
	cr_assert_eq((long long)c.distinct, tot.written, "every event exactly once: %zu of %lld",
		     c.distinct, tot.written);
	stream_free(&c);
	tapiod_cleanup(&t);
	server_cleanup(&s);
}

Test(nats_sink, a_full_spool_drops_exactly_what_it_counts, .timeout = 90)
{
	struct nats_server s;
	server_init(&s);
	char spool[128], sinks[1024];
	snprintf(spool, sizeof(spool), "%s/spool", s.dir);
	sinks_yaml(sinks, sizeof(sinks), &s, spool,
		   "      max_mib: 2\n      segment_mib: 1\n      fsync: never\n");
	/* The server is down: a flood fills the spool well past its cap. */
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, NO_HTTP, sinks,
				       "  process:\n    enabled: false\n"
				       "  testing:\n    enabled: true\n    mode: flood\n"),
		     0);
	sleep_ms(3000);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	struct sink_totals run1 = sink_totals(&t);
	tapiod_cleanup(&t);
	cr_assert_gt(run1.dropped, 0, "the spool was full (written %lld)", run1.written);
	cr_assert_eq(run1.acked, 0);

	/* The server comes up; a tapiod without events of its own replays the spool. */
	server_start(&s);
	cr_assert_eq(tapiod_start_full(&t, NO_HTTP, sinks, TESTING("60000")), 0);
	sleep_ms(4000);
	cr_assert_eq(tapiod_stop(&t, 15000), 0);
	struct sink_totals run2 = sink_totals(&t);
	cr_assert_eq(run2.left, 0, "the spool drained");

	struct stream_content c;
	stream_read(&s, &c);
	cr_assert_eq(c.duplicates, 0);
	cr_assert_eq((long long)c.distinct, run1.written - run1.dropped,
		     "delivered %zu = written %lld - dropped %lld", c.distinct, run1.written,
		     run1.dropped);
	stream_free(&c);
	tapiod_cleanup(&t);
	server_cleanup(&s);
}

Test(nats_sink, a_killed_tapiod_delivers_its_spool_after_restart, .timeout = 90)
{
	struct nats_server s;
	server_init(&s);
	char spool[128], sinks[1024];
	snprintf(spool, sizeof(spool), "%s/spool", s.dir);
	sinks_yaml(sinks, sizeof(sinks), &s, spool, "      fsync: never\n");
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, NO_HTTP, sinks, TESTING("1")), 0);
	cr_assert(tapiod_wait_state(&t, "testing", "READY", 15000));
	sleep_ms(1500);
	/* tapiod dies; so does its worker, which the next tapiod would otherwise find still
	 * running under the testing collector's uid (it refuses to start then). */
	pid_t workers[8];
	size_t nw = tapiod_children(&t, workers, 8);
	kill(t.pid, SIGKILL);
	waitpid(t.pid, NULL, 0);
	t.pid = 0;
	for (size_t i = 0; i < nw; i++)
		kill(workers[i], SIGKILL);
	for (int i = 0; i < 100; i++) {
		bool alive = false;
		for (size_t w = 0; w < nw; w++)
			alive |= kill(workers[w], 0) == 0;
		if (!alive)
			break;
		sleep_ms(50);
	}
	tapiod_cleanup(&t);

	/* What the dead tapiod left in its spool (opening it cuts off a torn tail). */
	struct spool_options so = {
		.dir = spool, .max_bytes = 1ull << 30, .segment_bytes = 16 << 20};
	struct spool *sp = NULL;
	cr_assert_eq(spool_open(&so, &sp), 0);
	size_t n = 0, cap = 4096;
	char **ids = calloc(cap, sizeof(char *));
	struct spool_record rec;
	while (spool_next(sp, &rec) == 1) {
		struct spool_msg m;
		cr_assert_eq(spool_msg_decode(rec.data, rec.len, &m), 0);
		if (n == cap)
			ids = realloc(ids, (cap *= 2) * sizeof(char *));
		ids[n++] = strndup(m.id, m.id_len);
	}
	spool_close(sp);
	cr_assert_gt(n, 500, "spooled %zu", n);

	server_start(&s);
	cr_assert_eq(tapiod_start_full(&t, NO_HTTP, sinks, TESTING("60000")), 0);
	sleep_ms(3000);
	cr_assert_eq(tapiod_stop(&t, 15000), 0);
	struct sink_totals tot = sink_totals(&t);
	cr_assert_eq(tot.left, 0, "the spool drained");

	struct stream_content c;
	stream_read(&s, &c);
	cr_assert_eq(c.duplicates, 0);
	cr_assert_eq(c.distinct, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert(stream_has(&c, ids[i]), "spooled event %s was delivered", ids[i]);
		free(ids[i]);
	}
	free(ids);
	stream_free(&c);
	tapiod_cleanup(&t);
	server_cleanup(&s);
}

Test(nats_sink, binary_payloads_decode_as_events_with_the_message_id, .timeout = 60)
{
	struct nats_server s;
	server_init(&s);
	server_start(&s);
	char spool[128], sinks[1024];
	snprintf(spool, sizeof(spool), "%s/spool", s.dir);
	sinks_yaml(sinks, sizeof(sinks), &s, spool, "");
	/* format belongs to sinks.nats: insert it before the spool block */
	char *sp = strstr(sinks, "    spool:");
	cr_assert_not_null(sp);
	char tail[512];
	snprintf(tail, sizeof(tail), "%s", sp);
	snprintf(sp, sizeof(sinks) - (size_t)(sp - sinks), "    format: binary\n%s", tail);
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, NO_HTTP, sinks, TESTING("20")), 0);
	cr_assert(tapiod_wait_state(&t, "testing", "READY", 15000));
	sleep_ms(1000);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	struct sink_totals tot = sink_totals(&t);
	cr_assert_gt(tot.written, 10);
	cr_assert_eq(tot.acked, tot.written);

	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	cr_assert_eq(natsConnection_ConnectTo(&nc, s.url), NATS_OK);
	cr_assert_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	for (uint64_t q = 1; q <= (uint64_t)tot.written; q++) {
		natsMsg *m = NULL;
		jsErrCode jerr;
		cr_assert_eq(js_GetMsg(&m, js, STREAM, q, NULL, &jerr), NATS_OK);
		const char *id = NULL;
		cr_assert_eq(natsMsgHeader_Get(m, "Nats-Msg-Id", &id), NATS_OK);
		Tapio__V1__Event *ev =
			tapio__v1__event__unpack(NULL, (size_t)natsMsg_GetDataLength(m),
						 (const uint8_t *)natsMsg_GetData(m));
		cr_assert_not_null(ev, "message %llu is not a tapio.v1.Event",
				   (unsigned long long)q);
		cr_assert_str_eq(ev->id, id);
		cr_assert_str_eq(ev->collector, "testing");
		cr_assert_str_eq(ev->node, "it-node");
		cr_assert_str_eq(ev->type, "testing.tick");
		tapio__v1__event__free_unpacked(ev, NULL);
		natsMsg_Destroy(m);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	tapiod_cleanup(&t);
	server_cleanup(&s);
}
