// SPDX-License-Identifier: Apache-2.0
// Kubernetes storage keys and values as etcd holds them (see etcd_parse.h). Field numbers are
// upstream's: k8s.io/apimachinery/pkg/runtime/generated.proto (Unknown, TypeMeta) and
// pkg/apis/meta/v1/generated.proto (ObjectMeta, OwnerReference); every top-level API object
// has its ObjectMeta as field 1.
#include "etcd_parse.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "pbwire.h"

/* runtime.Unknown */
#define PB_UNKNOWN_TYPEMETA 1
#define PB_UNKNOWN_RAW	    2
/* runtime.TypeMeta */
#define PB_TYPEMETA_APIVERSION 1
#define PB_TYPEMETA_KIND       2
/* any API object */
#define PB_OBJECT_METADATA 1
/* meta.v1.ObjectMeta */
#define PB_META_NAME		1
#define PB_META_NAMESPACE	3
#define PB_META_UID		5
#define PB_META_RESOURCEVERSION 6
#define PB_META_GENERATION	7
#define PB_META_LABELS		11
#define PB_META_OWNERREFERENCES 13
/* map<string,string> entry */
#define PB_MAPENTRY_KEY	  1
#define PB_MAPENTRY_VALUE 2
/* meta.v1.OwnerReference */
#define PB_OWNER_KIND	    1
#define PB_OWNER_NAME	    3
#define PB_OWNER_UID	    4
#define PB_OWNER_APIVERSION 5
#define PB_OWNER_CONTROLLER 6

#define JSON_DEPTH_MAX 64

bool etcd_copy_printable(char *dst, size_t cap, const uint8_t *s, size_t len)
{
	size_t n = len < cap - 1 ? len : cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	dst[n] = '\0';
	return n < len;
}

/* ---- keys ----------------------------------------------------------------------------------- */

struct builtin {
	const char *resource, *group, *kind;
};

/* Resources the API server stores below the prefix without their group (the storage paths
 * of k8s.io/kubernetes pkg/registry); keys of other groups start with the group name. */
static const struct builtin builtins[] = {
	{"pods", "", "Pod"},
	{"services", "", "Service"},
	{"endpoints", "", "Endpoints"}, /* not stored so; services/endpoints is */
	{"configmaps", "", "ConfigMap"},
	{"secrets", "", "Secret"},
	{"serviceaccounts", "", "ServiceAccount"},
	{"namespaces", "", "Namespace"},
	{"minions", "", "Node"},
	{"nodes", "", "Node"},
	{"persistentvolumes", "", "PersistentVolume"},
	{"persistentvolumeclaims", "", "PersistentVolumeClaim"},
	{"events", "", "Event"},
	{"limitranges", "", "LimitRange"},
	{"resourcequotas", "", "ResourceQuota"},
	{"podtemplates", "", "PodTemplate"},
	{"controllers", "", "ReplicationController"},
	{"deployments", "apps", "Deployment"},
	{"replicasets", "apps", "ReplicaSet"},
	{"statefulsets", "apps", "StatefulSet"},
	{"daemonsets", "apps", "DaemonSet"},
	{"controllerrevisions", "apps", "ControllerRevision"},
	{"jobs", "batch", "Job"},
	{"cronjobs", "batch", "CronJob"},
	{"horizontalpodautoscalers", "autoscaling", "HorizontalPodAutoscaler"},
	{"ingress", "networking.k8s.io", "Ingress"},
	{"ingressclasses", "networking.k8s.io", "IngressClass"},
	{"networkpolicies", "networking.k8s.io", "NetworkPolicy"},
	{"endpointslices", "discovery.k8s.io", "EndpointSlice"},
	{"poddisruptionbudgets", "policy", "PodDisruptionBudget"},
	{"roles", "rbac.authorization.k8s.io", "Role"},
	{"rolebindings", "rbac.authorization.k8s.io", "RoleBinding"},
	{"clusterroles", "rbac.authorization.k8s.io", "ClusterRole"},
	{"clusterrolebindings", "rbac.authorization.k8s.io", "ClusterRoleBinding"},
	{"leases", "coordination.k8s.io", "Lease"},
	{"priorityclasses", "scheduling.k8s.io", "PriorityClass"},
	{"storageclasses", "storage.k8s.io", "StorageClass"},
	{"volumeattachments", "storage.k8s.io", "VolumeAttachment"},
	{"csinodes", "storage.k8s.io", "CSINode"},
	{"csidrivers", "storage.k8s.io", "CSIDriver"},
	{"csistoragecapacities", "storage.k8s.io", "CSIStorageCapacity"},
	{"certificatesigningrequests", "certificates.k8s.io", "CertificateSigningRequest"},
	{"runtimeclasses", "node.k8s.io", "RuntimeClass"},
	{"flowschemas", "flowcontrol.apiserver.k8s.io", "FlowSchema"},
	{"prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io",
	 "PriorityLevelConfiguration"},
	{"validatingwebhookconfigurations", "admissionregistration.k8s.io",
	 "ValidatingWebhookConfiguration"},
	{"mutatingwebhookconfigurations", "admissionregistration.k8s.io",
	 "MutatingWebhookConfiguration"},
	{"validatingadmissionpolicies", "admissionregistration.k8s.io",
	 "ValidatingAdmissionPolicy"},
};

