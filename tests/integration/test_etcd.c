// SPDX-License-Identifier: Apache-2.0
// End to end: tapiod with the etcd collector against a real etcd (Debian's etcd-server) on
// 127.0.0.1 with a temporary data dir, written to over etcd's own gRPC API with the shared
// client: Kubernetes keys of core, group and CRD resources with protobuf and JSON values, a
// Secret whose marker must appear nowhere, an encrypted value, a compaction while the worker
// is stopped, a NOSPACE alarm, and an unreachable endpoint.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include "collectors/etcd/etcd_rpc.pb-c.c"
#include "grpc_client.h"
#include "pbwire.h"

#define ETCD   "/usr/bin/etcd"
#define MARKER "tapio-secret-marker-5f3a9c"

struct etcd {
	pid_t pid;
	char dir[128];
	char client[96];
	int port;
	bool mtls;		  /* serve https with client-certificate auth */
	bool on_disk;		  /* data dir on a block device (/var/tmp), not tmpfs */
	bool keep_port;		  /* etcd_try: start again on e->port (a restart) */
	struct grpc_tls tls_opts; /* how the test's own client connects, when mtls */
	const struct grpc_tls *tls;
	char ca[160], srv_crt[160], srv_key[160], cli_crt[160], cli_key[160], other_ca[160];
	struct grpc_client *g;
};

/* A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and an
 * unrelated CA, with the openssl CLI. */
static void make_certs(struct etcd *e)
{
	snprintf(e->ca, sizeof(e->ca), "%s/ca.crt", e->dir);
	snprintf(e->srv_crt, sizeof(e->srv_crt), "%s/server.crt", e->dir);
	snprintf(e->srv_key, sizeof(e->srv_key), "%s/server.key", e->dir);
	snprintf(e->cli_crt, sizeof(e->cli_crt), "%s/client.crt", e->dir);
	snprintf(e->cli_key, sizeof(e->cli_key), "%s/client.key", e->dir);
	snprintf(e->other_ca, sizeof(e->other_ca), "%s/other.crt", e->dir);
	char path[200];
	snprintf(path, sizeof(path), "%s/s.ext", e->dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/c.ext", e->dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("extendedKeyUsage=clientAuth\n", f);
	fclose(f);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd '%s'; K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'; "
		 "openssl req -x509 $K -keyout ca.key -out ca.crt -days 2 -subj /CN=tapio-ca; "
		 "openssl req -x509 $K -keyout other.key -out other.crt -days 2 -subj /CN=other; "
		 "openssl req $K -keyout server.key -out server.csr -subj /CN=etcd; "
		 "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		 "-out server.crt -days 2 -extfile s.ext; "
		 "openssl req $K -keyout client.key -out client.csr -subj /CN=tapio; "
		 "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		 "-out client.crt -days 2 -extfile c.ext",
		 e->dir);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "openssl could not make the certificates");
	e->tls_opts = (struct grpc_tls){e->ca, e->cli_crt, e->cli_key, NULL};
	e->tls = &e->tls_opts;
}

/* Two consecutive free TCP ports on 127.0.0.1 below the ephemeral range. */
static int free_port_pair(void)
{
	static unsigned seed;
	if (!seed)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (int i = 0; i < 200; i++) {
		int p = 20000 + (int)(rand_r(&seed) % 6000) * 2;
		bool ok = true;
		for (int k = 0; k < 2 && ok; k++) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			struct sockaddr_in sa = {.sin_family = AF_INET,
						 .sin_port = htons((uint16_t)(p + k)),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
			if (fd >= 0)
				close(fd);
		}
		if (ok)
			return p;
	}
	cr_assert_fail("no free port pair");
	return 0;
}

