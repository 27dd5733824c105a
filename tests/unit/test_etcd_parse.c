// SPDX-License-Identifier: Apache-2.0
// The etcd collector's key parser and value decoder: Kubernetes storage keys of core, grouped
// and CRD resources, values in the protobuf envelope (bytes built here field by field with
// upstream's numbers), JSON, encrypted, and broken ones.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "collectors/etcd/etcd_parse.c"

static int key(const char *k, struct etcd_key *ret)
{
	return etcd_key_parse((const uint8_t *)k, strlen(k), "/registry/", ret);
}

Test(etcd_key, core_namespaced)
{
	struct etcd_key k;
	cr_assert_eq(key("/registry/pods/kube-system/coredns-1", &k), 0);
	cr_assert_str_eq(k.group, "");
	cr_assert_str_eq(k.resource, "pods");
	cr_assert_str_eq(k.kind, "Pod");
	cr_assert_str_eq(k.namespace, "kube-system");
	cr_assert_str_eq(k.name, "coredns-1");
	cr_assert(!k.secret);
}

Test(etcd_key, cluster_scoped)
{
	struct etcd_key k;
	cr_assert_eq(key("/registry/namespaces/default", &k), 0);
	cr_assert_str_eq(k.kind, "Namespace");
	cr_assert_str_eq(k.namespace, "");
	cr_assert_str_eq(k.name, "default");
	cr_assert_eq(key("/registry/minions/node-1", &k), 0);
	cr_assert_str_eq(k.kind, "Node");
	cr_assert_str_eq(k.name, "node-1");
	cr_assert_eq(key("/registry/clusterroles/admin", &k), 0);
	cr_assert_str_eq(k.group, "rbac.authorization.k8s.io");
	cr_assert_str_eq(k.kind, "ClusterRole");
}

Test(etcd_key, group_resources)
{
	struct etcd_key k;
	cr_assert_eq(key("/registry/deployments/default/web", &k), 0);
	cr_assert_str_eq(k.group, "apps");
	cr_assert_str_eq(k.resource, "deployments");
	cr_assert_str_eq(k.kind, "Deployment");
	cr_assert_str_eq(k.namespace, "default");
	cr_assert_str_eq(k.name, "web");
	cr_assert_eq(key("/registry/apiextensions.k8s.io/customresourcedefinitions/"
			 "crontabs.stable.example.com",
			 &k),
		     0);
	cr_assert_str_eq(k.group, "apiextensions.k8s.io");
	cr_assert_str_eq(k.kind, "CustomResourceDefinition");
	cr_assert_str_eq(k.name, "crontabs.stable.example.com");
	cr_assert_str_eq(k.namespace, "");
}

Test(etcd_key, crd)
{
	struct etcd_key k;
	cr_assert_eq(key("/registry/stable.example.com/crontabs/team-a/nightly", &k), 0);
	cr_assert_str_eq(k.group, "stable.example.com");
	cr_assert_str_eq(k.resource, "crontabs");
	cr_assert_str_eq(k.kind, "");
	cr_assert_str_eq(k.namespace, "team-a");
	cr_assert_str_eq(k.name, "nightly");
	cr_assert_eq(key("/registry/stable.example.com/clusterthings/one", &k), 0);
	cr_assert_str_eq(k.namespace, "");
	cr_assert_str_eq(k.name, "one");
	/* a group alone, or with a resource and nothing more, is no object */
	cr_assert_eq(key("/registry/stable.example.com/crontabs", &k), -EINVAL);
}

Test(etcd_key, services)
{
	struct etcd_key k;
	cr_assert_eq(key("/registry/services/specs/default/kubernetes", &k), 0);
	cr_assert_str_eq(k.resource, "services");
	cr_assert_str_eq(k.kind, "Service");
	cr_assert_str_eq(k.namespace, "default");
	cr_assert_str_eq(k.name, "kubernetes");
	cr_assert_eq(key("/registry/services/endpoints/default/kubernetes", &k), 0);
	cr_assert_str_eq(k.resource, "endpoints");
	cr_assert_str_eq(k.kind, "Endpoints");
	cr_assert_eq(key("/registry/services/other/default/kubernetes", &k), -EINVAL);
}

