// SPDX-License-Identifier: Apache-2.0
// The kubeapi collector end to end: tapiod runs it against tests/helpers/kubeapi_test_server.py
// (a kube-apiserver stand-in on the real wire protocol: TLS with a CA made here, bearer token,
// chunked watch streams, bookmarks, field selectors, 410 in the stream and as a status, cut
// streams, slow streams, 401/403, a 10 MiB object). Asserted: the relations and owner chains,
// the field selector and the metadata-only Accept header on the wire, resume without
// duplicates or gaps, the re-list diff after 410, token rotation, no Secret or ConfigMap data
// anywhere in the output, and DEGRADED with a clear reason for RBAC, 401 and a wrong CA.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NODE "it-node"

struct kenv {
	char dir[256];
	int port, ctl_port;
	bool started;
};

static struct kenv *current;

static void kenv_stop(struct kenv *e);

/* After each test, also a failed one: the server must not outlive it. */
static void kenv_fini(void)
{
	if (current)
		kenv_stop(current);
}

static void kenv_start(struct kenv *e)
{
	current = e;
	snprintf(e->dir, sizeof(e->dir), "/tmp/tapio-kubeapi-XXXXXX");
	int ports[2];
	int n = harness_helper_start("kubeapi-env.sh", e->dir, ports, 2);
	cr_assert_eq(n, 2, "kubeapi-env.sh start failed (%d ports)", n);
	e->port = ports[0];
	e->ctl_port = ports[1];
	e->started = true;
}

static void kenv_stop(struct kenv *e)
{
	if (!e->started)
		return;
	if (harness_helper_stop("kubeapi-env.sh", e->dir) < 0)
		fprintf(stderr, "kubeapi-env.sh stop failed\n");
	e->started = false;
}

/* POST body to the server's control port; the JSON answer (caller puts it). */
static json_object *ctl(const struct kenv *e, const char *path, const char *body)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)e->ctl_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	size_t bl = strlen(body);
	char *req = NULL;
	int rl =
		asprintf(&req, "POST %s HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s", path, bl, body);
	cr_assert_gt(rl, 0);
	cr_assert_eq(write(s, req, (size_t)rl), rl);
	free(req);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = realloc(buf, cap *= 2);
		ssize_t n = read(s, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(s);
	buf[len] = '\0';
	char *b = strstr(buf, "\r\n\r\n");
	cr_assert_not_null(b, "control %s: no answer", path);
	json_object *o = json_tokener_parse(b + 4);
	cr_assert_not_null(o, "control %s: %s", path, buf);
	free(buf);
	return o;
}

static void ctl_do(const struct kenv *e, const char *path, const char *body)
{
	json_object_put(ctl(e, path, body));
}

/* Apply one object of resource res; its uid (static buffer rotation of 8). */
static const char *apply(const struct kenv *e, const char *res, const char *obj, bool silent)
{
	static char uids[8][64];
	static int next;
	char *body = NULL;
	cr_assert_gt(asprintf(&body, "{\"resource\":\"%s\",\"silent\":%s,\"object\":%s}", res,
			      silent ? "true" : "false", obj),
		     0);
	json_object *o = ctl(e, "/apply", body);
	free(body);
	char *u = uids[next++ % 8];
	snprintf(u, 64, "%s", jstr(o, "metadata.uid") ?: "");
	json_object_put(o);
	return u;
}

static void start_tapiod(struct tapiod *t, const struct kenv *e, const char *ca, const char *extra)
{
	char yaml[4096];
	snprintf(yaml, sizeof(yaml),
		 "  process:\n    enabled: false\n"
		 "  kubeapi:\n    enabled: true\n"
		 "    api_server: https://127.0.0.1:%d\n"
		 "    token_file: %s/sa/token\n"
		 "    ca_file: %s/%s\n"
		 "    backoff_initial_ms: 100\n    backoff_max_ms: 1000\n"
		 "    probe_timeout_ms: 3000\n"
		 "%s",
		 e->port, e->dir, e->dir, ca, extra ? extra : "");
	cr_assert_eq(tapiod_start(t, yaml), 0);
}

struct want {
	const char *action, *kind, *name;
	bool relist;	 /* require relist: true */
	const char *rel; /* require this relation */
};

#define W(a, k, n) ((struct want){.action = (a), .kind = (k), .name = (n)})
#define WX(a, k, n, rl, r)                                                                         \
	((struct want){.action = (a), .kind = (k), .name = (n), .relist = (rl), .rel = (r)})

static bool has_relation(json_object *ev, const char *rel)
{
	json_object *ko, *rels;
	if (!json_object_object_get_ex(ev, "k8sObject", &ko) ||
	    !json_object_object_get_ex(ko, "relations", &rels))
		return false;
	for (size_t i = 0; i < json_object_array_length(rels); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(rels, i)), rel) == 0)
			return true;
	return false;
}

static bool jbool(json_object *ev, const char *path)
{
	json_object *ko, *v;
	const char *dot = strchr(path, '.');
	return json_object_object_get_ex(ev, "k8sObject", &ko) &&
	       json_object_object_get_ex(ko, dot + 1, &v) && json_object_get_boolean(v);
}

static bool match(json_object *ev, void *arg)
{
	const struct want *w = arg;
	const char *type = jstr(ev, "type");
	if (!type || strcmp(type, "k8s.object") != 0)
		return false;
	if (w->action && strcmp(jstr(ev, "k8sObject.action") ?: "", w->action) != 0)
		return false;
	if (w->kind && strcmp(jstr(ev, "k8sObject.kind") ?: "", w->kind) != 0)
		return false;
	if (w->name && strcmp(jstr(ev, "k8sObject.name") ?: "", w->name) != 0)
		return false;
	if (w->relist && !jbool(ev, "k8sObject.relist"))
		return false;
	if (w->rel && !has_relation(ev, w->rel))
		return false;
	return true;
}