/* Start etcd on a free port pair; false when it exited at once (a port taken meanwhile). */
static bool etcd_try(struct etcd *e)
{
	const char *scheme = e->mtls ? "https" : "http";
	if (!e->keep_port)
		e->port = free_port_pair();
	char curl[64], purl[64], data[160], log[160];
	snprintf(curl, sizeof(curl), "%s://127.0.0.1:%d", scheme, e->port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", e->port + 1);
	snprintf(e->client, sizeof(e->client), "127.0.0.1:%d", e->port);
	snprintf(data, sizeof(data), "%s/data", e->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", e->dir);
	char cluster[96];
	snprintf(cluster, sizeof(cluster), "t=%s", purl);
	e->pid = fork();
	if (e->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		if (e->mtls)
			execl(ETCD, "etcd", "--name", "t", "--data-dir", data,
			      "--listen-client-urls", curl, "--advertise-client-urls", curl,
			      "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
			      "--initial-cluster", cluster, "--cert-file", e->srv_crt, "--key-file",
			      e->srv_key, "--client-cert-auth", "--trusted-ca-file", e->ca,
			      (char *)NULL);
		else
			execl(ETCD, "etcd", "--name", "t", "--data-dir", data,
			      "--listen-client-urls", curl, "--advertise-client-urls", curl,
			      "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
			      "--initial-cluster", cluster, (char *)NULL);
		_exit(127);
	}
	cr_assert(e->pid > 0);
	/* ready when it answers Status */
	char port[16];
	snprintf(port, sizeof(port), "%d", e->port);
	for (int i = 0; i < 200; i++) {
		if (!e->g && grpc_client_connect_tcp("127.0.0.1", port, 2000, e->tls, &e->g) < 0)
			e->g = NULL;
		if (e->g) {
			Etcdserverpb__StatusRequest q = ETCDSERVERPB__STATUS_REQUEST__INIT;
			ProtobufCMessage *m = NULL;
			if (grpc_client_call(e->g, "/etcdserverpb.Maintenance/Status", &q.base,
					     &etcdserverpb__status_response__descriptor, &m) == 0) {
				protobuf_c_message_free_unpacked(m, NULL);
				return true;
			}
			grpc_client_free(e->g);
			e->g = NULL;
		}
		int st;
		if (waitpid(e->pid, &st, WNOHANG) == e->pid) {
			/* a port taken since we looked: try others with a fresh data dir */
			fprintf(stderr, "etcd on port %d exited; retrying\n", e->port);
			e->pid = 0;
			char cmd[300];
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
			if (system(cmd) != 0)
				fprintf(stderr, "could not remove %s\n", data);
			return false;
		}
		usleep(50000);
	}
	cr_assert_fail("etcd did not answer on %s", e->client);
	return false;
}

static void etcd_start(struct etcd *e)
{
	if (access(ETCD, X_OK) < 0) {
		const char *ci = getenv("CI");
		if (ci && strcmp(ci, "true") == 0)
			cr_assert_fail("%s missing: install etcd-server (scripts/install-deps.sh)",
				       ETCD);
		cr_skip_test("%s missing", ETCD);
	}
	snprintf(e->dir, sizeof(e->dir), "%s/tapio-etcd-XXXXXX", e->on_disk ? "/var/tmp" : "/tmp");
	cr_assert_not_null(mkdtemp(e->dir));
	if (e->mtls)
		make_certs(e);
	for (int attempt = 0; attempt < 5; attempt++)
		if (etcd_try(e))
			return;
	cr_assert_fail("etcd did not answer on %s", e->client);
}

static void etcd_stop(struct etcd *e)
{
	if (e->g)
		grpc_client_free(e->g);
	if (e->pid > 0) {
		int st;
		kill(e->pid, SIGTERM);
		waitpid(e->pid, &st, 0);
	}
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", e->dir);
}

static int64_t put(struct etcd *e, const char *key, const void *val, size_t len)
{
	Etcdserverpb__PutRequest q = ETCDSERVERPB__PUT_REQUEST__INIT;
	q.key.data = (uint8_t *)key;
	q.key.len = strlen(key);
	q.value.data = (uint8_t *)val;
	q.value.len = len;
	Etcdserverpb__PutResponse *r = NULL;
	cr_assert_eq(grpc_client_call(e->g, "/etcdserverpb.KV/Put", &q.base,
				      &etcdserverpb__put_response__descriptor,
				      (ProtobufCMessage **)&r),
		     0, "put %s: %s", key, grpc_client_last_error(e->g));
	int64_t rev = r->header->revision;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rev;
}

static int64_t put_str(struct etcd *e, const char *key, const char *val)
{
	return put(e, key, val, strlen(val));
}

static int64_t del(struct etcd *e, const char *key)
{
	Etcdserverpb__DeleteRangeRequest q = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	q.key.data = (uint8_t *)key;
	q.key.len = strlen(key);
	Etcdserverpb__DeleteRangeResponse *r = NULL;
	cr_assert_eq(grpc_client_call(e->g, "/etcdserverpb.KV/DeleteRange", &q.base,
				      &etcdserverpb__delete_range_response__descriptor,
				      (ProtobufCMessage **)&r),
		     0, "delete %s: %s", key, grpc_client_last_error(e->g));
	cr_assert_eq(r->deleted, 1);
	int64_t rev = r->header->revision;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rev;
}

static void compact(struct etcd *e, int64_t rev)
{
	Etcdserverpb__CompactionRequest q = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	q.revision = rev;
	q.physical = true;
	ProtobufCMessage *m = NULL;
	cr_assert_eq(grpc_client_call(e->g, "/etcdserverpb.KV/Compact", &q.base,
				      &etcdserverpb__compaction_response__descriptor, &m),
		     0, "compact: %s", grpc_client_last_error(e->g));
	protobuf_c_message_free_unpacked(m, NULL);
}

/* ---- a Kubernetes protobuf value, field by field (upstream numbers) ---- */

struct buf {
	uint8_t b[2048];
	size_t n;
};

static void pb_bytes(struct buf *b, uint32_t num, const void *p, size_t len)
{
	b->n += pbwire_put_varint(b->b + b->n, (uint64_t)num << 3 | 2);
	b->n += pbwire_put_varint(b->b + b->n, len);
	memcpy(b->b + b->n, p, len);
	b->n += len;
}

static void pb_str(struct buf *b, uint32_t num, const char *s)
{
	pb_bytes(b, num, s, strlen(s));
}

static void pb_msg(struct buf *b, uint32_t num, const struct buf *m)
{
	pb_bytes(b, num, m->b, m->n);
}

/* "k8s\0" + runtime.Unknown{TypeMeta{apiVersion, kind}, raw = object{metadata = ObjectMeta,
 * field 2 = body}}. An owner reference (kind ReplicaSet) and one label. */
static size_t k8s_value(uint8_t *out, const char *api, const char *kind, const char *ns,
			const char *name, const char *uid, const char *body)
{
	struct buf tm = {0}, meta = {0}, lab = {0}, own = {0}, obj = {0}, unk = {0};
	pb_str(&tm, 1, api);
	pb_str(&tm, 2, kind);
	pb_str(&lab, 1, "app");
	pb_str(&lab, 2, "web");
	pb_str(&own, 1, "ReplicaSet");
	pb_str(&own, 3, "web-5d4f");
	pb_str(&own, 4, "rs-uid-1");
	pb_str(&own, 5, "apps/v1");
	own.b[own.n++] = 6 << 3;
	own.b[own.n++] = 1;
	pb_str(&meta, 1, name);
	pb_str(&meta, 3, ns);
	pb_str(&meta, 5, uid);
	pb_str(&meta, 6, "41");
	pb_msg(&meta, 11, &lab);
	pb_msg(&meta, 13, &own);
	pb_msg(&obj, 1, &meta);
	pb_str(&obj, 2, body);
	pb_msg(&unk, 1, &tm);
	pb_msg(&unk, 2, &obj);
	memcpy(out, "k8s\0", 4);
	memcpy(out + 4, unk.b, unk.n);
	return unk.n + 4;
}

static void etcd_row(const struct tapiod *t, long long *pid, long long *restarts);

/* ---- matching ---- */

struct want {
	const char *type, *key, *cause;
	long long revision; /* 0 = any */
};

static bool match(json_object *ev, void *arg)
{
	struct want *w = arg;
	const char *t = jstr(ev, "type"), *k = jstr(ev, "etcd.key");
	if (!t || strcmp(t, w->type) != 0 || !k || strcmp(k, w->key) != 0)
		return false;
	if (w->revision && jint(ev, "etcd.revision", -1) != w->revision)
		return false;
	const char *c = jstr(ev, "etcd.cause");
	return !w->cause || (c && strcmp(c, w->cause) == 0);
}

static json_object *wait_kv(struct tapiod *t, const char *type, const char *key, long long rev,
			    const char *cause)
{
	struct want w = {type, key, cause, rev};
	json_object *ev = tapiod_wait(t, match, &w, 15000);
	cr_assert_not_null(ev, "no %s of %s at revision %lld", type, key, rev);
	return ev;
}

static void str_is(json_object *ev, const char *path, const char *want)
{
	const char *got = jstr(ev, path);
	cr_assert(got && strcmp(got, want) == 0, "%s: got '%s', want '%s'", path,
		  got ? got : "(absent)", want);
}

/* path.to.array[i].field (field NULL: the element itself), as a string. */
static const char *jarr(json_object *ev, const char *path, size_t i, const char *field)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	json_object *o = ev;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, tok, &o))
			return NULL;
	if (!o || !json_object_is_type(o, json_type_array) || i >= json_object_array_length(o))
		return NULL;
	o = json_object_array_get_idx(o, i);
	if (field && !json_object_object_get_ex(o, field, &o))
		return NULL;
	return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static void arr_is(json_object *ev, const char *path, size_t i, const char *field, const char *want)
{
	const char *got = jarr(ev, path, i, field);
	cr_assert(got && strcmp(got, want) == 0, "%s[%zu].%s: got '%s', want '%s'", path, i,
		  field ? field : "", got ? got : "(absent)", want);
}

static const char *config(char *buf, size_t cap, const struct etcd *e, const char *state,
			  const char *extra)
{
	snprintf(buf, cap,
		 "  process:\n    enabled: false\n"
		 "  etcd:\n    enabled: true\n    endpoints: [\"%s\"]\n"
		 "    state_file: \"%s\"\n    health_interval_ms: 300\n%s",
		 e->client, state, extra);
	return buf;
}

static bool file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	static char data[1 << 20];
	size_t n = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	data[n] = '\0';
	return memmem(data, n, needle, strlen(needle)) != NULL;
}

