// SPDX-License-Identifier: Apache-2.0
// etcd collector, worker side: connect to an etcd member over its v3 gRPC API, list the prefix
// at a known revision (or resume from the revision of the state file), then watch from
// revision+1. A watch cancelled for compaction re-lists and emits the differences, deletes
// included; a lost connection fails over to the next endpoint inside the worker (connect() to
// the configured ports only) and resumes after the last revision emitted. Periodic health:
// Status of every endpoint, Alarm and MemberList, with change events.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "collectors/etcd/etcd_rpc.pb-c.h"
#include "etcd.h"
#include "etcd.skel.h"
#include "etcd_config.h"
#include "etcd_parse.h"
#include "grpc_client.h"
#include "kevent.h"
#include "log.h"
#include "strbuf.h"
#include "worker.h"

#define TICK_MS	    200
#define STATE_MAGIC "tapio-etcd-state 1"
#define STATE_MAX   (256u << 20)
#define HEALTH_STR  96
#define MEMBERS_MAX 16
#define ALARMS_MAX  16
#define M_KV	    "/etcdserverpb.KV/Range"
#define M_WATCH	    "/etcdserverpb.Watch/Watch"
#define M_STATUS    "/etcdserverpb.Maintenance/Status"
#define M_ALARM	    "/etcdserverpb.Maintenance/Alarm"
#define M_MEMBERS   "/etcdserverpb.Cluster/MemberList"
#define M_AUTH	    "/etcdserverpb.Auth/Authenticate"

/* ---- key → mod_revision map (open addressing) ------------------------------------------- */

struct kent {
	uint8_t *key; /* owned; NULL = empty, TOMB = deleted */
	size_t len;
	int64_t mod_rev;
};

static uint8_t tomb_byte;
#define TOMB (&tomb_byte)

struct kmap {
	struct kent *t;
	size_t cap, n, used; /* used: live + tombstones */
};

static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static struct kent *kmap_find(struct kmap *m, const uint8_t *k, size_t len)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash(k, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct kent *e = &m->t[i];
		if (!e->key)
			return NULL;
		if (e->key != TOMB && e->len == len && memcmp(e->key, k, len) == 0)
			return e;
	}
}

static int kmap_grow(struct kmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	while (m->n * 2 >= cap)
		cap *= 2;
	struct kent *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t j = 0; j < m->cap; j++) {
		struct kent *e = &m->t[j];
		if (!e->key || e->key == TOMB)
			continue;
		size_t i = hash(e->key, e->len) & (cap - 1);
		while (t[i].key)
			i = (i + 1) & (cap - 1);
		t[i] = *e;
	}
	free(m->t);
	m->t = t;
	m->cap = cap;
	m->used = m->n;
	return 0;
}

static int kmap_set(struct kmap *m, const uint8_t *k, size_t len, int64_t rev)
{
	struct kent *e = kmap_find(m, k, len);
	if (e) {
		e->mod_rev = rev;
		return 0;
	}
	if ((m->used + 1) * 4 >= m->cap * 3 && kmap_grow(m) < 0)
		return -ENOMEM;
	size_t i = hash(k, len) & (m->cap - 1);
	while (m->t[i].key && m->t[i].key != TOMB)
		i = (i + 1) & (m->cap - 1);
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, k, len);
	if (!m->t[i].key)
		m->used++;
	m->t[i] = (struct kent){copy, len, rev};
	m->n++;
	return 0;
}

static void kmap_del(struct kmap *m, const uint8_t *k, size_t len)
{
	struct kent *e = kmap_find(m, k, len);
	if (!e)
		return;
	free(e->key);
	e->key = TOMB;
	m->n--;
}

static void kmap_free(struct kmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->t[i].key && m->t[i].key != TOMB)
			free(m->t[i].key);
	free(m->t);
	*m = (struct kmap){0};
}

/* ---- context ------------------------------------------------------------------------------ */

struct health {
	uint64_t member_id, leader, term, index, applied;
	int64_t db_size, db_in_use;
	char version[32];
	char errors[4][HEALTH_STR];
	size_t n_errors;
};

/* One configured endpoint: its client (resolved and TLS files read in setup, connected on
 * demand) and what its last health sample said. */
struct endpoint {
	char name[256];	       /* as configured */
	struct grpc_client *c; /* NULL: unusable (did not resolve, TLS files) */
	char error[GRPC_ERR_LEN + 64];
	bool seen, up; /* sampled at least once; answered the last sample */
	bool has_h;    /* h: the last good sample */
	struct health h;
};

/* The cluster-wide part of the health (Alarm, MemberList), from one endpoint. */
struct cluster {
	bool valid;
	char alarms[ALARMS_MAX][HEALTH_STR];
	size_t n_alarms;
	char members[MEMBERS_MAX][HEALTH_STR];
	size_t n_members;
};

struct etcd_ctx {
	struct worker *w;
	const struct config_etcd *cfg;
	struct grpc_client *g; /* the watch's connection: ep[cur].c, NULL while reconnecting */
	char endpoint[256];
	char error[GRPC_ERR_LEN + 64];
	struct endpoint ep[ETCD_ENDPOINTS_MAX];
	size_t n_ep;
	int cur; /* the endpoint of the watch (the last one while reconnecting), -1 = none yet */
	char user[256], pass[512]; /* credentials_file, read in setup (root may only read it) */
	unsigned attempt;	   /* reconnect rounds that failed since the connection was lost */
	uint64_t next_connect_ms, lost_at_ms, reconnects, failovers;
	unsigned seed;
	struct cluster cluster;
	int tfd, state_fd;
	struct kmap keys;
	int64_t rev; /* every change up to here has been emitted */
	bool state_dirty;
	bool watching;
	uint8_t *range_end;
	size_t prefix_len;
	uint64_t now_ms, next_health_ms, next_state_ms, creds_exit_ms;
	uint64_t puts, deletes, resyncs, undecodable, secrets;
	uint64_t repeats; /* watch events at or below the revision already emitted: skipped */
	/* disk-sync tracer */
	struct etcd_bpf *skel;
	int ncpus;
	uint64_t hist_seen[ETCD_HIST_BUCKETS]; /* totals at the last summary */
	uint64_t slow_syncs, slow_seen;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- state file --------------------------------------------------------------------------- */

static void hex(struct strbuf *sb, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		char b[2] = {d[p[i] >> 4], d[p[i] & 15]};
		strbuf_append(sb, b, 2);
	}
}

static int unhex(const char *s, size_t n, uint8_t *out)
{
	if (n % 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		int v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[i + j];
			int x = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
						       : -1;
			if (x < 0)
				return -EINVAL;
			v = v * 16 + x;
		}
		out[i / 2] = (uint8_t)v;
	}
	return 0;
}

static void state_save(struct etcd_ctx *ec)
{
	if (ec->state_fd < 0 || !ec->state_dirty)
		return;
	struct strbuf sb;
	strbuf_init(&sb, STATE_MAX);
	strbuf_appendf(&sb, STATE_MAGIC "\nprefix ");
	hex(&sb, (const uint8_t *)ec->cfg->prefix, ec->prefix_len);
	strbuf_appendf(&sb, "\nrevision %lld\n", (long long)ec->rev);
	for (size_t i = 0; i < ec->keys.cap; i++) {
		struct kent *e = &ec->keys.t[i];
		if (!e->key || e->key == TOMB)
			continue;
		strbuf_appendf(&sb, "%lld ", (long long)e->mod_rev);
		hex(&sb, e->key, e->len);
		strbuf_append_char(&sb, '\n');
	}
	int r = strbuf_append_str(&sb, "end\n");
	if (r < 0) {
		log_warn("etcd: state of %zu keys too large to save: %s", ec->keys.n, strerror(-r));
	} else if (ftruncate(ec->state_fd, 0) < 0 || lseek(ec->state_fd, 0, SEEK_SET) < 0) {
		log_warn("etcd: state file: %s", strerror(errno));
	} else {
		size_t off = 0;
		while (off < sb.len) {
			ssize_t n = write(ec->state_fd, sb.data + off, sb.len - off);
			if (n <= 0) {
				log_warn("etcd: writing the state file: %s", strerror(errno));
				break;
			}
			off += (size_t)n;
		}
		if (off == sb.len)
			ec->state_dirty = false;
	}
	strbuf_release(&sb);
}