static json_object *wait_for(struct tapiod *t, struct want w, int ms)
{
	json_object *ev = tapiod_wait(t, match, &w, ms);
	cr_assert_not_null(ev, "no %s %s %s%s%s within %d ms", w.action ?: "*", w.kind ?: "*",
			   w.name ?: "*", w.rel ? " with " : "", w.rel ?: "", ms);
	return ev;
}

static size_t count(struct tapiod *t, struct want w)
{
	return tapiod_count(t, match, &w);
}

/* The requests the server saw whose path ends with `suffix`, in order. */
static json_object *requests(const struct kenv *e)
{
	return ctl(e, "/requests", "{}");
}

static void seed(const struct kenv *e, char *ret_pod_uid, size_t size)
{
	apply(e, "namespaces",
	      "{\"metadata\":{\"name\":\"shop\"},\"status\":{\"phase\":\"Active\"}}", false);
	apply(e, "nodes",
	      "{\"metadata\":{\"name\":\"" NODE "\",\"labels\":{\"kubernetes.io/hostname\":\"" NODE
	      "\"}},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
	      "\"lastHeartbeatTime\":\"2026-12-06T10:00:00Z\"}]}}",
	      false);
	const char *d = apply(
		e, "deployments",
		"{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"labels\":{\"app\":"
		"\"web\"}},"
		"\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
		"\"containers\":"
		"[{\"name\":\"app\",\"image\":\"web:1\"}]}}},\"status\":{\"readyReplicas\":1}}",
		false);
	char obj[4096];
	snprintf(obj, sizeof(obj),
		 "{\"metadata\":{\"name\":\"web-5d4\",\"namespace\":\"shop\",\"labels\":{\"app\":"
		 "\"web\",\"pod-template-hash\":\"5d4\"},\"ownerReferences\":[{\"apiVersion\":"
		 "\"apps/"
		 "v1\",\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"%s\",\"controller\":"
		 "true,\"blockOwnerDeletion\":true}]},\"spec\":{\"replicas\":1,\"selector\":{"
		 "\"matchLabels\":{\"app\":\"web\",\"pod-template-hash\":\"5d4\"}}}}",
		 d);
	const char *rs = apply(e, "replicasets", obj, false);
	snprintf(obj, sizeof(obj),
		 "{\"metadata\":{\"name\":\"web-5d4-x\",\"namespace\":\"shop\",\"labels\":{\"app\":"
		 "\"web\",\"pod-template-hash\":\"5d4\"},\"ownerReferences\":[{\"apiVersion\":"
		 "\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-5d4\",\"uid\":\"%s\","
		 "\"controller\":true}]},\"spec\":{\"nodeName\":\"" NODE
		 "\",\"serviceAccountName\":"
		 "\"web-sa\",\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"web-cfg\"}},"
		 "{\"name\":\"tls\",\"secret\":{\"secretName\":\"web-tls\"}},{\"name\":\"data\","
		 "\"persistentVolumeClaim\":{\"claimName\":\"web-data\"}}],\"containers\":[{"
		 "\"name\":"
		 "\"app\",\"image\":\"web:1\",\"envFrom\":[{\"secretRef\":{\"name\":\"db-creds\"}}]"
		 "}]},"
		 "\"status\":{\"phase\":\"Pending\",\"podIP\":\"10.1.2.3\"}}",
		 rs);
	snprintf(ret_pod_uid, size, "%s", apply(e, "pods", obj, false));
	apply(e, "pods",
	      "{\"metadata\":{\"name\":\"elsewhere\",\"namespace\":\"shop\",\"labels\":{\"app\":"
	      "\"web\"}},\"spec\":{\"nodeName\":\"other-node\"},\"status\":{\"phase\":\"Running\"}"
	      "}",
	      false);
	apply(e, "services",
	      "{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"spec\":{\"type\":"
	      "\"ClusterIP\",\"clusterIP\":\"10.96.0.10\",\"selector\":{\"app\":\"web\"},\"ports\":"
	      "[{\"port\":80,\"targetPort\":8080,\"protocol\":\"TCP\"}]}}",
	      false);
	snprintf(
		obj, sizeof(obj),
		"{\"metadata\":{\"name\":\"web-abcde\",\"namespace\":\"shop\",\"labels\":{"
		"\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\",\"endpoints\":[{"
		"\"addresses\":[\"10.1.2.3\"],\"conditions\":{\"ready\":true},\"nodeName\":\"" NODE
		"\",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"web-5d4-x\","
		"\"uid\":\"%s\"}}],\"ports\":[{\"name\":\"\",\"port\":8080,\"protocol\":\"TCP\"}]}",
		ret_pod_uid);
	apply(e, "endpointslices", obj, false);
	apply(e, "configmaps",
	      "{\"metadata\":{\"name\":\"web-cfg\",\"namespace\":\"shop\"},\"data\":{\"conf\":"
	      "\"cm-private-value\"}}",
	      false);
	apply(e, "secrets",
	      "{\"metadata\":{\"name\":\"db-creds\",\"namespace\":\"shop\",\"annotations\":{"
	      "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"data\\\":{\\\"password"
	      "\\\":\\\"czNjcjN0LWRhdGE=\\\"}}\"}},\"type\":\"Opaque\",\"data\":{\"password\":"
	      "\"czNjcjN0LWRhdGE=\"}}",
	      false);
	snprintf(obj, sizeof(obj),
		 "{\"metadata\":{\"name\":\"web-5d4-x.17a\",\"namespace\":\"shop\"},"
		 "\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"web-5d4-"
		 "x\","
		 "\"uid\":\"%s\",\"apiVersion\":\"v1\"},\"reason\":\"Scheduled\",\"message\":"
		 "\"Successfully assigned shop/web-5d4-x to " NODE "\",\"type\":\"Normal\","
		 "\"count\":1,\"source\":{\"component\":\"default-scheduler\"}}",
		 ret_pod_uid);
	apply(e, "events", obj, false);
}

