// SPDX-License-Identifier: Apache-2.0
// The NATS JetStream sink against a real nats-server (Debian's, -js, on loopback): subjects and
// message ids, an outage under load with nothing lost or doubled, a full spool that drops
// exactly what it counts, and a kill -9 with events in the spool that go out after a restart.
// The stream is read back with libnats (js_GetMsg), counted by message id.
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* Whether nobody listens on (or is bound to) 127.0.0.1:port now. */
static bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void server_init(struct nats_server *s)
{
	harness_require_root();
	if (!have_nats_server())
		cr_skip_test("nats-server is not installed (scripts/install-deps.sh)");
	memset(s, 0, sizeof(*s));
	/* A port of our own, below the ephemeral range, free now. */
	s->port = 20000 + (int)(getpid() % 12000);
	for (int k = 0; k < 64 && !port_free(s->port); k++)
		s->port = 20000 + (int)((getpid() + 97 * (k + 1)) % 12000);
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
	/* the sink frees its state only after libnats's last callback (sink_nats.c) */
	cr_assert_null(strstr(log, "libnats did not finish its callbacks"), "%s", log);
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

/* ---- a three-node JetStream cluster: a leader kill and a 60 s full outage under load ------- */

#ifdef __SANITIZE_ADDRESS__
/* The plain build runs the rate. Under ASan a quarter of it keeps the run near 90 s
 * (the backlog of the outage drains into three replicas on two shared CPUs). */
#define CLUSTER_RATE 5000
#else
#define CLUSTER_RATE 20000
#endif
#define OUTAGE_S 60
/* tapiod's RSS target, and what the NATS sink may add: its window (64 bytes per publish; libnats
 * keeps nothing of a message once written), libnats's socket and reconnect buffers (64 KiB,
 * 1 MiB), its threads, and the pages of libcrypto that libnats's OpenSSL set-up touches
 * (about 3.4 MiB, shared and file-backed). Measured: about 10.9 MiB at the peak. */
#define RSS_TARGET_KIB (8 * 1024)
#define WINDOW_KIB     (4 * 1024)

struct cluster {
	struct nats_server n[3];
	int route_base, http_port;
	char urls[200];
	char dir[40];
};

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cluster_node_start(struct cluster *c, int i)
{
	struct nats_server *s = &c->n[i];
	s->pid = fork();
	cr_assert_geq(s->pid, 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char port[16], name[16], cl[64], routes[200], log[128];
		snprintf(port, sizeof(port), "%d", s->port);
		snprintf(name, sizeof(name), "n%d", i + 1);
		snprintf(cl, sizeof(cl), "nats://127.0.0.1:%d", c->route_base + i);
		snprintf(routes, sizeof(routes),
			 "nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d",
			 c->route_base, c->route_base + 1, c->route_base + 2);
		snprintf(log, sizeof(log), "%s/server.log", s->dir);
		freopen(log, "a", stderr);
		freopen("/dev/null", "w", stdout);
		execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd",
		       s->dir, "--server_name", name, "--cluster_name", "tapio", "--cluster", cl,
		       "--routes", routes, (char *)NULL);
		_exit(127);
	}
}

static void cluster_init(struct cluster *c)
{
	harness_require_root();
	if (!have_nats_server())
		cr_skip_test("nats-server is not installed (scripts/install-deps.sh)");
	memset(c, 0, sizeof(*c));
	/* Ports of our own, below the kernel's ephemeral range (32768 on): 3 client ports, 3
	 * route ports and tapiod's HTTP port, all free now. */
	int base = 0;
	for (int k = 0; k < 64 && !base; k++) {
		int b = 21000 + (int)((getpid() + k * 97) % 1400) * 8;
		bool all = true;
		for (int p = 1; p <= 7 && all; p++)
			all = port_free(b + p);
		if (all)
			base = b;
	}
	cr_assert_gt(base, 0, "seven free ports");
	c->route_base = base + 4;
	c->http_port = base + 7;
	snprintf(c->dir, sizeof(c->dir), "/tmp/tapio-natsc-XXXXXX");
	cr_assert_not_null(mkdtemp(c->dir));
	size_t at = 0;
	for (int i = 0; i < 3; i++) {
		struct nats_server *s = &c->n[i];
		s->port = base + 1 + i;
		snprintf(s->dir, sizeof(s->dir), "%s/n%d", c->dir, i + 1);
		cr_assert_eq(mkdir(s->dir, 0700), 0);
		snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
		at += (size_t)snprintf(c->urls + at, sizeof(c->urls) - at, "%s%s", i ? "," : "",
				       s->url);
	}
}