/* Load what an earlier worker saved. A file that is not ours, of another prefix or cut short
 * is ignored (logged): the worker then starts from a fresh list. */
static void state_load(struct etcd_ctx *ec)
{
	struct stat st;
	if (fstat(ec->state_fd, &st) < 0 || st.st_size == 0)
		return;
	if ((uint64_t)st.st_size > STATE_MAX) {
		log_warn("etcd: state file over %u bytes, ignored", STATE_MAX);
		return;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return;
	ssize_t n = pread(ec->state_fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		free(buf);
		return;
	}
	buf[n] = '\0';
	struct strbuf want;
	strbuf_init(&want, 0);
	strbuf_appendf(&want, STATE_MAGIC "\nprefix ");
	hex(&want, (const uint8_t *)ec->cfg->prefix, ec->prefix_len);
	strbuf_append_str(&want, "\nrevision ");
	const char *why = NULL;
	long long rev = 0;
	char *p = buf;
	if (strncmp(p, want.data, want.len) != 0) {
		why = "not ours or of another prefix";
		goto out;
	}
	p += want.len;
	rev = strtoll(p, &p, 10);
	if (rev <= 0 || *p != '\n') {
		why = "bad revision";
		goto out;
	}
	p++;
	uint8_t *key = malloc((size_t)n / 2 + 1);
	if (!key)
		goto out;
	while (strncmp(p, "end\n", 4) != 0) {
		char *sp;
		long long mr = strtoll(p, &sp, 10);
		char *nl = strchr(sp, '\n');
		if (!nl || *sp != ' ' || mr <= 0 || unhex(sp + 1, (size_t)(nl - sp - 1), key) < 0 ||
		    kmap_set(&ec->keys, key, (size_t)(nl - sp - 1) / 2, mr) < 0) {
			why = "malformed key line";
			break;
		}
		p = nl + 1;
	}
	free(key);
out:
	strbuf_release(&want);
	free(buf);
	if (why) {
		log_warn("etcd: state file ignored (%s)", why);
		kmap_free(&ec->keys);
		return;
	}
	ec->rev = rev;
	log_info("etcd: resuming after revision %lld with %zu keys", rev, ec->keys.n);
}

static int state_open(struct etcd_ctx *ec)
{
	const char *path = ec->cfg->state_file;
	if (!path || !*path)
		return 0;
	/* mkdir -p of the parent */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *s = dir + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			break;
		*s = '/';
	}
	ec->state_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ec->state_fd < 0) {
		int e = errno;
		log_error("etcd: state file %s: %s", path, strerror(e));
		return -e;
	}
	state_load(ec);
	return 0;
}

/* ---- events ------------------------------------------------------------------------------- */

struct ev_parts {
	Tapio__V1__Event ev;
	Google__Protobuf__Timestamp ts;
	Tapio__V1__EtcdEvent x;
	Tapio__V1__Label labels[ETCD_LABELS_MAX], *lp[ETCD_LABELS_MAX];
	Tapio__V1__OwnerReference owners[ETCD_OWNERS_MAX], *op[ETCD_OWNERS_MAX];
	struct etcd_key key;
	struct etcd_value val;
	char keytext[ETCD_KEY_MAX + 1];
	char digest[65];
	char group[ETCD_SHORT_MAX];
};

static void init_event(struct etcd_ctx *ec, struct ev_parts *p, const char *type)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	p->ev = (Tapio__V1__Event)TAPIO__V1__EVENT__INIT;
	p->ts = (Google__Protobuf__Timestamp)GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	p->x = (Tapio__V1__EtcdEvent)TAPIO__V1__ETCD_EVENT__INIT;
	p->ts.seconds = ts.tv_sec;
	p->ts.nanos = (int32_t)ts.tv_nsec;
	p->ev.type = (char *)type;
	p->ev.time = &p->ts;
	p->ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_ETCD;
	p->ev.etcd = &p->x;
	p->x.endpoint = ec->endpoint;
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	out[0] = '\0';
	if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) || len != 32)
		return;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* One put or delete. `kv` is etcd's; for a delete only its key and mod_revision count. */
static void emit_kv(struct etcd_ctx *ec, bool put, const Etcdserverpb__KeyValue *kv,
		    int64_t revision, const char *cause)
{
	static struct ev_parts p; /* large: not on the stack */
	init_event(ec, &p, put ? "etcd.put" : "etcd.delete");
	Tapio__V1__EtcdEvent *x = &p.x;
	const uint8_t *k = kv->key.data;
	size_t klen = kv->key.len;
	etcd_copy_printable(p.keytext, sizeof(p.keytext), k, klen);
	x->key = p.keytext;
	x->revision = revision;
	x->has_revision = true;
	x->cause = (char *)cause;

	int kr = etcd_key_parse(k, klen, ec->cfg->prefix, &p.key);
	if (kr == 0 || kr == -EINVAL) {
		x->group = p.key.group;
		x->resource = p.key.resource[0] ? p.key.resource : NULL;
	}
	if (kr == 0) {
		x->kind = p.key.kind[0] ? p.key.kind : NULL;
		x->namespace_ = p.key.namespace;
		x->name = p.key.name;
	}
	bool secret = p.key.secret;

	if (put) {
		x->create_revision = kv->create_revision;
		x->has_create_revision = true;
		x->mod_revision = kv->mod_revision;
		x->has_mod_revision = true;
		x->version = kv->version;
		x->has_version = true;
		if (kv->lease) {
			x->lease = kv->lease;
			x->has_lease = true;
		}
		x->value_size = kv->value.len;
		x->has_value_size = true;
		enum config_etcd_value_policy pol = ec->cfg->value_policy;
		if (pol >= CONFIG_ETCD_VALUE_DIGEST) {
			sha256_hex(kv->value.data, kv->value.len, p.digest);
			x->value_digest = p.digest;
		}
		int vr = etcd_value_decode(kv->value.data, kv->value.len, &p.val);
		x->value_format =
			(char *)(vr < 0 ? "undecodable" : etcd_value_format_name(p.val.format));
		if (vr < 0)
			ec->undecodable++;
		if (strcmp(p.val.kind, "Secret") == 0 && p.val.api_version[0] &&
		    strcmp(p.val.api_version, "v1") == 0)
			secret = true;
		if (p.val.format == ETCD_VALUE_ENCRYPTED) {
			x->encryption_provider = p.val.enc_provider;
			x->encryption_key = p.val.enc_key[0] ? p.val.enc_key : NULL;
		}
		if (pol == CONFIG_ETCD_VALUE_METADATA &&
		    (p.val.format == ETCD_VALUE_PROTOBUF || p.val.format == ETCD_VALUE_JSON)) {
			if (p.val.kind[0])
				x->kind = p.val.kind;
			x->api_version = p.val.api_version[0] ? p.val.api_version : NULL;
			x->uid = p.val.uid[0] ? p.val.uid : NULL;
			x->resource_version =
				p.val.resource_version[0] ? p.val.resource_version : NULL;
			if (!x->name && p.val.name[0]) {
				x->name = p.val.name;
				x->namespace_ = p.val.namespace;
			}
			for (unsigned i = 0; i < p.val.n_labels; i++) {
				p.labels[i] = (Tapio__V1__Label)TAPIO__V1__LABEL__INIT;
				p.labels[i].key = p.val.labels[i].key;
				p.labels[i].value = p.val.labels[i].value;
				p.lp[i] = &p.labels[i];
			}
			x->labels = p.lp;
			x->n_labels = p.val.n_labels;
			for (unsigned i = 0; i < p.val.n_owners; i++) {
				Tapio__V1__OwnerReference *o = &p.owners[i];
				*o = (Tapio__V1__OwnerReference)TAPIO__V1__OWNER_REFERENCE__INIT;
				o->kind = p.val.owners[i].kind;
				o->name = p.val.owners[i].name;
				o->uid = p.val.owners[i].uid;
				o->controller = p.val.owners[i].controller;
				o->has_controller = true;
				p.op[i] = o;
			}
			x->owners = p.op;
			x->n_owners = p.val.n_owners;
		}
	}
	if (secret) {
		x->secret = true;
		x->has_secret = true;
		ec->secrets++;
	}
	worker_emit(ec->w, &p.ev);
	if (put)
		ec->puts++;
	else
		ec->deletes++;
}