static const char *const pod_json_fmt =
	"{\"metadata\":{\"name\":\"%s\",\"namespace\":\"shop\",\"labels\":{\"app\":\"%s\"}},"
	"\"spec\":{\"nodeName\":\"" NODE "\"},\"status\":{\"phase\":\"%s\"}}";

static void apply_pod(const struct kenv *e, const char *name, const char *app, const char *phase,
		      bool silent)
{
	char obj[1024];
	snprintf(obj, sizeof(obj), pod_json_fmt, name, app, phase);
	apply(e, "pods", obj, silent);
}

/* Everything tapiod wrote, as text: no Secret or ConfigMap value may be in it. */
static void assert_no_secret_data(struct tapiod *t)
{
	for (size_t i = 0; i < t->n_events; i++) {
		const char *s = json_object_to_json_string(t->events[i]);
		cr_assert_null(strstr(s, "czNjcjN0LWRhdGE"), "secret data in %s", s);
		cr_assert_null(strstr(s, "cm-private-value"), "configmap data in %s", s);
		cr_assert_null(strstr(s, "last-applied"), "last-applied in %s", s);
	}
}

Test(kubeapi, relations_resume_relist_and_no_secret_data, .timeout = 120, .fini = kenv_fini)
{
	harness_require_root();
	static struct kenv e;
	kenv_start(&e);
	char pod_uid[64];
	seed(&e, pod_uid, sizeof(pod_uid));
	struct tapiod t;
	/* list+watch here (the paged lists, re-lists); watch-list: the tests below */
	start_tapiod(&t, &e, "ca.crt", "    annotations: [team]\n    watch_list: \"off\"\n");
	cr_assert(tapiod_wait_state(&t, "kubeapi", "READY", 15000), "kubeapi not READY");

	/* the initial lists */
	json_object *ev = wait_for(&t, W("ADDED", "Pod", "web-5d4-x"), 10000);
	cr_assert_str_eq(jstr(ev, "k8sObject.uid"), pod_uid);
	cr_assert_str_eq(jstr(ev, "k8sObject.namespace"), "shop");
	cr_assert_str_eq(jstr(ev, "k8sObject.resource"), "pods");
	cr_assert_str_eq(jstr(ev, "k8sObject.phase"), "Pending");
	cr_assert_str_eq(jstr(ev, "k8s.podUid"), pod_uid);
	cr_assert_str_eq(jstr(ev, "k8s.podName"), "web-5d4-x");
	wait_for(&t, W("ADDED", "Secret", "db-creds"), 10000);
	wait_for(&t, W("ADDED", "ConfigMap", "web-cfg"), 10000);
	wait_for(&t, WX("ADDED", "Event", "web-5d4-x.17a", false, "involved/Pod/shop/web-5d4-x"),
		 10000);
	wait_for(&t, W("ADDED", "Node", NODE), 10000);
	wait_for(&t, W("ADDED", "Namespace", "shop"), 10000);
	wait_for(&t, WX("ADDED", "EndpointSlice", "web-abcde", false, "service/shop/web"), 10000);
	wait_for(&t, W("ADDED", "Deployment", "web"), 10000);
	wait_for(&t, W("ADDED", "Service", "web"), 10000);
	/* wait until every reflector watches (the stores are complete) */
	for (int i = 0; i < 100; i++) {
		json_object *rq = requests(&e);
		size_t watches = 0;
		for (size_t j = 0; j < json_object_array_length(rq); j++)
			if (strstr(jstr(json_object_array_get_idx(rq, j), "query") ?: "",
				   "watch=1"))
				watches++;
		json_object_put(rq);
		if (watches >= 15)
			break;
		tapiod_pump(&t, 100);
	}

	/* relations, once every store is filled: a change of the pod */
	apply_pod(&e, "web-5d4-x", "web", "Running", false);
	ev = wait_for(&t, W("MODIFIED", "Pod", "web-5d4-x"), 10000);
	cr_assert_str_eq(jstr(ev, "k8sObject.phase"), "Running");
	json_object *chg = NULL, *ko;
	cr_assert(json_object_object_get_ex(ev, "k8sObject", &ko));
	cr_assert(json_object_object_get_ex(ko, "changed", &chg));
	bool phase_changed = false;
	for (size_t i = 0; i < json_object_array_length(chg); i++)
		phase_changed |= !strcmp(json_object_get_string(json_object_array_get_idx(chg, i)),
					 "status.phase");
	cr_assert(phase_changed, "changed: %s", json_object_to_json_string(chg));
	cr_assert(has_relation(ev, "service/shop/web"));

	/* the seeded pod's relations and owner chain: re-seed it whole (MODIFIED again) */
	seed(&e, pod_uid, sizeof(pod_uid));
	ev = wait_for(&t, WX("MODIFIED", "Pod", "web-5d4-x", false, "secret/shop/db-creds"), 10000);
	static const char *const rels[] = {
		"node/" NODE,	       "serviceaccount/shop/web-sa", "configmap/shop/web-cfg",
		"secret/shop/web-tls", "pvc/shop/web-data",	     "secret/shop/db-creds",
		"service/shop/web"};
	for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++)
		cr_assert(has_relation(ev, rels[i]), "no %s in %s", rels[i],
			  json_object_to_json_string(ev));
	cr_assert_str_eq(jstr(ev, "k8sObject.topOwner.kind"), "Deployment");
	cr_assert_str_eq(jstr(ev, "k8sObject.topOwner.name"), "web");
	cr_assert_str_eq(jstr(ev, "k8sObject.owners.0.kind") ?: "ReplicaSet", "ReplicaSet");
	/* the service: its pods (by selector) and its EndpointSlice */
	apply(&e, "services",
	      "{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"spec\":{\"type\":"
	      "\"ClusterIP\",\"clusterIP\":\"10.96.0.10\",\"selector\":{\"app\":\"web\"},\"ports\":"
	      "[{\"port\":81}]}}",
	      false);
	/* a port change is not a field we keep: no event; the label change below is */
	apply(&e, "services",
	      "{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"labels\":{\"tier\":"
	      "\"front\"}},\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.96.0.10\","
	      "\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":81}]}}",
	      false);
	ev = wait_for(&t, W("MODIFIED", "Service", "web"), 10000);
	cr_assert(has_relation(ev, "pod/shop/web-5d4-x"), "%s", json_object_to_json_string(ev));
	cr_assert(has_relation(ev, "endpointslice/shop/web-abcde"));
	cr_assert(!has_relation(ev, "pod/shop/elsewhere"), "a pod of another node");
	cr_assert_eq(count(&t, W("MODIFIED", "Service", "web")), 1,
		     "the port change alone made an event");
	/* the other node's pod never came: the field selector was sent and honoured */
	cr_assert_eq(count(&t, W(NULL, "Pod", "elsewhere")), 0);

	/* on the wire: the pods' field selector, metadata-only Secrets and ConfigMaps */
	json_object *rq = requests(&e);
	size_t pod_reqs = 0, meta_reqs = 0;
	for (size_t i = 0; i < json_object_array_length(rq); i++) {
		json_object *r = json_object_array_get_idx(rq, i);
		const char *path = jstr(r, "path"), *q = jstr(r, "query"), *acc = jstr(r, "accept");
		if (!strcmp(path, "/api/v1/pods")) {
			pod_reqs++;
			cr_assert(strstr(q, "fieldSelector=spec.nodeName%3D" NODE), "pods: %s", q);
		}
		if (!strcmp(path, "/api/v1/secrets") || !strcmp(path, "/api/v1/configmaps")) {
			meta_reqs++;
			cr_assert(strstr(acc, "as=PartialObjectMetadata") &&
					  strstr(acc, "g=meta.k8s.io;v=v1") &&
					  !strstr(acc, ",application/json"),
				  "%s Accept: %s", path, acc);
		}
		if (strstr(q, "watch=1"))
			cr_assert(strstr(q, "allowWatchBookmarks=true") &&
					  strstr(q, "resourceVersion="),
				  "watch %s?%s", path, q);
	}
	cr_assert_geq(pod_reqs, 2);
	cr_assert_geq(meta_reqs, 4);
	size_t before = json_object_array_length(rq);
	json_object_put(rq);

	/* a bookmark moves the resourceVersion without an event */
	ctl_do(&e, "/bookmark", "{}");

	/* the token rotates, then every stream is cut mid-object: the watches resume from the
	 * last resourceVersion with the new token; what happened meanwhile arrives once */
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "head -c 48 /dev/urandom | base64 | tr -d '\\n/+=' > %s/sa/token.new && "
		 "chmod 644 %s/sa/token.new && mv %s/sa/token.new %s/sa/token",
		 e.dir, e.dir, e.dir, e.dir);
	cr_assert_eq(system(cmd), 0);
	ctl_do(&e, "/cut", "{}");
	apply_pod(&e, "during-cut-1", "x", "Running", false);
	apply_pod(&e, "during-cut-2", "x", "Running", false);
	apply_pod(&e, "during-cut-1", "x", "Succeeded", false);
	wait_for(&t, W("MODIFIED", "Pod", "during-cut-1"), 10000);
	wait_for(&t, W("ADDED", "Pod", "during-cut-2"), 10000);
	tapiod_pump(&t, 1000);
	cr_assert_eq(count(&t, W("ADDED", "Pod", "during-cut-1")), 1, "duplicate");
	cr_assert_eq(count(&t, W("MODIFIED", "Pod", "during-cut-1")), 1, "duplicate");
	cr_assert_eq(count(&t, W("ADDED", "Pod", "during-cut-2")), 1, "duplicate");
	cr_assert_eq(count(&t, W(NULL, "Pod", "cut-in-half")), 0);
	/* resumed, not re-listed: no new list of pods after the cut, and no 401 */
	rq = requests(&e);
	for (size_t i = before; i < json_object_array_length(rq); i++) {
		json_object *r = json_object_array_get_idx(rq, i);
		if (!strcmp(jstr(r, "path"), "/api/v1/pods"))
			cr_assert(strstr(jstr(r, "query"), "watch=1"), "re-listed after a cut: %s",
				  jstr(r, "query"));
		cr_assert_neq(jint(r, "status", 0), 401, "the rotated token was not used");
	}
	before = json_object_array_length(rq);
	json_object_put(rq);

	/* 410 inside the stream: history compacted, changes the watches never saw, then every
	 * watch gets ERROR 410. The re-list emits exactly the differences. */
	size_t seeded_pod_events = count(&t, W(NULL, "Pod", "web-5d4-x"));
	ctl_do(&e, "/compact", "{}");
	apply_pod(&e, "appeared-unseen", "y", "Running", true);
	apply_pod(&e, "during-cut-2", "x", "Failed", true);
	ctl_do(&e, "/delete",
	       "{\"resource\":\"pods\",\"namespace\":\"shop\",\"name\":"
	       "\"during-cut-1\",\"silent\":true}");
	ctl_do(&e, "/expire", "{}");
	ev = wait_for(&t, WX("ADDED", "Pod", "appeared-unseen", true, NULL), 10000);
	ev = wait_for(&t, WX("MODIFIED", "Pod", "during-cut-2", true, NULL), 10000);
	cr_assert_str_eq(jstr(ev, "k8sObject.phase"), "Failed");
	wait_for(&t, WX("DELETED", "Pod", "during-cut-1", true, NULL), 10000);
	tapiod_pump(&t, 1000);
	cr_assert_eq(count(&t, W(NULL, "Pod", "web-5d4-x")), seeded_pod_events,
		     "the re-list re-emitted an unchanged pod");
	cr_assert_eq(count(&t, WX(NULL, "Service", "web", true, NULL)), 0);

	/* 410 as the HTTP status of the watch request */
	ctl_do(&e, "/mode", "{\"gone_as_status\":true}");
	ctl_do(&e, "/compact", "{}");
	apply_pod(&e, "after-gone-status", "z", "Running", true);
	ctl_do(&e, "/cut", "{}");
	wait_for(&t, WX("ADDED", "Pod", "after-gone-status", true, NULL), 10000);
	ctl_do(&e, "/mode", "{\"gone_as_status\":false}");

	/* a slow stream: an event in 7-byte pieces */
	ctl_do(&e, "/mode", "{\"slow_ms\":2}");
	apply_pod(&e, "slowly", "s", "Running", false);
	wait_for(&t, W("ADDED", "Pod", "slowly"), 15000);
	ctl_do(&e, "/mode", "{\"slow_ms\":0}");

	/* a 10 MiB object is skipped and counted; the stream goes on */
	size_t big = 10u << 20;
	char *huge = malloc(big + 512);
	int n = snprintf(huge, 512,
			 "{\"metadata\":{\"name\":\"huge\",\"namespace\":\"shop\",\"annotations\":"
			 "{\"blob\":\"");
	memset(huge + n, 'a', big);
	snprintf(huge + n + big, 512, "\"}},\"spec\":{\"nodeName\":\"" NODE "\"}}");
	apply(&e, "pods", huge, false);
	free(huge);
	apply_pod(&e, "after-huge", "h", "Running", false);
	wait_for(&t, W("ADDED", "Pod", "after-huge"), 20000);
	cr_assert_eq(count(&t, W(NULL, "Pod", "huge")), 0);

	tapiod_pump(&t, 1500); /* a stats round */
	cr_assert_eq(tapiod_stop(&t, 5000) >= 0, 1);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "an object over max_object_kib (2048 KiB) was skipped"), "%s", log);
	cr_assert(strstr(log, "410 Gone"), "no re-list logged");
	assert_no_secret_data(&t);
	free(log);
	tapiod_cleanup(&t);
	kenv_stop(&e);
}