/* Resources of the groups that do store their group in the key. */
static const struct builtin grouped[] = {
	{"customresourcedefinitions", "apiextensions.k8s.io", "CustomResourceDefinition"},
	{"apiservices", "apiregistration.k8s.io", "APIService"},
};

struct seg {
	const uint8_t *p;
	size_t len;
};

static bool seg_is(const struct seg *s, const char *lit)
{
	size_t n = strlen(lit);
	return s->len == n && memcmp(s->p, lit, n) == 0;
}

static const struct builtin *find(const struct builtin *t, size_t n, const struct seg *s)
{
	for (size_t i = 0; i < n; i++)
		if (seg_is(s, t[i].resource))
			return &t[i];
	return NULL;
}

static bool has_dot(const struct seg *s)
{
	return memchr(s->p, '.', s->len) != NULL;
}

#define SEGS_MAX 6

int etcd_key_parse(const uint8_t *key, size_t len, const char *prefix, struct etcd_key *ret)
{
	memset(ret, 0, sizeof(*ret));
	size_t plen = strlen(prefix);
	if (len < plen || memcmp(key, prefix, plen) != 0)
		return -ENOENT;

	/* A Secret is known by its first segment alone, whatever follows. */
	const uint8_t *p = key + plen, *end = key + len;
	if (p < end && *p == '/')
		p++; /* a prefix given without its trailing '/' */
	ret->secret = (size_t)(end - p) >= 7 && memcmp(p, "secrets", 7) == 0 &&
		      ((size_t)(end - p) == 7 || p[7] == '/');
	if (len > ETCD_KEY_MAX)
		return -ENAMETOOLONG;

	/* Split the rest at '/': empty segments (a "//" or a trailing '/') are no object key. */
	struct seg segs[SEGS_MAX];
	size_t n = 0;
	for (;;) {
		const uint8_t *slash = memchr(p, '/', (size_t)(end - p));
		const uint8_t *e = slash ? slash : end;
		if (n == SEGS_MAX)
			return -EINVAL;
		segs[n++] = (struct seg){p, (size_t)(e - p)};
		if (!slash)
			break;
		p = slash + 1;
	}
	if (n == 0)
		return -EINVAL;

	size_t i = 0;
	const struct builtin *b = NULL;
	if (has_dot(&segs[0])) {
		/* /<group>/<resource>/...: CRDs and the groups that keep their name in the key */
		if (n < 3 || segs[0].len >= ETCD_SHORT_MAX)
			return -EINVAL;
		etcd_copy_printable(ret->group, sizeof(ret->group), segs[0].p, segs[0].len);
		i = 1;
		b = find(grouped, sizeof(grouped) / sizeof(grouped[0]), &segs[1]);
		if (b && strcmp(b->group, ret->group) != 0)
			b = NULL;
	} else {
		b = find(builtins, sizeof(builtins) / sizeof(builtins[0]), &segs[0]);
		if (b)
			snprintf(ret->group, sizeof(ret->group), "%s", b->group);
	}
	if (segs[i].len == 0 || segs[i].len >= ETCD_SHORT_MAX)
		return -EINVAL;
	etcd_copy_printable(ret->resource, sizeof(ret->resource), segs[i].p, segs[i].len);
	if (b)
		snprintf(ret->kind, sizeof(ret->kind), "%s", b->kind);
	i++;

	/* The core services keep specs and endpoints side by side: services/specs/<ns>/<name>,
	 * services/endpoints/<ns>/<name>. */
	if (i == 1 && seg_is(&segs[0], "services") && n == 4) {
		if (seg_is(&segs[1], "endpoints"))
			snprintf(ret->kind, sizeof(ret->kind), "Endpoints");
		else if (!seg_is(&segs[1], "specs"))
			return -EINVAL;
		snprintf(ret->resource, sizeof(ret->resource), "%s",
			 seg_is(&segs[1], "endpoints") ? "endpoints" : "services");
		i++;
	}

	size_t rest = n - i;
	if (rest != 1 && rest != 2)
		return -EINVAL;
	for (size_t j = i; j < n; j++)
		if (segs[j].len == 0 || segs[j].len >= ETCD_STR_MAX)
			return -EINVAL;
	if (rest == 2)
		etcd_copy_printable(ret->namespace, sizeof(ret->namespace), segs[i].p, segs[i].len);
	etcd_copy_printable(ret->name, sizeof(ret->name), segs[n - 1].p, segs[n - 1].len);
	return 0;
}