/* ---- etcd calls --------------------------------------------------------------------------- */

static void set_error_of(struct etcd_ctx *ec, struct grpc_client *g, const char *what, int r)
{
	const char *e = grpc_client_last_error(g);
	snprintf(ec->error, sizeof(ec->error), "%s: %s", what, *e ? e : strerror(-r));
}

static void set_error(struct etcd_ctx *ec, const char *what, int r)
{
	const char *e = grpc_client_last_error(ec->g);
	snprintf(ec->error, sizeof(ec->error), "%s: %s", what, *e ? e : strerror(-r));
}

/* The whole prefix at one revision, page by page, in key order. cb(kv) for each; returns the
 * revision of the list or -errno. */
static int64_t list_prefix(struct etcd_ctx *ec,
			   void (*cb)(struct etcd_ctx *, Etcdserverpb__KeyValue *, void *),
			   void *arg)
{
	int64_t at = 0;
	uint8_t *from = malloc(ec->prefix_len + 1);
	size_t from_len = ec->prefix_len;
	if (!from)
		return -ENOMEM;
	memcpy(from, ec->cfg->prefix, ec->prefix_len);
	for (;;) {
		Etcdserverpb__RangeRequest q = ETCDSERVERPB__RANGE_REQUEST__INIT;
		q.key.data = from;
		q.key.len = from_len;
		q.range_end.data = ec->range_end;
		q.range_end.len = ec->prefix_len;
		q.limit = ec->cfg->page_size;
		q.revision = at;
		Etcdserverpb__RangeResponse *resp = NULL;
		int r = grpc_client_call(ec->g, M_KV, &q.base,
					 &etcdserverpb__range_response__descriptor,
					 (ProtobufCMessage **)&resp);
		if (r < 0) {
			set_error(ec, "Range", r);
			free(from);
			return r;
		}
		if (at == 0)
			at = resp->header ? resp->header->revision : 0;
		for (size_t i = 0; i < resp->n_kvs; i++)
			cb(ec, resp->kvs[i], arg);
		bool more = resp->more && resp->n_kvs > 0;
		if (more) {
			/* the next page starts just after the last key */
			Etcdserverpb__KeyValue *last = resp->kvs[resp->n_kvs - 1];
			uint8_t *nf = realloc(from, last->key.len + 1);
			if (!nf) {
				protobuf_c_message_free_unpacked(&resp->base, NULL);
				free(from);
				return -ENOMEM;
			}
			from = nf;
			memcpy(from, last->key.data, last->key.len);
			from[last->key.len] = 0;
			from_len = last->key.len + 1;
		}
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (!more)
			break;
	}
	free(from);
	return at;
}

static int open_watch(struct etcd_ctx *ec)
{
	Etcdserverpb__WatchCreateRequest c = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	c.key.data = (uint8_t *)ec->cfg->prefix;
	c.key.len = ec->prefix_len;
	c.range_end.data = ec->range_end;
	c.range_end.len = ec->prefix_len;
	c.start_revision = ec->rev + 1;
	c.progress_notify = true;
	Etcdserverpb__WatchRequest q = ETCDSERVERPB__WATCH_REQUEST__INIT;
	q.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	q.create_request = &c;
	int r = grpc_stream_open(ec->g, M_WATCH, &q.base);
	if (r < 0) {
		set_error(ec, "Watch", r);
		return r;
	}
	ec->watching = true;
	log_debug("etcd: watching %s from revision %lld", ec->cfg->prefix, (long long)ec->rev + 1);
	return 0;
}

static void baseline_cb(struct etcd_ctx *ec, Etcdserverpb__KeyValue *kv, void *arg)
{
	struct kmap *m = arg;
	kmap_set(m, kv->key.data, kv->key.len, kv->mod_revision);
}

struct resync {
	struct kmap fresh;
	int64_t at;
};

static void resync_cb(struct etcd_ctx *ec, Etcdserverpb__KeyValue *kv, void *arg)
{
	struct resync *rs = arg;
	kmap_set(&rs->fresh, kv->key.data, kv->key.len, kv->mod_revision);
	struct kent *old = kmap_find(&ec->keys, kv->key.data, kv->key.len);
	if (!old || old->mod_rev != kv->mod_revision)
		emit_kv(ec, true, kv, kv->mod_revision, "resync");
}

/* The watch cannot resume (compacted): list now, emit what differs from what we knew,
 * deletes included, and watch on from the list's revision. */
static int resync(struct etcd_ctx *ec, int64_t compact_rev)
{
	ec->resyncs++;
	log_warn("etcd: revision %lld compacted (oldest now %lld): re-listing %s",
		 (long long)ec->rev + 1, (long long)compact_rev, ec->cfg->prefix);
	grpc_stream_close(ec->g);
	ec->watching = false;
	struct resync rs = {0};
	int64_t at = list_prefix(ec, resync_cb, &rs);
	if (at < 0) {
		kmap_free(&rs.fresh);
		return (int)at;
	}
	for (size_t i = 0; i < ec->keys.cap; i++) {
		struct kent *e = &ec->keys.t[i];
		if (!e->key || e->key == TOMB || kmap_find(&rs.fresh, e->key, e->len))
			continue;
		Etcdserverpb__KeyValue kv = ETCDSERVERPB__KEY_VALUE__INIT;
		kv.key.data = e->key;
		kv.key.len = e->len;
		emit_kv(ec, false, &kv, at, "resync");
	}
	kmap_free(&ec->keys);
	ec->keys = rs.fresh;
	ec->rev = at;
	ec->state_dirty = true;
	return open_watch(ec);
}

/* Every complete WatchResponse received so far. 0, or -EPIPE when the watch has ended
 * (ec->error says why; the caller fails over). */
static int drain_watch(struct etcd_ctx *ec)
{
	if (!ec->g || !ec->watching)
		return 0;
	for (;;) {
		Etcdserverpb__WatchResponse *wr = NULL;
		int r = grpc_stream_next(ec->g, &etcdserverpb__watch_response__descriptor,
					 (ProtobufCMessage **)&wr);
		if (r == 0)
			return 0;
		if (r < 0) {
			set_error(ec, "Watch", r);
			return -EPIPE;
		}
		if (wr->canceled) {
			int64_t cr = wr->compact_revision;
			char reason[160];
			snprintf(reason, sizeof(reason), "%s",
				 wr->cancel_reason ? wr->cancel_reason : "");
			protobuf_c_message_free_unpacked(&wr->base, NULL);
			if (cr > 0) {
				if (resync(ec, cr) < 0)
					return -EPIPE;
				continue;
			}
			snprintf(ec->error, sizeof(ec->error), "watch canceled: %s", reason);
			return -EPIPE;
		}
		/* Everything up to ec->rev has been emitted (a watch resumed on another member
		 * starts after it); all events of one revision come in one response. */
		int64_t done = ec->rev;
		for (size_t i = 0; i < wr->n_events; i++) {
			Etcdserverpb__Event *e = wr->events[i];
			if (!e->kv)
				continue;
			if (e->kv->mod_revision <= done) {
				ec->repeats++;
				continue;
			}
			bool put = e->type == ETCDSERVERPB__EVENT__EVENT_TYPE__PUT;
			emit_kv(ec, put, e->kv, e->kv->mod_revision, "watch");
			if (put)
				kmap_set(&ec->keys, e->kv->key.data, e->kv->key.len,
					 e->kv->mod_revision);
			else
				kmap_del(&ec->keys, e->kv->key.data, e->kv->key.len);
			if (e->kv->mod_revision > ec->rev)
				ec->rev = e->kv->mod_revision;
			ec->state_dirty = true;
		}
		/* A progress notification: everything up to its revision has been sent. */
		if (wr->n_events == 0 && !wr->created && wr->header &&
		    wr->header->revision > ec->rev) {
			ec->rev = wr->header->revision;
			ec->state_dirty = true;
		}
		protobuf_c_message_free_unpacked(&wr->base, NULL);
	}
}