Test(kubeapi, rbac_denied_then_granted_is_degraded_and_recovers, .timeout = 60, .fini = kenv_fini)
{
	harness_require_root();
	static struct kenv e;
	kenv_start(&e);
	apply_pod(&e, "p1", "a", "Running", false);
	ctl_do(&e, "/mode", "{\"deny\":{\"pods\":403}}");
	struct tapiod t;
	start_tapiod(&t, &e, "ca.crt", "    resources: [pods, services]\n");
	cr_assert(tapiod_wait_state(&t, "kubeapi", "DEGRADED", 15000), "not DEGRADED");
	tapiod_pump(&t, 500);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "RBAC lacks verb 'list' on pods"), "%s", log);
	/* after the probe, the request denied is the watch-list: a watch */
	cr_assert(strstr(log, "RBAC does not grant verb 'watch' on resource 'pods' (apiGroup "
			      "\"\")"),
		  "%s", log);
	free(log);
	/* granted: the backoff retries and the pod arrives */
	ctl_do(&e, "/mode", "{\"deny\":{}}");
	wait_for(&t, W("ADDED", "Pod", "p1"), 10000);
	tapiod_stop(&t, 5000);
	tapiod_cleanup(&t);

	/* a rejected token */
	ctl_do(&e, "/mode", "{\"unauthorized\":true}");
	start_tapiod(&t, &e, "ca.crt", "    resources: [pods]\n");
	cr_assert(tapiod_wait_state(&t, "kubeapi", "DEGRADED", 15000), "not DEGRADED");
	tapiod_pump(&t, 500);
	log = tapiod_log(&t);
	cr_assert(strstr(log, "401 Unauthorized: the token was rejected"), "%s", log);
	free(log);
	tapiod_stop(&t, 5000);
	tapiod_cleanup(&t);

	/* list granted, watch not (the watch-list is a watch): the log names the verb */
	ctl_do(&e, "/mode", "{\"unauthorized\":false,\"deny\":{\"pods/watch\":403}}");
	start_tapiod(&t, &e, "ca.crt", "    resources: [pods]\n");
	cr_assert(tapiod_wait_state(&t, "kubeapi", "READY", 15000), "list is granted: READY");
	for (int i = 0; i < 50; i++) {
		log = tapiod_log(&t);
		bool found = strstr(log, "RBAC does not grant verb 'watch' on resource 'pods' "
					 "(apiGroup \"\") cluster-wide") != NULL;
		free(log);
		if (found)
			break;
		tapiod_pump(&t, 100);
	}
	log = tapiod_log(&t);
	cr_assert(strstr(log, "403 Forbidden: RBAC does not grant verb 'watch' on resource "
			      "'pods' (apiGroup \"\") cluster-wide"),
		  "%s", log);
	free(log);
	tapiod_stop(&t, 5000);
	tapiod_cleanup(&t);
	kenv_stop(&e);
}