Test(etcd, keys_values_and_secrets, .timeout = 90)
{
	harness_require_root();
	struct etcd e = {0};
	etcd_start(&e);
	struct tapiod t;
	char cfg[1024], state[200];
	snprintf(state, sizeof(state), "%s/state", e.dir);
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &e, state, "")), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));

	/* core, namespaced, protobuf value */
	uint8_t v[2048];
	size_t n = k8s_value(v, "v1", "Pod", "default", "web-1", "pod-uid-1", "spec");
	int64_t r1 = put(&e, "/registry/pods/default/web-1", v, n);
	json_object *ev = wait_kv(&t, "etcd.put", "/registry/pods/default/web-1", r1, "watch");
	str_is(ev, "collector", "etcd");
	str_is(ev, "etcd.kind", "Pod");
	str_is(ev, "etcd.namespace", "default");
	str_is(ev, "etcd.name", "web-1");
	str_is(ev, "etcd.group", "");
	str_is(ev, "etcd.resource", "pods");
	str_is(ev, "etcd.apiVersion", "v1");
	str_is(ev, "etcd.uid", "pod-uid-1");
	str_is(ev, "etcd.resourceVersion", "41");
	str_is(ev, "etcd.valueFormat", "protobuf");
	arr_is(ev, "etcd.labels", 0, "key", "app");
	arr_is(ev, "etcd.labels", 0, "value", "web");
	arr_is(ev, "etcd.owners", 0, "kind", "ReplicaSet");
	arr_is(ev, "etcd.owners", 0, "name", "web-5d4f");
	arr_is(ev, "etcd.owners", 0, "uid", "rs-uid-1");
	str_is(ev, "etcd.endpoint", e.client);
	cr_assert_eq(jint(ev, "etcd.valueSize", -1), (long long)n);
	cr_assert_eq(jint(ev, "etcd.createRevision", -1), r1);
	cr_assert_eq(jint(ev, "etcd.modRevision", -1), r1);
	cr_assert_eq(jint(ev, "etcd.version", -1), 1);
	cr_assert_eq(strlen(jstr(ev, "etcd.valueDigest")), 64);

	/* update */
	n = k8s_value(v, "v1", "Pod", "default", "web-1", "pod-uid-1", "spec2");
	int64_t r2 = put(&e, "/registry/pods/default/web-1", v, n);
	ev = wait_kv(&t, "etcd.put", "/registry/pods/default/web-1", r2, "watch");
	cr_assert_eq(jint(ev, "etcd.version", -1), 2);
	cr_assert_eq(jint(ev, "etcd.createRevision", -1), r1);

	/* a group resource stored without its group, JSON value */
	int64_t r3 = put_str(&e, "/registry/deployments/prod/api",
			     "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":"
			     "{\"name\":\"api\",\"namespace\":\"prod\",\"uid\":\"dep-uid\","
			     "\"labels\":{\"tier\":\"backend\"}},\"spec\":{\"replicas\":3}}");
	ev = wait_kv(&t, "etcd.put", "/registry/deployments/prod/api", r3, NULL);
	str_is(ev, "etcd.group", "apps");
	str_is(ev, "etcd.kind", "Deployment");
	str_is(ev, "etcd.namespace", "prod");
	str_is(ev, "etcd.name", "api");
	str_is(ev, "etcd.valueFormat", "json");
	str_is(ev, "etcd.apiVersion", "apps/v1");
	str_is(ev, "etcd.uid", "dep-uid");
	arr_is(ev, "etcd.labels", 0, "key", "tier");

	/* a CRD object: group and resource from the key, kind from the value */
	int64_t r4 = put_str(&e, "/registry/stable.example.com/crontabs/team-a/nightly",
			     "{\"apiVersion\":\"stable.example.com/v1\",\"kind\":\"CronTab\","
			     "\"metadata\":{\"name\":\"nightly\",\"namespace\":\"team-a\"}}");
	ev = wait_kv(&t, "etcd.put", "/registry/stable.example.com/crontabs/team-a/nightly", r4,
		     NULL);
	str_is(ev, "etcd.group", "stable.example.com");
	str_is(ev, "etcd.resource", "crontabs");
	str_is(ev, "etcd.kind", "CronTab");
	str_is(ev, "etcd.namespace", "team-a");
	str_is(ev, "etcd.name", "nightly");
	/* cluster-scoped CRD object */
	int64_t r5 = put_str(&e, "/registry/stable.example.com/clusterthings/one", "{}");
	ev = wait_kv(&t, "etcd.put", "/registry/stable.example.com/clusterthings/one", r5, NULL);
	str_is(ev, "etcd.name", "one");
	str_is(ev, "etcd.namespace", "");

	/* a Secret: its data carries the marker, which must appear nowhere */
	n = k8s_value(v, "v1", "Secret", "default", "creds", "sec-uid", "data:" MARKER);
	int64_t r6 = put(&e, "/registry/secrets/default/creds", v, n);
	ev = wait_kv(&t, "etcd.put", "/registry/secrets/default/creds", r6, NULL);
	cr_assert(json_object_get_boolean(
		json_object_object_get(json_object_object_get(ev, "etcd"), "secret")));
	str_is(ev, "etcd.kind", "Secret");
	str_is(ev, "etcd.uid", "sec-uid");
	cr_assert_eq(jint(ev, "etcd.valueSize", -1), (long long)n);

	/* an encrypted value: provider and key name, nothing of the ciphertext */
	const char enc[] = "k8s:enc:aescbc:v1:key1:\x11\x22" MARKER;
	int64_t r7 = put(&e, "/registry/secrets/default/enc", enc, sizeof(enc) - 1);
	ev = wait_kv(&t, "etcd.put", "/registry/secrets/default/enc", r7, NULL);
	str_is(ev, "etcd.valueFormat", "encrypted");
	str_is(ev, "etcd.encryptionProvider", "aescbc");
	str_is(ev, "etcd.encryptionKey", "key1");

	/* delete */
	int64_t r8 = del(&e, "/registry/pods/default/web-1");
	ev = wait_kv(&t, "etcd.delete", "/registry/pods/default/web-1", r8, "watch");
	str_is(ev, "etcd.kind", "Pod");
	str_is(ev, "etcd.name", "web-1");

	/* a key outside the prefix is not reported */
	put_str(&e, "/other/x", "y");
	int64_t r9 = put_str(&e, "/registry/configmaps/default/last", "{}");
	wait_kv(&t, "etcd.put", "/registry/configmaps/default/last", r9, NULL);
	struct want w = {"etcd.put", "/other/x", NULL, 0};
	cr_assert_eq(tapiod_count(&t, match, &w), 0);

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	for (size_t i = 0; i < t.n_events; i++) {
		const char *s = json_object_to_json_string(t.events[i]);
		cr_assert_null(strstr(s, MARKER), "marker in an event: %s", s);
	}
	char *log = tapiod_log(&t);
	cr_assert_null(strstr(log, MARKER), "marker in the log");
	free(log);
	cr_assert(!file_has(state, MARKER), "marker in the state file");
	cr_assert(file_has(state, "tapio-etcd-state 1"), "state file written");
	tapiod_cleanup(&t);
	etcd_stop(&e);
}

Test(etcd, compaction_while_stopped, .timeout = 90)
{
	harness_require_root();
	struct etcd e = {0};
	etcd_start(&e);
	struct tapiod t;
	char cfg[1024], state[200];
	snprintf(state, sizeof(state), "%s/state", e.dir);
	config(cfg, sizeof(cfg), &e, state, "");
	cr_assert_eq(tapiod_start(&t, cfg), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));
	int64_t ra = put_str(&e, "/registry/configmaps/default/a", "{\"v\":1}");
	int64_t rb = put_str(&e, "/registry/configmaps/default/b", "{\"v\":1}");
	wait_kv(&t, "etcd.put", "/registry/configmaps/default/a", ra, "watch");
	wait_kv(&t, "etcd.put", "/registry/configmaps/default/b", rb, "watch");
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);

	/* while no worker runs: create, update, delete, and compact the history away */
	int64_t rc = put_str(&e, "/registry/configmaps/default/c", "{\"v\":1}");
	int64_t ra2 = put_str(&e, "/registry/configmaps/default/a", "{\"v\":2}");
	int64_t rdel = del(&e, "/registry/configmaps/default/b");
	compact(&e, rdel);

	cr_assert_eq(tapiod_start(&t, cfg), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));
	wait_kv(&t, "etcd.put", "/registry/configmaps/default/c", rc, "resync");
	json_object *ev = wait_kv(&t, "etcd.put", "/registry/configmaps/default/a", ra2, "resync");
	cr_assert_eq(jint(ev, "etcd.version", -1), 2);
	ev = wait_kv(&t, "etcd.delete", "/registry/configmaps/default/b", 0, "resync");
	cr_assert_geq(jint(ev, "etcd.revision", -1), rdel);
	str_is(ev, "etcd.kind", "ConfigMap");
	/* and the watch goes on after the re-list */
	int64_t rd = put_str(&e, "/registry/configmaps/default/d", "{}");
	wait_kv(&t, "etcd.put", "/registry/configmaps/default/d", rd, "watch");
	/* nothing unchanged was reported again */
	struct want w = {"etcd.put", "/registry/configmaps/default/b", "resync", 0};
	cr_assert_eq(tapiod_count(&t, match, &w), 0);
	char *log = tapiod_log(&t);
	cr_assert_not_null(strstr(log, "compacted"), "the re-list is logged");
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	etcd_stop(&e);
}

