// SPDX-License-Identifier: Apache-2.0
// The kubelet collector's pure parts: JSON parsing of /pods and /stats/summary (real field
// names), times and quantities, the state table's one-event-per-transition rules, and the
// cgroup v1/v2 readers on files laid out like the kernel's.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the collector's pure parts are compiled into the test, as the DNS parser is */
#include "collectors/kubelet/kubelet_cgroup.c"
#include "collectors/kubelet/kubelet_parse.c"
#include "collectors/kubelet/kubelet_state.c"

Test(kubelet_parse, times_rfc3339)
{
	int64_t ns;
	cr_assert_eq(kl_parse_time("2026-12-06T20:01:10Z", &ns), 0);
	cr_expect_eq(ns, 1796587270LL * 1000000000LL);
	cr_assert_eq(kl_parse_time("2026-12-06T20:01:10.5Z", &ns), 0);
	cr_expect_eq(ns, 1796587270LL * 1000000000LL + 500000000);
	cr_assert_eq(kl_parse_time("2026-12-06T21:01:10+01:00", &ns), 0);
	cr_expect_eq(ns, 1796587270LL * 1000000000LL);
	cr_expect_eq(kl_parse_time("2026-12-06 20:01:10", &ns), -EINVAL);
	cr_expect_eq(kl_parse_time("2026-12-06T20:01:10", &ns), -EINVAL);
	cr_expect_eq(kl_parse_time("2026-12-06T20:01:10Zjunk", &ns), -EINVAL);
	cr_expect_eq(kl_parse_time("2026-12-06T20:01:10.Z", &ns), -EINVAL);
	cr_expect_eq(kl_parse_time("", &ns), -EINVAL);
}

Test(kubelet_parse, quantities)
{
	uint64_t b;
	cr_assert_eq(kl_parse_quantity("1Gi", &b), 0);
	cr_expect_eq(b, 1073741824ull);
	cr_assert_eq(kl_parse_quantity("500M", &b), 0);
	cr_expect_eq(b, 500000000ull);
	cr_assert_eq(kl_parse_quantity("1000", &b), 0);
	cr_expect_eq(b, 1000);
	cr_assert_eq(kl_parse_quantity("1.5Ki", &b), 0);
	cr_expect_eq(b, 1536);
	cr_assert_eq(kl_parse_quantity("1e3", &b), 0);
	cr_expect_eq(b, 1000);
	cr_expect_eq(kl_parse_quantity("12Q", &b), -EINVAL);
	cr_expect_eq(kl_parse_quantity("-1", &b), -EINVAL);
	cr_expect_eq(kl_parse_quantity("Gi", &b), -EINVAL);
	cr_expect_eq(kl_parse_quantity("1e30Ei", &b), -ERANGE);
}

#define POD(status)                                                                                \
	"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[{\"metadata\":"    \
	"{\"name\":\"web-0\",\"namespace\":\"shop\",\"uid\":\"u-1\"},\"spec\":{\"containers\":"    \
	"[{\"name\":\"app\",\"resources\":{\"limits\":{\"ephemeral-storage\":\"1Gi\"}}},"          \
	"{\"name\":\"side\",\"resources\":{\"limits\":{\"ephemeral-storage\":\"512Mi\"}}}]},"      \
	"\"status\":" status "}]}"