Test(kubeapi, wrong_ca_is_degraded, .timeout = 60, .fini = kenv_fini)
{
	harness_require_root();
	static struct kenv e;
	kenv_start(&e);
	struct tapiod t;
	start_tapiod(&t, &e, "other-ca.crt", "    resources: [pods]\n");
	cr_assert(tapiod_wait_state(&t, "kubeapi", "DEGRADED", 15000), "not DEGRADED");
	tapiod_pump(&t, 300);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "certificate does not verify with ca_file"), "%s", log);
	cr_assert(strstr(log, "other-ca.crt"), "which CA: %s", log);
	free(log);
	tapiod_stop(&t, 5000);
	tapiod_cleanup(&t);
	kenv_stop(&e);
}

/* ---- watch-list (sendInitialEvents) ------------------------------------------------------ */

static bool is_watchlist(const char *q)
{
	return strstr(q, "watch=1") && strstr(q, "sendInitialEvents=true") &&
	       strstr(q, "resourceVersionMatch=NotOlderThan") &&
	       strstr(q, "allowWatchBookmarks=true");
}

/* The kind of a request by its query: 'L' a paged list, 'P' the probe's list (limit=1), 'W' a
 * watch-list, 'w' a plain watch. */
static char request_kind(const char *q)
{
	if (strstr(q, "watch=1"))
		return is_watchlist(q) ? 'W' : 'w';
	const char *l = strstr(q, "limit=");
	return l && atoi(l + 6) == 1 ? 'P' : 'L';
}

