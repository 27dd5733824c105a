// SPDX-License-Identifier: Apache-2.0
// kubelet collector end to end: tapiod with the kubelet collector against the HTTPS test server
// (tests/helpers/https-env.sh: TLS with a CA made here, the bearer token checked), serving /pods
// and /stats/summary in the kubelet's JSON shapes and changing them step by step. Exactly one
// event per transition, every field; an outage (500, truncated JSON, a stall) and its recovery
// emit nothing. Throttling and memory from real v1 cgroups with real busy processes.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char dir[256];
static int port;
static struct tapiod td;

static void server_start(void)
{
	harness_require_root();
	snprintf(dir, sizeof(dir), "/tmp/tapio-kubelet-XXXXXX");
	cr_assert_eq(harness_helper_start("https-env.sh", dir, &port, 1), 1,
		     "https-env.sh start printed no port");
	chmod(dir, 0755); /* the worker reads the token and CA as its own uid */
}

static void server_stop(void)
{
	if (!dir[0])
		return;
	tapiod_cleanup(&td);
	memset(&td, 0, sizeof(td));
	cr_expect_eq(harness_helper_stop("https-env.sh", dir), 0);
	dir[0] = '\0';
}

static void put(const char *name, const char *text)
{
	char path[400], tmp[420];
	snprintf(path, sizeof(path), "%s/root/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(rename(tmp, path), 0);
}

/* How many times the server answered GET /pods (its .hits file). */
static int pod_hits(void)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/root/.hits", dir);
	json_object *o = json_object_from_file(path);
	if (!o)
		return 0;
	json_object *v;
	int n = json_object_object_get_ex(o, "/pods", &v) ? json_object_get_int(v) : 0;
	json_object_put(o);
	return n;
}

/* Wait until the collector has polled `polls` more times, and its answers were processed. */
static void wait_polls(int polls)
{
	int want = pod_hits() + polls;
	for (int i = 0; i < 300 && pod_hits() < want; i++)
		tapiod_pump(&td, 50);
	cr_assert_geq(pod_hits(), want, "the collector stopped polling");
	tapiod_pump(&td, 300); /* its events through tapiod */
}

static double jdbl(json_object *o, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	json_object *cur = o;
	for (char *save, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(cur, tok, &cur))
			return -1;
	return json_object_get_double(cur);
}

struct want {
	const char *type;
	const char *container; /* NULL = any */
};

static bool match(json_object *ev, void *arg)
{
	const struct want *w = arg;
	const char *t = jstr(ev, "type");
	if (!t || strcmp(t, w->type) != 0)
		return false;
	return !w->container || strcmp(jstr(ev, "kubelet.containerName") ?: "", w->container) == 0;
}

static size_t count(const char *type, const char *container)
{
	struct want w = {type, container};
	return tapiod_count(&td, match, &w);
}

static json_object *wait_for(const char *type, const char *container, int ms)
{
	struct want w = {type, container};
	json_object *ev = tapiod_wait(&td, match, &w, ms);
	cr_assert_not_null(ev, "no %s event for %s", type, container ? container : "-");
	return ev;
}