/* ---- disk syncs (eBPF) ---------------------------------------------------------------------- */

static const char *sync_call_name(uint32_t c)
{
	switch (c) {
	case ETCD_SYNC_FDATASYNC:
		return "fdatasync";
	case ETCD_SYNC_FSYNC:
		return "fsync";
	case ETCD_SYNC_FILE_RANGE:
		return "sync_file_range";
	}
	return "unknown";
}

/* etcd's data dir: member/wal/<seq>-<index>.wal (and the wal directory itself, synced after a
 * cut), member/snap/db (bbolt), member/snap/<term>-<index>.snap. */
static const char *path_class(const char *name, const char *dir)
{
	size_t n = strlen(name);
	if ((n > 4 && strcmp(name + n - 4, ".wal") == 0) || strcmp(name, "wal") == 0 ||
	    strcmp(dir, "wal") == 0)
		return "wal";
	if (strcmp(name, "db") == 0)
		return "db";
	if ((n > 5 && strcmp(name + n - 5, ".snap") == 0) ||
	    (n > 8 && strcmp(name + n - 8, ".snap.db") == 0) || strcmp(dir, "snap") == 0)
		return "snapshot";
	return "other";
}

static int handle_sync(void *ctx, void *data, size_t size)
{
	struct etcd_ctx *ec = ctx;
	const struct etcd_sync_rec *r = data;
	if (size != sizeof(*r) || r->hdr.size != size || r->hdr.version != ETCD_REC_VERSION ||
	    r->hdr.type != ETCD_REC_SLOW_SYNC) {
		ec->undecodable++;
		return 0;
	}
	ec->slow_syncs++;
	static struct kevent k;
	static Tapio__V1__EtcdEvent x;
	static Tapio__V1__EtcdSync s;
	static char name[ETCD_NAME_LEN + 1], dir[ETCD_NAME_LEN + 1], detail[160];
	kevent_init(&k, worker_timeconv(ec->w), "etcd.slow_fsync", r->task.boot_ns, &r->task);
	etcd_copy_printable(name, sizeof(name), (const uint8_t *)r->name,
			    strnlen(r->name, sizeof(r->name)));
	etcd_copy_printable(dir, sizeof(dir), (const uint8_t *)r->parent,
			    strnlen(r->parent, sizeof(r->parent)));
	x = (Tapio__V1__EtcdEvent)TAPIO__V1__ETCD_EVENT__INIT;
	s = (Tapio__V1__EtcdSync)TAPIO__V1__ETCD_SYNC__INIT;
	s.call = (char *)sync_call_name(r->call);
	s.file = name;
	s.directory = dir;
	s.path_class = (char *)path_class(name, dir);
	s.fd = r->fd;
	s.has_fd = true;
	s.ret = r->ret;
	s.has_ret = true;
	x.sync = &s;
	x.latency_ns = r->latency_ns;
	x.has_latency_ns = true;
	snprintf(detail, sizeof(detail), "%s of %s/%s took %.1f ms", s.call, dir, name,
		 (double)r->latency_ns / 1e6);
	x.detail = detail;
	if (ec->g)
		x.endpoint = ec->endpoint;
	k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_ETCD;
	k.ev.etcd = &x;
	worker_emit(ec->w, &k.ev);
	return 0;
}

/* Totals of the per-CPU histogram. 0 or -errno. */
static int sync_hist(struct etcd_ctx *ec, uint64_t tot[ETCD_HIST_BUCKETS])
{
	uint64_t vals[ec->ncpus];
	int fd = bpf_map__fd(ec->skel->maps.hist);
	for (uint32_t i = 0; i < ETCD_HIST_BUCKETS; i++) {
		tot[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, vals) < 0)
			return -errno;
		for (int c = 0; c < ec->ncpus; c++)
			tot[i] += vals[c];
	}
	return 0;
}

/* Load and attach the tracer. Failing is not fatal: the API part runs without it. */
static void sync_setup(struct etcd_ctx *ec)
{
	char why[200] = "";
	if (!ec->cfg->sync_trace)
		return;
	ec->ncpus = kevent_setup() == 0 ? libbpf_num_possible_cpus() : -1;
	if (ec->ncpus <= 0) {
		snprintf(why, sizeof(why), "no CPU count");
		goto fail;
	}
	ec->skel = etcd_bpf__open();
	if (!ec->skel) {
		snprintf(why, sizeof(why), "open: %s", strerror(errno));
		goto fail;
	}
	ec->skel->rodata->cfg_tgid = ec->cfg->sync_pid;
	memset((char *)ec->skel->rodata->cfg_comm, 0, sizeof(ec->skel->rodata->cfg_comm));
	memcpy((char *)ec->skel->rodata->cfg_comm, ec->cfg->sync_comm,
	       strnlen(ec->cfg->sync_comm, sizeof(ec->skel->rodata->cfg_comm) - 1));
	ec->skel->rodata->cfg_threshold_ns = (uint64_t)ec->cfg->sync_threshold_ms * 1000000;
	int r = etcd_bpf__load(ec->skel);
	if (r < 0) {
		snprintf(why, sizeof(why), "load: %s", strerror(-r));
		goto fail;
	}
	r = etcd_bpf__attach(ec->skel);
	if (r < 0) {
		snprintf(why, sizeof(why),
			 "attach to syscalls/sys_{enter,exit}_{fdatasync,fsync,"
			 "sync_file_range}: %s",
			 strerror(-r));
		goto fail;
	}
	r = kevent_add_ring(ec->w, ec->skel->obj, ec->skel->maps.events, handle_sync, ec);
	if (r < 0) {
		snprintf(why, sizeof(why), "ring buffer: %s", strerror(-r));
		goto fail;
	}
	worker_add_hook(ec->w, "tracepoint/syscalls/sys_{enter,exit}_{fdatasync,fsync,"
			       "sync_file_range}");
	if (ec->cfg->sync_pid)
		log_info("etcd: timing disk syncs of pid %u (threshold %u ms)", ec->cfg->sync_pid,
			 ec->cfg->sync_threshold_ms);
	else
		log_info("etcd: timing disk syncs of '%s' (threshold %u ms)", ec->cfg->sync_comm,
			 ec->cfg->sync_threshold_ms);
	return;
fail:
	log_warn("etcd: disk-sync tracer unavailable: %s", why);
	char miss[260];
	snprintf(miss, sizeof(miss), "eBPF disk-sync latency (%s)", why);
	worker_add_missing(ec->w, miss);
	etcd_bpf__destroy(ec->skel);
	ec->skel = NULL;
}

/* ---- health ------------------------------------------------------------------------------- */

static const char *alarm_name(Etcdserverpb__AlarmType a)
{
	switch (a) {
	case ETCDSERVERPB__ALARM_TYPE__NOSPACE:
		return "NOSPACE";
	case ETCDSERVERPB__ALARM_TYPE__CORRUPT:
		return "CORRUPT";
	default:
		return "NONE";
	}
}

static int authenticate(struct etcd_ctx *ec, struct grpc_client *g);

/* A unary call on one endpoint's client. A token etcd rejects (expired: simple tokens live 5
 * minutes by default) is renewed once with the credentials kept since setup. 0 or -errno with
 * ec->error set. */
static int ep_call(struct etcd_ctx *ec, struct grpc_client *g, const char *what, const char *method,
		   const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
		   ProtobufCMessage **resp)
{
	int r = grpc_client_call(g, method, req, desc, resp);
	if (r == -EREMOTEIO && grpc_client_last_status(g) == GRPC_UNAUTHENTICATED && ec->user[0]) {
		log_info("etcd: token rejected (%s); authenticating again",
			 grpc_client_last_error(g));
		r = authenticate(ec, g);
		if (r < 0)
			return r;
		r = grpc_client_call(g, method, req, desc, resp);
	}
	if (r < 0)
		set_error_of(ec, g, what, r);
	return r;
}