static bool is_alarm(json_object *ev, void *arg)
{
	const char *t = jstr(ev, "type");
	if (!t || strcmp(t, "etcd.health") != 0)
		return false;
	const char *a = jarr(ev, "etcd.health.alarms", 0, NULL);
	const char *c = jarr(ev, "etcd.health.changes", 0, NULL);
	bool want_alarm = *(bool *)arg;
	if (!c || strcmp(c, "alarm") != 0)
		return false;
	return want_alarm ? a && strncmp(a, "NOSPACE member=", 15) == 0 : !a;
}

static bool is_health(json_object *ev, void *arg)
{
	const char *t = jstr(ev, "type");
	return t && strcmp(t, "etcd.health") == 0;
}

static void set_alarm(struct etcd *e, uint64_t member, bool on)
{
	Etcdserverpb__AlarmRequest q = ETCDSERVERPB__ALARM_REQUEST__INIT;
	q.action = on ? ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE
		      : ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE;
	q.memberid = member;
	q.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
	ProtobufCMessage *m = NULL;
	cr_assert_eq(grpc_client_call(e->g, "/etcdserverpb.Maintenance/Alarm", &q.base,
				      &etcdserverpb__alarm_response__descriptor, &m),
		     0, "alarm: %s", grpc_client_last_error(e->g));
	protobuf_c_message_free_unpacked(m, NULL);
}

Test(etcd, health_and_alarm, .timeout = 60)
{
	harness_require_root();
	struct etcd e = {0};
	etcd_start(&e);
	struct tapiod t;
	char cfg[1024], state[200];
	snprintf(state, sizeof(state), "%s/state", e.dir);
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &e, state, "")), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));
	json_object *h = tapiod_wait(&t, is_health, NULL, 10000);
	cr_assert_not_null(h, "no periodic etcd.health");
	const char *member = jstr(h, "etcd.health.memberId");
	cr_assert(member && strcmp(member, "0") != 0);
	str_is(h, "etcd.health.leaderId", member); /* a single member leads */
	cr_assert_gt(jint(h, "etcd.health.raftTerm", 0), 0);
	cr_assert_gt(jint(h, "etcd.health.raftIndex", 0), 0);
	cr_assert_gt(jint(h, "etcd.health.dbSize", 0), 0);
	cr_assert_gt(jint(h, "etcd.health.dbSizeInUse", 0), 0);
	const char *m0 = jarr(h, "etcd.health.members", 0, NULL);
	cr_assert(m0 && strstr(m0, " t"), "member named t: %s", m0 ? m0 : "(none)");
	uint64_t id = strtoull(member, NULL, 10);
	cr_assert_not_null(jstr(h, "etcd.health.version"));

	bool on = true, off = false;
	set_alarm(&e, id, true);
	cr_assert_not_null(tapiod_wait(&t, is_alarm, &on, 10000), "NOSPACE alarm not reported");
	set_alarm(&e, id, false);
	cr_assert_not_null(tapiod_wait(&t, is_alarm, &off, 10000), "alarm clear not reported");
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	etcd_stop(&e);
}

Test(etcd, unreachable_is_degraded, .timeout = 60)
{
	harness_require_root();
	char dir[] = "/tmp/tapio-etcd-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	struct etcd e = {0};
	snprintf(e.client, sizeof(e.client), "127.0.0.1:1"); /* nothing listens on port 1 */
	char cfg[1024], state[200];
	snprintf(state, sizeof(state), "%s/state", dir);
	struct tapiod t;
	cr_assert_eq(
		tapiod_start(&t, config(cfg, sizeof(cfg), &e, state, "    reconnect_ms: 500\n")),
		0);
	cr_assert(tapiod_wait_state(&t, "etcd", "DEGRADED", 15000));
	long long pid0, restarts0, pid1, restarts1;
	etcd_row(&t, &pid0, &restarts0);
	/* it retries inside the worker, with backoff, and says why in the log */
	char *log = NULL;
	for (int i = 0; i < 100; i++) {
		free(log);
		log = tapiod_log(&t);
		if (strstr(log, "no endpoint usable (round 4)"))
			break;
		usleep(100000);
	}
	cr_assert_not_null(strstr(log, "etcd unreachable: connect 127.0.0.1:1"), "%s", log);
	cr_assert_not_null(strstr(log, "no endpoint usable (round 4); retrying in"), "%s", log);
	free(log);
	etcd_row(&t, &pid1, &restarts1);
	cr_assert_eq(pid1, pid0, "the worker was replaced");
	cr_assert_eq(restarts1, restarts0, "the worker restarted");
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	rmdir(dir);
}

/* The only endpoint goes away under a READY worker: tapiod shows the collector DEGRADED (a
 * Status frame; the worker is not replaced), and READY again once etcd answers on the same
 * address, with the writes made meanwhile reported. */
Test(etcd, lost_after_ready_is_degraded_then_ready, .timeout = 90)
{
	harness_require_root();
	struct etcd e = {0};
	etcd_start(&e);
	char cfg[1024], state[200];
	snprintf(state, sizeof(state), "%s/state", e.dir);
	struct tapiod t;
	cr_assert_eq(
		tapiod_start(&t, config(cfg, sizeof(cfg), &e, state, "    reconnect_ms: 500\n")),
		0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));
	long long pid0, restarts0, pid1, restarts1;
	etcd_row(&t, &pid0, &restarts0);
	int64_t r1 = put_str(&e, "/registry/configmaps/default/before", "{\"v\":1}");
	wait_kv(&t, "etcd.put", "/registry/configmaps/default/before", r1, "watch");

	if (e.g) {
		grpc_client_free(e.g);
		e.g = NULL;
	}
	int st;
	kill(e.pid, SIGKILL);
	waitpid(e.pid, &st, 0);
	e.pid = 0;
	cr_assert(tapiod_wait_state(&t, "etcd", "DEGRADED", 15000),
		  "not DEGRADED after its only endpoint died");

	e.keep_port = true;
	cr_assert(etcd_try(&e), "etcd did not come back on port %d", e.port);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 20000), "not READY again");
	int64_t r2 = put_str(&e, "/registry/configmaps/default/after", "{\"v\":1}");
	wait_kv(&t, "etcd.put", "/registry/configmaps/default/after", r2, "watch");
	etcd_row(&t, &pid1, &restarts1);
	cr_assert_eq(pid1, pid0, "the worker was replaced");
	cr_assert_eq(restarts1, restarts0, "the worker restarted");
	char *log = tapiod_log(&t);
	cr_assert_not_null(strstr(log, "etcd: DEGRADED while running"),
			   "no DEGRADED transition in tapiod's log:\n%s", log);
	cr_assert_not_null(strstr(log, "etcd: READY again"), "no READY transition:\n%s", log);
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	etcd_stop(&e);
}