static void cluster_cleanup(struct cluster *c)
{
	for (int i = 0; i < 3; i++)
		server_stop(&c->n[i]);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", c->dir);
}

/* A JetStream context on the cluster (any node), or NULL. */
static jsCtx *cluster_js(const struct cluster *c, natsConnection **nc)
{
	natsOptions *o = NULL;
	natsOptions_Create(&o);
	const char *urls[3] = {c->n[0].url, c->n[1].url, c->n[2].url};
	natsOptions_SetServers(o, urls, 3);
	natsOptions_SetTimeout(o, 1000);
	natsOptions_SetMaxReconnect(o, 0);
	*nc = NULL;
	natsStatus s = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK)
		return NULL;
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = 2000;
	jsCtx *js = NULL;
	if (natsConnection_JetStream(&js, *nc, &jo) != NATS_OK) {
		natsConnection_Destroy(*nc);
		*nc = NULL;
		return NULL;
	}
	return js;
}

static void js_done(jsCtx *js, natsConnection *nc)
{
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* The stream of three replicas: created once the cluster's JetStream answers. */
static bool cluster_create_stream(const struct cluster *c, int timeout_ms)
{
	double end = mono_s() + timeout_ms / 1000.0;
	while (mono_s() < end) {
		natsConnection *nc;
		jsCtx *js = cluster_js(c, &nc);
		if (js) {
			jsStreamConfig sc;
			jsStreamConfig_Init(&sc);
			const char *subjects[] = {"tapio.>"};
			sc.Name = STREAM;
			sc.Subjects = subjects;
			sc.SubjectsLen = 1;
			sc.Storage = js_FileStorage;
			sc.Replicas = 3;
			jsErrCode e = 0;
			natsStatus s = js_AddStream(NULL, js, &sc, NULL, &e);
			js_done(js, nc);
			if (s == NATS_OK || e == JSStreamNameExistErr)
				return true;
		}
		sleep_ms(250);
	}
	return false;
}

/* The stream leader's index (0..2), or -1. */
static int cluster_leader(const struct cluster *c)
{
	natsConnection *nc;
	jsCtx *js = cluster_js(c, &nc);
	if (!js)
		return -1;
	jsStreamInfo *si = NULL;
	jsErrCode e = 0;
	int idx = -1;
	if (js_GetStreamInfo(&si, js, STREAM, NULL, &e) == NATS_OK && si->Cluster &&
	    si->Cluster->Leader && si->Cluster->Leader[0] == 'n')
		idx = atoi(si->Cluster->Leader + 1) - 1;
	jsStreamInfo_Destroy(si);
	js_done(js, nc);
	return idx >= 0 && idx < 3 ? idx : -1;
}

/* Read the whole stream through a pull consumer and count it by message id ("<run>-<n>", one
 * run: a bitmap on n). */
struct id_count {
	uint64_t messages, distinct, duplicates, bad_ids, max_n;
};

static bool cluster_count(const struct cluster *c, struct id_count *ret)
{
	memset(ret, 0, sizeof(*ret));
	natsConnection *nc;
	jsCtx *js = cluster_js(c, &nc);
	if (!js)
		return false;
	jsStreamInfo *si = NULL;
	jsErrCode e = 0;
	if (js_GetStreamInfo(&si, js, STREAM, NULL, &e) != NATS_OK) {
		js_done(js, nc);
		return false;
	}
	uint64_t total = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	size_t bits = 1u << 22;
	uint8_t *seen = calloc(bits / 8, 1);
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = STREAM;
	so.Config.AckPolicy = js_AckNone;
	so.Config.HeadersOnly = true; /* the ids are all we count */
	natsSubscription *sub = NULL;
	bool ok = js_PullSubscribe(&sub, js, "tapio.>", NULL, NULL, &so, &e) == NATS_OK;
	while (ok && ret->messages < total) {
		natsMsgList list = {0};
		if (natsSubscription_Fetch(&list, sub, 4096, 5000, &e) != NATS_OK) {
			ok = false;
			break;
		}
		for (int i = 0; i < list.Count; i++) {
			const char *id = NULL;
			natsMsgHeader_Get(list.Msgs[i], "Nats-Msg-Id", &id);
			const char *dash = id ? strrchr(id, '-') : NULL;
			uint64_t v = dash ? strtoull(dash + 1, NULL, 10) : 0;
			ret->messages++;
			if (!v) {
				ret->bad_ids++;
				continue;
			}
			while (v >= bits) {
				seen = realloc(seen, bits / 4);
				memset(seen + bits / 8, 0, bits / 8);
				bits *= 2;
			}
			if (seen[v / 8] & (1u << (v % 8))) {
				ret->duplicates++;
			} else {
				seen[v / 8] |= (uint8_t)(1u << (v % 8));
				ret->distinct++;
			}
			if (v > ret->max_n)
				ret->max_n = v;
		}
		natsMsgList_Destroy(&list);
	}
	natsSubscription_Destroy(sub);
	free(seen);
	js_done(js, nc);
	return ok;
}

/* A child that calls getppid() `rate` times a second (bursts against a deadline schedule) from
 * the byte it reads on `go` until it reads one on `stop`; then it writes its count. */
struct paced {
	pid_t pid;
	int go, stop, count;
};

static void paced_start(struct paced *p, unsigned rate)
{
	int a[2], b[2], d[2];
	cr_assert(pipe(a) == 0 && pipe(b) == 0 && pipe(d) == 0);
	p->pid = fork();
	cr_assert_geq(p->pid, 0);
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(a[1]);
		close(b[1]);
		close(d[0]);
		char x;
		if (read(a[0], &x, 1) != 1)
			_exit(1);
		fcntl(b[0], F_SETFL, O_NONBLOCK);
		unsigned long long calls = 0;
		double t0 = mono_s();
		for (;;) {
			double due = (mono_s() - t0) * rate;
			while ((double)calls < due) {
				syscall(SYS_getppid);
				calls++;
			}
			if (read(b[0], &x, 1) == 1)
				break;
			struct timespec ts = {0, 500000};
			nanosleep(&ts, NULL);
		}
		if (write(d[1], &calls, sizeof(calls)) != sizeof(calls))
			_exit(1);
		_exit(0);
	}
	close(a[0]);
	close(b[0]);
	close(d[1]);
	p->go = a[1];
	p->stop = b[1];
	p->count = d[0];
}

