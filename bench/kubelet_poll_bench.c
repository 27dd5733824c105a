// SPDX-License-Identifier: Apache-2.0
// CPU per kubelet poll with 110 pods (the kubelet's default max-pods): the three HTTPS requests
// through common/httpc.c on a worker loop, JSON parsing and the state table's diff, against the
// test server of tests/helpers/https-env.sh serving kubelet-shaped answers. Prints one table.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collectors/kubelet/kubelet.h"
#include "httpc.h"
#include "strbuf.h"
#include "worker.h"

#define PODS  110
#define POLLS 100

static char dir[64];
static int port;

struct ans {
	bool done;
	long status;
	char *body;
	size_t len;
};

static void on_done(void *data, const struct httpc_response *r)
{
	struct ans *a = data;
	a->done = true;
	a->status = r->err ? -1 : r->status;
	a->body = malloc(r->len + 1);
	memcpy(a->body, r->body, r->len + 1);
	a->len = r->len;
}

static void noop(void *ctx, const char *type, Tapio__V1__KubeletEvent *ev)
{
	(*(unsigned *)ctx)++;
}

static double cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static double thread_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void write_file(const char *name, const struct strbuf *sb)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/root/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (!f || fwrite(sb->data, 1, sb->len, f) != sb->len) {
		perror(p);
		exit(1);
	}
	fclose(f);
}

/* Pods shaped like a busy node's: labels, annotations, two containers with env and resources,
 * the status the kubelet reports (~4 KiB each). */
