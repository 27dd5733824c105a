// SPDX-License-Identifier: Apache-2.0
// The kubeapi store on objects shaped like the API's: compact records, the owner chain to the
// top controller, Service ↔ Pod ↔ EndpointSlice relations, Event → involved object, change
// masks, and that a Secret's data never reaches a record or an event.
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/kubeapi/kubeapi_store.c"

static struct kobj *decode(enum kres res, const char *json)
{
	json_object *o = json_tokener_parse(json);
	cr_assert_not_null(o, "bad JSON in the test: %s", json);
	struct kobj *k = NULL;
	static const char *const ann[] = {"team",
					  "kubectl.kubernetes.io/last-applied-configuration", NULL};
	struct kdecode_opts opts = {.annotations = ann};
	cr_assert_eq(kobj_from_json(res, o, &opts, &k), 0);
	json_object_put(o);
	return k;
}

static void put(struct kstore *st, struct kobj *o)
{
	struct kobj *old = NULL;
	kstore_put(st, o, &old);
	free(old);
}

#define DEPLOY                                                                                     \
	"{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":\"web\","      \
	"\"namespace\":\"shop\",\"uid\":\"d-1\",\"resourceVersion\":\"10\",\"labels\":{\"app\":"   \
	"\"web\"}},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}}},"    \
	"\"status\":{\"readyReplicas\":2}}"
#define RS                                                                                         \
	"{\"kind\":\"ReplicaSet\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":\"web-5d4\","  \
	"\"namespace\":\"shop\",\"uid\":\"rs-1\",\"resourceVersion\":\"11\",\"ownerReferences\":"  \
	"[{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"d-1\","   \
	"\"controller\":true,\"blockOwnerDeletion\":true}]},\"spec\":{\"replicas\":3,"             \
	"\"selector\":{\"matchLabels\":{\"app\":\"web\",\"pod-template-hash\":\"5d4\"}}}}"
#define POD(phase)                                                                                 \
	"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-5d4-x\","            \
	"\"namespace\":\"shop\",\"uid\":\"p-1\",\"resourceVersion\":\"12\",\"labels\":{\"app\":"   \
	"\"web\",\"pod-template-hash\":\"5d4\"},\"annotations\":{\"team\":\"a\",\"other\":\"b\"}," \
	"\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":"       \
	"\"web-5d4\",\"uid\":\"rs-1\",\"controller\":true}]},\"spec\":{\"nodeName\":\"node-a\","   \
	"\"serviceAccountName\":\"web-sa\",\"volumes\":[{\"name\":\"c\",\"configMap\":{\"name\":"  \
	"\"web-cfg\"}},{\"name\":\"s\",\"secret\":{\"secretName\":\"web-tls\"}},{\"name\":\"d\","  \
	"\"persistentVolumeClaim\":{\"claimName\":\"data\"}},{\"name\":\"kube-api-access\","       \
	"\"projected\":{\"sources\":[{\"serviceAccountToken\":{\"path\":\"token\"}},"              \
	"{\"configMap\":{\"name\":\"kube-root-ca.crt\"}}]}}],\"containers\":[{\"name\":\"app\","   \
	"\"image\":\"web:1\",\"envFrom\":[{\"secretRef\":{\"name\":\"db-creds\"}}],\"env\":[{"     \
	"\"name\":\"X\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"web-cfg\",\"key\":\"x\"}}}" \
	"]}]},\"status\":{\"phase\":\"" phase "\",\"podIP\":\"10.1.2.3\",\"conditions\":[{"        \
	"\"type\":\"Ready\",\"status\":\"True\"}]}}"
#define SVC                                                                                        \
	"{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\","              \
	"\"namespace\":"                                                                           \
	"\"shop\",\"uid\":\"s-1\",\"resourceVersion\":\"13\"},\"spec\":{\"type\":\"ClusterIP\","   \
	"\"clusterIP\":\"10.96.0.10\",\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}]}}"
