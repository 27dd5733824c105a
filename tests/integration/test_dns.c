// SPDX-License-Identifier: Apache-2.0
// End to end: tapiod with the dns collector, a real dnsmasq on 127.0.0.2 serving a test zone,
// real `dig` queries (UDP and TCP); events checked field by field.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define DNSMASQ "/usr/sbin/dnsmasq"
#define DIG	"/usr/bin/dig"
#define SERVER	"127.0.0.2"

/* A port pair per test process: dnsmasq on port, nothing on port + 1. */
static int test_port(void)
{
	return 20000 + (int)(getpid() % 20000) * 2;
}

static pid_t dnsmasq_start(int port)
{
	char portarg[32];
	snprintf(portarg, sizeof(portarg), "--port=%d", port);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execl(DNSMASQ, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
		      "--listen-address=" SERVER, "--bind-interfaces", portarg, "--no-resolv",
		      "--no-hosts", "--pid-file=", "--user=root", "--group=root",
		      "--local=/tapio.test/", "--host-record=a.tapio.test,10.1.2.3",
		      "--host-record=v6.tapio.test,fd00::1",
		      "--cname=alias.tapio.test,www.tapio.test",
		      "--cname=www.tapio.test,a.tapio.test",
		      "--mx-host=tapio.test,mail.tapio.test,10",
		      "--txt-record=txt.tapio.test,hello world",
		      "--srv-host=_ldap._tcp.tapio.test,ldap.tapio.test,389,5,7", (char *)NULL);
		_exit(127);
	}
	cr_assert(pid > 0);
	return pid;
}

static void dnsmasq_stop(pid_t pid)
{
	int st;
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
}