/* Requests from index `from` on, of path `path` (NULL = any) and kind (request_kind), answered
 * with `status` (0 = any). */
static size_t count_requests(const struct kenv *e, size_t from, const char *path, char kind,
			     long status)
{
	json_object *rq = requests(e);
	size_t n = 0;
	for (size_t i = from; i < json_object_array_length(rq); i++) {
		json_object *r = json_object_array_get_idx(rq, i);
		if (path && strcmp(jstr(r, "path") ?: "", path) != 0)
			continue;
		if (status && jint(r, "status", 0) != status)
			continue;
		if (request_kind(jstr(r, "query") ?: "") == kind)
			n++;
	}
	json_object_put(rq);
	return n;
}

static size_t n_requests(const struct kenv *e)
{
	json_object *rq = requests(e);
	size_t n = json_object_array_length(rq);
	json_object_put(rq);
	return n;
}

/* Wait until `n` requests of a kind were made (from index `from`). */
static void wait_requests(struct tapiod *t, const struct kenv *e, size_t from, const char *path,
			  char kind, size_t n, int ms)
{
	size_t got = 0;
	for (int waited = 0; waited < ms; waited += 100) {
		got = count_requests(e, from, path, kind, 0);
		if (got >= n)
			return;
		tapiod_pump(t, 100);
	}
	cr_assert_fail("%zu requests of kind %c to %s within %d ms, want %zu", got, kind,
		       path ?: "*", ms, n);
}