Test(kubelet_parse, pod_list)
{
	const char *j = POD(
		"{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\","
		"\"reason\":\"ContainersNotReady\",\"message\":\"m\"}],"
		"\"initContainerStatuses\":[{\"name\":\"init\",\"state\":{\"terminated\":{"
		"\"exitCode\":0,\"reason\":\"Completed\"}},\"restartCount\":0,\"ready\":true}],"
		"\"containerStatuses\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\","
		"\"restartCount\":4,\"ready\":false,\"state\":{\"waiting\":{\"reason\":"
		"\"CrashLoopBackOff\",\"message\":\"back-off\"}},\"lastState\":{\"terminated\":{"
		"\"exitCode\":137,\"signal\":9,\"reason\":\"OOMKilled\",\"startedAt\":"
		"\"2026-12-06T20:00:10Z\",\"finishedAt\":\"2026-12-06T20:01:10Z\"}}}]}");
	struct kl_pods p;
	cr_assert_eq(kl_parse_pods(j, strlen(j), &p), 0);
	cr_assert_eq(p.n, 1);
	struct kl_pod *pod = &p.pods[0];
	cr_expect_str_eq(pod->uid, "u-1");
	cr_expect_str_eq(pod->name, "web-0");
	cr_expect_str_eq(pod->ns, "shop");
	cr_expect_str_eq(pod->phase, "Running");
	cr_expect(pod->has_ready && !pod->ready);
	cr_expect_str_eq(pod->ready_reason, "ContainersNotReady");
	cr_expect_eq(pod->ephemeral_limit, (1ull << 30) + (512ull << 20));
	cr_assert_eq(pod->n_ctr, 2);
	cr_expect(pod->ctr[0].init);
	cr_expect_eq(pod->ctr[0].state, KL_TERMINATED);
	struct kl_container *c = &pod->ctr[1];
	cr_expect_str_eq(c->name, "app");
	cr_expect_str_eq(c->id, "abc");
	cr_expect_str_eq(c->runtime, "containerd");
	cr_expect_eq(c->restarts, 4);
	cr_expect_eq(c->state, KL_WAITING);
	cr_expect_str_eq(c->reason, "CrashLoopBackOff");
	cr_expect(c->last.set);
	cr_expect_eq(c->last.exit_code, 137);
	cr_expect_eq(c->last.signal, 9);
	cr_expect_str_eq(c->last.reason, "OOMKilled");
	cr_expect_eq(c->last.finished_ns - c->last.started_ns, 60LL * 1000000000LL);
	kl_pods_free(&p);
}

/* by index: criterion runs each case in a fresh process, where pointers would not hold */
static const struct {
	const char *json;
	int err;
} docs[] = {
	{"", -EBADMSG},
	{"[]", -EBADMSG},
	{"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"uid\":\"u\"}}", -EBADMSG},
	{"{\"kind\":\"PodList\",\"items\":{}}", -EBADMSG},
	{"{\"kind\":\"Status\",\"items\":[]}", -EBADMSG},
	{"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"x\"}}]}", -EBADMSG},
	{"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"uid\":7}}]}", -EBADMSG},
	{"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"uid\":\"u\"},\"status\":{"
	 "\"containerStatuses\":[{\"name\":\"a\",\"restartCount\":\"3\"}]}}]}",
	 -EBADMSG},
	{"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"uid\":\"u\"},\"status\":{"
	 "\"containerStatuses\":[{\"name\":\"a\",\"state\":{\"terminated\":{"
	 "\"finishedAt\":\"yesterday\"}}}]}}]}",
	 -EBADMSG},
	{"{\"kind\":\"PodList\",\"items\":[]} trailing", -EBADMSG},
};

Test(kubelet_parse, rejects)
{
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct kl_pods p;
		cr_expect_eq(kl_parse_pods(docs[i].json, strlen(docs[i].json), &p), docs[i].err,
			     "%s", docs[i].json);
	}
}

Test(kubelet_parse, deep_nesting_is_refused)
{
	static char j[4096];
	size_t n = 0;
	n += (size_t)sprintf(j, "{\"kind\":\"PodList\",\"x\":");
	for (int i = 0; i < 200; i++)
		j[n++] = '[';
	for (int i = 0; i < 200; i++)
		j[n++] = ']';
	j[n++] = '}';
	struct kl_pods p;
	cr_expect_eq(kl_parse_pods(j, n, &p), -EBADMSG);
}

Test(kubelet_parse, pods_beyond_the_cap_are_cut_and_counted)
{
	size_t cap = 64u << 20;
	char *j = malloc(cap);
	size_t n = (size_t)sprintf(j, "{\"kind\":\"PodList\",\"items\":[");
	for (int i = 0; i < KL_MAX_PODS + 5; i++)
		n += (size_t)sprintf(j + n, "%s{\"metadata\":{\"uid\":\"u%d\"}}", i ? "," : "", i);
	n += (size_t)sprintf(j + n, "]}");
	struct kl_pods p;
	cr_assert_eq(kl_parse_pods(j, n, &p), 0);
	cr_expect_eq(p.n, KL_MAX_PODS);
	cr_expect_eq(p.cut, 5);
	kl_pods_free(&p);
	free(j);
}