Test(etcd, mtls, .timeout = 90)
{
	harness_require_root();
	struct etcd e = {.mtls = true};
	etcd_start(&e);
	char cfg[2048], state[200], extra[1024], url[64];
	snprintf(state, sizeof(state), "%s/state", e.dir);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", e.port);
	struct etcd shown = e; /* the endpoint as the config names it */
	snprintf(shown.client, sizeof(shown.client), "%s", url);
	snprintf(extra, sizeof(extra),
		 "    tls_ca_file: \"%s\"\n    tls_cert_file: \"%s\"\n    tls_key_file: \"%s\"\n",
		 e.ca, e.cli_crt, e.cli_key);
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &shown, state, extra)), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));
	int64_t r = put_str(&e, "/registry/namespaces/secure", "{\"kind\":\"Namespace\"}");
	json_object *ev = wait_kv(&t, "etcd.put", "/registry/namespaces/secure", r, "watch");
	str_is(ev, "etcd.kind", "Namespace");
	str_is(ev, "etcd.name", "secure");
	str_is(ev, "etcd.endpoint", url);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);

	/* a server certificate of another CA: refused, said so, DEGRADED */
	snprintf(extra, sizeof(extra),
		 "    tls_ca_file: \"%s\"\n    tls_cert_file: \"%s\"\n    tls_key_file: \"%s\"\n"
		 "    reconnect_ms: 60000\n",
		 e.other_ca, e.cli_crt, e.cli_key);
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &shown, state, extra)), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "DEGRADED", 15000));
	char *log = tapiod_log(&t);
	cr_assert_not_null(strstr(log, "TLS handshake: server certificate: "), "%s", log);
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);

	/* no client certificate: etcd refuses the handshake or the first call */
	snprintf(extra, sizeof(extra), "    tls_ca_file: \"%s\"\n    reconnect_ms: 60000\n", e.ca);
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &shown, state, extra)), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "DEGRADED", 15000));
	log = tapiod_log(&t);
	cr_assert_not_null(strstr(log, "etcd unreachable: "), "%s", log);
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	etcd_stop(&e);
}

static bool is_members_change(json_object *ev, void *arg)
{
	const char *t = jstr(ev, "type");
	if (!t || strcmp(t, "etcd.health") != 0)
		return false;
	const char *c = jarr(ev, "etcd.health.changes", 0, NULL);
	return c && strcmp(c, "members") == 0 && jarr(ev, "etcd.health.members", 1, NULL);
}

Test(etcd, failover_and_member_change, .timeout = 60)
{
	harness_require_root();
	struct etcd e = {0};
	etcd_start(&e);
	/* the first endpoint has nothing listening: the second one is used */
	struct etcd shown = e;
	snprintf(shown.client, sizeof(shown.client), "127.0.0.1:1\", \"127.0.0.1:%d", e.port);
	char cfg[1024], state[200];
	snprintf(state, sizeof(state), "%s/state", e.dir);
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &shown, state, "")), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));
	int64_t r = put_str(&e, "/registry/nodes/n1", "{}");
	json_object *ev = wait_kv(&t, "etcd.put", "/registry/nodes/n1", r, "watch");
	str_is(ev, "etcd.endpoint", e.client);
	str_is(ev, "etcd.kind", "Node");

	/* a learner joins the member list (a learner does not change the quorum) */
	Etcdserverpb__MemberAddRequest q = ETCDSERVERPB__MEMBER_ADD_REQUEST__INIT;
	char peer[64];
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", e.port + 7);
	char *peers[] = {peer};
	q.peerurls = peers;
	q.n_peerurls = 1;
	q.islearner = true;
	ProtobufCMessage *m = NULL;
	cr_assert_eq(grpc_client_call(e.g, "/etcdserverpb.Cluster/MemberAdd", &q.base,
				      &etcdserverpb__member_add_response__descriptor, &m),
		     0, "member add: %s", grpc_client_last_error(e.g));
	protobuf_c_message_free_unpacked(m, NULL);
	ev = tapiod_wait(&t, is_members_change, NULL, 10000);
	if (!ev) {
		for (size_t i = 0; i < t.n_events; i++)
			fprintf(stderr, "%s\n", json_object_to_json_string(t.events[i]));
		char *log = tapiod_log(&t);
		fprintf(stderr, "%s\n", log);
		free(log);
	}
	cr_assert_not_null(ev, "member list change not reported");
	const char *m0 = jarr(ev, "etcd.health.members", 0, NULL),
		   *m1 = jarr(ev, "etcd.health.members", 1, NULL);
	cr_assert(strstr(m0, " learner") || strstr(m1, " learner"), "%s / %s", m0, m1);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	etcd_stop(&e);
}

/* etcdctl against the test etcd; 0 on success. */
static int etcdctl(const struct etcd *e, const char *a1, const char *a2, const char *a3)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		setenv("ETCDCTL_API", "3", 1);
		execl("/usr/bin/etcdctl", "etcdctl", "--endpoints", e->client, "--user",
		      "root:rootpw", a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void authenticate(struct etcd *e, const char *user, const char *pw)
{
	Etcdserverpb__AuthenticateRequest q = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	q.name = (char *)user;
	q.password = (char *)pw;
	Etcdserverpb__AuthenticateResponse *r = NULL;
	cr_assert_eq(grpc_client_call(e->g, "/etcdserverpb.Auth/Authenticate", &q.base,
				      &etcdserverpb__authenticate_response__descriptor,
				      (ProtobufCMessage **)&r),
		     0, "%s", grpc_client_last_error(e->g));
	cr_assert_eq(grpc_client_set_header(e->g, "token", r->token), 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

Test(etcd, username_password, .timeout = 60)
{
	harness_require_root();
	if (access("/usr/bin/etcdctl", X_OK) < 0) {
		const char *ci = getenv("CI");
		if (ci && strcmp(ci, "true") == 0)
			cr_assert_fail("etcdctl missing: install etcd-client");
		cr_skip_test("etcdctl missing");
	}
	struct etcd e = {0};
	etcd_start(&e);
	cr_assert_eq(etcdctl(&e, "user", "add", "root:rootpw"), 0);
	cr_assert_eq(etcdctl(&e, "auth", "enable", NULL), 0);
	authenticate(&e, "root", "rootpw");

	char creds[200], cfg[1024], state[200], extra[300];
	snprintf(creds, sizeof(creds), "%s/creds", e.dir);
	FILE *f = fopen(creds, "w");
	cr_assert_not_null(f);
	fputs("root:rootpw\n", f);
	fclose(f);
	snprintf(state, sizeof(state), "%s/state", e.dir);
	snprintf(extra, sizeof(extra), "    credentials_file: \"%s\"\n", creds);
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &e, state, extra)), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));
	int64_t r = put_str(&e, "/registry/pods/kube-system/auth", "{}");
	wait_kv(&t, "etcd.put", "/registry/pods/kube-system/auth", r, "watch");
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);

	/* a wrong password: DEGRADED, and the password is in no log line */
	f = fopen(creds, "w");
	cr_assert_not_null(f);
	fputs("root:wrong-pw-7731\n", f);
	fclose(f);
	snprintf(extra, sizeof(extra), "    credentials_file: \"%s\"\n    reconnect_ms: 60000\n",
		 creds);
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &e, state, extra)), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "DEGRADED", 15000));
	char *log = tapiod_log(&t);
	cr_assert_not_null(strstr(log, "Authenticate"), "%s", log);
	cr_assert_null(strstr(log, "wrong-pw-7731"));
	cr_assert_null(strstr(log, "rootpw"));
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	etcd_stop(&e);
}

/* ---- slow disk syncs: etcd in a cgroup whose writes to its disk are throttled ---- */