#define UID "5f0c3a7e-1d2b-4c9a-8e6f-0a1b2c3d4e5f"
#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A v1 PodList as the kubelet's /pods writes it: one pod "web-0" in "shop", container "app". */
static void pods(const char *phase, const char *pod_reason, const char *ready, const char *rreason,
		 const char *state, const char *last, int restarts)
{
	char buf[8192];
	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[{"
		 "\"metadata\":{\"name\":\"web-0\",\"namespace\":\"shop\",\"uid\":\"" UID "\","
		 "\"creationTimestamp\":\"2026-12-06T20:00:00Z\",\"labels\":{\"app\":\"web\"}},"
		 "\"spec\":{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"app\","
		 "\"image\":\"registry.example/web:1\",\"resources\":{\"limits\":{\"memory\":"
		 "\"64Mi\",\"ephemeral-storage\":\"1Gi\"}}}]},"
		 "\"status\":{\"phase\":\"%s\",%s\"conditions\":[{\"type\":\"Initialized\","
		 "\"status\":\"True\",\"lastProbeTime\":null,\"lastTransitionTime\":"
		 "\"2026-12-06T20:00:00Z\"},{\"type\":\"Ready\",\"status\":\"%s\","
		 "\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-12-06T20:00:05Z\"%s}],"
		 "\"hostIP\":\"10.0.0.1\",\"podIP\":\"10.244.0.7\",\"startTime\":"
		 "\"2026-12-06T20:00:00Z\",\"containerStatuses\":[{\"name\":\"app\","
		 "\"state\":{%s},\"lastState\":{%s},\"ready\":%s,\"restartCount\":%d,"
		 "\"image\":\"registry.example/web:1\",\"imageID\":\"registry.example/web@sha256:"
		 "aa\",\"containerID\":\"containerd://" CID "\",\"started\":false}],"
		 "\"qosClass\":\"Burstable\"}}]}",
		 phase, pod_reason, ready, rreason, state, last,
		 strcmp(ready, "True") == 0 ? "true" : "false", restarts);
	put("pods.json", buf);
}

/* A Summary as /stats/summary writes it (stats/v1alpha1). */
static void summary(unsigned long long mem_available, unsigned long long eph_used)
{
	char buf[4096];
	snprintf(
		buf, sizeof(buf),
		"{\"node\":{\"nodeName\":\"node-1\",\"systemContainers\":[],"
		"\"startTime\":\"2026-12-01T00:00:00Z\",\"cpu\":{\"time\":\"2026-12-06T20:00:00Z\","
		"\"usageNanoCores\":250000000,\"usageCoreNanoSeconds\":987654321000},"
		"\"memory\":{\"time\":\"2026-12-06T20:00:00Z\",\"availableBytes\":%llu,"
		"\"usageBytes\":3000000000,\"workingSetBytes\":2000000000,\"rssBytes\":1500000000,"
		"\"pageFaults\":1,\"majorPageFaults\":0},\"fs\":{\"time\":\"2026-12-06T20:00:00Z\","
		"\"availableBytes\":60000000000,\"capacityBytes\":100000000000,\"usedBytes\":"
		"40000000000,\"inodesFree\":9000000,\"inodes\":10000000,\"inodesUsed\":1000000},"
		"\"runtime\":{\"imageFs\":{\"time\":\"2026-12-06T20:00:00Z\",\"availableBytes\":"
		"60000000000,\"capacityBytes\":100000000000,\"usedBytes\":5000000000}},"
		"\"rlimit\":{\"time\":\"2026-12-06T20:00:00Z\",\"maxpid\":4194304,\"curproc\":"
		"412}},\"pods\":[{\"podRef\":{\"name\":\"web-0\",\"namespace\":\"shop\",\"uid\":"
		"\"" UID "\"},\"startTime\":\"2026-12-06T20:00:00Z\",\"containers\":[],"
		"\"ephemeral-storage\":{\"time\":\"2026-12-06T20:00:00Z\",\"availableBytes\":1,"
		"\"capacityBytes\":2,\"usedBytes\":%llu}}]}",
		mem_available, eph_used);
	put("stats-summary.json", buf);
}

static void mode(const char *m)
{
	put(".mode", m);
}

static const char *url_host = "127.0.0.1";

static void start(const char *extra)
{
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "  kubelet:\n"
		 "    enabled: true\n"
		 "    url: https://%s:%d\n"
		 "    token_file: %s/token\n"
		 "    ca_file: %s/ca.crt\n"
		 "    poll_interval_ms: 1000\n"
		 "    request_timeout_ms: 1500\n"
		 "    backoff_max_ms: 1000\n"
		 "    node_stats_interval_ms: 3600000\n"
		 "%s",
		 url_host, port, dir, dir, extra);
	cr_assert_eq(tapiod_start(&td, yaml), 0);
	cr_assert(tapiod_wait_state(&td, "kubelet", "READY", 10000) ||
			  tapiod_wait_state(&td, "kubelet", "DEGRADED", 100),
		  "kubelet collector not running:\n%s", tapiod_log(&td));
}