/* Run dig quietly; returns its pid after it exited. */
static pid_t dig(int port, bool tcp, const char *name, const char *type)
{
	char portarg[16];
	snprintf(portarg, sizeof(portarg), "%d", port);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execl(DIG, "dig", "@" SERVER, "-p", portarg, tcp ? "+tcp" : "+notcp", "+tries=1",
		      "+time=1", name, type, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	return pid;
}

struct dns_match {
	const char *type; /* dns.query, dns.response, dns.timeout */
	const char *qname;
	const char *qtype;
	long long pid;	       /* 0: any */
	const char *transport; /* NULL: any */
};

static bool match_dns(json_object *ev, void *arg)
{
	struct dns_match *m = arg;
	const char *type = jstr(ev, "type"), *q = jstr(ev, "dns.qname"),
		   *qt = jstr(ev, "dns.qtype");
	if (!type || strcmp(type, m->type) != 0 || !q || strcmp(q, m->qname) != 0)
		return false;
	if (m->qtype && (!qt || strcmp(qt, m->qtype) != 0))
		return false;
	if (m->pid && jint(ev, "process.pid", -1) != m->pid)
		return false;
	const char *tr = jstr(ev, "dns.transport");
	return !m->transport || (tr && strcmp(tr, m->transport) == 0);
}

/* The pid the events of dig `pid` carry: its own, or 0 (not compared) where the kernel does not
 * let cgroup_skb programs see the sender (before 6.4: Debian's 6.1), which the worker must
 * have reported missing. */
static long long sender_pid(const struct tapiod *t, pid_t pid)
{
	char *log = tapiod_log(t);
	bool missing = strstr(log, "not available: pid of the sender") != NULL;
	free(log);
	return missing ? 0 : pid;
}

/* Query a marker name until its response shows up: from then on the collector sees
 * everything and dnsmasq answers. */
static void wait_attached(struct tapiod *t, int port)
{
	for (int i = 0; i < 100; i++) {
		char name[64];
		snprintf(name, sizeof(name), "ready-%d.tapio.test", i);
		dig(port, false, name, "A");
		struct dns_match m = {"dns.response", name, "A", 0, NULL};
		if (tapiod_wait(t, match_dns, &m, 200))
			return;
	}
	char *log = tapiod_log(t);
	cr_assert_fail("no dns.response for a marker within 20 s; tapiod log:\n%s", log);
}

static json_object *answer(json_object *ev, size_t i)
{
	json_object *d, *a;
	if (!json_object_object_get_ex(ev, "dns", &d) ||
	    !json_object_object_get_ex(d, "answers", &a))
		return NULL;
	return i < json_object_array_length(a) ? json_object_array_get_idx(a, i) : NULL;
}

static size_t n_answers(json_object *ev)
{
	json_object *d, *a;
	if (!json_object_object_get_ex(ev, "dns", &d) ||
	    !json_object_object_get_ex(d, "answers", &a))
		return 0;
	return json_object_array_length(a);
}

static void assert_answer(json_object *ev, size_t i, const char *name, const char *type,
			  const char *data)
{
	json_object *a = answer(ev, i);
	cr_assert_not_null(a, "answer %zu missing", i);
	cr_assert_str_eq(jstr(a, "name"), name);
	cr_assert_str_eq(jstr(a, "type"), type);
	cr_assert_str_eq(jstr(a, "data"), data);
	cr_assert_str_eq(jstr(a, "rclass"), "IN");
	cr_assert_str_eq(jstr(a, "section"), "answer");
	cr_assert_eq(jint(a, "ttl", -1), 0, "dnsmasq serves local records with TTL 0");
}

/* The query and its response for one dig run, both attributed to dig; returns the response. */
static json_object *exchange(struct tapiod *t, int port, bool tcp, const char *name,
			     const char *type, const char *rcode)
{
	pid_t pid = dig(port, tcp, name, type);
	const char *tr = tcp ? "tcp" : "udp";
	long long want = sender_pid(t, pid);
	struct dns_match qm = {"dns.query", name, type, want, tr};
	json_object *q = tapiod_wait(t, match_dns, &qm, 10000);
	cr_assert_not_null(q, "no dns.query for %s %s from dig pid %d", name, type, (int)pid);
	if (!want)
		cr_assert_eq(jint(q, "process.pid", -1), -1, "a pid the kernel cannot give");
	cr_assert_str_eq(jstr(q, "dns.client.addr"), "127.0.0.1");
	cr_assert_str_eq(jstr(q, "dns.server.addr"), SERVER);
	cr_assert_eq(jint(q, "dns.server.port", -1), port);
	cr_assert(jint(q, "dns.client.port", 0) > 0);
	cr_assert_str_eq(jstr(q, "dns.qclass"), "IN");
	cr_assert_eq(jint(q, "dns.opcode", -1), 0);
	cr_assert_eq(jint(q, "dns.answerCount", -1), 0);
	cr_assert_null(jstr(q, "dns.rcode"), "a query has no rcode");
	cr_assert(jint(q, "process.cgroupId", 0) > 0);
	cr_assert(jint(q, "dns.ednsUdpSize", 0) > 0, "dig sends EDNS");

	struct dns_match rm = {"dns.response", name, type, want, tr};
	json_object *r = tapiod_wait(t, match_dns, &rm, 10000);
	cr_assert_not_null(r, "no dns.response for %s %s with dig's pid %d", name, type, (int)pid);
	cr_assert_str_eq(jstr(r, "dns.rcode"), rcode);
	cr_assert_eq(jint(r, "dns.id", -1), jint(q, "dns.id", -2));
	cr_assert_eq(jint(r, "dns.client.port", -1), jint(q, "dns.client.port", -2));
	cr_assert_str_eq(jstr(r, "dns.server.addr"), SERVER);
	cr_assert_eq(jint(r, "dns.server.port", -1), port);
	cr_assert_eq(jint(r, "process.cgroupId", -1), jint(q, "process.cgroupId", -2));
	cr_assert_eq(jint(r, "dns.latencyNs", -1) > 0, 1, "latency");
	cr_assert(jint(r, "dns.latencyNs", 0) < 5000000000ll);
	json_object *mt;
	json_object *d;
	cr_assert(json_object_object_get_ex(r, "dns", &d) &&
		  json_object_object_get_ex(d, "matched", &mt) && json_object_get_boolean(mt));
	cr_assert_eq(jint(r, "dns.answerCount", -1), (long long)n_answers(r));
	/* Exactly one query and one response event per exchange (the loopback copies are
	 * deduplicated). */
	tapiod_pump(t, 50);
	cr_assert_eq(tapiod_count(t, match_dns, &qm), 1);
	cr_assert_eq(tapiod_count(t, match_dns, &rm), 1);
	return r;
}

static bool flag(json_object *ev, const char *key)
{
	json_object *d, *v;
	return json_object_object_get_ex(ev, "dns", &d) && json_object_object_get_ex(d, key, &v) &&
	       json_object_get_boolean(v);
}

static char *config(char *buf, size_t len, int port, const char *extra)
{
	snprintf(buf, len,
		 "  process:\n    enabled: false\n"
		 "  dns:\n    enabled: true\n    ports: [%d, %d]\n%s",
		 port, port + 1, extra);
	return buf;
}

Test(dns, answers_rcodes_tcp_and_pid, .timeout = 90)
{
	harness_require_root();
	int port = test_port();
	pid_t dm = dnsmasq_start(port);
	struct tapiod t;
	char cfg[512];
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), port, "    timeout_ms: 5000\n")), 0);
	wait_attached(&t, port);

	json_object *r = exchange(&t, port, false, "a.tapio.test", "A", "NOERROR");
	cr_assert_eq(n_answers(r), 1);
	assert_answer(r, 0, "a.tapio.test", "A", "10.1.2.3");
	cr_assert(flag(r, "authoritative"), "dnsmasq answers its own records authoritatively");
	cr_assert(!flag(r, "truncated"));
	cr_assert(flag(r, "recursionDesired"));

	r = exchange(&t, port, false, "v6.tapio.test", "AAAA", "NOERROR");
	cr_assert_eq(n_answers(r), 1);
	assert_answer(r, 0, "v6.tapio.test", "AAAA", "fd00::1");

	r = exchange(&t, port, false, "alias.tapio.test", "A", "NOERROR");
	cr_assert_eq(n_answers(r), 3, "CNAME chain of two, then the address");
	assert_answer(r, 0, "alias.tapio.test", "CNAME", "www.tapio.test");
	assert_answer(r, 1, "www.tapio.test", "CNAME", "a.tapio.test");
	assert_answer(r, 2, "a.tapio.test", "A", "10.1.2.3");

	r = exchange(&t, port, false, "tapio.test", "MX", "NOERROR");
	cr_assert_eq(n_answers(r), 1);
	assert_answer(r, 0, "tapio.test", "MX", "10 mail.tapio.test");

	r = exchange(&t, port, false, "txt.tapio.test", "TXT", "NOERROR");
	cr_assert_eq(n_answers(r), 1);
	assert_answer(r, 0, "txt.tapio.test", "TXT", "\"hello world\"");

	r = exchange(&t, port, false, "_ldap._tcp.tapio.test", "SRV", "NOERROR");
	cr_assert_eq(n_answers(r), 1);
	assert_answer(r, 0, "_ldap._tcp.tapio.test", "SRV", "5 7 389 ldap.tapio.test");

	r = exchange(&t, port, false, "nx.tapio.test", "A", "NXDOMAIN");
	cr_assert_eq(n_answers(r), 0);

	/* Outside every local domain and without an upstream, dnsmasq 2.90 answers REFUSED. */
	r = exchange(&t, port, false, "x.refused.test", "A", "REFUSED");
	cr_assert_eq(n_answers(r), 0);

	r = exchange(&t, port, true, "a.tapio.test", "A", "NOERROR");
	cr_assert_eq(n_answers(r), 1);
	assert_answer(r, 0, "a.tapio.test", "A", "10.1.2.3");

	cr_assert_eq(t.bad_lines, 0);
	int st = tapiod_stop(&t, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "attached cgroup_skb ingress+egress"), "log:\n%s", log);
	cr_assert(strstr(log, "dns: READY"), "eBPF mode is READY, not degraded:\n%s", log);
	free(log);
	tapiod_cleanup(&t);
	dnsmasq_stop(dm);
}