Test(kubelet_parse, summary)
{
	const char *j =
		"{\"node\":{\"nodeName\":\"n1\",\"cpu\":{\"usageCoreNanoSeconds\":5},\"memory\":{"
		"\"availableBytes\":6,\"workingSetBytes\":7},\"fs\":{\"availableBytes\":8,"
		"\"capacityBytes\":9,\"usedBytes\":1,\"inodes\":10,\"inodesFree\":2},\"runtime\":{"
		"\"imageFs\":{\"availableBytes\":11,\"capacityBytes\":12,\"usedBytes\":1}},"
		"\"rlimit\":{\"maxpid\":100,\"curproc\":3}},\"pods\":[{\"podRef\":{\"uid\":\"u-1\"}"
		","
		"\"ephemeral-storage\":{\"usedBytes\":42}},{\"podRef\":{\"uid\":\"u-2\"}}]}";
	struct kl_summary s;
	cr_assert_eq(kl_parse_summary(j, strlen(j), &s), 0);
	cr_expect_str_eq(s.node.node_name, "n1");
	cr_expect(s.node.has_cpu && s.node.has_mem && s.node.has_fs && s.node.has_imagefs &&
		  s.node.has_rlimit);
	cr_expect_eq(s.node.cpu_usage_core_ns, 5);
	cr_expect_eq(s.node.mem_available, 6);
	cr_expect_eq(s.node.mem_working_set, 7);
	cr_expect_eq(s.node.fs_available, 8);
	cr_expect_eq(s.node.fs_inodes_free, 2);
	cr_expect_eq(s.node.imagefs_capacity, 12);
	cr_expect_eq(s.node.rlimit_curproc, 3);
	cr_assert_eq(s.n, 2);
	cr_expect(s.pods[0].has_ephemeral);
	cr_expect_eq(s.pods[0].ephemeral_used, 42);
	cr_expect(!s.pods[1].has_ephemeral);
	kl_summary_free(&s);
	const char *neg = "{\"node\":{\"memory\":{\"availableBytes\":-1}}}";
	cr_expect_eq(kl_parse_summary(neg, strlen(neg), &s), -EBADMSG);
	cr_expect_eq(kl_parse_summary("{}", 2, &s), -EBADMSG, "a Summary has a node");
}

/* ---- the state table ---- */

struct seen {
	char types[64][48];
	char reasons[64][64];
	int n;
};

static void record(void *ctx, const char *type, Tapio__V1__KubeletEvent *ev)
{
	struct seen *s = ctx;
	cr_assert_lt(s->n, 64);
	snprintf(s->types[s->n], sizeof(s->types[0]), "%s", type);
	snprintf(s->reasons[s->n], sizeof(s->reasons[0]), "%s", ev->reason ? ev->reason : "");
	s->n++;
}

static const struct kl_thresholds thr = {
	.crash_loop_restarts = 3,
	.throttle_ratio = 0.25,
	.throttle_usage = 0.8,
	.memory_ratio = 0.9,
	.ephemeral_bytes = 1000,
	.ephemeral_ratio = 0.9,
	.memory_available_bytes = 100,
	.nodefs_available_ratio = 0.1,
	.imagefs_available_ratio = 0.15,
	.pid_available_ratio = 0.1,
};

static struct kl_pods one(enum kl_cstate state, const char *reason, uint32_t restarts,
			  int64_t last_finished, int32_t last_code)
{
	static struct kl_pod pod;
	static struct kl_container c;
	memset(&pod, 0, sizeof(pod));
	memset(&c, 0, sizeof(c));
	strcpy(pod.uid, "u-1");
	strcpy(pod.name, "web-0");
	strcpy(pod.ns, "shop");
	strcpy(pod.phase, "Running");
	pod.has_ready = true;
	pod.ready = state == KL_RUNNING;
	strcpy(c.name, "app");
	strcpy(c.id, "abc");
	c.state = state;
	snprintf(c.reason, sizeof(c.reason), "%s", reason);
	c.restarts = restarts;
	if (state == KL_TERMINATED) {
		c.term.set = true;
		c.term.exit_code = last_code;
		c.term.finished_ns = last_finished;
	} else if (last_finished) {
		c.last.set = true;
		c.last.exit_code = last_code;
		c.last.finished_ns = last_finished;
	}
	pod.ctr = &c;
	pod.n_ctr = 1;
	return (struct kl_pods){&pod, 1, 0};
}