static void make_answers(size_t *ret_pods_len)
{
	struct strbuf sb = STRBUF_INIT, ss = STRBUF_INIT;
	strbuf_init(&sb, 64u << 20);
	strbuf_init(&ss, 64u << 20);
	strbuf_append_str(
		&sb, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[");
	strbuf_append_str(&ss,
			  "{\"node\":{\"nodeName\":\"node-1\",\"cpu\":{\"usageCoreNanoSeconds\":1},"
			  "\"memory\":{\"availableBytes\":8000000000,\"workingSetBytes\":1},"
			  "\"fs\":{\"availableBytes\":50,\"capacityBytes\":100,\"usedBytes\":50},"
			  "\"rlimit\":{\"maxpid\":4194304,\"curproc\":500}},\"pods\":[");
	for (int i = 0; i < PODS; i++) {
		strbuf_appendf(
			&sb,
			"%s{\"metadata\":{\"name\":\"svc-%d-7d9f8b6c5d-x%04d\",\"namespace\":"
			"\"team-%d\","
			"\"uid\":\"%08x-1d2b-4c9a-8e6f-0a1b2c3d4e5f\",\"resourceVersion\":\"123456%"
			"d\","
			"\"creationTimestamp\":\"2026-12-06T20:00:00Z\",\"labels\":{\"app\":\"svc-%"
			"d\","
			"\"pod-template-hash\":\"7d9f8b6c5d\",\"tier\":\"backend\"},"
			"\"annotations\":{"
			"\"kubernetes.io/config.seen\":\"2026-12-06T20:00:00.000000000Z\","
			"\"kubernetes.io/config.source\":\"api\",\"prometheus.io/"
			"scrape\":\"true\"},"
			"\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
			"\"name\":\"svc-%d-7d9f8b6c5d\",\"uid\":\"aaaaaaaa-1d2b-4c9a-8e6f-"
			"0a1b2c3d4e5f\","
			"\"controller\":true,\"blockOwnerDeletion\":true}]},\"spec\":{\"volumes\":["
			"{"
			"\"name\":\"kube-api-access\",\"projected\":{\"sources\":[{"
			"\"serviceAccountToken\":"
			"{\"expirationSeconds\":3607,\"path\":\"token\"}}],\"defaultMode\":420}}],"
			"\"containers\":[",
			i ? "," : "", i, i, i % 7, i, i, i, i);
		for (int c = 0; c < 2; c++)
			strbuf_appendf(
				&sb,
				"%s{\"name\":\"c%d\",\"image\":\"registry.example/"
				"svc:%d\",\"env\":["
				"{\"name\":\"LOG_LEVEL\",\"value\":\"info\"},{\"name\":\"POD_"
				"NAME\","
				"\"valueFrom\":{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":"
				"\"metadata.name\"}}}],\"resources\":{\"limits\":{\"cpu\":\"500m\","
				"\"memory\":\"256Mi\",\"ephemeral-storage\":\"1Gi\"},\"requests\":{"
				"\"cpu\":\"100m\",\"memory\":\"128Mi\"}},\"volumeMounts\":[{"
				"\"name\":"
				"\"kube-api-access\",\"readOnly\":true,\"mountPath\":"
				"\"/var/run/secrets/kubernetes.io/serviceaccount\"}],"
				"\"terminationMessagePath\":\"/dev/termination-log\","
				"\"imagePullPolicy\":\"IfNotPresent\"}",
				c ? "," : "", c, i);
		strbuf_appendf(
			&sb,
			"],\"restartPolicy\":\"Always\",\"nodeName\":\"node-1\","
			"\"serviceAccountName\":\"default\"},\"status\":{\"phase\":\"Running\","
			"\"conditions\":[{\"type\":\"Initialized\",\"status\":\"True\"},{"
			"\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"ContainersReady\","
			"\"status\":\"True\"},{\"type\":\"PodScheduled\",\"status\":\"True\"}],"
			"\"hostIP\":\"10.0.0.1\",\"podIP\":\"10.244.%d.%d\",\"startTime\":"
			"\"2026-12-06T20:00:00Z\",\"containerStatuses\":[",
			i / 250, i % 250);
		for (int c = 0; c < 2; c++)
			strbuf_appendf(
				&sb,
				"%s{\"name\":\"c%d\",\"state\":{\"running\":{\"startedAt\":"
				"\"2026-12-06T20:00:01Z\"}},\"lastState\":{},\"ready\":true,"
				"\"restartCount\":0,\"image\":\"registry.example/svc:%d\","
				"\"imageID\":\"registry.example/svc@sha256:%064d\","
				"\"containerID\":\"containerd://%032d%032d\",\"started\":true}",
				c ? "," : "", c, i, i, i, c);
		strbuf_append_str(&sb, "],\"qosClass\":\"Burstable\"}}");
		strbuf_appendf(&ss,
			       "%s{\"podRef\":{\"name\":\"p%d\",\"namespace\":\"n\",\"uid\":"
			       "\"%08x-1d2b-4c9a-8e6f-0a1b2c3d4e5f\"},\"containers\":[],"
			       "\"ephemeral-storage\":{\"usedBytes\":4096}}",
			       i ? "," : "", i, i);
	}
	strbuf_append_str(&sb, "]}");
	strbuf_append_str(&ss, "]}");
	write_file("pods.json", &sb);
	write_file("stats-summary.json", &ss);
	*ret_pods_len = sb.len;
	strbuf_release(&sb);
	strbuf_release(&ss);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tapio-klbench-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tests/helpers/https-env.sh start %s", dir);
	FILE *p = popen(cmd, "r");
	if (!p || fscanf(p, "%d", &port) != 1 || pclose(p) != 0) {
		fprintf(stderr, "kubelet bench: the test server did not start\n");
		return 1;
	}
	size_t pods_len;
	make_answers(&pods_len);

	struct worker *w;
	struct httpc *c;
	char ca[128], tok[128];
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(tok, sizeof(tok), "%s/token", dir);
	struct httpc_opts o = {.ca_file = ca, .token_file = tok};
	struct kl_thresholds th = {3, 0.25, 0.8, 0.9, 1ull << 40, 0.9, 100 << 20, 0.1, 0.15, 0.1};
	struct kl_state *st;
	if (worker_loop_new(&w) < 0 || httpc_new(w, &o, &c) < 0 || kl_state_new(&th, &st) < 0)
		return 1;
	static const char *const paths[3] = {"/healthz", "/pods", "/stats/summary"};
	unsigned events = 0;
	double parse_ms = 0, cpu0 = 0;
	for (int poll = 0; poll <= POLLS; poll++) {
		if (poll == 1)
			cpu0 = cpu_ms(); /* the first poll sets up connections and the table */
		struct ans a[3] = {0};
		for (int i = 0; i < 3; i++) {
			char url[128];
			snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, paths[i]);
			struct httpc_request q = {
				.url = url, .timeout_ms = 10000, .on_done = on_done, .data = &a[i]};
			if (httpc_get(c, &q, NULL) < 0)
				return 1;
		}
		while (!(a[0].done && a[1].done && a[2].done))
			if (worker_loop_run_once(w, 1000) < 0)
				return 1;
		if (a[1].status != 200 || a[2].status != 200) {
			fprintf(stderr, "kubelet bench: poll failed\n");
			return 1;
		}
		double t0 = thread_ms();
		struct kl_pods pods;
		struct kl_summary sum;
		if (kl_parse_pods(a[1].body, a[1].len, &pods) < 0 ||
		    kl_parse_summary(a[2].body, a[2].len, &sum) < 0)
			return 1;
		kl_state_pods(st, &pods, noop, &events);
		kl_state_summary(st, &sum, noop, &events);
		kl_pods_free(&pods);
		kl_summary_free(&sum);
		if (poll >= 1)
			parse_ms += thread_ms() - t0;
		for (int i = 0; i < 3; i++)
			free(a[i].body);
	}
	double per_poll = (cpu_ms() - cpu0) / POLLS;
	printf("\n## kubelet poll, %d pods (%zu KiB /pods), %d polls\n\n", PODS, pods_len >> 10,
	       POLLS);
	printf("| measure | CPU per poll |\n|---|---|\n");
	printf("| whole poll: 3 HTTPS GETs (kept-alive TLS) + parse + diff | %.2f ms |\n",
	       per_poll);
	printf("| parse /pods and /stats/summary + state-table diff | %.2f ms |\n",
	       parse_ms / POLLS);
	printf("| events from unchanged polls | %u |\n", events);
	kl_state_free(st);
	httpc_free(c);
	worker_loop_free(w);
	snprintf(cmd, sizeof(cmd), "tests/helpers/https-env.sh stop %s; rm -rf %s", dir, dir);
	return system(cmd) == 0 && events == 0 ? 0 : 1;
}