/* ---- values: protobuf ----------------------------------------------------------------------- */

static void copy_field(struct etcd_value *v, char *dst, size_t cap, const struct pbwire_field *f)
{
	if (etcd_copy_printable(dst, cap, f->value, f->value_len))
		v->truncated = true;
}

static int decode_label(struct etcd_value *v, const uint8_t *p, size_t len)
{
	if (v->n_labels == ETCD_LABELS_MAX) {
		v->labels_dropped++;
		return 0;
	}
	struct etcd_label *l = &v->labels[v->n_labels];
	memset(l, 0, sizeof(*l));
	struct pbwire_iter it;
	struct pbwire_field f;
	int r;
	pbwire_iter_init(&it, p, len);
	while ((r = pbwire_next(&it, &f)) > 0) {
		if (f.type != PBWIRE_LEN)
			continue;
		if (f.number == PB_MAPENTRY_KEY)
			copy_field(v, l->key, sizeof(l->key), &f);
		else if (f.number == PB_MAPENTRY_VALUE)
			copy_field(v, l->value, sizeof(l->value), &f);
	}
	if (r < 0)
		return r;
	v->n_labels++;
	return 0;
}

static int decode_owner(struct etcd_value *v, const uint8_t *p, size_t len)
{
	if (v->n_owners == ETCD_OWNERS_MAX) {
		v->owners_dropped++;
		return 0;
	}
	struct etcd_owner *o = &v->owners[v->n_owners];
	memset(o, 0, sizeof(*o));
	struct pbwire_iter it;
	struct pbwire_field f;
	int r;
	pbwire_iter_init(&it, p, len);
	while ((r = pbwire_next(&it, &f)) > 0) {
		if (f.number == PB_OWNER_CONTROLLER && f.type == PBWIRE_VARINT) {
			o->controller = f.varint != 0;
			continue;
		}
		if (f.type != PBWIRE_LEN)
			continue;
		switch (f.number) {
		case PB_OWNER_KIND:
			copy_field(v, o->kind, sizeof(o->kind), &f);
			break;
		case PB_OWNER_NAME:
			copy_field(v, o->name, sizeof(o->name), &f);
			break;
		case PB_OWNER_UID:
			copy_field(v, o->uid, sizeof(o->uid), &f);
			break;
		case PB_OWNER_APIVERSION:
			copy_field(v, o->api_version, sizeof(o->api_version), &f);
			break;
		}
	}
	if (r < 0)
		return r;
	v->n_owners++;
	return 0;
}

static int decode_meta(struct etcd_value *v, const uint8_t *p, size_t len)
{
	struct pbwire_iter it;
	struct pbwire_field f;
	int r;
	pbwire_iter_init(&it, p, len);
	while ((r = pbwire_next(&it, &f)) > 0) {
		if (f.number == PB_META_GENERATION && f.type == PBWIRE_VARINT) {
			v->generation = (int64_t)f.varint;
			continue;
		}
		if (f.type != PBWIRE_LEN)
			continue;
		switch (f.number) {
		case PB_META_NAME:
			copy_field(v, v->name, sizeof(v->name), &f);
			break;
		case PB_META_NAMESPACE:
			copy_field(v, v->namespace, sizeof(v->namespace), &f);
			break;
		case PB_META_UID:
			copy_field(v, v->uid, sizeof(v->uid), &f);
			break;
		case PB_META_RESOURCEVERSION:
			copy_field(v, v->resource_version, sizeof(v->resource_version), &f);
			break;
		case PB_META_LABELS:
			r = decode_label(v, f.value, f.value_len);
			break;
		case PB_META_OWNERREFERENCES:
			r = decode_owner(v, f.value, f.value_len);
			break;
		}
		if (r < 0)
			return r;
	}
	return r;
}