Test(kubelet_state, one_event_per_transition)
{
	struct kl_state *st;
	cr_assert_eq(kl_state_new(&thr, &st), 0);
	struct seen s = {0};
	struct kl_pods p = one(KL_RUNNING, "", 0, 0, 0);
	kl_state_pods(st, &p, record, &s);
	cr_expect_eq(s.n, 0, "a healthy pod on first sight: nothing");
	kl_state_pods(st, &p, record, &s);
	cr_expect_eq(s.n, 0);

	p = one(KL_TERMINATED, "", 0, 1000, 137);
	kl_state_pods(st, &p, record, &s);
	cr_assert_eq(s.n, 2);
	cr_expect_str_eq(s.types[0], "kubelet.pod_not_ready"); /* pod events come first */
	cr_expect_str_eq(s.types[1], "kubelet.container_terminated");
	kl_state_pods(st, &p, record, &s);
	cr_expect_eq(s.n, 2);

	/* restarted and crashing: the old termination is in lastState, not news */
	p = one(KL_WAITING, "CrashLoopBackOff", 3, 1000, 137);
	kl_state_pods(st, &p, record, &s);
	cr_assert_eq(s.n, 4, "waiting + crash_loop, no second termination");
	cr_expect_str_eq(s.types[2], "kubelet.container_waiting");
	cr_expect_str_eq(s.types[3], "kubelet.crash_loop");
	/* a new termination seen only as lastState (it ran and died between polls) */
	p = one(KL_WAITING, "CrashLoopBackOff", 4, 2000, 1);
	kl_state_pods(st, &p, record, &s);
	cr_assert_eq(s.n, 5);
	cr_expect_str_eq(s.types[4], "kubelet.container_terminated");
	/* the restart count doubles past the threshold: crash_loop again */
	p = one(KL_WAITING, "CrashLoopBackOff", 6, 2000, 1);
	kl_state_pods(st, &p, record, &s);
	cr_assert_eq(s.n, 6);
	cr_expect_str_eq(s.types[5], "kubelet.crash_loop");
	cr_expect_str_eq(s.reasons[5], "CrashLoopBackOff");
	/* an exit 0 is not a failure */
	p = one(KL_TERMINATED, "", 6, 3000, 0);
	kl_state_pods(st, &p, record, &s);
	cr_expect_eq(s.n, 6);
	/* the pod goes away and comes back: it is new again */
	struct kl_pods none = {0};
	kl_state_pods(st, &none, record, &s);
	cr_expect_eq(kl_state_containers(st), 0);
	kl_state_free(st);
}

Test(kubelet_state, node_pressure_and_ephemeral_storage)
{
	struct kl_state *st;
	cr_assert_eq(kl_state_new(&thr, &st), 0);
	struct seen s = {0};
	struct kl_pods p = one(KL_RUNNING, "", 0, 0, 0);
	p.pods[0].ephemeral_limit = 0;
	kl_state_pods(st, &p, record, &s);
	struct kl_pod_stats ps = {.uid = "u-1", .has_ephemeral = true, .ephemeral_used = 10};
	struct kl_summary sum = {.node = {.has_mem = true,
					  .mem_available = 1000,
					  .has_fs = true,
					  .fs_capacity = 100,
					  .fs_available = 50,
					  .has_rlimit = true,
					  .rlimit_maxpid = 100,
					  .rlimit_curproc = 5},
				 .pods = &ps,
				 .n = 1};
	kl_state_summary(st, &sum, record, &s);
	cr_expect_eq(s.n, 0);
	sum.node.mem_available = 50;
	sum.node.fs_available = 5;
	sum.node.rlimit_curproc = 95;
	ps.ephemeral_used = 1000;
	kl_state_summary(st, &sum, record, &s);
	cr_assert_eq(s.n, 4);
	cr_expect_str_eq(s.types[0], "kubelet.node_condition");
	cr_expect_str_eq(s.reasons[0], "memory.available");
	cr_expect_str_eq(s.reasons[1], "nodefs.available");
	cr_expect_str_eq(s.reasons[2], "pid.available");
	cr_expect_str_eq(s.types[3], "kubelet.ephemeral_storage");
	kl_state_summary(st, &sum, record, &s);
	cr_expect_eq(s.n, 4, "still under pressure: nothing new");
	ps.ephemeral_used = 950; /* above 90 % of the threshold: not re-armed */
	sum.node.mem_available = 1000;
	kl_state_summary(st, &sum, record, &s);
	cr_expect_eq(s.n, 5, "MemoryPressure False");
	ps.ephemeral_used = 1000;
	kl_state_summary(st, &sum, record, &s);
	cr_expect_eq(s.n, 5, "hysteresis: no second ephemeral_storage");
	kl_state_free(st);
}