/* Maintenance.Status of the member behind g: its own view of leader, raft and db. */
static int sample_status(struct etcd_ctx *ec, struct grpc_client *g, struct health *h)
{
	memset(h, 0, sizeof(*h));
	Etcdserverpb__StatusRequest sq = ETCDSERVERPB__STATUS_REQUEST__INIT;
	Etcdserverpb__StatusResponse *st = NULL;
	int r = ep_call(ec, g, "Status", M_STATUS, &sq.base,
			&etcdserverpb__status_response__descriptor, (ProtobufCMessage **)&st);
	if (r < 0)
		return r;
	h->member_id = st->header ? st->header->member_id : 0;
	h->leader = st->leader;
	h->term = st->raftterm;
	h->index = st->raftindex;
	h->applied = st->raftappliedindex;
	h->db_size = st->dbsize;
	h->db_in_use = st->dbsizeinuse;
	etcd_copy_printable(h->version, sizeof(h->version), (const uint8_t *)st->version,
			    st->version ? strlen(st->version) : 0);
	for (size_t i = 0; i < st->n_errors && h->n_errors < 4; i++)
		etcd_copy_printable(h->errors[h->n_errors++], HEALTH_STR,
				    (const uint8_t *)st->errors[i], strlen(st->errors[i]));
	protobuf_c_message_free_unpacked(&st->base, NULL);
	return 0;
}

/* The cluster-wide part: active alarms and the member list. */
static int sample_cluster(struct etcd_ctx *ec, struct grpc_client *g, struct cluster *cl)
{
	memset(cl, 0, sizeof(*cl));
	Etcdserverpb__AlarmRequest aq = ETCDSERVERPB__ALARM_REQUEST__INIT;
	aq.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET;
	Etcdserverpb__AlarmResponse *ar = NULL;
	int r = ep_call(ec, g, "Alarm", M_ALARM, &aq.base,
			&etcdserverpb__alarm_response__descriptor, (ProtobufCMessage **)&ar);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ar->n_alarms && cl->n_alarms < ALARMS_MAX; i++)
		snprintf(cl->alarms[cl->n_alarms++], HEALTH_STR, "%s member=%llx",
			 alarm_name(ar->alarms[i]->alarm),
			 (unsigned long long)ar->alarms[i]->memberid);
	protobuf_c_message_free_unpacked(&ar->base, NULL);

	Etcdserverpb__MemberListRequest mq = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
	Etcdserverpb__MemberListResponse *ml = NULL;
	r = ep_call(ec, g, "MemberList", M_MEMBERS, &mq.base,
		    &etcdserverpb__member_list_response__descriptor, (ProtobufCMessage **)&ml);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ml->n_members && cl->n_members < MEMBERS_MAX; i++) {
		char name[64];
		const char *nm = ml->members[i]->name ? ml->members[i]->name : "";
		etcd_copy_printable(name, sizeof(name), (const uint8_t *)nm, strlen(nm));
		snprintf(cl->members[cl->n_members++], HEALTH_STR, "%llx %s%s",
			 (unsigned long long)ml->members[i]->id, name,
			 ml->members[i]->islearner ? " learner" : "");
	}
	protobuf_c_message_free_unpacked(&ml->base, NULL);
	cl->valid = true;
	return 0;
}