static int decode_protobuf(struct etcd_value *v, const uint8_t *p, size_t len)
{
	struct pbwire_iter it, it2;
	struct pbwire_field f, g;
	const uint8_t *raw = NULL;
	size_t raw_len = 0;
	int r;
	pbwire_iter_init(&it, p, len);
	while ((r = pbwire_next(&it, &f)) > 0) {
		if (f.type != PBWIRE_LEN)
			continue;
		if (f.number == PB_UNKNOWN_RAW) {
			raw = f.value;
			raw_len = f.value_len;
		} else if (f.number == PB_UNKNOWN_TYPEMETA) {
			pbwire_iter_init(&it2, f.value, f.value_len);
			while ((r = pbwire_next(&it2, &g)) > 0) {
				if (g.type != PBWIRE_LEN)
					continue;
				if (g.number == PB_TYPEMETA_APIVERSION)
					copy_field(v, v->api_version, sizeof(v->api_version), &g);
				else if (g.number == PB_TYPEMETA_KIND)
					copy_field(v, v->kind, sizeof(v->kind), &g);
			}
			if (r < 0)
				return r;
		}
	}
	if (r < 0)
		return r;
	if (!raw)
		return 0;
	/* The object: its ObjectMeta is field 1 (the last occurrence wins, as in protobuf). */
	const uint8_t *meta = NULL;
	size_t meta_len = 0;
	pbwire_iter_init(&it, raw, raw_len);
	while ((r = pbwire_next(&it, &f)) > 0) {
		if (f.number == PB_OBJECT_METADATA && f.type == PBWIRE_LEN) {
			meta = f.value;
			meta_len = f.value_len;
		}
	}
	if (r < 0)
		return r;
	return meta ? decode_meta(v, meta, meta_len) : 0;
}

/* ---- values: JSON --------------------------------------------------------------------------- */

static void json_str(struct etcd_value *v, char *dst, size_t cap, json_object *o, const char *k)
{
	json_object *s;
	if (!json_object_object_get_ex(o, k, &s) || !json_object_is_type(s, json_type_string))
		return;
	if (etcd_copy_printable(dst, cap, (const uint8_t *)json_object_get_string(s),
				(size_t)json_object_get_string_len(s)))
		v->truncated = true;
}