static void expect_pod(json_object *ev)
{
	cr_expect_str_eq(jstr(ev, "collector"), "kubelet");
	cr_expect_str_eq(jstr(ev, "kubelet.podName"), "web-0");
	cr_expect_str_eq(jstr(ev, "kubelet.namespace"), "shop");
	cr_expect_str_eq(jstr(ev, "kubelet.podUid"), UID);
	cr_expect_str_eq(jstr(ev, "k8s.podName"), "web-0");
	cr_expect_str_eq(jstr(ev, "k8s.namespace"), "shop");
	cr_expect_gt(jtime(ev), 0);
}

static void expect_ctr(json_object *ev)
{
	expect_pod(ev);
	cr_expect_str_eq(jstr(ev, "kubelet.containerName"), "app");
	cr_expect_str_eq(jstr(ev, "kubelet.containerId"), CID);
	cr_expect_str_eq(jstr(ev, "kubelet.runtime"), "containerd");
	cr_expect_str_eq(jstr(ev, "k8s.containerId"), CID);
}

#define TERM_137                                                                                   \
	"\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\",\"startedAt\":"                 \
	"\"2026-12-06T20:00:10Z\",\"finishedAt\":\"2026-12-06T20:01:10Z\",\"containerID\":"        \
	"\"containerd://" CID "\"}"
#define CLBO                                                                                       \
	"\"waiting\":{\"reason\":\"CrashLoopBackOff\",\"message\":\"back-off 40s restarting "      \
	"failed container=app pod=web-0_shop(" UID ")\"}"

TestSuite(kubelet, .init = server_start, .fini = server_stop, .timeout = 120);