/* "major:minor" of the whole disk holding path (a partition's parent). */
static void disk_of(const char *path, char *out, size_t cap)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	char sys[128], link[512];
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	snprintf(out, cap, "%u:%u", major(st.st_dev), minor(st.st_dev));
	char part[160];
	snprintf(part, sizeof(part), "%s/partition", sys);
	if (access(part, F_OK) < 0)
		return;
	ssize_t n = readlink(sys, link, sizeof(link) - 1);
	cr_assert_gt(n, 0);
	link[n] = '\0';
	char *slash = strrchr(link, '/');
	cr_assert_not_null(slash);
	*slash = '\0';
	char devfile[700];
	snprintf(devfile, sizeof(devfile), "/sys/dev/block/%s/dev", link);
	FILE *f = fopen(devfile, "r");
	cr_assert_not_null(f, "%s", devfile);
	cr_assert(fgets(out, (int)cap, f));
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

static bool write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

/* Move pid into a new cgroup allowing `iops` writes per second to the disk of path (cgroup
 * v1 blkio, else v2 io.max). The cgroup's path goes to cg. */
static void throttle(pid_t pid, const char *path, int iops, char *cg, size_t cap)
{
	char dev[64], rule[96], file[400], p[32];
	disk_of(path, dev, sizeof(dev));
	snprintf(p, sizeof(p), "%d", pid);
	if (access("/sys/fs/cgroup/blkio/cgroup.procs", W_OK) == 0) {
		snprintf(cg, cap, "/sys/fs/cgroup/blkio/tapio-etcd-%d", getpid());
		cr_assert(mkdir(cg, 0755) == 0 || errno == EEXIST);
		snprintf(file, sizeof(file), "%s/blkio.throttle.write_iops_device", cg);
		snprintf(rule, sizeof(rule), "%s %d", dev, iops);
	} else {
		const char *root = access("/sys/fs/cgroup/cgroup.subtree_control", W_OK) == 0
					   ? "/sys/fs/cgroup"
					   : "/sys/fs/cgroup/unified";
		snprintf(file, sizeof(file), "%s/cgroup.subtree_control", root);
		write_file(file, "+io");
		snprintf(cg, cap, "%s/tapio-etcd-%d", root, getpid());
		cr_assert(mkdir(cg, 0755) == 0 || errno == EEXIST);
		snprintf(file, sizeof(file), "%s/io.max", cg);
		snprintf(rule, sizeof(rule), "%s wiops=%d", dev, iops);
	}
	cr_assert(write_file(file, rule), "cannot throttle %s: %s", file, strerror(errno));
	snprintf(file, sizeof(file), "%s/cgroup.procs", cg);
	cr_assert(write_file(file, p), "cannot move etcd into %s", cg);
}

static bool is_slow_wal_sync(json_object *ev, void *arg)
{
	const char *t = jstr(ev, "type");
	const char *c = jstr(ev, "etcd.sync.pathClass");
	/* bbolt's db syncs are slow too: the WAL's are the ones etcd waits for on each put */
	return t && strcmp(t, "etcd.slow_fsync") == 0 &&
	       jint(ev, "process.pid", 0) == *(pid_t *)arg && c && strcmp(c, "wal") == 0;
}

static bool has_slow_summary(json_object *ev, void *arg)
{
	const char *t = jstr(ev, "type");
	return t && strcmp(t, "etcd.health") == 0 && jint(ev, "etcd.health.slowSyncs", 0) > 0;
}

Test(etcd, slow_disk_syncs, .timeout = 90)
{
	harness_require_root();
	struct etcd e = {.on_disk = true};
	etcd_start(&e);
	char cg[300];
	throttle(e.pid, e.dir, 20, cg, sizeof(cg)); /* 20 writes/s: a sync waits ≥ 50 ms */
	char cfg[1024], state[200], extra[200];
	snprintf(state, sizeof(state), "%s/state", e.dir);
	snprintf(extra, sizeof(extra), "    sync_pid: %d\n", e.pid);
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, config(cfg, sizeof(cfg), &e, state, extra)), 0);
	if (!tapiod_wait_state(&t, "etcd", "READY", 15000)) {
		char *log = tapiod_log(&t);
		cr_assert_fail("etcd not READY: %s", log);
	}
	for (int i = 0; i < 3; i++) {
		char key[64];
		snprintf(key, sizeof(key), "/registry/pods/default/slow-%d", i);
		put_str(&e, key, "{}");
	}
	json_object *ev = tapiod_wait(&t, is_slow_wal_sync, &e.pid, 20000);
	cr_assert_not_null(ev, "no etcd.slow_fsync from etcd pid %d", e.pid);
	str_is(ev, "collector", "etcd");
	str_is(ev, "process.comm", "etcd");
	str_is(ev, "etcd.sync.call", "fdatasync");
	str_is(ev, "etcd.sync.pathClass", "wal");
	str_is(ev, "etcd.sync.directory", "wal");
	const char *file = jstr(ev, "etcd.sync.file");
	cr_assert(file && strlen(file) > 4 && strcmp(file + strlen(file) - 4, ".wal") == 0, "%s",
		  file ? file : "(none)");
	cr_assert_geq(jint(ev, "etcd.latencyNs", 0), 10000000, "over the 10 ms threshold");
	cr_assert_eq(jint(ev, "etcd.sync.ret", -1), 0);
	json_object *h = tapiod_wait(&t, has_slow_summary, NULL, 10000);
	cr_assert_not_null(h, "no etcd.health with the sync summary");
	cr_assert_geq(jint(h, "etcd.health.syncs", 0), jint(h, "etcd.health.slowSyncs", 0));
	cr_assert_not_null(jarr(h, "etcd.health.syncLatency", 0, "count"));
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	etcd_stop(&e);
	rmdir(cg);
}

/* ---- a 3-member cluster on 127.0.0.1 ---- */

#define MEMBERS 3

struct cluster {
	struct etcd m[MEMBERS];
	char dir[96];
	uint64_t id[MEMBERS];
};

static bool ports_distinct(const struct cluster *c, int upto, int port)
{
	for (int i = 0; i < upto; i++)
		if (c->m[i].port == port)
			return false;
	return true;
}

static pid_t member_spawn(struct cluster *c, int i, const char *initial)
{
	struct etcd *e = &c->m[i];
	char name[8], curl[64], purl[64], data[200], log[200];
	snprintf(name, sizeof(name), "m%d", i);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", e->port);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", e->port + 1);
	snprintf(data, sizeof(data), "%s/data", e->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", e->dir);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		/* quick elections: the tests stop leaders */
		execl(ETCD, "etcd", "--name", name, "--data-dir", data, "--listen-client-urls",
		      curl, "--advertise-client-urls", curl, "--listen-peer-urls", purl,
		      "--initial-advertise-peer-urls", purl, "--initial-cluster", initial,
		      "--initial-cluster-state", "new", "--initial-cluster-token", c->dir,
		      "--heartbeat-interval", "50", "--election-timeout", "500", (char *)NULL);
		_exit(127);
	}
	cr_assert(pid > 0);
	return pid;
}

static uint64_t status_of(struct etcd *e, uint64_t *leader)
{
	Etcdserverpb__StatusRequest q = ETCDSERVERPB__STATUS_REQUEST__INIT;
	Etcdserverpb__StatusResponse *r = NULL;
	if (!e->g || grpc_client_call(e->g, "/etcdserverpb.Maintenance/Status", &q.base,
				      &etcdserverpb__status_response__descriptor,
				      (ProtobufCMessage **)&r) < 0)
		return 0;
	uint64_t id = r->header ? r->header->member_id : 0;
	if (leader)
		*leader = r->leader;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return id;
}