static bool same_list(const char (*a)[HEALTH_STR], size_t na, const char (*b)[HEALTH_STR],
		      size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* Is s in l? by_id: compare the first word only (a member's hex id). */
static bool in_list(const char (*l)[HEALTH_STR], size_t n, const char *s, bool by_id)
{
	size_t k = by_id ? strcspn(s, " ") : strlen(s) + 1;
	for (size_t i = 0; i < n; i++)
		if (strncmp(l[i], s, k) == 0 && (!by_id || l[i][k] == ' ' || l[i][k] == '\0'))
			return true;
	return false;
}

/* The entries of a that are not in b, as pointers into a. */
static size_t list_minus(const char (*a)[HEALTH_STR], size_t na, const char (*b)[HEALTH_STR],
			 size_t nb, bool by_id, char **out)
{
	size_t n = 0;
	for (size_t i = 0; i < na; i++)
		if (!in_list(b, nb, a[i], by_id))
			out[n++] = (char *)a[i];
	return n;
}

/* What one health-type event carries beside the endpoint. */
struct hx {
	const struct health *h;	  /* the endpoint's sample; NULL when it did not answer */
	const struct cluster *cl; /* alarms and members, when known */
	const char *error;	  /* why it did not answer */
	char **changes;
	size_t n_changes;
	bool has_prev_leader;
	uint64_t prev_leader;
	char **added, **removed, **raised, **cleared;
	size_t n_added, n_removed, n_raised, n_cleared;
	bool hist; /* attach the disk-sync histogram since the last one */
};

static void emit_hevent(struct etcd_ctx *ec, const char *type, const struct endpoint *e,
			const struct hx *a)
{
	static struct ev_parts p;
	static Tapio__V1__EtcdHealth x;
	static char *alarms[ALARMS_MAX], *members[MEMBERS_MAX], *errors[4];
	init_event(ec, &p, type);
	p.x.endpoint = (char *)e->name;
	x = (Tapio__V1__EtcdHealth)TAPIO__V1__ETCD_HEALTH__INIT;
	x.reachable = a->h != NULL;
	x.has_reachable = true;
	x.watching = ec->g && ec->cur >= 0 && e == &ec->ep[ec->cur];
	x.has_watching = true;
	x.error = a->h ? NULL : (char *)a->error;
	const struct health *h = a->h;
	if (h) {
		x.member_id = h->member_id;
		x.has_member_id = true;
		x.leader_id = h->leader;
		x.has_leader_id = true;
		x.raft_term = h->term;
		x.has_raft_term = true;
		x.raft_index = h->index;
		x.has_raft_index = true;
		x.raft_applied_index = h->applied;
		x.has_raft_applied_index = true;
		x.db_size = h->db_size;
		x.has_db_size = true;
		x.db_size_in_use = h->db_in_use;
		x.has_db_size_in_use = true;
		x.version = (char *)h->version;
		for (size_t i = 0; i < h->n_errors; i++)
			errors[i] = (char *)h->errors[i];
		x.errors = errors;
		x.n_errors = h->n_errors;
	}
	if (a->cl && a->cl->valid) {
		for (size_t i = 0; i < a->cl->n_alarms; i++)
			alarms[i] = (char *)a->cl->alarms[i];
		x.alarms = alarms;
		x.n_alarms = a->cl->n_alarms;
		for (size_t i = 0; i < a->cl->n_members; i++)
			members[i] = (char *)a->cl->members[i];
		x.members = members;
		x.n_members = a->cl->n_members;
	}
	x.changes = a->changes;
	x.n_changes = a->n_changes;
	x.previous_leader_id = a->prev_leader;
	x.has_previous_leader_id = a->has_prev_leader;
	x.members_added = a->added;
	x.n_members_added = a->n_added;
	x.members_removed = a->removed;
	x.n_members_removed = a->n_removed;
	x.alarms_raised = a->raised;
	x.n_alarms_raised = a->n_raised;
	x.alarms_cleared = a->cleared;
	x.n_alarms_cleared = a->n_cleared;
	static Tapio__V1__EtcdSyncBucket b[ETCD_HIST_BUCKETS], *bp[ETCD_HIST_BUCKETS];
	uint64_t tot[ETCD_HIST_BUCKETS];
	if (a->hist && ec->skel && sync_hist(ec, tot) == 0) {
		uint64_t all = 0;
		size_t n = 0;
		for (unsigned i = 0; i < ETCD_HIST_BUCKETS; i++) {
			uint64_t d = tot[i] - ec->hist_seen[i];
			ec->hist_seen[i] = tot[i];
			all += d;
			if (!d)
				continue;
			b[n] = (Tapio__V1__EtcdSyncBucket)TAPIO__V1__ETCD_SYNC_BUCKET__INIT;
			b[n].le_us = i == ETCD_HIST_BUCKETS - 1 ? 0 : 1ull << i;
			b[n].has_le_us = true;
			b[n].count = d;
			b[n].has_count = true;
			bp[n] = &b[n];
			n++;
		}
		x.sync_latency = bp;
		x.n_sync_latency = n;
		x.syncs = all;
		x.has_syncs = true;
		x.slow_syncs = ec->slow_syncs - ec->slow_seen;
		x.has_slow_syncs = true;
		ec->slow_seen = ec->slow_syncs;
	}
	p.x.health = &x;
	p.x.revision = ec->rev;
	p.x.has_revision = true;
	worker_emit(ec->w, &p.ev);
}

static int ep_open(struct etcd_ctx *ec, struct endpoint *e);
static void conn_lost(struct etcd_ctx *ec, const char *why);

/* One health round: Status of every endpoint (connecting those not connected), alarms and
 * members from one that answers (the watch's first), change events, then an etcd.health per
 * endpoint. */
static void check_health(struct etcd_ctx *ec)
{
	static struct health now[ETCD_ENDPOINTS_MAX];
	static char why[ETCD_ENDPOINTS_MAX][sizeof(ec->error)];
	bool ok[ETCD_ENDPOINTS_MAX];
	bool watch_failed = false;
	for (size_t i = 0; i < ec->n_ep; i++) {
		struct endpoint *e = &ec->ep[i];
		bool is_watch = ec->g && (int)i == ec->cur;
		int r = 0;
		if (!e->c) {
			snprintf(ec->error, sizeof(ec->error), "%s", e->error);
			r = -EHOSTUNREACH;
		} else if (!is_watch && !grpc_client_connected(e->c)) {
			r = ep_open(ec, e);
		}
		if (r == 0)
			r = sample_status(ec, e->c, &now[i]);
		ok[i] = r == 0;
		if (!ok[i]) {
			snprintf(why[i], sizeof(why[i]), "%s", ec->error);
			watch_failed |= is_watch;
		}
	}
	struct cluster cl = {0};
	int from = -1;
	for (size_t k = 0; k < ec->n_ep && from < 0; k++) {
		size_t i = ec->cur >= 0 ? ((size_t)ec->cur + k) % ec->n_ep : k;
		if (ok[i] && sample_cluster(ec, ec->ep[i].c, &cl) == 0)
			from = (int)i;
	}
	/* cluster changes, once, from the endpoint that answered */
	char *added[MEMBERS_MAX], *removed[MEMBERS_MAX], *raised[ALARMS_MAX], *cleared[ALARMS_MAX];
	bool alarm_changed = false, members_changed = false;
	struct cluster *old = &ec->cluster;
	if (cl.valid && old->valid) {
		alarm_changed = !same_list((const char(*)[HEALTH_STR])old->alarms, old->n_alarms,
					   (const char(*)[HEALTH_STR])cl.alarms, cl.n_alarms);
		members_changed =
			!same_list((const char(*)[HEALTH_STR])old->members, old->n_members,
				   (const char(*)[HEALTH_STR])cl.members, cl.n_members);
	}
	if (alarm_changed) {
		struct hx a = {.h = &now[from], .cl = &cl};
		a.n_raised = list_minus((const char(*)[HEALTH_STR])cl.alarms, cl.n_alarms,
					(const char(*)[HEALTH_STR])old->alarms, old->n_alarms,
					false, raised);
		a.n_cleared = list_minus((const char(*)[HEALTH_STR])old->alarms, old->n_alarms,
					 (const char(*)[HEALTH_STR])cl.alarms, cl.n_alarms, false,
					 cleared);
		a.raised = raised;
		a.cleared = cleared;
		log_warn("etcd: alarms changed: %zu raised%s%s, %zu cleared%s%s", a.n_raised,
			 a.n_raised ? " " : "", a.n_raised ? raised[0] : "", a.n_cleared,
			 a.n_cleared ? " " : "", a.n_cleared ? cleared[0] : "");
		emit_hevent(ec, "etcd.alarm", &ec->ep[from], &a);
	}
	if (members_changed) {
		struct hx a = {.h = &now[from], .cl = &cl};
		a.n_added = list_minus((const char(*)[HEALTH_STR])cl.members, cl.n_members,
				       (const char(*)[HEALTH_STR])old->members, old->n_members,
				       true, added);
		a.n_removed = list_minus((const char(*)[HEALTH_STR])old->members, old->n_members,
					 (const char(*)[HEALTH_STR])cl.members, cl.n_members, true,
					 removed);
		a.added = added;
		a.removed = removed;
		log_info("etcd: member list changed: %zu added%s%s, %zu removed%s%s, %zu members",
			 a.n_added, a.n_added ? " " : "", a.n_added ? added[0] : "", a.n_removed,
			 a.n_removed ? " " : "", a.n_removed ? removed[0] : "", cl.n_members);
		emit_hevent(ec, "etcd.member_change", &ec->ep[from], &a);
	}
	const struct cluster *shown = cl.valid ? &cl : (old->valid ? old : NULL);

	bool hist = true;
	for (size_t i = 0; i < ec->n_ep; i++) {
		struct endpoint *e = &ec->ep[i];
		char *changes[6];
		size_t n = 0;
		struct hx a = {.h = ok[i] ? &now[i] : NULL, .cl = shown, .error = why[i]};
		if (!ok[i] && (!e->seen || e->up)) {
			changes[n++] = "down";
			log_warn("etcd: endpoint %s down: %s", e->name, why[i]);
			emit_hevent(ec, "etcd.endpoint_down", e, &a);
		}
		if (ok[i] && e->seen && !e->up) {
			changes[n++] = "up";
			log_info("etcd: endpoint %s up again (member %llx)", e->name,
				 (unsigned long long)now[i].member_id);
			emit_hevent(ec, "etcd.endpoint_up", e, &a);
		}
		if (ok[i] && e->has_h && e->h.leader != now[i].leader) {
			changes[n++] = "leader";
			struct hx l = a;
			l.has_prev_leader = true;
			l.prev_leader = e->h.leader;
			l.changes = changes + n - 1;
			l.n_changes = 1;
			log_info("etcd: %s: leader %llx -> %llx (term %llu)", e->name,
				 (unsigned long long)e->h.leader, (unsigned long long)now[i].leader,
				 (unsigned long long)now[i].term);
			emit_hevent(ec, "etcd.leader_change", e, &l);
		}
		if (ok[i] && e->has_h && e->h.term != now[i].term)
			changes[n++] = "term";
		if (alarm_changed)
			changes[n++] = "alarm";
		if (members_changed)
			changes[n++] = "members";
		a.changes = changes;
		a.n_changes = n;
		a.hist = hist;
		hist = false;
		emit_hevent(ec, "etcd.health", e, &a);
		e->seen = true;
		e->up = ok[i];
		if (ok[i]) {
			e->h = now[i];
			e->has_h = true;
		}
	}
	if (cl.valid)
		*old = cl;
	if (watch_failed)
		conn_lost(ec, why[ec->cur]);
}

/* ---- connection --------------------------------------------------------------------------- */

/* The connection's state, to tapiod: DEGRADED with the reason while no endpoint carries the
 * watch, READY once one does again (a Status frame after READY, only on a change; in setup,
 * READY's degraded reason). */
static void etcd_status(struct etcd_ctx *ec, bool ready, const char *reason)
{
	int r;
	if (ready) {
		log_info("etcd: status READY (%s)", reason);
		r = worker_set_ready(ec->w);
	} else {
		log_warn("etcd: status DEGRADED: %s", reason);
		r = worker_set_degraded(ec->w, reason);
	}
	if (r < 0)
		log_warn("etcd: cannot report the state: %s", strerror(-r));
}

static int read_credentials(const char *path, char *user, size_t ucap, char *pass, size_t pcap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[1024];
	int r = -EINVAL;
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *colon = strchr(line, ':');
		if (colon && colon != line && strlen(line) < ucap && strlen(colon + 1) < pcap) {
			*colon = '\0';
			snprintf(user, ucap, "%s", line);
			snprintf(pass, pcap, "%s", colon + 1);
			r = 0;
		}
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return r;
}

static int authenticate(struct etcd_ctx *ec, struct grpc_client *g)
{
	Etcdserverpb__AuthenticateRequest q = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	q.name = ec->user;
	q.password = ec->pass;
	Etcdserverpb__AuthenticateResponse *resp = NULL;
	int r = grpc_client_call(g, M_AUTH, &q.base,
				 &etcdserverpb__authenticate_response__descriptor,
				 (ProtobufCMessage **)&resp);
	if (r < 0) {
		set_error_of(ec, g, "Authenticate", r);
		return r;
	}
	r = grpc_client_set_header(g, "token", resp->token ? resp->token : "");
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

/* (Re)connect endpoint e and authenticate. 0 or -errno with ec->error set. */
static int ep_open(struct etcd_ctx *ec, struct endpoint *e)
{
	if (!e->c) {
		snprintf(ec->error, sizeof(ec->error), "%s", e->error);
		return -EHOSTUNREACH;
	}
	int r = grpc_client_reconnect(e->c);
	if (r < 0) {
		const char *why = grpc_client_connect_error();
		snprintf(ec->error, sizeof(ec->error), "connect %s: %s", e->name,
			 *why ? why : strerror(-r));
		return r;
	}
	if (ec->user[0])
		r = authenticate(ec, e->c);
	return r;
}

static int on_grpc_io(struct worker *w, int fd, unsigned events, void *data);

/* Run the watch over endpoint i (connected, answered Status h): the baseline list when there
 * is none yet, then the watch from the last revision + 1. */
static int start_watch(struct etcd_ctx *ec, int i, const struct health *h)
{
	struct endpoint *e = &ec->ep[i];
	int prev = ec->cur;
	ec->g = e->c;
	ec->cur = i;
	snprintf(ec->endpoint, sizeof(ec->endpoint), "%s", e->name);
	if (ec->rev == 0) {
		int64_t at = list_prefix(ec, baseline_cb, &ec->keys);
		if (at <= 0) {
			if (at == 0)
				snprintf(ec->error, sizeof(ec->error), "Range: no revision");
			ec->g = NULL;
			return -EPIPE;
		}
		ec->rev = at;
		ec->state_dirty = true;
		log_info("etcd: %zu keys below %s at revision %lld", ec->keys.n, ec->cfg->prefix,
			 (long long)at);
	}
	int r = open_watch(ec);
	if (r == 0) {
		r = worker_io_watch(ec->w, grpc_client_fd(ec->g), WORKER_IO_READ, on_grpc_io, ec);
		if (r < 0)
			snprintf(ec->error, sizeof(ec->error), "watching the socket: %s",
				 strerror(-r));
	}
	if (r < 0) {
		ec->watching = false;
		ec->g = NULL;
		return r;
	}
	if (ec->lost_at_ms) {
		ec->reconnects++;
		if (i != prev)
			ec->failovers++;
		char reason[400];
		snprintf(reason, sizeof(reason),
			 "watching over %s again from revision %lld, %llu ms after the loss",
			 e->name, (long long)ec->rev + 1,
			 (unsigned long long)(ec->now_ms - ec->lost_at_ms));
		log_info("etcd: %s", reason);
		etcd_status(ec, true, reason);
	} else {
		log_info("etcd: connected to %s (member %llx, leader %llx, version %s)", e->name,
			 (unsigned long long)h->member_id, (unsigned long long)h->leader,
			 h->version);
	}
	ec->lost_at_ms = 0;
	ec->attempt = 0;
	/* the baseline of the change events: what this member said at connect */
	if (!e->has_h) {
		e->h = *h;
		e->has_h = true;
	}
	if (!ec->cluster.valid && sample_cluster(ec, ec->g, &ec->cluster) < 0)
		ec->cluster.valid = false;
	return 0;
}

/* The wait before the next round: 100 ms doubling per failed round up to reconnect_ms, a
 * random point in its upper half (nodes that lost etcd together do not retry in step). */
static uint64_t backoff(struct etcd_ctx *ec)
{
	uint64_t cap = ec->cfg->reconnect_ms, d = 100;
	for (unsigned i = 1; i < ec->attempt && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	return d / 2 + (uint64_t)rand_r(&ec->seed) % (d / 2 + 1);
}

/* One round over the endpoints, the one after the lost one first (the lost one last): the
 * first that connects, answers Status and takes the watch carries it. */
static void try_connect(struct etcd_ctx *ec)
{
	size_t n = ec->n_ep;
	for (size_t k = 0; k < n; k++) {
		int i = ec->cur < 0 ? (int)k : (int)(((size_t)ec->cur + 1 + k) % n);
		struct endpoint *e = &ec->ep[i];
		struct health h;
		int r = 0;
		if (!e->c || !grpc_client_connected(e->c))
			r = ep_open(ec, e);
		if (r == 0)
			r = sample_status(ec, e->c, &h);
		if (r == 0)
			r = start_watch(ec, i, &h);
		if (r == 0)
			return;
		log_warn("etcd: %s: %s", e->name, ec->error);
	}
	ec->attempt++;
	uint64_t d = backoff(ec);
	ec->next_connect_ms = ec->now_ms + d;
	char reason[sizeof(ec->error) + 32];
	snprintf(reason, sizeof(reason), "etcd unreachable: %s", ec->error);
	log_warn("etcd: no endpoint usable (round %u); retrying in %llu ms", ec->attempt,
		 (unsigned long long)d);
	if (ec->attempt == 1)
		etcd_status(ec, false, reason);
}

/* The watch's connection failed (EOF, GOAWAY, a failed call, the stream ended): keep what was
 * emitted (ec->rev), and go on with the next endpoint at once. */
static void conn_lost(struct etcd_ctx *ec, const char *why)
{
	if (!ec->g)
		return;
	log_warn("etcd: %s: connection lost (%s); failing over", ec->endpoint, why);
	worker_io_unwatch(ec->w, grpc_client_fd(ec->g));
	ec->g = NULL;
	ec->watching = false;
	ec->lost_at_ms = ec->now_ms ? ec->now_ms : 1;
	ec->attempt = 0;
	state_save(ec);
	char reason[sizeof(ec->endpoint) + 300];
	snprintf(reason, sizeof(reason), "connection to %s lost: %s", ec->endpoint, why);
	etcd_status(ec, false, reason);
	try_connect(ec);
}

static int on_grpc_io(struct worker *w, int fd, unsigned events, void *data)
{
	(void)w;
	(void)events;
	struct etcd_ctx *ec = data;
	if (!ec->g || fd != grpc_client_fd(ec->g))
		return 0;
	ec->now_ms = mono_ms();
	if (grpc_client_pump(ec->g) < 0) {
		char why[GRPC_ERR_LEN];
		snprintf(why, sizeof(why), "%s", grpc_client_last_error(ec->g));
		drain_watch(ec); /* what came before the end still counts */
		conn_lost(ec, why);
		return 0;
	}
	if (drain_watch(ec) < 0)
		conn_lost(ec, ec->error);
	return 0;
}

/* The endpoints of the config: resolved, TLS files read (the sandbox may not allow either
 * later), their ports allowed for connect(). An endpoint that fails here stays listed with
 * its error. */
static int setup_endpoints(struct etcd_ctx *ec)
{
	static const char *const fallback[] = {"127.0.0.1:2379"};
	const char *const *eps = (const char *const *)ec->cfg->endpoints.items;
	size_t n = ec->cfg->endpoints.n;
	if (n == 0) {
		eps = fallback;
		n = 1;
	}
	if (n > ETCD_ENDPOINTS_MAX)
		n = ETCD_ENDPOINTS_MAX; /* the config check refuses more */
	bool any_tls = false;
	for (size_t i = 0; i < n; i++) {
		struct endpoint *e = &ec->ep[ec->n_ep++];
		const char *ep = eps[i];
		snprintf(e->name, sizeof(e->name), "%s", ep);
		bool tls = ec->cfg->tls || (ec->cfg->tls_ca_file && *ec->cfg->tls_ca_file);
		if (strncmp(ep, "https://", 8) == 0) {
			ep += 8;
			tls = true;
		} else if (strncmp(ep, "http://", 7) == 0) {
			ep += 7;
		}
		any_tls |= tls;
		char host[256];
		snprintf(host, sizeof(host), "%s", ep);
		char *colon = strrchr(host, ':');
		if (!colon) {
			snprintf(e->error, sizeof(e->error), "%s: not host:port", eps[i]);
			continue;
		}
		*colon = '\0';
		char *h = host;
		if (h[0] == '[' && colon[-1] == ']') { /* [v6]:port */
			h++;
			colon[-1] = '\0';
		}
		unsigned long port = strtoul(colon + 1, NULL, 10);
		if (port == 0 || port > 65535) {
			snprintf(e->error, sizeof(e->error), "%s: bad port", eps[i]);
			continue;
		}
		int r = worker_allow_connect(ec->w, (uint16_t)port);
		if (r < 0)
			return r;
		struct grpc_tls t = {ec->cfg->tls_ca_file, ec->cfg->tls_cert_file,
				     ec->cfg->tls_key_file, ec->cfg->tls_server_name};
		r = grpc_client_new_tcp(h, colon + 1, ec->cfg->rpc_timeout_ms, tls ? &t : NULL,
					&e->c);
		if (r < 0) {
			const char *why = grpc_client_connect_error();
			snprintf(e->error, sizeof(e->error), "connect %s: %s", eps[i],
				 *why ? why : strerror(-r));
			log_warn("etcd: %s (not retried before a restart)", e->error);
			e->c = NULL;
			continue;
		}
		grpc_client_set_agent(e->c, "tapio-etcd/1");
	}
	/* the system store is looked up by hash while verifying, after the sandbox */
	if (any_tls && !(ec->cfg->tls_ca_file && *ec->cfg->tls_ca_file)) {
		worker_add_read_path(ec->w, "/etc/ssl/certs");
		worker_add_read_path(ec->w, "/usr/share/ca-certificates");
	}
	return 0;
}

/* ---- worker callbacks --------------------------------------------------------------------- */

static int etcd_setup(struct worker *w, void *ctx)
{
	struct etcd_ctx *ec = ctx;
	ec->w = w;
	ec->cfg = config_section(worker_config(w), "etcd");
	ec->tfd = ec->state_fd = -1;
	ec->cur = -1;
	ec->seed = (unsigned)getpid() ^ (unsigned)mono_ms();
	ec->prefix_len = strlen(ec->cfg->prefix);
	/* range_end of a prefix: the prefix with its last byte + 1 (the prefix starts with '/') */
	ec->range_end = malloc(ec->prefix_len);
	if (!ec->range_end)
		return -ENOMEM;
	memcpy(ec->range_end, ec->cfg->prefix, ec->prefix_len);
	size_t i = ec->prefix_len;
	while (i > 0 && ec->range_end[i - 1] == 0xff)
		i--;
	ec->range_end[i - 1]++;

	ec->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ec->tfd < 0)
		return -EPIPE;
	struct itimerspec its = {.it_interval = {0, TICK_MS * 1000000L},
				 .it_value = {0, TICK_MS * 1000000L}};
	if (timerfd_settime(ec->tfd, 0, &its, NULL) < 0 || worker_watch(w, ec->tfd) < 0)
		return -EPIPE;

	sync_setup(ec);
	int r = state_open(ec);
	if (r)
		return r;
	ec->now_ms = mono_ms();
	r = setup_endpoints(ec);
	if (r < 0)
		return r;
	if (ec->cfg->credentials_file && *ec->cfg->credentials_file) {
		r = read_credentials(ec->cfg->credentials_file, ec->user, sizeof(ec->user),
				     ec->pass, sizeof(ec->pass));
		if (r < 0) {
			/* a config problem a restart may fix (the file appears): say it, wait,
			 * exit */
			log_error("etcd: credentials file %s: %s; restarting in %u ms",
				  ec->cfg->credentials_file,
				  r == -EINVAL ? "not one line user:password" : strerror(-r),
				  ec->cfg->reconnect_ms);
			worker_set_degraded(w, "etcd credentials file unusable");
			worker_add_missing(w, "etcd connection");
			ec->creds_exit_ms = ec->now_ms + ec->cfg->reconnect_ms;
			return 0;
		}
	}
	try_connect(ec);
	if (!ec->g) {
		char reason[sizeof(ec->error) + 32];
		snprintf(reason, sizeof(reason), "etcd unreachable: %s", ec->error);
		log_error("etcd: %s; retrying with backoff", reason);
		worker_set_degraded(w, reason);
		worker_add_missing(w, "etcd connection");
		ec->lost_at_ms = ec->now_ms ? ec->now_ms : 1;
	}
	worker_add_hook(w, "etcd v3 watch");
	worker_add_hook(w, "etcd v3 maintenance status");
	ec->next_health_ms = ec->now_ms + ec->cfg->health_interval_ms;
	ec->next_state_ms = ec->now_ms + ec->cfg->state_interval_ms;
	return 0;
}

static int on_tick(struct etcd_ctx *ec)
{
	uint64_t n;
	if (read(ec->tfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -EPIPE;
	ec->now_ms = mono_ms();
	if (ec->creds_exit_ms) {
		if (ec->now_ms >= ec->creds_exit_ms) {
			log_warn("etcd: restarting to read the credentials file again");
			return -EHOSTUNREACH;
		}
		return 0;
	}
	if (!ec->g && ec->now_ms >= ec->next_connect_ms)
		try_connect(ec);
	if (ec->now_ms >= ec->next_health_ms) {
		ec->next_health_ms = ec->now_ms + ec->cfg->health_interval_ms;
		check_health(ec);
		/* watch messages that arrived during the calls are buffered: handle them now */
		if (ec->g && drain_watch(ec) < 0)
			conn_lost(ec, ec->error);
	}
	if (ec->now_ms >= ec->next_state_ms) {
		ec->next_state_ms = ec->now_ms + ec->cfg->state_interval_ms;
		state_save(ec);
	}
	return 0;
}

static int etcd_on_readable(struct worker *w, void *ctx, int fd)
{
	struct etcd_ctx *ec = ctx;
	if (fd == ec->tfd)
		return on_tick(ec);
	return 0;
}

static void etcd_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *stats)
{
	struct etcd_ctx *ec = ctx;
	struct worker_counters *c = worker_counters(w);
	c->records_read = ec->puts + ec->deletes + ec->slow_syncs;
	c->decode_errors = ec->undecodable;
	worker_set_counter(w, "reconnects", ec->reconnects);
	worker_set_counter(w, "failovers", ec->failovers);
	worker_set_counter(w, "resyncs", ec->resyncs);
	worker_set_counter(w, "repeats_skipped", ec->repeats);
	uint64_t sums[TAPIO_CNT_MAX];
	if (ec->skel && kevent_counters_sum(bpf_map__fd(ec->skel->maps.counters), sums) == 0) {
		stats->has_kernel_drops = 1;
		stats->kernel_drops = sums[TAPIO_CNT_RINGBUF_DROP];
	}
}

static void etcd_teardown(struct worker *w, void *ctx)
{
	struct etcd_ctx *ec = ctx;
	if (ec->state_fd >= 0) {
		state_save(ec);
		close(ec->state_fd);
	}
	for (size_t i = 0; i < ec->n_ep; i++)
		grpc_client_free(ec->ep[i].c);
	ec->g = NULL;
	explicit_bzero(ec->pass, sizeof(ec->pass));
	if (ec->tfd >= 0)
		close(ec->tfd);
	kmap_free(&ec->keys);
	free(ec->range_end);
	etcd_bpf__destroy(ec->skel);
	log_info("etcd: %llu puts, %llu deletes (%llu of Secrets), %llu re-lists, %llu reconnects "
		 "(%llu to another endpoint), revision %lld",
		 (unsigned long long)ec->puts, (unsigned long long)ec->deletes,
		 (unsigned long long)ec->secrets, (unsigned long long)ec->resyncs,
		 (unsigned long long)ec->reconnects, (unsigned long long)ec->failovers,
		 (long long)ec->rev);
}

static const struct worker_collector etcd_collector = {
	.name = "etcd",
	.setup = etcd_setup,
	.on_readable = etcd_on_readable,
	.fill_stats = etcd_fill_stats,
	.teardown = etcd_teardown,
};

int main(int argc, char **argv)
{
	static struct etcd_ctx ctx;
	return worker_main(argc, argv, &etcd_collector, &ctx);
}