Test(kubelet, one_event_per_transition_and_none_after_an_outage)
{
	pods("Pending", "", "False", ",\"reason\":\"ContainersNotReady\"",
	     "\"waiting\":{\"reason\":\"ContainerCreating\"}", "", 0);
	summary(8000000000ull, 1000);
	start("");

	/* 1. Waiting (ContainerCreating) on first sight */
	json_object *ev = wait_for("kubelet.container_waiting", "app", 10000);
	expect_ctr(ev);
	cr_expect_str_eq(jstr(ev, "kubelet.reason"), "ContainerCreating");
	cr_expect_eq(jint(ev, "kubelet.restartCount", -1), 0);
	wait_polls(2);
	cr_expect_eq(count("kubelet.container_waiting", NULL), 1, "unchanged polls: no events");
	cr_expect_eq(count("kubelet.pod_not_ready", NULL), 0, "a Pending pod is not 'not ready'");
	cr_expect_eq(count("kubelet.node_condition", NULL), 0, "no pressure: nothing to say");

	/* 2. Running and ready */
	pods("Running", "", "True", "", "\"running\":{\"startedAt\":\"2026-12-06T20:00:10Z\"}", "",
	     0);
	ev = wait_for("kubelet.pod_phase", NULL, 10000);
	expect_pod(ev);
	cr_expect_str_eq(jstr(ev, "kubelet.phase"), "Running");
	cr_expect_str_eq(jstr(ev, "kubelet.previous"), "Pending");
	wait_polls(2);

	/* 3. Terminated(137, OOMKilled), not ready */
	pods("Running", "", "False",
	     ",\"reason\":\"ContainersNotReady\",\"message\":\"containers with unready status: "
	     "[app]\"",
	     TERM_137, "", 0);
	ev = wait_for("kubelet.container_terminated", "app", 10000);
	expect_ctr(ev);
	cr_expect_eq(jint(ev, "kubelet.exitCode", -1), 137);
	cr_expect_str_eq(jstr(ev, "kubelet.reason"), "OOMKilled");
	cr_expect_str_eq(jstr(ev, "kubelet.startedAt"), "2026-12-06T20:00:10Z");
	cr_expect_str_eq(jstr(ev, "kubelet.finishedAt"), "2026-12-06T20:01:10Z");
	ev = wait_for("kubelet.pod_not_ready", NULL, 10000);
	expect_pod(ev);
	cr_expect_str_eq(jstr(ev, "kubelet.condition"), "Ready");
	cr_expect_str_eq(jstr(ev, "kubelet.status"), "False");
	cr_expect_str_eq(jstr(ev, "kubelet.previous"), "True");
	cr_expect_str_eq(jstr(ev, "kubelet.reason"), "ContainersNotReady");
	cr_expect_str_eq(jstr(ev, "kubelet.message"), "containers with unready status: [app]");
	wait_polls(2);

	/* 4. CrashLoopBackOff after 3 restarts; the same termination now in lastState */
	pods("Running", "", "False", ",\"reason\":\"ContainersNotReady\"", CLBO, TERM_137, 3);
	ev = wait_for("kubelet.crash_loop", "app", 10000);
	expect_ctr(ev);
	cr_expect_str_eq(jstr(ev, "kubelet.reason"), "CrashLoopBackOff");
	cr_expect_eq(jint(ev, "kubelet.restartCount", -1), 3);
	cr_expect_eq(jint(ev, "kubelet.exitCode", -1), 137);
	cr_expect_str_eq(jstr(ev, "kubelet.previous"), "OOMKilled");
	cr_expect(strstr(jstr(ev, "kubelet.message") ?: "", "back-off 40s") != NULL);
	wait_polls(2);
	cr_expect_eq(count("kubelet.container_waiting", "app"), 2);
	struct want w = {"kubelet.container_waiting", "app"};
	size_t from = 0;
	(void)from;
	json_object *last = NULL;
	for (size_t i = 0; i < td.n_events; i++)
		if (match(td.events[i], &w))
			last = td.events[i];
	cr_assert_not_null(last);
	cr_expect_str_eq(jstr(last, "kubelet.reason"), "CrashLoopBackOff");
	cr_expect_str_eq(jstr(last, "kubelet.previous"), "Terminated");
	cr_expect_eq(count("kubelet.container_terminated", NULL), 1,
		     "the termination in lastState is the one already reported");

	/* 5. the node runs short of memory: MemoryPressure (the kubelet's 100Mi threshold) */
	summary(50ull << 20, 1000);
	ev = wait_for("kubelet.node_condition", NULL, 10000);
	cr_expect_str_eq(jstr(ev, "kubelet.condition"), "MemoryPressure");
	cr_expect_str_eq(jstr(ev, "kubelet.status"), "True");
	cr_expect_str_eq(jstr(ev, "kubelet.reason"), "memory.available");
	cr_expect_eq(jdbl(ev, "kubelet.value"), (double)(50ull << 20));
	cr_expect_eq(jdbl(ev, "kubelet.limit"), (double)(100ull << 20));
	cr_expect_str_eq(jstr(ev, "kubelet.node.nodeName"), "node-1");
	cr_expect_eq(jint(ev, "kubelet.node.memoryAvailableBytes", -1), 50ll << 20);
	cr_expect_eq(jint(ev, "kubelet.node.cpuUsageCoreNs", -1), 987654321000ll);
	wait_polls(1);

	/* 6. outage: 500, truncated JSON, a dead connection, a stall; the state must survive
	 * it, and tapiod shows the collector DEGRADED meanwhile, READY again after */
	size_t before = td.n_events;
	cr_assert(tapiod_wait_state(&td, "kubelet", "READY", 100), "READY before the outage");
	mode("500");
	cr_assert(tapiod_wait_state(&td, "kubelet", "DEGRADED", 10000), "not DEGRADED on 500");
	int st;
	char *status = tapioctl_run(&td, &st, (const char *const[]){"status", NULL});
	cr_expect(strstr(status ?: "", "HTTP 500; retrying with backoff"), "%s", status ?: "");
	free(status);
	wait_polls(1);
	mode("truncated");
	wait_polls(2);
	mode("reset");
	wait_polls(2);
	mode("stall");
	for (int i = 0; i < 40; i++)
		tapiod_pump(&td, 100); /* 4 s: at least one request times out (1.5 s) */
	cr_expect(tapiod_wait_state(&td, "kubelet", "DEGRADED", 100), "READY during the outage");
	mode("ok");
	wait_polls(3);
	cr_assert(tapiod_wait_state(&td, "kubelet", "READY", 10000), "not READY again");
	for (size_t i = before; i < td.n_events; i++)
		cr_expect(strncmp(jstr(td.events[i], "type") ?: "", "kubelet.", 8) != 0 ||
				  strcmp(jstr(td.events[i], "type"), "kubelet.node_stats") == 0,
			  "event after the outage: %s", json_object_to_json_string(td.events[i]));
	char *log = tapiod_log(&td);
	cr_expect(strstr(log, "HTTP 500") != NULL, "the outage is logged clearly");
	cr_expect(strstr(log, "answers again") != NULL);
	/* tapiod's side: one line for the loss, one for the recovery, whatever the failures
	 * in between (their new reasons are info lines) */
	const char *deg = strstr(log, "kubelet: DEGRADED while running");
	cr_expect(deg && strstr(deg, "HTTP 500"), "%s", log);
	cr_expect(deg && !strstr(deg + 1, "kubelet: DEGRADED while running"), "%s", log);
	const char *back = deg ? strstr(deg, "kubelet: READY again") : NULL;
	cr_expect(back && !strstr(back + 1, "kubelet: READY again"), "%s", log);
	free(log);

	/* 7. evicted: phase Failed with reason Evicted; memory pressure clears */
	pods("Failed",
	     "\"reason\":\"Evicted\",\"message\":\"The node was low on resource: memory.\",",
	     "False", ",\"reason\":\"PodFailed\"", TERM_137, "", 3);
	summary(8000000000ull, 1000);
	ev = wait_for("kubelet.eviction", NULL, 10000);
	expect_pod(ev);
	cr_expect_str_eq(jstr(ev, "kubelet.reason"), "Evicted");
	cr_expect_str_eq(jstr(ev, "kubelet.phase"), "Failed");
	cr_expect_str_eq(jstr(ev, "kubelet.message"), "The node was low on resource: memory.");
	wait_polls(2);

	/* exactly one event per transition, over the whole run */
	cr_expect_eq(count("kubelet.container_waiting", NULL), 2);
	cr_expect_eq(count("kubelet.container_terminated", NULL), 1);
	cr_expect_eq(count("kubelet.crash_loop", NULL), 1);
	cr_expect_eq(count("kubelet.pod_not_ready", NULL), 1);
	cr_expect_eq(count("kubelet.pod_phase", NULL), 2); /* Pending→Running, Running→Failed */
	cr_expect_eq(count("kubelet.eviction", NULL), 1);
	cr_expect_eq(count("kubelet.node_condition", NULL), 2); /* True, then False */
	cr_expect_eq(count("kubelet.node_stats", NULL), 1, "interval 1 h: the first one only");
	cr_expect_eq(count("kubelet.ephemeral_storage", NULL), 0);
}