/* Three members on free port pairs, each answering Status with a leader elected. */
static void cluster_start(struct cluster *c)
{
	if (access(ETCD, X_OK) < 0) {
		const char *ci = getenv("CI");
		if (ci && strcmp(ci, "true") == 0)
			cr_assert_fail("%s missing: install etcd-server", ETCD);
		cr_skip_test("%s missing", ETCD);
	}
	snprintf(c->dir, sizeof(c->dir), "/tmp/tapio-etcd3-XXXXXX");
	cr_assert_not_null(mkdtemp(c->dir));
	char initial[512] = "";
	for (int i = 0; i < MEMBERS; i++) {
		struct etcd *e = &c->m[i];
		do
			e->port = free_port_pair();
		while (!ports_distinct(c, i, e->port));
		snprintf(e->dir, sizeof(e->dir), "%s/m%d", c->dir, i);
		cr_assert_eq(mkdir(e->dir, 0700), 0);
		snprintf(e->client, sizeof(e->client), "127.0.0.1:%d", e->port);
		size_t n = strlen(initial);
		snprintf(initial + n, sizeof(initial) - n, "%sm%d=http://127.0.0.1:%d",
			 i ? "," : "", i, e->port + 1);
	}
	for (int i = 0; i < MEMBERS; i++)
		c->m[i].pid = member_spawn(c, i, initial);
	for (int i = 0; i < MEMBERS; i++) {
		struct etcd *e = &c->m[i];
		char port[16];
		snprintf(port, sizeof(port), "%d", e->port);
		uint64_t leader = 0;
		for (int k = 0; k < 300 && !(c->id[i] && leader); k++) {
			if (!e->g &&
			    grpc_client_connect_tcp("127.0.0.1", port, 2000, NULL, &e->g) < 0)
				e->g = NULL;
			c->id[i] = status_of(e, &leader);
			if (!(c->id[i] && leader))
				usleep(50000);
		}
		cr_assert(c->id[i] && leader, "member %d (%s) not up with a leader", i, e->client);
	}
}

static int cluster_leader(struct cluster *c)
{
	for (int k = 0; k < 100; k++) {
		for (int i = 0; i < MEMBERS; i++) {
			uint64_t leader = 0;
			if (c->m[i].pid > 0 && status_of(&c->m[i], &leader) && leader == c->id[i])
				return i;
		}
		usleep(50000);
	}
	cr_assert_fail("no leader");
	return -1;
}

static void member_stop(struct etcd *e, int sig)
{
	if (e->g)
		grpc_client_free(e->g);
	e->g = NULL;
	if (e->pid > 0) {
		int st;
		kill(e->pid, sig);
		waitpid(e->pid, &st, 0);
	}
	e->pid = 0;
}

static void cluster_stop(struct cluster *c)
{
	for (int i = 0; i < MEMBERS; i++)
		member_stop(&c->m[i], SIGTERM);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", c->dir);
}

/* Move the leadership to member `to` (the request goes to the current leader). */
static void move_leader(struct cluster *c, int to)
{
	int from = cluster_leader(c);
	if (from == to)
		return;
	Etcdserverpb__MoveLeaderRequest q = ETCDSERVERPB__MOVE_LEADER_REQUEST__INIT;
	q.targetid = c->id[to];
	ProtobufCMessage *m = NULL;
	cr_assert_eq(grpc_client_call(c->m[from].g, "/etcdserverpb.Maintenance/MoveLeader", &q.base,
				      &etcdserverpb__move_leader_response__descriptor, &m),
		     0, "move-leader: %s", grpc_client_last_error(c->m[from].g));
	protobuf_c_message_free_unpacked(m, NULL);
	cr_assert_eq(cluster_leader(c), to);
}

static const char *cluster_config(char *buf, size_t cap, const struct cluster *c, const char *state)
{
	snprintf(buf, cap,
		 "  process:\n    enabled: false\n"
		 "  etcd:\n    enabled: true\n    endpoints: [\"%s\", \"%s\", \"%s\"]\n"
		 "    state_file: \"%s\"\n    health_interval_ms: 300\n    rpc_timeout_ms: 2000\n"
		 "    reconnect_ms: 1000\n    sync_trace: false\n",
		 c->m[0].client, c->m[1].client, c->m[2].client, state);
	return buf;
}

struct hwant {
	const char *type, *endpoint;
	uint64_t leader, prev;	     /* 0 = any */
	uint64_t leader2;	     /* leaderId may be this one instead */
	int reachable;		     /* 0 = any, 1 = reachable, 2 = not */
	const char *added, *removed; /* a substring of membersAdded[0] / membersRemoved[0] */
};

static bool hmatch(json_object *ev, void *arg)
{
	struct hwant *w = arg;
	const char *t = jstr(ev, "type"), *ep = jstr(ev, "etcd.endpoint");
	if (!t || strcmp(t, w->type) != 0 || !ep || (w->endpoint && strcmp(ep, w->endpoint) != 0))
		return false;
	const char *l = jstr(ev, "etcd.health.leaderId"),
		   *p = jstr(ev, "etcd.health.previousLeaderId");
	uint64_t lv = l ? strtoull(l, NULL, 10) : 0;
	if (w->leader && (!l || (lv != w->leader && (!w->leader2 || lv != w->leader2))))
		return false;
	if (w->prev && (!p || strtoull(p, NULL, 10) != w->prev))
		return false;
	if (w->reachable) {
		json_object *h = NULL, *r = NULL;
		json_object_object_get_ex(ev, "etcd", &h);
		if (!h || !json_object_object_get_ex(h, "health", &h) ||
		    !json_object_object_get_ex(h, "reachable", &r))
			return false;
		if (json_object_get_boolean(r) != (w->reachable == 1))
			return false;
	}
	const char *a = jarr(ev, "etcd.health.membersAdded", 0, NULL);
	if (w->added && !(a && strstr(a, w->added)))
		return false;
	const char *r = jarr(ev, "etcd.health.membersRemoved", 0, NULL);
	return !w->removed || (r && strstr(r, w->removed));
}

static json_object *hwait(struct tapiod *t, struct hwant w, int timeout_ms)
{
	return tapiod_wait(t, hmatch, &w, timeout_ms);
}

/* The `etcd` row of `tapioctl status`: pid and restarts. */
static void etcd_row(const struct tapiod *t, long long *pid, long long *restarts)
{
	const char *args[] = {"status", NULL};
	int st;
	char *out = tapioctl_run(t, &st, args);
	cr_assert_not_null(out);
	const char *p = strstr(out, "\netcd ");
	char state[16], up[16];
	cr_assert(p && sscanf(p + 1, "etcd %15s %lld %15s %lld", state, pid, up, restarts) == 4,
		  "%s", out);
	free(out);
}