Test(dns, unanswered_query_times_out, .timeout = 60)
{
	harness_require_root();
	int port = test_port();
	pid_t dm = dnsmasq_start(port);
	struct tapiod t;
	char cfg[512];
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), port, "    timeout_ms: 300\n")), 0);
	wait_attached(&t, port);

	/* Nothing listens on port + 1. */
	pid_t pid = dig(port + 1, false, "lost.tapio.test", "A");
	long long want = sender_pid(&t, pid);
	struct dns_match qm = {"dns.query", "lost.tapio.test", "A", want, "udp"};
	json_object *q = tapiod_wait(&t, match_dns, &qm, 10000);
	cr_assert_not_null(q);
	struct dns_match tm = {"dns.timeout", "lost.tapio.test", "A", want, "udp"};
	json_object *to = tapiod_wait(&t, match_dns, &tm, 10000);
	cr_assert_not_null(to, "no dns.timeout for the unanswered query");
	cr_assert_eq(jint(to, "dns.timeoutMs", -1), 300);
	cr_assert_eq(jint(to, "dns.id", -1), jint(q, "dns.id", -2));
	cr_assert_eq(jint(to, "dns.server.port", -1), port + 1);
	cr_assert_eq(jint(to, "dns.client.port", -1), jint(q, "dns.client.port", -2));
	cr_assert_str_eq(jstr(to, "dns.server.addr"), SERVER);
	/* Its time is the query's plus the timeout. */
	long long dq = jint(q, "bootNs", 0), dt = jint(to, "bootNs", 0);
	cr_assert_eq(dt - dq, 300000000ll);
	struct dns_match rm = {"dns.response", "lost.tapio.test", NULL, 0, NULL};
	cr_assert_eq(tapiod_count(&t, match_dns, &rm), 0);

	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
	dnsmasq_stop(dm);
}