Test(kubelet, rejects_a_wrong_token_and_a_wrong_ca)
{
	pods("Running", "", "True", "", "\"running\":{}", "", 0);
	summary(8000000000ull, 1000);
	char extra[600];
	/* a CA that did not sign the server's certificate */
	snprintf(extra, sizeof(extra), "    cgroup_interval_ms: 1000\n");
	char bad_yaml[2048];
	snprintf(bad_yaml, sizeof(bad_yaml),
		 "  kubelet:\n    enabled: true\n    url: https://127.0.0.1:%d\n"
		 "    token_file: %s/token\n    ca_file: %s/other-ca.crt\n"
		 "    poll_interval_ms: 1000\n    backoff_max_ms: 1000\n",
		 port, dir, dir);
	cr_assert_eq(tapiod_start(&td, bad_yaml), 0);
	int hits = pod_hits();
	for (int i = 0; i < 50; i++)
		tapiod_pump(&td, 100);
	cr_expect_eq(pod_hits(), hits, "TLS refused before any request");
	char *log = tapiod_log(&td);
	cr_expect(strstr(log, "certificate") != NULL || strstr(log, "SSL") != NULL,
		  "a clear TLS error: %s", log);
	free(log);
	cr_expect_eq(count("kubelet.pod_phase", NULL), 0);
	tapiod_cleanup(&td);
	memset(&td, 0, sizeof(td));

	/* the right CA, a token the server does not accept */
	char tok[400];
	snprintf(tok, sizeof(tok), "%s/wrong-token", dir);
	FILE *f = fopen(tok, "w");
	fputs("not-the-token\n", f);
	fclose(f);
	chmod(tok, 0644);
	snprintf(bad_yaml, sizeof(bad_yaml),
		 "  kubelet:\n    enabled: true\n    url: https://127.0.0.1:%d\n"
		 "    token_file: %s\n    ca_file: %s/ca.crt\n"
		 "    poll_interval_ms: 1000\n    backoff_max_ms: 1000\n",
		 port, tok, dir);
	cr_assert_eq(tapiod_start(&td, bad_yaml), 0);
	wait_polls(2);
	log = tapiod_log(&td);
	cr_expect(strstr(log, "HTTP 401") != NULL, "%s", log);
	cr_expect(strstr(log, "nodes/pods") != NULL, "says which RBAC is needed");
	free(log);
	cr_expect_eq(count("kubelet.node_stats", NULL), 0, "nothing from refused polls");

	/* the projected token rotates (a new file renamed over the old): the running, sandboxed
	 * worker reads it at its next request and is let in */
	char good[256] = "", tmp[420];
	snprintf(tmp, sizeof(tmp), "%s/token", dir);
	f = fopen(tmp, "r");
	cr_assert_not_null(fgets(good, sizeof(good), f));
	fclose(f);
	snprintf(tmp, sizeof(tmp), "%s.new", tok);
	f = fopen(tmp, "w");
	fputs(good, f);
	fclose(f);
	chmod(tmp, 0644);
	cr_assert_eq(rename(tmp, tok), 0);
	json_object *ev = wait_for("kubelet.node_stats", NULL, 10000);
	cr_expect_str_eq(jstr(ev, "kubelet.node.nodeName"), "node-1");
	/* READY again: within a second (the worker sends at most one change a second) */
	cr_expect(tapiod_wait_state(&td, "kubelet", "READY", 10000), "not READY again");
	log = tapiod_log(&td);
	cr_expect(strstr(log, "answers again") != NULL);
	/* tapiod's side: DEGRADED while refused (the reason names the RBAC), READY once let in */
	const char *deg = strstr(log, "kubelet: DEGRADED while running");
	cr_expect(deg && strstr(deg, "HTTP 401 (the token needs get on nodes/healthz"), "%s", log);
	cr_expect(deg && !strstr(deg + 1, "kubelet: DEGRADED while running"), "%s", log);
	const char *back = deg ? strstr(deg, "kubelet: READY again") : NULL;
	cr_expect(back && !strstr(back + 1, "kubelet: READY again"), "%s", log);
	free(log);
}