static size_t count_in(const char *log, const char *needle)
{
	size_t n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* A server with the WatchList feature: the initial state comes from the watch itself (no list
 * of objects at all), the relations are whole, a cut stream resumes as a plain watch, and a 410
 * inside the stream streams the state again and emits only its differences with the store. */
Test(kubeapi, watch_list_initial_events_no_list_and_resync_after_410, .timeout = 120,
     .fini = kenv_fini)
{
	harness_require_root();
	static struct kenv e;
	kenv_start(&e);
	char pod_uid[64];
	seed(&e, pod_uid, sizeof(pod_uid));
	apply_pod(&e, "stays", "web", "Running", false);
	apply_pod(&e, "goes-unseen", "g", "Running", false);
	struct tapiod t;
	start_tapiod(&t, &e, "ca.crt", "    annotations: [team]\n");
	cr_assert(tapiod_wait_state(&t, "kubeapi", "READY", 15000), "kubeapi not READY");
	/* every reflector's state arrives by watch-list (15 resources) */
	wait_requests(&t, &e, 0, NULL, 'W', 15, 10000);
	json_object *ev = wait_for(&t, W("ADDED", "Pod", "web-5d4-x"), 10000);
	cr_assert_str_eq(jstr(ev, "k8sObject.uid"), pod_uid);
	cr_assert_str_eq(jstr(ev, "k8s.podUid"), pod_uid);
	cr_assert_str_eq(jstr(ev, "k8sObject.phase"), "Pending");
	cr_assert(!jbool(ev, "k8sObject.relist"));
	wait_for(&t, W("ADDED", "Secret", "db-creds"), 10000);
	wait_for(&t, W("ADDED", "ConfigMap", "web-cfg"), 10000);
	wait_for(&t, WX("ADDED", "Event", "web-5d4-x.17a", false, "involved/Pod/shop/web-5d4-x"),
		 10000);
	wait_for(&t, WX("ADDED", "EndpointSlice", "web-abcde", false, "service/shop/web"), 10000);
	wait_for(&t, W("ADDED", "Deployment", "web"), 10000);
	wait_for(&t, W("ADDED", "ReplicaSet", "web-5d4"), 10000);
	wait_for(&t, W("ADDED", "Service", "web"), 10000);
	wait_for(&t, W("ADDED", "Node", NODE), 10000);
	wait_for(&t, W("ADDED", "Pod", "goes-unseen"), 10000);

	/* on the wire: no list of objects, only the probe's limit=1 (one per reflector, before
	 * READY) and one watch-list per reflector; the pods' with the node's field selector,
	 * Secrets and ConfigMaps metadata only; the first from resourceVersion "" */
	cr_assert_eq(count_requests(&e, 0, NULL, 'L', 0), 0, "a list was made");
	cr_assert_eq(count_requests(&e, 0, NULL, 'P', 0), 15);
	cr_assert_eq(count_requests(&e, 0, NULL, 'W', 0), 15);
	json_object *rq = requests(&e);
	for (size_t i = 0; i < json_object_array_length(rq); i++) {
		json_object *r = json_object_array_get_idx(rq, i);
		const char *path = jstr(r, "path"), *q = jstr(r, "query"), *acc = jstr(r, "accept");
		if (request_kind(q) != 'W')
			continue;
		cr_assert_null(strstr(q, "resourceVersion="), "first watch-list from an RV: %s", q);
		if (!strcmp(path, "/api/v1/pods"))
			cr_assert(strstr(q, "fieldSelector=spec.nodeName%3D" NODE), "pods: %s", q);
		if (!strcmp(path, "/api/v1/secrets") || !strcmp(path, "/api/v1/configmaps"))
			cr_assert(strstr(acc, "as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
				  "%s Accept: %s", path, acc);
	}
	json_object_put(rq);

	/* the stores are complete: the relations and the owner chain of the pod (a change,
	 * then the seeded pod again) */
	apply_pod(&e, "web-5d4-x", "web", "Running", false);
	wait_for(&t, W("MODIFIED", "Pod", "web-5d4-x"), 10000);
	seed(&e, pod_uid, sizeof(pod_uid));
	ev = wait_for(&t, WX("MODIFIED", "Pod", "web-5d4-x", false, "secret/shop/db-creds"), 10000);
	static const char *const rels[] = {
		"node/" NODE,	       "serviceaccount/shop/web-sa", "configmap/shop/web-cfg",
		"secret/shop/web-tls", "pvc/shop/web-data",	     "secret/shop/db-creds",
		"service/shop/web"};
	for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++)
		cr_assert(has_relation(ev, rels[i]), "no %s in %s", rels[i],
			  json_object_to_json_string(ev));
	cr_assert_str_eq(jstr(ev, "k8sObject.topOwner.kind"), "Deployment");
	cr_assert_str_eq(jstr(ev, "k8sObject.topOwner.name"), "web");
	json_object *ko = NULL, *owners = NULL;
	cr_assert(json_object_object_get_ex(ev, "k8sObject", &ko) &&
		  json_object_object_get_ex(ko, "owners", &owners) &&
		  json_object_array_length(owners) == 1);
	cr_assert_str_eq(jstr(json_object_array_get_idx(owners, 0), "kind") ?: "", "ReplicaSet");
	cr_assert_eq(count(&t, W(NULL, "Pod", "elsewhere")), 0);
	cr_assert_eq(count(&t, W("ADDED", "Pod", "web-5d4-x")), 1, "ADDED twice");

	/* a cut stream after the initial state resumes as a plain watch: no state again */
	size_t before = n_requests(&e);
	ctl_do(&e, "/cut", "{}");
	apply_pod(&e, "during-cut", "c", "Running", false);
	wait_for(&t, W("ADDED", "Pod", "during-cut"), 10000);
	wait_requests(&t, &e, before, "/api/v1/pods", 'w', 1, 10000);
	cr_assert_eq(count_requests(&e, before, "/api/v1/pods", 'W', 0), 0,
		     "the initial state again after a cut");

	/* 410 inside the stream: history compacted, changes the watches never saw, then ERROR
	 * 410. The state streamed again (from the last resourceVersion: NotOlderThan) is
	 * compared with the store: only the differences, flagged relist, the deletion of what
	 * the initial events lack included; still no list. */
	size_t stays_events = count(&t, W(NULL, "Pod", "stays"));
	size_t seeded_events = count(&t, W(NULL, "Pod", "web-5d4-x"));
	ctl_do(&e, "/compact", "{}");
	apply_pod(&e, "appeared-unseen", "y", "Running", true);
	apply_pod(&e, "during-cut", "c", "Failed", true);
	ctl_do(&e, "/delete",
	       "{\"resource\":\"pods\",\"namespace\":\"shop\",\"name\":\"goes-unseen\","
	       "\"silent\":true}");
	before = n_requests(&e);
	ctl_do(&e, "/expire", "{}");
	wait_for(&t, WX("ADDED", "Pod", "appeared-unseen", true, NULL), 10000);
	ev = wait_for(&t, WX("MODIFIED", "Pod", "during-cut", true, NULL), 10000);
	cr_assert_str_eq(jstr(ev, "k8sObject.phase"), "Failed");
	wait_for(&t, WX("DELETED", "Pod", "goes-unseen", true, NULL), 10000);
	wait_requests(&t, &e, before, NULL, 'W', 15, 10000);
	tapiod_pump(&t, 1000);
	cr_assert_eq(count(&t, W(NULL, "Pod", "stays")), stays_events, "unchanged pod re-emitted");
	cr_assert_eq(count(&t, W(NULL, "Pod", "web-5d4-x")), seeded_events);
	cr_assert_eq(count(&t, WX(NULL, "Service", "web", true, NULL)), 0);
	cr_assert_eq(count(&t, W("ADDED", "Pod", "appeared-unseen")), 1);
	cr_assert_eq(count(&t, W("DELETED", "Pod", "goes-unseen")), 1);
	cr_assert_eq(count_requests(&e, 0, NULL, 'L', 0), 0, "a list was made");
	rq = requests(&e);
	for (size_t i = before; i < json_object_array_length(rq); i++) {
		json_object *r = json_object_array_get_idx(rq, i);
		const char *q = jstr(r, "query");
		if (!strcmp(jstr(r, "path"), "/api/v1/pods") && request_kind(q) == 'W')
			cr_assert(strstr(q, "resourceVersion=1"),
				  "re-sync not from the last RV: %s", q);
	}
	json_object_put(rq);
	/* and the watch goes on */
	apply_pod(&e, "after-resync", "a", "Running", false);
	wait_for(&t, W("ADDED", "Pod", "after-resync"), 10000);

	tapiod_pump(&t, 1500); /* a stats round */
	cr_assert_eq(tapiod_stop(&t, 5000) >= 0, 1);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "watch pods: 410 Gone at resourceVersion"), "%s", log);
	cr_assert_null(strstr(log, "refused"), "%s", log);
	cr_assert(strstr(log, "fallbacks 0)"), "%s", log);
	assert_no_secret_data(&t);
	free(log);
	tapiod_cleanup(&t);
	kenv_stop(&e);
}