Test(etcd, cluster_health_per_endpoint, .timeout = 120)
{
	harness_require_root();
	struct cluster c = {0};
	cluster_start(&c);
	move_leader(&c, 2);
	char cfg[1024], state[200];
	snprintf(state, sizeof(state), "%s/state", c.dir);
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, cluster_config(cfg, sizeof(cfg), &c, state)), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));

	/* every endpoint: its own member id, the same leader, reachable; the watch on the first */
	for (int i = 0; i < MEMBERS; i++) {
		json_object *h = hwait(&t,
				       (struct hwant){"etcd.health", c.m[i].client,
						      .leader = c.id[2], .reachable = 1},
				       10000);
		cr_assert_not_null(h, "no etcd.health of %s", c.m[i].client);
		cr_assert_not_null(jstr(h, "etcd.health.memberId"));
		cr_assert_eq(strtoull(jstr(h, "etcd.health.memberId"), NULL, 10), c.id[i]);
		cr_assert_gt(jint(h, "etcd.health.raftTerm", 0), 0);
		cr_assert_gt(jint(h, "etcd.health.raftIndex", 0), 0);
		cr_assert_gt(jint(h, "etcd.health.dbSize", 0), 0);
		cr_assert_gt(jint(h, "etcd.health.dbSizeInUse", 0), 0);
		cr_assert_not_null(jarr(h, "etcd.health.members", 2, NULL), "three members");
		json_object *x = NULL, *wt = NULL;
		json_object_object_get_ex(h, "etcd", &x);
		json_object_object_get_ex(x, "health", &x);
		bool watching = json_object_object_get_ex(x, "watching", &wt) &&
				json_object_get_boolean(wt);
		cr_assert_eq(watching, i == 0, "the watch runs over the first endpoint only");
	}

	/* move-leader 2 -> 1: every endpoint reports the change (from 2, or from "no leader"
	 * when a sample fell into the hand-over) */
	move_leader(&c, 1);
	for (int i = 0; i < MEMBERS; i++) {
		json_object *lc = hwait(
			&t, (struct hwant){"etcd.leader_change", c.m[i].client, .leader = c.id[1]},
			10000);
		cr_assert_not_null(lc, "leader change to 1 not reported by %s", c.m[i].client);
		const char *pv = jstr(lc, "etcd.health.previousLeaderId");
		cr_assert_not_null(pv, "previousLeaderId");
		uint64_t prev = strtoull(pv, NULL, 10);
		cr_assert(prev == c.id[2] || prev == 0, "previous leader %llx",
			  (unsigned long long)prev);
	}

	/* a learner added, then removed */
	Etcdserverpb__MemberAddRequest q = ETCDSERVERPB__MEMBER_ADD_REQUEST__INIT;
	char peer[64], hexid[32];
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", c.m[0].port + 7);
	char *peers[] = {peer};
	q.peerurls = peers;
	q.n_peerurls = 1;
	q.islearner = true;
	Etcdserverpb__MemberAddResponse *ar = NULL;
	/* etcd refuses a reconfiguration until its members have been connected for 5 s */
	int r = -1;
	for (int k = 0; k < 100 && r < 0; k++) {
		r = grpc_client_call(c.m[0].g, "/etcdserverpb.Cluster/MemberAdd", &q.base,
				     &etcdserverpb__member_add_response__descriptor,
				     (ProtobufCMessage **)&ar);
		if (r < 0 && strstr(grpc_client_last_error(c.m[0].g), "unhealthy cluster"))
			usleep(100000);
		else
			break;
	}
	cr_assert_eq(r, 0, "member add: %s", grpc_client_last_error(c.m[0].g));
	uint64_t learner = ar->member->id;
	protobuf_c_message_free_unpacked(&ar->base, NULL);
	snprintf(hexid, sizeof(hexid), "%llx ", (unsigned long long)learner);
	json_object *ev =
		hwait(&t, (struct hwant){"etcd.member_change", NULL, .added = hexid}, 10000);
	cr_assert_not_null(ev, "member add not reported");
	cr_assert_not_null(strstr(jarr(ev, "etcd.health.membersAdded", 0, NULL), " learner"));
	cr_assert_not_null(jarr(ev, "etcd.health.members", 3, NULL), "four members");
	Etcdserverpb__MemberRemoveRequest rq = ETCDSERVERPB__MEMBER_REMOVE_REQUEST__INIT;
	rq.id = learner;
	ProtobufCMessage *m = NULL;
	cr_assert_eq(grpc_client_call(c.m[0].g, "/etcdserverpb.Cluster/MemberRemove", &rq.base,
				      &etcdserverpb__member_remove_response__descriptor, &m),
		     0, "member remove: %s", grpc_client_last_error(c.m[0].g));
	protobuf_c_message_free_unpacked(m, NULL);
	ev = hwait(&t, (struct hwant){"etcd.member_change", NULL, .removed = hexid}, 10000);
	cr_assert_not_null(ev, "member removal not reported");
	cr_assert_null(jarr(ev, "etcd.health.members", 3, NULL), "three members again");

	/* the leader (member 1) stops: its endpoint is down, the others see a new leader */
	member_stop(&c.m[1], SIGKILL);
	ev = hwait(&t, (struct hwant){"etcd.endpoint_down", c.m[1].client, .reachable = 2}, 10000);
	cr_assert_not_null(ev, "endpoint down not reported");
	cr_assert_not_null(jstr(ev, "etcd.health.error"));
	cr_assert_not_null(
		hwait(&t, (struct hwant){"etcd.health", c.m[1].client, .reachable = 2}, 10000));
	for (int i = 0; i < MEMBERS; i += 2) {
		/* (through "no leader", 0, while the election runs) */
		ev = hwait(&t,
			   (struct hwant){"etcd.leader_change", c.m[i].client, .leader = c.id[0],
					  .leader2 = c.id[2]},
			   15000);
		cr_assert_not_null(ev, "%s: no leader change after the leader stopped",
				   c.m[i].client);
	}
	/* the up members stay reachable and the watch goes on */
	int64_t rp = put_str(&c.m[2], "/registry/pods/default/after-stop", "{}");
	wait_kv(&t, "etcd.put", "/registry/pods/default/after-stop", rp, "watch");
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	cluster_stop(&c);
}

static bool is_fo_put(json_object *ev, void *arg)
{
	const char *t = jstr(ev, "type"), *k = jstr(ev, "etcd.key");
	return t && strcmp(t, "etcd.put") == 0 && k &&
	       strncmp(k, "/registry/configmaps/fo/", 24) == 0;
}

Test(etcd, failover_inside_the_worker, .timeout = 120)
{
	harness_require_root();
	struct cluster c = {0};
	cluster_start(&c);
	move_leader(&c, 2); /* writes go on while member 0, the watch's, is killed */
	char cfg[1024], state[200];
	snprintf(state, sizeof(state), "%s/state", c.dir);
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, cluster_config(cfg, sizeof(cfg), &c, state)), 0);
	cr_assert(tapiod_wait_state(&t, "etcd", "READY", 15000));
	long long pid0, restarts0, pid1, restarts1;
	etcd_row(&t, &pid0, &restarts0);

	enum { N = 400, KILL_AT = 150 };
	int64_t rev[N];
	for (int i = 0; i < N; i++) {
		char key[64], val[64];
		snprintf(key, sizeof(key), "/registry/configmaps/fo/k%03d", i);
		snprintf(val, sizeof(val), "{\"i\":%d}", i);
		rev[i] = put_str(&c.m[2], key, val);
		if (i == KILL_AT)
			member_stop(&c.m[0], SIGKILL); /* mid-stream */
	}
	char last[64];
	snprintf(last, sizeof(last), "/registry/configmaps/fo/k%03d", N - 1);
	json_object *ev = wait_kv(&t, "etcd.put", last, rev[N - 1], "watch");
	cr_assert_neq(strcmp(jstr(ev, "etcd.endpoint"), c.m[0].client), 0,
		      "the last put came over another endpoint");

	/* every put exactly once, at its revision */
	int seen[N] = {0};
	size_t total = 0;
	for (size_t i = 0; i < t.n_events; i++) {
		json_object *e = t.events[i];
		if (!is_fo_put(e, NULL))
			continue;
		total++;
		int k = atoi(jstr(e, "etcd.key") + 25);
		cr_assert(k >= 0 && k < N);
		seen[k]++;
		cr_assert_eq(jint(e, "etcd.revision", -1), rev[k], "k%03d at its revision", k);
		str_is(e, "etcd.cause", "watch");
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(seen[i], 1, "k%03d reported %d times", i, seen[i]);
	cr_assert_eq(total, (size_t)N);

	/* inside the same worker: no restart */
	etcd_row(&t, &pid1, &restarts1);
	cr_assert_eq(pid1, pid0, "the worker was replaced");
	cr_assert_eq(restarts1, restarts0, "the worker restarted");
	cr_assert_not_null(hwait(
		&t, (struct hwant){"etcd.endpoint_down", c.m[0].client, .reachable = 2}, 10000));
	char *log = tapiod_log(&t);
	cr_assert_not_null(strstr(log, "connection lost"), "%s", log);
	cr_assert_not_null(strstr(log, "again from revision"), "%s", log);
	free(log);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	cluster_stop(&c);
}