/* ---- real cgroups --------------------------------------------------------------------------- */

#define CG_PARENT "tapio-kubelet-test"
#define UID2	  "6a1d4b8f-2e3c-4dab-9f70-1b2c3d4e5f60"
static const char *const cids[3] = {
	"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", /* 10 % CPU */
	"b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", /* no limit */
	"c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", /* 64 MiB */
};
static const char *const names[3] = {"limited", "unlimited", "memory"};
static pid_t kids[3];

static void cg_path(char *buf, size_t len, const char *ctl, int i)
{
	snprintf(buf, len, "/sys/fs/cgroup/%s/" CG_PARENT "/kubepods/burstable/pod" UID2 "%s%s",
		 ctl, i >= 0 ? "/" : "", i >= 0 ? cids[i] : "");
}

static void cg_write(const char *ctl, int i, const char *file, const char *val)
{
	char p[512];
	cg_path(p, sizeof(p), ctl, i);
	char f[600];
	snprintf(f, sizeof(f), "%s/%s", p, file);
	int fd = open(f, O_WRONLY);
	cr_assert_geq(fd, 0, "%s: %s", f, strerror(errno));
	cr_assert_eq(write(fd, val, strlen(val)), (ssize_t)strlen(val), "%s: %s", f,
		     strerror(errno));
	close(fd);
}