/* A server without the WatchList feature answers the watch-list with 422 Invalid: each
 * reflector falls back to list+watch (logged once, counted), and works. With watch_list: on
 * the refusal is an error, retried, and nothing is listed. */
Test(kubeapi, watch_list_fallback_on_a_server_without_it, .timeout = 60, .fini = kenv_fini)
{
	harness_require_root();
	static struct kenv e;
	kenv_start(&e);
	ctl_do(&e, "/mode", "{\"watch_list\":false}");
	apply_pod(&e, "p1", "a", "Running", false);
	apply(&e, "services",
	      "{\"metadata\":{\"name\":\"s1\",\"namespace\":\"shop\"},\"spec\":{\"selector\":"
	      "{\"app\":\"a\"}}}",
	      false);
	struct tapiod t;
	start_tapiod(&t, &e, "ca.crt", "    resources: [pods, services]\n");
	cr_assert(tapiod_wait_state(&t, "kubeapi", "READY", 15000), "kubeapi not READY");
	wait_for(&t, W("ADDED", "Pod", "p1"), 10000);
	wait_for(&t, W("ADDED", "Service", "s1"), 10000);
	wait_requests(&t, &e, 0, "/api/v1/pods", 'w', 1, 10000);
	wait_requests(&t, &e, 0, "/api/v1/services", 'w', 1, 10000);
	/* one refused watch-list per resource, then list and watch */
	cr_assert_eq(count_requests(&e, 0, "/api/v1/pods", 'W', 422), 1);
	cr_assert_eq(count_requests(&e, 0, "/api/v1/services", 'W', 422), 1);
	cr_assert_eq(count_requests(&e, 0, NULL, 'W', 0), 2);
	cr_assert_eq(count_requests(&e, 0, "/api/v1/pods", 'L', 200), 1);
	cr_assert_eq(count_requests(&e, 0, "/api/v1/services", 'L', 200), 1);
	apply_pod(&e, "p2", "a", "Running", false);
	wait_for(&t, W("ADDED", "Pod", "p2"), 10000);
	/* a 410 now re-lists: no watch-list again */
	ctl_do(&e, "/compact", "{}");
	apply_pod(&e, "p3", "a", "Running", true);
	ctl_do(&e, "/expire", "{}");
	wait_for(&t, WX("ADDED", "Pod", "p3", true, NULL), 10000);
	cr_assert_eq(count_requests(&e, 0, NULL, 'W', 0), 2, "watch-list tried again");
	cr_assert_eq(count(&t, W("ADDED", "Pod", "p1")), 1);
	tapiod_pump(&t, 1500); /* a stats round */
	tapiod_stop(&t, 5000);
	char *log = tapiod_log(&t);
	cr_assert_eq(count_in(log, "watch-list (sendInitialEvents) refused"), 1, "%s", log);
	cr_assert(strstr(log, "HTTP 422: ListOptions.meta.k8s.io \"\" is invalid: "
			      "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for "
			      "watch unless the WatchList feature gate is enabled"),
		  "%s", log);
	cr_assert(strstr(log, "fallbacks 2)"), "%s", log);
	free(log);
	tapiod_cleanup(&t);

	/* watch_list: on: refused is an error, retried with backoff; no list */
	size_t before = n_requests(&e);
	start_tapiod(&t, &e, "ca.crt", "    resources: [pods]\n    watch_list: \"on\"\n");
	wait_requests(&t, &e, before, "/api/v1/pods", 'W', 2, 10000);
	cr_assert_eq(count_requests(&e, before, NULL, 'L', 0), 0);
	cr_assert_eq(count(&t, W(NULL, "Pod", "p1")), 0);
	tapiod_stop(&t, 5000);
	log = tapiod_log(&t);
	cr_assert_eq(count_in(log, "watch-list pods refused (watch_list: on"), 1, "%s", log);
	free(log);
	tapiod_cleanup(&t);
	kenv_stop(&e);
}