static int decode_json(struct etcd_value *v, const uint8_t *p, size_t len)
{
	if (len > INT32_MAX)
		return -EBADMSG;
	json_tokener *tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	if (!tok)
		return -ENOMEM;
	json_object *root = json_tokener_parse_ex(tok, (const char *)p, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	/* A complete object and nothing after it but whitespace. */
	int r = 0;
	if (!root || err != json_tokener_success || !json_object_is_type(root, json_type_object))
		r = -EBADMSG;
	for (size_t i = used; r == 0 && i < len; i++)
		if (p[i] != ' ' && p[i] != '\n' && p[i] != '\t' && p[i] != '\r')
			r = -EBADMSG;
	if (r < 0) {
		json_object_put(root);
		return r;
	}
	json_str(v, v->api_version, sizeof(v->api_version), root, "apiVersion");
	json_str(v, v->kind, sizeof(v->kind), root, "kind");
	json_object *m, *x;
	if (json_object_object_get_ex(root, "metadata", &m) &&
	    json_object_is_type(m, json_type_object)) {
		json_str(v, v->name, sizeof(v->name), m, "name");
		json_str(v, v->namespace, sizeof(v->namespace), m, "namespace");
		json_str(v, v->uid, sizeof(v->uid), m, "uid");
		json_str(v, v->resource_version, sizeof(v->resource_version), m, "resourceVersion");
		if (json_object_object_get_ex(m, "generation", &x) &&
		    json_object_is_type(x, json_type_int))
			v->generation = json_object_get_int64(x);
		if (json_object_object_get_ex(m, "labels", &x) &&
		    json_object_is_type(x, json_type_object)) {
			json_object_object_foreach(x, lk, lv)
			{
				if (!json_object_is_type(lv, json_type_string))
					continue;
				if (v->n_labels == ETCD_LABELS_MAX) {
					v->labels_dropped++;
					continue;
				}
				struct etcd_label *l = &v->labels[v->n_labels++];
				if (etcd_copy_printable(l->key, sizeof(l->key), (const uint8_t *)lk,
							strlen(lk)) ||
				    etcd_copy_printable(l->value, sizeof(l->value),
							(const uint8_t *)json_object_get_string(lv),
							(size_t)json_object_get_string_len(lv)))
					v->truncated = true;
			}
		}
		if (json_object_object_get_ex(m, "ownerReferences", &x) &&
		    json_object_is_type(x, json_type_array)) {
			size_t n = json_object_array_length(x);
			for (size_t i = 0; i < n; i++) {
				json_object *o = json_object_array_get_idx(x, i), *c;
				if (!json_object_is_type(o, json_type_object))
					continue;
				if (v->n_owners == ETCD_OWNERS_MAX) {
					v->owners_dropped++;
					continue;
				}
				struct etcd_owner *w = &v->owners[v->n_owners++];
				json_str(v, w->api_version, sizeof(w->api_version), o,
					 "apiVersion");
				json_str(v, w->kind, sizeof(w->kind), o, "kind");
				json_str(v, w->name, sizeof(w->name), o, "name");
				json_str(v, w->uid, sizeof(w->uid), o, "uid");
				w->controller = json_object_object_get_ex(o, "controller", &c) &&
						json_object_is_type(c, json_type_boolean) &&
						json_object_get_boolean(c);
			}
		}
	}
	json_object_put(root);
	return 0;
}

/* ---- values --------------------------------------------------------------------------------- */

/* "<provider>:<version>:<key name>:" after ETCD_ENC_PREFIX (kms v2 included). Parts of
 * [A-Za-z0-9._-] only; the ciphertext follows and is never looked at. */
static int enc_part(const uint8_t *p, size_t len, size_t *off, char *dst)
{
	size_t n = 0;
	while (*off + n < len && p[*off + n] != ':') {
		uint8_t c = p[*off + n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EBADMSG;
		if (++n >= ETCD_SHORT_MAX)
			return -EBADMSG;
	}
	if (*off + n >= len || n == 0)
		return -EBADMSG;
	etcd_copy_printable(dst, ETCD_SHORT_MAX, p + *off, n);
	*off += n + 1;
	return 0;
}

static int decode_enc(struct etcd_value *v, const uint8_t *p, size_t len)
{
	char version[ETCD_SHORT_MAX];
	size_t off = 0;
	if (enc_part(p, len, &off, v->enc_provider) < 0)
		return -EBADMSG;
	if (enc_part(p, len, &off, version) == 0 && enc_part(p, len, &off, v->enc_key) < 0)
		v->enc_key[0] = '\0';
	return 0;
}

int etcd_value_decode(const uint8_t *p, size_t len, struct etcd_value *v)
{
	memset(v, 0, sizeof(*v));
	if (len == 0)
		return 0; /* ETCD_VALUE_EMPTY */
	size_t elen = sizeof(ETCD_ENC_PREFIX) - 1;
	if (len >= elen && memcmp(p, ETCD_ENC_PREFIX, elen) == 0) {
		v->format = ETCD_VALUE_ENCRYPTED;
		return decode_enc(v, p + elen, len - elen);
	}
	if (len >= 4 && memcmp(p, ETCD_K8S_MAGIC, 4) == 0) {
		v->format = ETCD_VALUE_PROTOBUF;
		return decode_protobuf(v, p + 4, len - 4) < 0 ? -EBADMSG : 0;
	}
	size_t i = 0;
	while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r'))
		i++;
	if (i < len && p[i] == '{') {
		v->format = ETCD_VALUE_JSON;
		return decode_json(v, p, len);
	}
	v->format = ETCD_VALUE_OTHER;
	return 0;
}

const char *etcd_value_format_name(enum etcd_value_format f)
{
	switch (f) {
	case ETCD_VALUE_EMPTY:
		return "empty";
	case ETCD_VALUE_PROTOBUF:
		return "protobuf";
	case ETCD_VALUE_JSON:
		return "json";
	case ETCD_VALUE_ENCRYPTED:
		return "encrypted";
	case ETCD_VALUE_OTHER:
		break;
	}
	return "other";
}