Test(dns, af_packet_fallback_degraded_still_matches, .timeout = 60)
{
	harness_require_root();
	int port = test_port();
	pid_t dm = dnsmasq_start(port);
	struct tapiod t;
	char cfg[512];
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), port, "    force_fallback: true\n")),
		     0);
	wait_attached(&t, port);

	for (int tcp = 0; tcp < 2; tcp++) {
		dig(port, tcp, "alias.tapio.test", "A");
		struct dns_match qm = {"dns.query", "alias.tapio.test", "A", 0,
				       tcp ? "tcp" : "udp"};
		json_object *q = tapiod_wait(&t, match_dns, &qm, 10000);
		cr_assert_not_null(q);
		cr_assert_eq(jint(q, "process.pid", -1), -1, "no process in AF_PACKET mode");
		cr_assert_eq(jint(q, "process.cgroupId", -1), -1);
		struct dns_match rm = {"dns.response", "alias.tapio.test", "A", 0,
				       tcp ? "tcp" : "udp"};
		json_object *r = tapiod_wait(&t, match_dns, &rm, 10000);
		cr_assert_not_null(r);
		cr_assert_str_eq(jstr(r, "dns.rcode"), "NOERROR");
		cr_assert_eq(n_answers(r), 3);
		assert_answer(r, 2, "a.tapio.test", "A", "10.1.2.3");
		cr_assert(jint(r, "dns.latencyNs", 0) > 0);
		cr_assert_eq(jint(r, "dns.id", -1), jint(q, "dns.id", -2));
		tapiod_pump(&t, 50);
		cr_assert_eq(tapiod_count(&t, match_dns, &qm), 1,
			     "one event per query, not per copy");
		cr_assert_eq(tapiod_count(&t, match_dns, &rm), 1);
	}
	tapiod_stop(&t, 10000);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "DEGRADED: AF_PACKET fallback"), "log:\n%s", log);
	free(log);
	tapiod_cleanup(&t);
	dnsmasq_stop(dm);
}

/* A query from a process in a cgroup named like a containerd container carries its id. */
Test(dns, query_from_container_cgroup_carries_container_id, .timeout = 60)
{
	harness_require_root();
	const char *cid = "5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d";
	struct fake_container fc;
	cr_assert_eq(fake_container_create(&fc, "dns", "burstable",
					   "1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901", cid),
		     0, "container cgroup: %s", strerror(errno));

	int port = test_port();
	pid_t dm = dnsmasq_start(port);
	struct tapiod t;
	char cfg[512];
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), port, "")), 0);
	wait_attached(&t, port);

	int go[2];
	cr_assert_eq(pipe(go), 0);
	char portarg[16];
	snprintf(portarg, sizeof(portarg), "%d", port);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execl(DIG, "dig", "@" SERVER, "-p", portarg, "+tries=1", "+time=1",
		      "ctr.tapio.test", "A", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	cr_assert_eq(fake_container_enter(&fc, pid), 0, "moving the child into the cgroup");
	cr_assert_eq(write(go[1], "x", 1), 1);
	close(go[1]);
	int status;
	waitpid(pid, &status, 0);

	const char *types[2] = {"dns.query", "dns.response"};
	for (int i = 0; i < 2; i++) {
		struct dns_match mm = {types[i], "ctr.tapio.test", "A", sender_pid(&t, pid), "udp"};
		json_object *ev = tapiod_wait(&t, match_dns, &mm, 10000);
		cr_assert_not_null(ev, "no %s from inside the container cgroup", types[i]);
		assert_container_context(ev, cid, "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901", "burstable");
	}
	tapiod_stop(&t, 10000);
	tapiod_cleanup(&t);
	dnsmasq_stop(dm);
	fake_container_remove(&fc);
}