static void cg_cleanup(void)
{
	for (int i = 0; i < 3; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	static const char *const ctls[] = {"cpu", "cpuacct", "memory"};
	for (int c = 0; c < 3; c++) {
		char p[512];
		for (int i = 0; i < 3; i++) {
			cg_path(p, sizeof(p), ctls[c], i);
			rmdir(p);
		}
		cg_path(p, sizeof(p), ctls[c], -1);
		rmdir(p);
		char top[256];
		snprintf(top, sizeof(top), "/sys/fs/cgroup/%s/" CG_PARENT "/kubepods/burstable",
			 ctls[c]);
		rmdir(top);
		snprintf(top, sizeof(top), "/sys/fs/cgroup/%s/" CG_PARENT "/kubepods", ctls[c]);
		rmdir(top);
		snprintf(top, sizeof(top), "/sys/fs/cgroup/%s/" CG_PARENT, ctls[c]);
		rmdir(top);
	}
}

static void cg_fini(void)
{
	cg_cleanup();
	server_stop();
}

static pid_t spawn_in(int i, bool memory)
{
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char b;
		close(pfd[1]);
		if (read(pfd[0], &b, 1) != 1) /* moved into the cgroups */
			_exit(1);
		if (memory) {
			size_t n = 60u << 20;	      /* of a 64 MiB limit: 94 % */
			volatile char *m = malloc(n); /* volatile: the writes must happen */
			if (!m)
				_exit(2);
			for (size_t o = 0; o < n; o += 4096)
				m[o] = 1;
			for (;;)
				pause();
		}
		for (volatile unsigned long x = 0;; x++)
			;
	}
	close(pfd[0]);
	char pid_s[32];
	snprintf(pid_s, sizeof(pid_s), "%d", pid);
	cg_write("cpu", i, "cgroup.procs", pid_s);
	cg_write("cpuacct", i, "cgroup.procs", pid_s);
	cg_write("memory", i, "cgroup.procs", pid_s);
	cr_assert_eq(write(pfd[1], "g", 1), 1);
	close(pfd[1]);
	return pid;
}