Test(etcd_key, secrets)
{
	struct etcd_key k;
	cr_assert_eq(key("/registry/secrets/default/token", &k), 0);
	cr_assert(k.secret);
	cr_assert_str_eq(k.kind, "Secret");
	/* unparseable, still known as a Secret */
	cr_assert_eq(key("/registry/secrets/a/b/c/d/e/f/g", &k), -EINVAL);
	cr_assert(k.secret);
	cr_assert_eq(key("/registry/secrets", &k), -EINVAL);
	cr_assert(k.secret);
	cr_assert_eq(key("/registry/secretsx/a/b", &k), 0);
	cr_assert(!k.secret);
	/* a prefix without its trailing slash */
	cr_assert_eq(etcd_key_parse((const uint8_t *)"/registry/secrets/a/b", 21, "/registry", &k),
		     0);
	cr_assert(k.secret);
}

Test(etcd_key, malformed)
{
	struct etcd_key k;
	cr_assert_eq(key("/other/pods/a/b", &k), -ENOENT);
	cr_assert_eq(key("/registry/", &k), -EINVAL);
	cr_assert_eq(key("/registry/pods//x", &k), -EINVAL);
	cr_assert_eq(key("/registry/pods/ns/x/", &k), -EINVAL);
	cr_assert_eq(key("/registry/pods/a/b/c", &k), -EINVAL);
	cr_assert_eq(key("/registry/ranges/serviceips", &k), 0); /* a cluster-scoped shape */
	char big[ETCD_KEY_MAX + 20];
	memset(big, 'a', sizeof(big));
	memcpy(big, "/registry/pods/", 15);
	cr_assert_eq(etcd_key_parse((const uint8_t *)big, sizeof(big), "/registry/", &k),
		     -ENAMETOOLONG);
	/* bytes that are not printable never come out as such */
	cr_assert_eq(key("/registry/pods/ns/a\x01\xff", &k), 0);
	cr_assert_str_eq(k.name, "a??");
}

/* ---- a protobuf writer for test values ---- */

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void put_varint(struct buf *b, uint64_t v)
{
	b->n += pbwire_put_varint(b->b + b->n, v);
}

static void put_bytes(struct buf *b, uint32_t num, const void *p, size_t len)
{
	put_varint(b, (uint64_t)num << 3 | 2);
	put_varint(b, len);
	memcpy(b->b + b->n, p, len);
	b->n += len;
}

static void put_str(struct buf *b, uint32_t num, const char *s)
{
	put_bytes(b, num, s, strlen(s));
}

static void put_msg(struct buf *b, uint32_t num, const struct buf *m)
{
	put_bytes(b, num, m->b, m->n);
}

static void put_uint(struct buf *b, uint32_t num, uint64_t v)
{
	put_varint(b, (uint64_t)num << 3);
	put_varint(b, v);
}

/* A ReplicaSet as the API server stores it: "k8s\0" + Unknown{TypeMeta, raw = ReplicaSet{
 * metadata, spec...}, contentEncoding "", contentType ""}. */
static size_t build_rs(uint8_t *out)
{
	struct buf tm = {0}, meta = {0}, lab = {0}, own = {0}, obj = {0}, spec = {0}, unk = {0};
	put_str(&tm, 1, "apps/v1");
	put_str(&tm, 2, "ReplicaSet");
	put_str(&lab, 1, "app");
	put_str(&lab, 2, "web");
	put_str(&own, 1, "Deployment");
	put_str(&own, 3, "web");
	put_str(&own, 4, "0d6c1b7e-1111-2222-3333-444455556666");
	put_str(&own, 5, "apps/v1");
	put_uint(&own, 6, 1);
	put_str(&meta, 1, "web-5d4f");
	put_str(&meta, 2, "web-");
	put_str(&meta, 3, "default");
	put_str(&meta, 5, "8f1f6c1a-aaaa-bbbb-cccc-ddddeeeeffff");
	put_str(&meta, 6, "12345");
	put_uint(&meta, 7, 3);
	put_msg(&meta, 11, &lab);
	put_str(&meta, 12, "ignored-annotation-entry");
	put_msg(&meta, 13, &own);
	put_str(&spec, 1, "opaque spec bytes");
	put_msg(&obj, 1, &meta);
	put_msg(&obj, 2, &spec);
	put_msg(&unk, 1, &tm);
	put_msg(&unk, 2, &obj);
	put_str(&unk, 3, "");
	put_str(&unk, 4, "");
	memcpy(out, "k8s\0", 4);
	memcpy(out + 4, unk.b, unk.n);
	return unk.n + 4;
}