#define SLICE                                                                                      \
	"{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":{"        \
	"\"name\":\"web-abcde\",\"namespace\":\"shop\",\"uid\":\"e-1\",\"resourceVersion\":"       \
	"\"14\","                                                                                  \
	"\"labels\":{\"kubernetes.io/"                                                             \
	"service-name\":\"web\"},\"ownerReferences\":[{\"apiVersion\":"                            \
	"\"v1\",\"kind\":\"Service\",\"name\":\"web\",\"uid\":\"s-1\",\"controller\":true}]},"     \
	"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.1.2.3\"],\"conditions\":{"   \
	"\"ready\":true},\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":"         \
	"\"web-5d4-x\",\"uid\":\"p-1\"}}],\"ports\":[{\"port\":8080}]}"

static bool has_rel(const Tapio__V1__K8sObjectEvent *ev, const char *rel)
{
	for (size_t i = 0; i < ev->n_relations; i++)
		if (strcmp(ev->relations[i], rel) == 0)
			return true;
	return false;
}

Test(kstore, pod_relations_and_owner_chain)
{
	struct kstore st;
	cr_assert_eq(kstore_init(&st), 0);
	put(&st, decode(KRES_DEPLOYMENTS, DEPLOY));
	put(&st, decode(KRES_REPLICASETS, RS));
	put(&st, decode(KRES_SERVICES, SVC));
	put(&st, decode(KRES_ENDPOINTSLICES, SLICE));
	struct kobj *pod = decode(KRES_PODS, POD("Running"));
	put(&st, pod);
	cr_assert_lt(sizeof(*pod) + pod->len, 1024, "a pod record takes %zu bytes",
		     sizeof(*pod) + pod->len);

	struct karena a = {0};
	Tapio__V1__K8sObjectEvent ev;
	cr_assert_eq(kobj_event(&st, pod, "ADDED", 0, &a, &ev), 0);
	cr_assert_str_eq(ev.kind, "Pod");
	cr_assert_str_eq(ev.resource, "pods");
	cr_assert_str_eq(ev.namespace_, "shop");
	cr_assert_str_eq(ev.name, "web-5d4-x");
	cr_assert_str_eq(ev.uid, "p-1");
	cr_assert_str_eq(ev.resource_version, "12");
	cr_assert_str_eq(ev.phase, "Running");
	cr_assert_eq(ev.n_owners, 1);
	cr_assert_str_eq(ev.owners[0]->kind, "ReplicaSet");
	cr_assert(ev.owners[0]->controller);
	cr_assert_eq(ev.n_owner_chain, 2);
	cr_assert_str_eq(ev.owner_chain[0]->name, "web-5d4");
	cr_assert_str_eq(ev.owner_chain[1]->kind, "Deployment");
	cr_assert_str_eq(ev.top_owner->kind, "Deployment");
	cr_assert_str_eq(ev.top_owner->name, "web");
	cr_assert_str_eq(ev.top_owner->uid, "d-1");
	cr_assert_eq(ev.n_labels, 2);
	cr_assert_eq(ev.n_annotations, 1, "only the configured annotation");
	cr_assert_str_eq(ev.annotations[0]->key, "team");
	cr_assert_str_eq(ev.annotations[0]->value, "a");
	static const char *const want[] = {"node/node-a",
					   "serviceaccount/shop/web-sa",
					   "configmap/shop/web-cfg",
					   "secret/shop/web-tls",
					   "pvc/shop/data",
					   "configmap/shop/kube-root-ca.crt",
					   "secret/shop/db-creds",
					   "service/shop/web"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(has_rel(&ev, want[i]), "missing relation %s", want[i]);
	cr_assert_eq(ev.n_relations, sizeof(want) / sizeof(want[0]), "duplicates: %zu",
		     ev.n_relations);
	karena_free(&a);

	const struct kobj *svc = kstore_by_name(&st, KRES_SERVICES, "shop", "web");
	cr_assert_not_null(svc);
	cr_assert_eq(kobj_event(&st, svc, "ADDED", 0, &a, &ev), 0);
	cr_assert(has_rel(&ev, "pod/shop/web-5d4-x"));
	cr_assert(has_rel(&ev, "endpointslice/shop/web-abcde"));
	cr_assert_eq(ev.n_relations, 2);
	karena_free(&a);

	const struct kobj *slice = kstore_by_uid(&st, "e-1");
	cr_assert_eq(kobj_event(&st, slice, "ADDED", 0, &a, &ev), 0);
	cr_assert(has_rel(&ev, "service/shop/web"));
	cr_assert(has_rel(&ev, "pod/shop/web-5d4-x"));
	cr_assert_str_eq(ev.top_owner->kind, "Service");
	karena_free(&a);
	kstore_free(&st);
}

Test(kstore, modified_reports_the_changed_fields_only)
{
	struct kobj *a = decode(KRES_PODS, POD("Pending"));
	struct kobj *b = decode(KRES_PODS, POD("Running"));
	uint32_t m = kobj_diff(a, b);
	cr_assert_eq(m, 1u << KF_PHASE);
	cr_assert_eq(kobj_diff(a, a), 0);
	struct kstore st;
	kstore_init(&st);
	put(&st, b);
	struct karena ar = {0};
	Tapio__V1__K8sObjectEvent ev;
	cr_assert_eq(kobj_event(&st, b, "MODIFIED", m, &ar, &ev), 0);
	cr_assert_eq(ev.n_changed, 1);
	cr_assert_str_eq(ev.changed[0], "status.phase");
	karena_free(&ar);
	free(a);
	kstore_free(&st);
}

Test(kstore, event_points_at_its_object)
{
	struct kobj *e = decode(
		KRES_EVENTS,
		"{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web.17a\","
		"\"namespace\":\"shop\",\"uid\":\"ev-1\",\"resourceVersion\":\"20\"},"
		"\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"web-5d4-"
		"x\","
		"\"uid\":\"p-1\",\"apiVersion\":\"v1\"},\"reason\":\"BackOff\",\"message\":"
		"\"Back-off restarting failed container\",\"type\":\"Warning\",\"count\":3}");
	struct kstore st;
	kstore_init(&st);
	put(&st, e);
	struct karena a = {0};
	Tapio__V1__K8sObjectEvent ev;
	cr_assert_eq(kobj_event(&st, e, "ADDED", 0, &a, &ev), 0);
	cr_assert(has_rel(&ev, "involved/Pod/shop/web-5d4-x"));
	cr_assert_str_eq(ev.reason, "BackOff");
	cr_assert_str_eq(ev.event_type, "Warning");
	cr_assert_str_eq(ev.message, "Back-off restarting failed container");
	karena_free(&a);
	kstore_free(&st);
}

Test(kstore, secret_data_never_kept)
{
	/* a server that ignores the metadata-only Accept header and sends everything */
	struct kobj *s = decode(
		KRES_SECRETS,
		"{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"db-creds\","
		"\"namespace\":\"shop\",\"uid\":\"sec-1\",\"resourceVersion\":\"5\","
		"\"annotations\":"
		"{\"kubectl.kubernetes.io/"
		"last-applied-configuration\":\"{\\\"data\\\":{\\\"password"
		"\\\":\\\"c2VjcmV0LXZhbHVl\\\"}}\",\"team\":\"db\"}},\"type\":\"Opaque\",\"data\":{"
		"\"password\":\"c2VjcmV0LXZhbHVl\"},\"stringData\":{\"token\":\"secret-value\"}}");
	cr_assert_null(memmem(s->data, s->len, "c2VjcmV0LXZhbHVl", 16));
	cr_assert_null(memmem(s->data, s->len, "secret-value", 12));
	cr_assert_null(memmem(s->data, s->len, "password", 8));
	struct kstore st;
	kstore_init(&st);
	put(&st, s);
	struct karena a = {0};
	Tapio__V1__K8sObjectEvent ev;
	cr_assert_eq(kobj_event(&st, s, "ADDED", 0, &a, &ev), 0);
	size_t len = tapio__v1__k8s_object_event__get_packed_size(&ev);
	uint8_t *buf = malloc(len);
	tapio__v1__k8s_object_event__pack(&ev, buf);
	cr_assert_null(memmem(buf, len, "c2VjcmV0LXZhbHVl", 16));
	cr_assert_null(memmem(buf, len, "secret-value", 12));
	cr_assert_not_null(memmem(buf, len, "db-creds", 8));
	free(buf);
	karena_free(&a);
	kstore_free(&st);
}

Test(kstore, rejects_objects_without_identity)
{
	json_object *o = json_tokener_parse("{\"metadata\":{\"name\":\"x\"}}");
	struct kobj *k = NULL;
	cr_assert_eq(kobj_from_json(KRES_PODS, o, NULL, &k), -EINVAL);
	json_object_put(o);
	o = json_tokener_parse("[1,2]");
	cr_assert_eq(kobj_from_json(KRES_PODS, o, NULL, &k), -EINVAL);
	json_object_put(o);
}

static void collect_swept(struct kobj *o, void *arg)
{
	(*(int *)arg)++;
	free(o);
}

Test(kstore, many_objects_grow_and_sweep)
{
	struct kstore st;
	kstore_init(&st);
	char json[256];
	for (int i = 0; i < 5000; i++) {
		snprintf(json, sizeof(json),
			 "{\"metadata\":{\"name\":\"p%d\",\"namespace\":\"n%d\",\"uid\":\"u%d\"}}",
			 i, i % 7, i);
		struct kobj *o = decode(KRES_PODS, json);
		o->gen = i % 2 ? 2 : 1;
		put(&st, o);
	}
	cr_assert_eq(st.count[KRES_PODS], 5000);
	cr_assert_not_null(kstore_by_name(&st, KRES_PODS, "n1", "p4999"));
	cr_assert_not_null(kstore_by_uid(&st, "u17"));
	int swept = 0;
	kstore_sweep(&st, KRES_PODS, NULL, 2, collect_swept, &swept);
	cr_assert_eq(swept, 2500);
	cr_assert_eq(st.count[KRES_PODS], 2500);
	cr_assert_null(kstore_by_uid(&st, "u16"));
	cr_assert_not_null(kstore_by_uid(&st, "u17"));
	free(kstore_del(&st, "u17"));
	cr_assert_null(kstore_by_uid(&st, "u17"));
	kstore_free(&st);
}