Test(kubelet, cpu_throttling_and_memory_from_real_cgroups, .fini = cg_fini)
{
	if (access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK) != 0)
		cr_assert_fail(
			"this test needs the cgroup v1 cpu controller at /sys/fs/cgroup/cpu");
	cg_cleanup();
	static const char *const ctls[] = {"cpu", "cpuacct", "memory"};
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < 3; i++) {
			char p[512];
			cg_path(p, sizeof(p), ctls[c], i);
			char cmd[600];
			snprintf(cmd, sizeof(cmd), "mkdir -p %s", p);
			cr_assert_eq(system(cmd), 0);
		}
	cg_write("cpu", 0, "cpu.cfs_period_us", "100000");
	cg_write("cpu", 0, "cpu.cfs_quota_us", "10000"); /* 10 % of one CPU */
	cg_write("memory", 2, "memory.limit_in_bytes", "67108864");
	kids[0] = spawn_in(0, false);
	kids[1] = spawn_in(1, false);
	kids[2] = spawn_in(2, true);

	char buf[8192];
	size_t off = (size_t)snprintf(
		buf, sizeof(buf),
		"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[{"
		"\"metadata\":{\"name\":\"burn-0\",\"namespace\":\"lab\",\"uid\":\"" UID2 "\"},"
		"\"spec\":{\"containers\":[]},\"status\":{\"phase\":\"Running\",\"conditions\":["
		"{\"type\":\"Ready\",\"status\":\"True\"}],\"containerStatuses\":[");
	for (int i = 0; i < 3; i++)
		off += (size_t)snprintf(
			buf + off, sizeof(buf) - off,
			"%s{\"name\":\"%s\",\"state\":{\"running\":{\"startedAt\":"
			"\"2026-12-06T20:00:00Z\"}},\"lastState\":{},\"ready\":true,"
			"\"restartCount\":0,\"containerID\":\"containerd://%s\"}",
			i ? "," : "", names[i], cids[i]);
	snprintf(buf + off, sizeof(buf) - off, "]}}]}");
	put("pods.json", buf);
	summary(8000000000ull, 1000);
	url_host = "localhost"; /* a name: verified against the certificate's DNS name */
	start("    cgroup_interval_ms: 1000\n");

	json_object *ev = wait_for("kubelet.cpu_throttled", "limited", 20000);
	cr_expect_str_eq(jstr(ev, "kubelet.podName"), "burn-0");
	cr_expect_str_eq(jstr(ev, "kubelet.namespace"), "lab");
	cr_expect_str_eq(jstr(ev, "kubelet.podUid"), UID2);
	cr_expect_str_eq(jstr(ev, "kubelet.containerId"), cids[0]);
	cr_expect_eq(jint(ev, "kubelet.cpu.quotaUs", -1), 10000);
	cr_expect_eq(jint(ev, "kubelet.cpu.periodUs", -1), 100000);
	cr_expect_eq(jint(ev, "kubelet.cpu.cgroupVersion", -1), 1);
	long long periods = jint(ev, "kubelet.cpu.periods", -1);
	long long throttled = jint(ev, "kubelet.cpu.throttledPeriods", -1);
	long long interval = jint(ev, "kubelet.cpu.intervalNs", -1);
	long long usage = jint(ev, "kubelet.cpu.usageNs", -1);
	/* a 1 s interval has ~10 periods of 100 ms, and a busy loop is throttled in each */
	cr_expect_geq(periods, 5, "periods %lld", periods);
	cr_expect_geq(throttled, periods / 2, "throttled %lld of %lld", throttled, periods);
	cr_expect_gt(jint(ev, "kubelet.cpu.throttledNs", -1), 0);
	cr_expect_geq(interval, 900000000ll);
	/* at 10 % of a CPU: ~0.1 s of CPU per s */
	double use = jdbl(ev, "kubelet.cpu.usageOfLimit");
	cr_expect(use > 0.8 && use < 1.3, "usage of limit %f (usage %lld ns in %lld ns)", use,
		  usage, interval);
	cr_expect_eq(jdbl(ev, "kubelet.cpu.throttledRatio"), (double)throttled / (double)periods);
	cr_expect(strstr(jstr(ev, "kubelet.cpu.cgroup") ?: "", cids[0]) != NULL);

	struct want wm = {"kubelet.memory_near_limit", "memory"};
	ev = tapiod_wait(&td, match, &wm, 20000);
	if (!ev) {
		char p[512], cmd[2000];
		cg_path(p, sizeof(p), "memory", 2);
		snprintf(cmd, sizeof(cmd),
			 "cat %s/memory.usage_in_bytes %s/memory.failcnt %s/cgroup.procs >&2", p, p,
			 p);
		system(cmd);
		char *log = tapiod_log(&td);
		cr_assert_fail("no memory_near_limit: %s", log);
	}
	cr_expect_eq(jint(ev, "kubelet.memory.limitBytes", -1), 67108864);
	long long ws = jint(ev, "kubelet.memory.workingSetBytes", -1);
	cr_expect_geq(ws, 60ll << 20, "working set %lld", ws);
	cr_expect_leq(ws, 64ll << 20);
	cr_expect_geq(jint(ev, "kubelet.memory.usageBytes", -1), ws);
	cr_expect_geq(jdbl(ev, "kubelet.memory.ratio"), 0.9);
	cr_expect_str_eq(jstr(ev, "kubelet.containerId"), cids[2]);

	/* a few more passes: still one event each; the unlimited busy loop never throttled */
	for (int i = 0; i < 40; i++)
		tapiod_pump(&td, 100);
	cr_expect_eq(count("kubelet.cpu_throttled", "limited"), 1);
	cr_expect_eq(count("kubelet.cpu_throttled", "unlimited"), 0);
	cr_expect_eq(count("kubelet.cpu_throttled", "memory"), 0);
	cr_expect_eq(count("kubelet.memory_near_limit", NULL), 1);
	size_t c = 0;
	pid_t pids[8];
	c = tapiod_children(&td, pids, 8);
	cr_expect_geq(c, 1);
	for (size_t i = 0; i < c; i++)
		assert_worker_sandboxed(pids[i]);
}