Test(etcd_value, protobuf)
{
	uint8_t b[4096];
	size_t n = build_rs(b);
	struct etcd_value v;
	cr_assert_eq(etcd_value_decode(b, n, &v), 0);
	cr_assert_eq(v.format, ETCD_VALUE_PROTOBUF);
	cr_assert_str_eq(v.api_version, "apps/v1");
	cr_assert_str_eq(v.kind, "ReplicaSet");
	cr_assert_str_eq(v.name, "web-5d4f");
	cr_assert_str_eq(v.namespace, "default");
	cr_assert_str_eq(v.uid, "8f1f6c1a-aaaa-bbbb-cccc-ddddeeeeffff");
	cr_assert_str_eq(v.resource_version, "12345");
	cr_assert_eq(v.generation, 3);
	cr_assert_eq(v.n_labels, 1);
	cr_assert_str_eq(v.labels[0].key, "app");
	cr_assert_str_eq(v.labels[0].value, "web");
	cr_assert_eq(v.n_owners, 1);
	cr_assert_str_eq(v.owners[0].kind, "Deployment");
	cr_assert_str_eq(v.owners[0].name, "web");
	cr_assert_str_eq(v.owners[0].uid, "0d6c1b7e-1111-2222-3333-444455556666");
	cr_assert_str_eq(v.owners[0].api_version, "apps/v1");
	cr_assert(v.owners[0].controller);
	cr_assert(!v.truncated);

	/* every truncation of the bytes is rejected or decodes to less, never read past */
	for (size_t i = 4; i < n; i++) {
		int r = etcd_value_decode(b, i, &v);
		cr_assert(r == 0 || r == -EBADMSG);
		cr_assert_eq(v.format, ETCD_VALUE_PROTOBUF);
	}
}

Test(etcd_value, protobuf_bounds)
{
	struct buf meta = {0}, obj = {0}, unk = {0};
	char longname[600];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	put_str(&meta, 1, longname);
	for (int i = 0; i < ETCD_LABELS_MAX + 3; i++) {
		struct buf lab = {0};
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		put_str(&lab, 1, k);
		put_str(&lab, 2, "v");
		put_msg(&meta, 11, &lab);
	}
	put_msg(&obj, 1, &meta);
	put_msg(&unk, 2, &obj);
	uint8_t b[4096];
	memcpy(b, "k8s\0", 4);
	memcpy(b + 4, unk.b, unk.n);
	struct etcd_value v;
	cr_assert_eq(etcd_value_decode(b, unk.n + 4, &v), 0);
	cr_assert_eq(v.n_labels, ETCD_LABELS_MAX);
	cr_assert_eq(v.labels_dropped, 3);
	cr_assert(v.truncated);
	cr_assert_eq(strlen(v.name), ETCD_STR_MAX - 1);
	cr_assert_str_eq(v.kind, ""); /* no TypeMeta */

	/* garbage after the magic */
	const uint8_t bad[] = {'k', '8', 's', 0, 0x0a, 0x7f, 0x01};
	cr_assert_eq(etcd_value_decode(bad, sizeof(bad), &v), -EBADMSG);
	cr_assert_eq(v.format, ETCD_VALUE_PROTOBUF);
}