static unsigned long long paced_stop(struct paced *p)
{
	cr_assert_eq(write(p->stop, "s", 1), 1);
	unsigned long long calls = 0;
	cr_assert_eq(read(p->count, &calls, sizeof(calls)), (ssize_t)sizeof(calls));
	waitpid(p->pid, NULL, 0);
	close(p->go);
	close(p->stop);
	close(p->count);
	return calls;
}

/* One value of tapiod's /metrics (the first sample whose name and labels start with key), or
 * -1 when tapiod does not answer. */
static double metric(int port, const char *key)
{
	char *buf = harness_http_get(port, "/metrics");
	if (!buf)
		return -1;
	double v = -1;
	for (char *line = buf; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (strncmp(line, key, strlen(key)) == 0) {
			const char *sp = strchr(line, ' ');
			if (sp)
				v = strtod(sp + 1, NULL);
			break;
		}
	free(buf);
	return v;
}

static long vm_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

#define M_TOOK	"tapio_sink_events_total{sink=\"nats\"}"
#define M_ACKED "tapio_sink_acknowledged_events_total{sink=\"nats\"}"
#define M_SPOOL "tapio_sink_spool_bytes{sink=\"nats\"}"

struct watch {
	struct tapiod *t;
	int port;
	long peak_rss;
};

/* Poll tapiod (its output, RSS and /metrics) every 100 ms until the metric `key` reaches
 * `want` (at least, or with at_most: at most) or the deadline passes; returns whether it did.
 * key NULL: just watch for `ms`. */
static bool watch_until_cmp(struct watch *w, const char *key, double want, bool at_most, int ms)
{
	double end = mono_s() + ms / 1000.0;
	for (;;) {
		long r = vm_rss_kib(w->t->pid);
		if (r > w->peak_rss)
			w->peak_rss = r;
		double v = key ? metric(w->port, key) : -1;
		if (key && v >= 0 && (at_most ? v <= want : v >= want))
			return true;
		if (mono_s() >= end)
			return !key;
		tapiod_pump(w->t, 100);
	}
}

static bool watch_until(struct watch *w, const char *key, double want, int ms)
{
	return watch_until_cmp(w, key, want, false, ms);
}

/* The acknowledged count grows by `by` within ms: JetStream is taking events. */
static bool watch_acks_flow(struct watch *w, double by, int ms)
{
	double a0 = metric(w->port, M_ACKED);
	return watch_until(w, M_ACKED, a0 + by, ms);
}

Test(nats_cluster, a_leader_kill_and_a_60s_outage_under_load_lose_and_double_nothing,
     .timeout = 240)
{
	struct cluster c;
	cluster_init(&c);
	double t_begin = mono_s();
	for (int i = 0; i < 3; i++)
		cluster_node_start(&c, i);
	cr_assert(cluster_create_stream(&c, 30000), "the cluster's JetStream came up");

	struct paced gen;
	paced_start(&gen, CLUSTER_RATE);
	int http_port = c.http_port;
	char top[256], sinks[1024], collectors[256], spool[128];
	snprintf(top, sizeof(top), "http:\n  port: %d\n", http_port);
	snprintf(spool, sizeof(spool), "%s/spool", c.dir);
	snprintf(sinks, sizeof(sinks),
		 "  stdout:\n    enabled: false\n"
		 "  nats:\n    enabled: true\n    servers: [%s]\n    format: binary\n"
		 "    reconnect_wait_ms: 250\n    ack_timeout_ms: 2000\n"
		 "    spool:\n      dir: %s\n      fsync: never\n",
		 c.urls, spool);
	snprintf(collectors, sizeof(collectors),
		 "  process:\n    enabled: false\n  bench:\n    enabled: true\n    pid: %d\n",
		 (int)gen.pid);
	struct tapiod t;
	cr_assert_eq(tapiod_start_full(&t, top, sinks, collectors), 0);
	cr_assert(tapiod_wait_state(&t, "bench", "READY", 15000));
	struct watch w = {.t = &t, .port = http_port};
	cr_assert(watch_until(&w, "tapio_sink_up{sink=\"nats\"}", 1, 15000), "connected");
	cr_assert_eq(write(gen.go, "g", 1), 1);
	double t_load = mono_s();

	/* Mid-stream, the stream leader dies (SIGKILL); the other two elect a new one and the
	 * acks go on; the dead node comes back. */
	cr_assert(watch_acks_flow(&w, CLUSTER_RATE * 2, 15000), "acks flow");
	int leader = cluster_leader(&c);
	cr_assert_geq(leader, 0, "the stream has a leader");
	kill(c.n[leader].pid, SIGKILL);
	waitpid(c.n[leader].pid, NULL, 0);
	c.n[leader].pid = 0;
	double t_kill = mono_s();
	cr_assert(watch_acks_flow(&w, CLUSTER_RATE * 2, 30000),
		  "acks resume after the leader (n%d) was killed", leader + 1);
	double failover = mono_s() - t_kill;
	cluster_node_start(&c, leader);
	cr_assert(watch_acks_flow(&w, CLUSTER_RATE, 15000), "acks flow with n%d back", leader + 1);

	/* The full outage: all three down for 60 s while the load goes on. */
	for (int i = 0; i < 3; i++)
		server_stop(&c.n[i]);
	double t_down = mono_s();
	double acked_down = metric(http_port, M_ACKED);
	watch_until(&w, NULL, 0, OUTAGE_S * 1000);
	double acked_during = metric(http_port, M_ACKED) - acked_down;
	double spool_peak = metric(http_port, M_SPOOL);
	for (int i = 0; i < 3; i++)
		cluster_node_start(&c, i);
	double outage = mono_s() - t_down;
	/* The load goes on until tapiod is publishing again. */
	cr_assert(watch_acks_flow(&w, CLUSTER_RATE, 60000), "acks resume after the outage");
	unsigned long long calls = paced_stop(&gen);
	double load_s = mono_s() - t_load;

	/* Every call reaches the sink, every event taken is acknowledged, the spool drains. */
	cr_assert(watch_until(&w, M_TOOK, (double)calls, 15000), "tapiod took all %llu calls",
		  calls);
	double t_end = mono_s();
	cr_assert(watch_until(&w, M_ACKED, (double)calls, 120000),
		  "all %llu acknowledged (%.0f so far)", calls, metric(http_port, M_ACKED));
	cr_assert(watch_until_cmp(&w, M_SPOOL, 0, true, 10000), "the spool drained: %.0f bytes",
		  metric(http_port, M_SPOOL));
	double drain = mono_s() - t_end;
	long peak = w.peak_rss;
	cr_assert_eq(tapiod_stop(&t, 15000), 0);
	struct sink_totals tot = sink_totals(&t);
	long long pipe_drops = tapiod_last_stat(&t, "bench", "kernel") +
			       tapiod_last_stat(&t, "bench", "worker_queue") +
			       tapiod_last_stat(&t, "bench", "seq_gaps") +
			       tapiod_last_stat(&t, "bench", "sink");
	tapiod_cleanup(&t);

	struct id_count n;
	double t_count = mono_s();
	cr_assert(cluster_count(&c, &n), "the stream can be read back");
	cr_log_info(
		"nats cluster: %llu calls at %u/s over %.0f s; leader n%d killed, acks back "
		"after %.1f s; %.0f s outage (acked meanwhile: %.0f, spool %.0f bytes); "
		"drained %.1f s after the load; tapiod peak RSS %ld KiB; stream: %llu messages, "
		"%llu distinct, %llu duplicates (read in %.1f s); whole test %.0f s",
		calls, CLUSTER_RATE, load_s, leader + 1, failover, outage, acked_during, spool_peak,
		drain, peak, (unsigned long long)n.messages, (unsigned long long)n.distinct,
		(unsigned long long)n.duplicates, mono_s() - t_count, mono_s() - t_begin);
	cr_assert_eq(pipe_drops, 0, "no loss in the pipeline before the sink");
	cr_assert_eq(tot.written, (long long)calls, "the sink took every call");
	cr_assert_eq(tot.dropped, 0);
	cr_assert_eq(tot.left, 0, "the spool drained");
	cr_assert_eq(n.bad_ids, 0);
	cr_assert_eq(n.distinct, calls, "every event in the stream: %llu of %llu",
		     (unsigned long long)n.distinct, calls);
	cr_assert_eq(n.duplicates, 0, "and only once");
	cr_assert_eq(n.max_n, calls, "ids 1..%llu", calls);
#ifndef __SANITIZE_ADDRESS__
	/* Under ASan the allocator's quarantine and redzones keep freed memory resident. */
	cr_assert_leq(peak, RSS_TARGET_KIB + WINDOW_KIB, "tapiod peaked at %ld KiB", peak);
#endif
	cluster_cleanup(&c);
}