Test(kubelet_state, throttling_needs_both_ratio_and_usage)
{
	struct kl_state *st;
	cr_assert_eq(kl_state_new(&thr, &st), 0);
	struct seen s = {0};
	struct kl_pods p = one(KL_RUNNING, "", 0, 0, 0);
	kl_state_pods(st, &p, record, &s);
	/* 1 s at a 10 % quota: 100 ms of CPU allowed */
	struct kl_cpu_sample a = {
		.ok = true, .quota_us = 10000, .period_us = 100000, .mono_ns = 1000000000ull};
	struct kl_cpu_sample b = a;
	b.mono_ns += 1000000000ull;
	b.nr_periods = 10;
	b.nr_throttled = 9;
	b.usage_ns = 20000000; /* 20 % of the limit: throttled bursts, not a busy container */
	kl_state_cgroup(st, "u-1", "app", "/x", 1, &a, NULL, record, &s);
	kl_state_cgroup(st, "u-1", "app", "/x", 1, &b, NULL, record, &s);
	cr_expect_eq(s.n, 0, "throttled share high, usage low: the classic false alarm");
	struct kl_cpu_sample c = b;
	c.mono_ns += 1000000000ull;
	c.nr_periods += 10;
	c.nr_throttled += 9;
	c.usage_ns += 99000000;
	kl_state_cgroup(st, "u-1", "app", "/x", 1, &c, NULL, record, &s);
	cr_assert_eq(s.n, 1);
	cr_expect_str_eq(s.types[0], "kubelet.cpu_throttled");
	struct kl_cpu_sample d = c;
	d.mono_ns += 1000000000ull;
	d.nr_periods += 10;
	d.nr_throttled += 9;
	d.usage_ns += 99000000;
	kl_state_cgroup(st, "u-1", "app", "/x", 1, &d, NULL, record, &s);
	cr_expect_eq(s.n, 1, "still throttled: no new event");
	/* no limit: never */
	struct kl_cpu_sample e = d;
	e.quota_us = -1;
	e.mono_ns += 1000000000ull;
	e.nr_periods += 10;
	e.nr_throttled += 10;
	e.usage_ns += 1000000000;
	kl_state_cgroup(st, "u-1", "app", "/x", 1, &e, NULL, record, &s);
	cr_expect_eq(s.n, 1);

	struct kl_mem_sample m = {.ok = true, .usage = 95, .working_set = 95, .limit = 100};
	kl_state_cgroup(st, "u-1", "app", "/x", 1, NULL, &m, record, &s);
	kl_state_cgroup(st, "u-1", "app", "/x", 1, NULL, &m, record, &s);
	cr_assert_eq(s.n, 2);
	cr_expect_str_eq(s.types[1], "kubelet.memory_near_limit");
	m.working_set = 80;
	kl_state_cgroup(st, "u-1", "app", "/x", 1, NULL, &m, record, &s);
	m.working_set = 91;
	kl_state_cgroup(st, "u-1", "app", "/x", 1, NULL, &m, record, &s);
	cr_expect_eq(s.n, 3, "re-armed below the threshold");
	m.limit = 0;
	kl_state_cgroup(st, "u-1", "app", "/x", 1, NULL, &m, record, &s);
	kl_state_cgroup(st, "u-9", "app", "/x", 1, NULL, &m, record, &s);
	cr_expect_eq(s.n, 3);
	kl_state_free(st);
}