Test(etcd_value, json)
{
	const char *j = "{\"kind\":\"CronTab\",\"apiVersion\":\"stable.example.com/v1\","
			"\"metadata\":{\"name\":\"nightly\",\"namespace\":\"team-a\","
			"\"uid\":\"u-1\",\"resourceVersion\":\"77\",\"generation\":2,"
			"\"labels\":{\"tier\":\"batch\",\"n\":5},"
			"\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
			"\"name\":\"cm\",\"uid\":\"u-2\",\"controller\":false}]},"
			"\"spec\":{\"cronSpec\":\"* * * * */5\"}}\n";
	struct etcd_value v;
	cr_assert_eq(etcd_value_decode((const uint8_t *)j, strlen(j), &v), 0);
	cr_assert_eq(v.format, ETCD_VALUE_JSON);
	cr_assert_str_eq(v.kind, "CronTab");
	cr_assert_str_eq(v.api_version, "stable.example.com/v1");
	cr_assert_str_eq(v.name, "nightly");
	cr_assert_str_eq(v.namespace, "team-a");
	cr_assert_str_eq(v.uid, "u-1");
	cr_assert_str_eq(v.resource_version, "77");
	cr_assert_eq(v.generation, 2);
	cr_assert_eq(v.n_labels, 1); /* the non-string one is skipped */
	cr_assert_str_eq(v.labels[0].key, "tier");
	cr_assert_str_eq(v.labels[0].value, "batch");
	cr_assert_eq(v.n_owners, 1);
	cr_assert_str_eq(v.owners[0].kind, "ConfigMap");
	cr_assert(!v.owners[0].controller);

	const char *bad[] = {"{\"kind\":", "{} trailing", "{\"a\":1}}", "[1,2]"};
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(etcd_value_decode((const uint8_t *)bad[i], strlen(bad[i]), &v),
			     -EBADMSG, "%s", bad[i]);
		cr_assert_eq(v.format, ETCD_VALUE_JSON);
	}
	cr_assert_eq(etcd_value_decode((const uint8_t *)bad[3], strlen(bad[3]), &v), 0);
	cr_assert_eq(v.format, ETCD_VALUE_OTHER);
}

Test(etcd_value, encrypted)
{
	struct etcd_value v;
	const char *a = "k8s:enc:aescbc:v1:key1:\x8a\x00\x01:binary";
	cr_assert_eq(etcd_value_decode((const uint8_t *)a, strlen(a) + 3, &v), 0);
	cr_assert_eq(v.format, ETCD_VALUE_ENCRYPTED);
	cr_assert_str_eq(v.enc_provider, "aescbc");
	cr_assert_str_eq(v.enc_key, "key1");
	const char *k = "k8s:enc:kms:v2:my-kms-plugin:\x0a\x10";
	cr_assert_eq(etcd_value_decode((const uint8_t *)k, strlen(k), &v), 0);
	cr_assert_str_eq(v.enc_provider, "kms");
	cr_assert_str_eq(v.enc_key, "my-kms-plugin");
	const char *c = "k8s:enc:secretbox:v1:"; /* cut before the key name */
	cr_assert_eq(etcd_value_decode((const uint8_t *)c, strlen(c), &v), 0);
	cr_assert_str_eq(v.enc_provider, "secretbox");
	cr_assert_str_eq(v.enc_key, "");
	const char *d = "k8s:enc:\x01\x02:";
	cr_assert_eq(etcd_value_decode((const uint8_t *)d, strlen(d), &v), -EBADMSG);
	cr_assert_eq(v.format, ETCD_VALUE_ENCRYPTED);
	cr_assert_str_eq(v.enc_provider, "");
}

Test(etcd_value, other)
{
	struct etcd_value v;
	cr_assert_eq(etcd_value_decode((const uint8_t *)"", 0, &v), 0);
	cr_assert_eq(v.format, ETCD_VALUE_EMPTY);
	cr_assert_eq(etcd_value_decode((const uint8_t *)"hello", 5, &v), 0);
	cr_assert_eq(v.format, ETCD_VALUE_OTHER);
	cr_assert_str_eq(etcd_value_format_name(ETCD_VALUE_PROTOBUF), "protobuf");
	cr_assert_str_eq(etcd_value_format_name(ETCD_VALUE_OTHER), "other");
}