/* ---- cgroup readers on a tree laid out like the kernel's ---- */

static void put_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fputs(text, f);
	fclose(f);
}

Test(kubelet_cgroup, v2_files)
{
	char root[] = "/tmp/tapio-klcg-XXXXXX";
	cr_assert_not_null(mkdtemp(root));
	char d[512];
	snprintf(d, sizeof(d), "%s/kubepods.slice", root);
	mkdir(d, 0755);
	put_file(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
	put_file(d, "cpu.stat",
		 "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\nnr_periods 20\n"
		 "nr_throttled 7\nthrottled_usec 300\nnr_bursts 0\nburst_usec 0\n");
	put_file(d, "cpu.max", "50000 100000\n");
	put_file(d, "memory.current", "1048576\n");
	put_file(d, "memory.max", "2097152\n");
	put_file(d, "memory.stat", "anon 100\nfile 200\ninactive_file 4096\nactive_file 1\n");
	struct kl_cgroup_roots r;
	cr_assert_eq(kl_cgroup_find_roots(root, &r), 0);
	cr_expect_eq(r.version, 2);
	struct kl_cpu_sample c;
	cr_assert_eq(kl_cgroup_read_cpu(&r, "/kubepods.slice", &c), 0);
	cr_expect_eq(c.nr_periods, 20);
	cr_expect_eq(c.nr_throttled, 7);
	cr_expect_eq(c.throttled_ns, 300000);
	cr_expect_eq(c.usage_ns, 5000000);
	cr_expect_eq(c.quota_us, 50000);
	cr_expect_eq(c.period_us, 100000);
	struct kl_mem_sample m;
	cr_assert_eq(kl_cgroup_read_mem(&r, "/kubepods.slice", &m), 0);
	cr_expect_eq(m.usage, 1048576);
	cr_expect_eq(m.limit, 2097152);
	cr_expect_eq(m.working_set, 1048576 - 4096);
	put_file(d, "cpu.max", "max 100000\n");
	put_file(d, "memory.max", "max\n");
	cr_assert_eq(kl_cgroup_read_cpu(&r, "/kubepods.slice", &c), 0);
	cr_expect_eq(c.quota_us, -1);
	cr_assert_eq(kl_cgroup_read_mem(&r, "/kubepods.slice", &m), 0);
	cr_expect_eq(m.limit, 0);
	put_file(d, "cpu.stat", "usage_usec x\n");
	cr_expect_eq(kl_cgroup_read_cpu(&r, "/kubepods.slice", &c), -EBADMSG);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_expect_eq(system(cmd), 0);
}

Test(kubelet_cgroup, v1_files_and_the_index)
{
	char root[] = "/tmp/tapio-klcg-XXXXXX";
	cr_assert_not_null(mkdtemp(root));
	const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	const char *rel = "/kubepods/burstable/pod5f0c3a7e-1d2b-4c9a-8e6f-0a1b2c3d4e5f/"
			  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	static const char *const ctls[] = {"cpu", "cpuacct", "memory"};
	for (int i = 0; i < 3; i++) {
		char cmd[900];
		snprintf(cmd, sizeof(cmd), "mkdir -p %s/%s%s", root, ctls[i], rel);
		cr_assert_eq(system(cmd), 0);
	}
	char d[900];
	snprintf(d, sizeof(d), "%s/cpu", root);
	put_file(d, "cpu.stat", "nr_periods 0\n");
	put_file(d, "cpu.cfs_quota_us", "-1\n");
	snprintf(d, sizeof(d), "%s/cpuacct", root);
	put_file(d, "cpuacct.usage", "1\n");
	snprintf(d, sizeof(d), "%s/memory", root);
	put_file(d, "memory.limit_in_bytes", "9223372036854771712\n");
	put_file(d, "memory.usage_in_bytes", "1000000\n");
	snprintf(d, sizeof(d), "%s/cpu%s", root, rel);
	put_file(d, "cpu.stat",
		 "nr_periods 11\nnr_throttled 11\nthrottled_time 828440411\nnr_bursts 0\n");
	put_file(d, "cpu.cfs_quota_us", "10000\n");
	put_file(d, "cpu.cfs_period_us", "100000\n");
	snprintf(d, sizeof(d), "%s/cpuacct%s", root, rel);
	put_file(d, "cpuacct.usage", "111212855\n");
	snprintf(d, sizeof(d), "%s/memory%s", root, rel);
	put_file(d, "memory.usage_in_bytes", "63434752\n");
	put_file(d, "memory.limit_in_bytes", "67108864\n");
	put_file(d, "memory.stat", "cache 0\nrss 63016960\ntotal_inactive_file 434176\n");

	struct kl_cgroup_roots r;
	cr_assert_eq(kl_cgroup_find_roots(root, &r), 0);
	cr_expect_eq(r.version, 1);
	struct kl_cgroup_index *ix;
	cr_assert_eq(kl_cgroup_index_new(&r, &ix), 0);
	cr_expect_eq(kl_cgroup_index_rescan(ix), 1);
	cr_assert_str_eq(kl_cgroup_index_find(ix, id) ?: "", rel);
	cr_expect_null(kl_cgroup_index_find(ix, "ffff"));
	struct kl_cpu_sample c;
	cr_assert_eq(kl_cgroup_read_cpu(&r, rel, &c), 0);
	cr_expect_eq(c.nr_periods, 11);
	cr_expect_eq(c.throttled_ns, 828440411);
	cr_expect_eq(c.usage_ns, 111212855);
	cr_expect_eq(c.quota_us, 10000);
	struct kl_mem_sample m;
	cr_assert_eq(kl_cgroup_read_mem(&r, rel, &m), 0);
	cr_expect_eq(m.limit, 67108864);
	cr_expect_eq(m.working_set, 63434752 - 434176);
	cr_assert_eq(kl_cgroup_read_mem(&r, "", &m), 0);
	cr_expect_eq(m.limit, 0, "the unlimited root");
	kl_cgroup_index_free(ix);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_expect_eq(system(cmd), 0);
}

/* ---- config checks ---- */

#include "config.h"

static const struct {
	const char *yaml;
	const char *key; /* in the error, NULL = accepted */
} cfgs[] = {
	{"collectors:\n  kubelet:\n    url: https://10.0.0.1:10250\n", NULL},
	{"collectors:\n  kubelet:\n    url: http://127.0.0.1:10255\n", "url"},
	{"collectors:\n  kubelet:\n    url: http://127.0.0.1:10255\n    allow_http: true\n", NULL},
	{"collectors:\n  kubelet:\n    url: https:///pods\n", "url"},
	{"collectors:\n  kubelet:\n    url: ftp://x\n", "url"},
	{"collectors:\n  kubelet:\n    key_file: /k.pem\n", "key_file"},
	{"collectors:\n  kubelet:\n    token_file: relative/token\n", "token_file"},
	{"collectors:\n  kubelet:\n    poll_interval_ms: 999\n", "poll_interval_ms"},
	{"collectors:\n  kubelet:\n    cgroup_interval_ms: 10\n", "cgroup_interval_ms"},
	{"collectors:\n  kubelet:\n    throttle_ratio_pct: 101\n", "throttle_ratio_pct"},
	{"collectors:\n  kubelet:\n    cgroup_root: \"\"\n", "cgroup_root"},
};

Test(kubelet_config, checked_at_load)
{
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		struct config *cfg = NULL;
		char *err = NULL;
		int r = config_load_text(cfgs[i].yaml, strlen(cfgs[i].yaml), "t.yaml", &cfg, &err);
		if (!cfgs[i].key) {
			cr_expect_eq(r, 0, "%s: %s", cfgs[i].yaml, err ? err : "");
		} else {
			cr_expect_eq(r, -EINVAL, "%s", cfgs[i].yaml);
			cr_expect(err && strstr(err, cfgs[i].key), "%s: %s", cfgs[i].yaml,
				  err ? err : "(no error)");
		}
		free(err);
		config_free(cfg);
	}
}
