// SPDX-License-Identifier: Apache-2.0
// The kubeapi collector's worker: one reflector per resource (and per namespace when
// namespaces_include names some), as client-go's: list in pages, then watch from the list's
// resourceVersion with bookmarks; a dropped stream resumes from the last resourceVersion seen;
// 410 Gone (an ERROR event inside the stream, or the HTTP status) re-lists and emits only what
// differs from the store; errors back off with jitter. Bodies are framed incrementally
// (kubeapi_stream.c) and kept as compact records (kubeapi_store.c); every change is one
// k8s.object event. All of it runs on the worker's loop through common/httpc.c.
//
// Watch-list (watch_list: auto/on): the initial state comes from the watch itself, as client-go's
// WatchListClient does: watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&
// allowWatchBookmarks=true from the last resourceVersion ("" at first or after a 410 on a
// watch-list); the server streams ADDED events for the current state and then a BOOKMARK
// annotated k8s.io/initial-events-end: "true". That state is handled like a list's (compared with
// the store; what it lacks is DELETED), then the same stream goes on as the watch. A server that
// refuses it (422 Invalid "sendInitialEvents is forbidden for watch unless the WatchList feature
// gate is enabled", a 400, any error other than 410 inside the stream before the bookmark, or a
// stream that twice ends without the bookmark) makes that reflector fall back to list+watch for
// good (auto; logged once, counted); with watch_list: on it is an error retried with backoff.
#include <errno.h>
#include <libgen.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "httpc.h"
#include "kubeapi_config.h"
#include "kubeapi_kubeconfig.h"
#include "kubeapi_store.h"
#include "kubeapi_stream.h"
#include "log.h"
#include "timeconv.h"
#include "worker.h"

#define ACCEPT_JSON "application/json"
/* PartialObjectMetadata (meta.k8s.io/v1): the server strips everything but metadata. No
 * fallback type: a server that cannot do it answers 406 rather than send Secret data. */
#define ACCEPT_META_LIST  "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
#define ACCEPT_META_WATCH "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
#define LIST_TIMEOUT_MS	  120000
#define RV_MAX		  64
#define URL_MAX		  2048

struct kubeapi;

enum rstate { R_IDLE, R_LISTING, R_WATCHING, R_WAITING };

struct reflector {
	struct kubeapi *k;
	enum kres res;
	const char *ns; /* borrowed from the config; NULL = every namespace */
	enum rstate state;
	char rv[RV_MAX]; /* the last resourceVersion seen (list, event, bookmark) */
	char *cont;	 /* owned; the continue token of the next list page */
	bool listed;	 /* a list completed once */
	bool relist;	 /* the list running follows a 410 / lost history: flag its events */
	bool gone;	 /* the stream said 410 */
	bool initial;	 /* the list running is the first one */
	bool wl_off;	 /* list+watch here: watch_list off, or the server refused watch-list */
	bool wl_initial; /* the watch running is a watch-list still streaming the initial state */
	bool rv_unavailable; /* the next watch-list starts from "" (410 on the last one) */
	uint32_t wl_noend; /* watch-lists in a row that ended without the initial-events-end mark */
	char wl_error[200]; /* an ERROR other than 410 inside a watch-list's initial events */
	bool unhealthy;	    /* its last request failed for a DEGRADED reason (set_health) */
	uint32_t gen;	    /* the generation of the list running */
	uint32_t attempts;  /* consecutive failures (backoff) */
	long last_fail;	    /* the last failure's status (or -errno), logged once per change */
	struct kstream ks;
	struct httpc_req *req;
	struct worker_timer *timer;
};

struct kubeapi {
	struct worker *w;
	const struct config_kubeapi *cfg;
	const char *node;
	struct httpc *http;
	char base[512]; /* https://host:port */
	struct kubeconfig kc;
	struct kstore store;
	struct reflector *refl;
	size_t nrefl;
	uint32_t gen;
	json_tokener *tok;
	const char **annotations; /* owned array, NULL-terminated */
	struct kdecode_opts dopts;
	int probe_pending;
	char degraded[256];
	bool health_bad;		  /* set_health(): the last state reported was DEGRADED */
	const char *ca_path, *token_path; /* in effect (config or kubeconfig); for messages */
	bool wl_fallback_logged;

	/* counters (logged with the stats) */
	uint64_t lists, watches, relists, gone, cut_streams, oversized, duplicates, unchanged;
	uint64_t denied, failures;
	uint64_t watchlists, wl_synced, wl_fallbacks;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- URLs -------------------------------------------------------------------------------- */

/* Percent-encode a query value (RFC 3986 unreserved stay). */
static void put_escaped(struct strbuf *sb, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			strbuf_append_char(sb, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			strbuf_append(sb, e, 3);
		}
	}
}

/* The field selector of a reflector: this node's pods, excluded namespaces. */
static void field_selector(const struct reflector *r, struct strbuf *sel)
{
	const struct config_kubeapi *c = r->k->cfg;
	if (r->res == KRES_PODS && !c->pods_all_nodes)
		strbuf_appendf(sel, "spec.nodeName=%s", r->k->node);
	if (!r->ns && kubeapi_resources[r->res].namespaced)
		for (size_t i = 0; i < c->namespaces_exclude.n; i++)
			strbuf_appendf(sel, "%smetadata.namespace!=%s", sel->len ? "," : "",
				       c->namespaces_exclude.items[i]);
	if (r->res == KRES_NAMESPACES)
		for (size_t i = 0; i < c->namespaces_exclude.n; i++)
			strbuf_appendf(sel, "%smetadata.name!=%s", sel->len ? "," : "",
				       c->namespaces_exclude.items[i]);
}

/* list (watch false) or watch URL of a reflector into sb. */
static int build_url(const struct reflector *r, bool watch, uint32_t limit, struct strbuf *sb)
{
	const struct kres_def *d = &kubeapi_resources[r->res];
	strbuf_reset(sb);
	strbuf_appendf(sb, "%s%s", r->k->base, d->prefix);
	if (r->ns)
		strbuf_appendf(sb, "/namespaces/%s", r->ns);
	strbuf_appendf(sb, "/%s?", d->name);
	struct strbuf sel = STRBUF_INIT;
	strbuf_init(&sel, 4096);
	field_selector(r, &sel);
	if (sel.len) {
		strbuf_append_str(sb, "fieldSelector=");
		put_escaped(sb, sel.data);
		strbuf_append_char(sb, '&');
	}
	strbuf_release(&sel);
	if (watch) {
		/* client-go: a random timeout in [min, 2*min) spreads the re-watches */
		uint32_t t = r->k->cfg->watch_timeout_s;
		t += (uint32_t)(rand() % (int)(t ? t : 1));
		if (r->wl_initial) {
			/* client-go's watchList(): a consistent snapshot from "" (first, or the
			 * last one was 410), else not older than what we have seen */
			strbuf_appendf(sb,
				       "watch=1&sendInitialEvents=true&resourceVersionMatch="
				       "NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=%u",
				       t);
			if (r->rv[0] && !r->rv_unavailable) {
				strbuf_append_str(sb, "&resourceVersion=");
				put_escaped(sb, r->rv);
			}
			return sb->len < URL_MAX ? 0 : -ENAMETOOLONG;
		}
		strbuf_appendf(sb, "watch=1&allowWatchBookmarks=true&timeoutSeconds=%u", t);
		strbuf_append_str(sb, "&resourceVersion=");
		put_escaped(sb, r->rv);
	} else {
		strbuf_appendf(sb, "limit=%u", limit);
		if (r->cont) {
			strbuf_append_str(sb, "&continue=");
			put_escaped(sb, r->cont);
		}
	}
	return sb->len < URL_MAX ? 0 : -ENAMETOOLONG;
}

/* ---- events ------------------------------------------------------------------------------ */

static void emit(struct kubeapi *k, const struct kobj *o, const char *action, uint32_t changed,
		 bool relist)
{
	struct karena a = {0};
	Tapio__V1__K8sObjectEvent ko;
	if (kobj_event(&k->store, o, action, changed, &a, &ko) < 0) {
		karena_free(&a);
		worker_counters(k->w)->decode_errors++;
		return;
	}
	if (relist) {
		ko.has_relist = 1;
		ko.relist = 1;
	}
	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint64_t wall = now_ns();
	ts.seconds = (int64_t)(wall / 1000000000ull);
	ts.nanos = (int32_t)(wall % 1000000000ull);
	ev.type = "k8s.object";
	ev.time = &ts;
	ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_K8S_OBJECT;
	ev.k8s_object = &ko;
	Tapio__V1__KubernetesContext kc = TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	if (o->res == KRES_PODS) {
		/* the pod's own identity, the key other collectors' events are joined on */
		kc.pod_uid = ko.uid;
		kc.pod_name = ko.name;
		kc.namespace_ = ko.namespace_;
		ev.k8s = &kc;
	}
	worker_emit(k->w, &ev);
	karena_free(&a);
}

/* An object seen by a list or an ADDED/MODIFIED event: store it, emit what changed. */
static void upsert(struct reflector *r, struct kobj *o, bool from_list)
{
	struct kubeapi *k = r->k;
	o->gen = r->gen;
	const struct kobj *cur = kstore_by_uid(&k->store, kobj_get(o, KF_UID));
	if (cur && strcmp(kobj_get(cur, KF_RV), kobj_get(o, KF_RV)) == 0) {
		/* the same version again (a re-list, a resumed watch): nothing happened */
		((struct kobj *)cur)->gen = r->gen;
		k->duplicates++;
		free(o);
		return;
	}
	struct kobj *old = NULL;
	kstore_put(&k->store, o, &old);
	if (!old) {
		if (!(from_list && r->initial && !k->cfg->initial_events))
			emit(k, o, "ADDED", 0, from_list && r->relist);
	} else {
		uint32_t mask = kobj_diff(old, o);
		if (mask)
			emit(k, o, "MODIFIED", mask, from_list && r->relist);
		else
			k->unchanged++; /* only fields we do not keep changed (status heartbeats) */
		free(old);
	}
}

static void deleted(struct reflector *r, struct kobj *o)
{
	struct kubeapi *k = r->k;
	struct kobj *old = kstore_del(&k->store, kobj_get(o, KF_UID));
	emit(k, o, "DELETED", 0, false);
	free(old);
	free(o);
}

struct sweep_ctx {
	struct reflector *r;
};

static void on_swept(struct kobj *o, void *arg)
{
	struct reflector *r = arg;
	emit(r->k, o, "DELETED", 0, true);
	free(o);
}

static json_object *parse(struct kubeapi *k, const char *json, size_t len)
{
	json_tokener_reset(k->tok);
	json_object *o = json_tokener_parse_ex(k->tok, json, (int)len);
	if (!o || json_tokener_get_error(k->tok) != json_tokener_success) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static const char *jstr_at(json_object *o, const char *a, const char *b)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static void set_rv(struct reflector *r, const char *rv)
{
	if (rv && *rv && strlen(rv) < sizeof(r->rv))
		snprintf(r->rv, sizeof(r->rv), "%s", rv);
}

/* The BOOKMARK that ends a watch-list's initial events: metadata.annotations
 * "k8s.io/initial-events-end": "true" (metav1.InitialEventsAnnotationKey). */
static bool initial_events_end(json_object *obj)
{
	json_object *md, *ann, *v;
	return json_object_object_get_ex(obj, "metadata", &md) &&
	       json_object_object_get_ex(md, "annotations", &ann) &&
	       json_object_object_get_ex(ann, "k8s.io/initial-events-end", &v) &&
	       json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), "true") == 0;
}

static void set_health(struct kubeapi *k, const char *degraded);

/* A list or a watch-list's initial events are complete: what the store holds for this
 * reflector but they did not is gone. */
static void synced(struct reflector *r)
{
	struct kubeapi *k = r->k;
	kstore_sweep(&k->store, r->res, r->ns, r->gen, on_swept, r);
	/* the initial state went through json-c object by object: give the freed heap back */
	malloc_trim(0);
	r->listed = true;
	r->relist = r->initial = false;
	r->attempts = 0;
	r->last_fail = 0;
	if (k->oversized < r->ks.oversized_objects)
		k->oversized = r->ks.oversized_objects;
	r->unhealthy = false;
	set_health(k, NULL);
}

/* kstream callback: one list item or one watch event. */
static int on_object(void *arg, const char *json, size_t len)
{
	struct reflector *r = arg;
	struct kubeapi *k = r->k;
	worker_counters(k->w)->records_read++;
	json_object *root = parse(k, json, len);
	if (!root) {
		worker_counters(k->w)->decode_errors++;
		return 0;
	}
	int ret = 0;
	struct kobj *o = NULL;
	if (r->state == R_LISTING) {
		if (kobj_from_json(r->res, root, &k->dopts, &o) == 0)
			upsert(r, o, true);
		else
			worker_counters(k->w)->decode_errors++;
		goto out;
	}
	json_object *obj = NULL;
	const char *type = jstr_at(root, "type", NULL);
	json_object_object_get_ex(root, "object", &obj);
	if (!type || !obj) {
		worker_counters(k->w)->decode_errors++;
		goto out;
	}
	if (r->unhealthy && strcmp(type, "ERROR") != 0) {
		r->unhealthy = false; /* the server answers again */
		set_health(k, NULL);
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		if (!r->wl_initial) {
			set_rv(r, jstr_at(obj, "metadata", "resourceVersion"));
		} else if (initial_events_end(obj)) {
			/* the initial state is complete at this resourceVersion; the stream goes
			 * on as the watch (client-go keeps any earlier bookmark's RV aside too) */
			set_rv(r, jstr_at(obj, "metadata", "resourceVersion"));
			r->wl_initial = false;
			r->wl_noend = 0;
			r->rv_unavailable = false;
			k->wl_synced++;
			synced(r);
		}
	} else if (strcmp(type, "ERROR") == 0) {
		/* a Status inside the stream: 410 means our resourceVersion is too old */
		json_object *code = NULL;
		json_object_object_get_ex(obj, "code", &code);
		int c = code ? json_object_get_int(code) : 0;
		if (c == 410) {
			r->gone = true;
			ret = -ESTALE;
		} else if (r->wl_initial) {
			/* decided by on_watch_done: fall back to list+watch (auto) or retry */
			snprintf(r->wl_error, sizeof(r->wl_error), "error %d in the stream: %.150s",
				 c, jstr_at(obj, "message", NULL) ?: "");
			ret = -EPROTO;
		} else {
			log_warn("kubeapi: watch %s: error %d in the stream: %s",
				 kubeapi_resources[r->res].name, c,
				 jstr_at(obj, "message", NULL) ?: "");
			ret = -EPROTO;
		}
	} else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0 ||
		   strcmp(type, "DELETED") == 0) {
		if (kobj_from_json(r->res, obj, &k->dopts, &o) < 0) {
			worker_counters(k->w)->decode_errors++;
			goto out;
		}
		if (!r->wl_initial) {
			/* initial events come in key order, not resourceVersion order: only the
			 * end bookmark's resourceVersion counts for them */
			set_rv(r, kobj_get(o, KF_RV));
			r->attempts = 0; /* the stream works: the next failure retries at once */
		}
		if (type[0] == 'D')
			deleted(r, o);
		else
			upsert(r, o, r->wl_initial); /* initial events: like a list's items */
	} else {
		worker_counters(k->w)->decode_errors++;
	}
out:
	json_object_put(root);
	return ret;
}

/* ---- the reflector ----------------------------------------------------------------------- */

static void start_list(struct reflector *r);
static void start_watch(struct reflector *r);
static void start_watchlist(struct reflector *r);

/* DEGRADED / READY while running: logged on a transition and sent to tapiod as a Status frame
 * (worker_set_degraded/worker_set_ready send only changes). degraded: the reason, NULL =
 * working again (once no reflector fails). */
static void set_health(struct kubeapi *k, const char *degraded)
{
	if (!degraded)
		for (size_t i = 0; i < k->nrefl; i++)
			if (k->refl[i].unhealthy)
				return; /* another reflector still fails */
	if (degraded && !k->health_bad)
		log_warn("kubeapi: DEGRADED: %s", degraded);
	else if (!degraded && k->health_bad)
		log_info("kubeapi: READY again: the API server answers");
	k->health_bad = degraded != NULL;
	/* a Status frame to tapiod on a change only; also clears setup's probe reason once
	 * every reflector has synced */
	int r = degraded ? worker_set_degraded(k->w, degraded) : worker_set_ready(k->w);
	if (r < 0)
		log_warn("kubeapi: cannot report the state: %s", strerror(-r));
}

static bool use_watchlist(const struct reflector *r)
{
	return r->k->cfg->watch_list != CONFIG_KUBEAPI_WATCH_LIST_OFF && !r->wl_off;
}

/* The initial state (again): a watch-list where the server offers it, else a paged list. */
static void start_sync(struct reflector *r)
{
	if (use_watchlist(r))
		start_watchlist(r);
	else
		start_list(r);
}

static void schedule(struct reflector *r, uint32_t delay_ms)
{
	r->state = R_WAITING;
	worker_timer_arm(r->timer, delay_ms);
}

/* Exponential backoff with ±50 % jitter. */
static void backoff(struct reflector *r)
{
	const struct config_kubeapi *c = r->k->cfg;
	uint64_t d = c->backoff_initial_ms;
	for (uint32_t i = 0; i < r->attempts && d < c->backoff_max_ms; i++)
		d *= 2;
	if (d > c->backoff_max_ms)
		d = c->backoff_max_ms;
	d = d / 2 + (uint64_t)rand() % (d + 1);
	r->attempts++;
	schedule(r, (uint32_t)d);
}

/* A failed request: say why once per kind of failure, then back off. */
static void failed(struct reflector *r, const char *verb, const struct httpc_response *resp)
{
	struct kubeapi *k = r->k;
	const struct kres_def *d = &kubeapi_resources[r->res];
	long what = resp->err ? resp->err : resp->status;
	k->failures++;
	if (what != r->last_fail) {
		r->last_fail = what;
		char scope[128] = "cluster-wide";
		if (r->ns)
			snprintf(scope, sizeof(scope), "in namespace %s", r->ns);
		if (resp->status == 401)
			log_warn("kubeapi: %s %s: 401 Unauthorized: the API server rejected the "
				 "token (token_file %s)",
				 verb, d->name, k->token_path ?: "none");
		else if (resp->status == 403)
			log_warn("kubeapi: %s %s: 403 Forbidden: RBAC does not grant verb '%s' on "
				 "resource '%s' (apiGroup \"%s\") %s: see "
				 "deploy/kubernetes/rbac.yaml",
				 verb, d->name, verb, d->name, d->group, scope);
		else if (resp->err == -EKEYREJECTED)
			log_warn(
				"kubeapi: %s %s: the API server's certificate does not verify with "
				"ca_file %s: %s",
				verb, d->name, k->ca_path ?: "none",
				resp->error && *resp->error ? resp->error : "rejected");
		else if (resp->err)
			log_warn("kubeapi: %s %s: %s", verb, d->name,
				 resp->error && *resp->error ? resp->error : strerror(-resp->err));
		else
			log_warn("kubeapi: %s %s: HTTP %ld: %.200s", verb, d->name, resp->status,
				 resp->body ? resp->body : "");
	}
	if (resp->status == 401 || resp->status == 403)
		k->denied++;
	char why[200];
	if (resp->status == 401)
		snprintf(why, sizeof(why), "401 Unauthorized: the token was rejected");
	else if (resp->status == 403)
		snprintf(why, sizeof(why), "403 Forbidden: RBAC lacks verb '%s' on %s%s%s", verb,
			 d->name, d->group[0] ? "." : "", d->group);
	else if (resp->err == -EKEYREJECTED)
		snprintf(why, sizeof(why),
			 "the API server's certificate does not verify with ca_file");
	else if (resp->err && resp->err != -EPROTO)
		snprintf(why, sizeof(why), "API server unreachable: %.150s",
			 resp->error && *resp->error ? resp->error : strerror(-resp->err));
	else
		why[0] = '\0';
	if (why[0]) {
		r->unhealthy = true;
		set_health(k, why);
	}
	backoff(r);
}

static void on_list_done(void *data, const struct httpc_response *resp)
{
	struct reflector *r = data;
	struct kubeapi *k = r->k;
	r->req = NULL;
	if (resp->err == 0 && resp->status == 410) {
		/* the continue token expired: the list starts over */
		free(r->cont);
		r->cont = NULL;
		start_list(r);
		return;
	}
	size_t n = 0;
	const char *shell = NULL;
	if (resp->err == 0 && resp->status == 200 && kstream_finish(&r->ks) == 0)
		shell = kstream_shell(&r->ks, &n);
	json_object *root = shell ? parse(k, shell, n) : NULL;
	if (!root) {
		free(r->cont);
		r->cont = NULL;
		if (resp->err == 0 && resp->status == 200) {
			struct httpc_response bad = *resp;
			bad.err = -EPROTO;
			bad.error = "list body cut or not a list";
			failed(r, "list", &bad);
		} else {
			failed(r, "list", resp);
		}
		return;
	}
	const char *rv = jstr_at(root, "metadata", "resourceVersion");
	const char *cont = jstr_at(root, "metadata", "continue");
	set_rv(r, rv);
	free(r->cont);
	r->cont = cont && *cont ? strdup(cont) : NULL;
	json_object_put(root);
	if (r->cont) {
		start_list(r); /* the next page */
		return;
	}
	synced(r);
	start_watch(r);
}

static int on_chunk(void *data, const char *buf, size_t len)
{
	struct reflector *r = data;
	uint64_t before = r->ks.oversized_objects;
	int ret = kstream_feed(&r->ks, buf, len);
	if (r->ks.oversized_objects != before) {
		r->k->oversized++;
		worker_counters(r->k->w)->decode_errors++;
		log_warn("kubeapi: %s: an object over max_object_kib (%u KiB) was skipped",
			 kubeapi_resources[r->res].name, r->k->cfg->max_object_kib);
	}
	return ret;
}

/* The message of a Status body, else the body (for logs). */
static void status_message(struct kubeapi *k, const struct httpc_response *resp, char *out,
			   size_t size)
{
	json_object *st = resp->body ? parse(k, resp->body, strlen(resp->body)) : NULL;
	const char *msg = st ? jstr_at(st, "message", NULL) : NULL;
	snprintf(out, size, "%.300s", msg ? msg : resp->body ? resp->body : "");
	json_object_put(st);
}

/* The server does not do watch-list for this reflector: list+watch from now on. */
static void watchlist_refused(struct reflector *r, const char *why)
{
	struct kubeapi *k = r->k;
	r->wl_off = true;
	r->wl_initial = false;
	k->wl_fallbacks++;
	if (!k->wl_fallback_logged) {
		k->wl_fallback_logged = true;
		log_info("kubeapi: watch-list (sendInitialEvents) refused for %s: %s: list+watch "
			 "instead (logged once; counted as watch-list fallbacks)",
			 kubeapi_resources[r->res].name, why);
	}
	start_list(r);
}

/* A watch-list ended before its initial-events-end bookmark. As client-go's watchList(): 410
 * (the resourceVersion is unavailable) → again from "", a cut or an end → again; a refusal
 * (422/400, another error inside the stream, or twice no end bookmark) → list+watch (auto) or
 * an error retried with backoff (on). */
static void on_watchlist_done(struct reflector *r, const struct httpc_response *resp)
{
	struct kubeapi *k = r->k;
	const char *name = kubeapi_resources[r->res].name;
	bool gone = r->gone || (resp->err == 0 && resp->status == 410);
	r->gone = false;
	r->wl_initial = false;
	if (gone) {
		k->gone++;
		log_info("kubeapi: watch-list %s: 410 Gone from resourceVersion \"%s\": again from "
			 "the current state",
			 name, r->rv_unavailable ? "" : r->rv);
		r->rv_unavailable = true;
		r->relist = r->listed;
		if (r->attempts++ == 0)
			start_watchlist(r);
		else
			backoff(r);
		return;
	}
	char why[400] = "";
	bool ended = resp->err == 0 && resp->status == 200;
	if (resp->err == 0 && (resp->status == 400 || resp->status == 422)) {
		char msg[320];
		status_message(k, resp, msg, sizeof(msg));
		snprintf(why, sizeof(why), "HTTP %ld: %s", resp->status, msg);
	} else if (r->wl_error[0]) {
		snprintf(why, sizeof(why), "%s", r->wl_error);
	} else if (ended && kstream_finish(&r->ks) == 0 && ++r->wl_noend >= 2) {
		snprintf(why, sizeof(why),
			 "the stream ended twice without the initial-events-end bookmark");
	}
	if (why[0]) {
		if (k->cfg->watch_list == CONFIG_KUBEAPI_WATCH_LIST_AUTO) {
			watchlist_refused(r, why);
			return;
		}
		/* watch_list: on: the server must do it; an error, retried */
		if (r->last_fail != -EPROTO)
			log_warn("kubeapi: watch-list %s refused (watch_list: on; auto would fall "
				 "back to list+watch): %s",
				 name, why);
		r->last_fail = -EPROTO;
		k->failures++;
		r->unhealthy = true;
		set_health(k, "the API server refuses watch-list (watch_list: on)");
		backoff(r);
		return;
	}
	if (ended || resp->err == -ECONNRESET || resp->err == -EPIPE) {
		/* cut or ended before the end: the initial events again, from the same point */
		k->cut_streams++;
		if (r->attempts++ == 0)
			start_watchlist(r);
		else
			backoff(r);
		return;
	}
	failed(r, "watch", resp);
}

static void on_watch_done(void *data, const struct httpc_response *resp)
{
	struct reflector *r = data;
	struct kubeapi *k = r->k;
	r->req = NULL;
	if (r->wl_initial) {
		on_watchlist_done(r, resp);
		return;
	}
	if (r->gone || (resp->err == 0 && resp->status == 410)) {
		/* our resourceVersion left the server's history: the state again (re-list or
		 * watch-list), emit the differences */
		r->gone = false;
		k->gone++;
		k->relists++;
		log_info("kubeapi: watch %s: 410 Gone at resourceVersion %s: %s",
			 kubeapi_resources[r->res].name, r->rv,
			 use_watchlist(r) ? "watch-list again" : "re-listing");
		/* a watch-list asks for a state not older than the last resourceVersion (as
		 * client-go); a list is always of the current state */
		if (!use_watchlist(r))
			r->rv[0] = '\0';
		r->relist = true;
		if (r->attempts++ == 0)
			start_sync(r);
		else
			backoff(r); /* 410 again right after a list: do not spin */
		return;
	}
	if (resp->err == 0 && resp->status == 200) {
		/* the server ended the watch (timeoutSeconds): resume where we are */
		if (kstream_finish(&r->ks) < 0)
			k->cut_streams++;
		r->attempts = 0;
		r->last_fail = 0;
		start_watch(r);
		return;
	}
	if (resp->err == -ECONNRESET || resp->err == -EPIPE) {
		/* the stream was cut (mid-object or not): resume from the last resourceVersion */
		k->cut_streams++;
		if (r->attempts++ == 0) {
			start_watch(r);
			return;
		}
		backoff(r);
		return;
	}
	failed(r, "watch", resp);
}

static void start_list(struct reflector *r)
{
	struct kubeapi *k = r->k;
	struct strbuf url = STRBUF_INIT;
	strbuf_init(&url, URL_MAX * 2);
	if (!r->cont) {
		r->gen = ++k->gen;
		r->initial = !r->listed;
		k->lists++;
	}
	r->state = R_LISTING;
	kstream_reset(&r->ks, KSTREAM_LIST);
	int ret = build_url(r, false, k->cfg->page_size, &url);
	struct httpc_request req = {
		.url = url.data,
		.accept = kubeapi_resources[r->res].metadata_only ? ACCEPT_META_LIST : ACCEPT_JSON,
		.timeout_ms = LIST_TIMEOUT_MS,
		.max_body = 1u << 20, /* an error body; a 200 body streams */
		.on_chunk = on_chunk,
		.on_done = on_list_done,
		.data = r,
	};
	if (ret == 0)
		ret = httpc_get(k->http, &req, &r->req);
	strbuf_release(&url);
	if (ret < 0) {
		struct httpc_response resp = {.err = ret, .error = httpc_last_error(k->http)};
		failed(r, "list", &resp);
	}
}

/* The watch request of reflector r (a plain watch or a watch-list, as build_url makes it for
 * r's state), its stream parsed by on_chunk. 0, or -errno with nothing in flight. */
static int send_watch(struct reflector *r)
{
	struct kubeapi *k = r->k;
	struct strbuf url = STRBUF_INIT;
	strbuf_init(&url, URL_MAX * 2);
	kstream_reset(&r->ks, KSTREAM_WATCH);
	int ret = build_url(r, true, 0, &url);
	struct httpc_request req = {
		.url = url.data,
		.accept = kubeapi_resources[r->res].metadata_only ? ACCEPT_META_WATCH : ACCEPT_JSON,
		/* the server ends it after timeoutSeconds; a stalled one ends here */
		.timeout_ms = (k->cfg->watch_timeout_s * 2 + 30) * 1000,
		.max_body = 1u << 20,
		.on_chunk = on_chunk,
		.on_done = on_watch_done,
		.data = r,
	};
	if (ret == 0)
		ret = httpc_get(k->http, &req, &r->req);
	strbuf_release(&url);
	return ret;
}

static void start_watch(struct reflector *r)
{
	struct kubeapi *k = r->k;
	if (!r->rv[0]) {
		start_sync(r);
		return;
	}
	r->state = R_WATCHING;
	r->wl_initial = false;
	k->watches++;
	int ret = send_watch(r);
	if (ret < 0) {
		struct httpc_response resp = {.err = ret, .error = httpc_last_error(k->http)};
		failed(r, "watch", &resp);
	}
}

/* A watch whose first events are the current state (client-go's watchList()). */
static void start_watchlist(struct reflector *r)
{
	struct kubeapi *k = r->k;
	r->gen = ++k->gen;
	r->initial = !r->listed;
	r->state = R_WATCHING;
	r->wl_initial = true;
	r->wl_error[0] = '\0';
	r->gone = false;
	k->watchlists++;
	int ret = send_watch(r);
	if (ret < 0) {
		r->wl_initial = false;
		struct httpc_response resp = {.err = ret, .error = httpc_last_error(k->http)};
		failed(r, "watch", &resp);
	}
}

static int on_timer(struct worker *w, void *data)
{
	struct reflector *r = data;
	if (r->listed && r->rv[0] && !r->relist)
		start_watch(r);
	else
		start_sync(r);
	return 0;
}

/* ---- setup: the probe -------------------------------------------------------------------- */

/* One `list limit=1` per reflector before READY: whether the server answers, the CA fits, the
 * token is accepted and RBAC lets us list. What fails makes the worker DEGRADED (it keeps
 * trying with backoff once running). */
static void on_probe_done(void *data, const struct httpc_response *resp)
{
	struct reflector *r = data;
	struct kubeapi *k = r->k;
	const struct kres_def *d = &kubeapi_resources[r->res];
	r->req = NULL;
	k->probe_pending--;
	if (resp->err == 0 && resp->status == 200)
		return;
	char why[256];
	if (resp->status == 401)
		snprintf(why, sizeof(why), "401 Unauthorized: the token was rejected");
	else if (resp->status == 403)
		snprintf(why, sizeof(why),
			 "403 Forbidden: RBAC lacks verb 'list' on %s%s%s (list and watch are "
			 "needed)",
			 d->name, d->group[0] ? "." : "", d->group);
	else if (resp->err == -EKEYREJECTED)
		snprintf(why, sizeof(why),
			 "the API server's certificate does not verify with ca_file %.60s: %.80s",
			 k->ca_path ?: "none",
			 resp->error && *resp->error ? resp->error : "rejected");
	else if (resp->err)
		snprintf(why, sizeof(why), "API server unreachable: %s",
			 resp->error && *resp->error ? resp->error : strerror(-resp->err));
	else
		snprintf(why, sizeof(why), "list %s: HTTP %ld", d->name, resp->status);
	log_warn("kubeapi: probe: %s", why);
	r->unhealthy = true;
	k->health_bad = true; /* DEGRADED from setup on */
	if (!k->degraded[0])
		snprintf(k->degraded, sizeof(k->degraded), "%s", why);
}

static void probe(struct kubeapi *k, const struct httpc_opts *opts)
{
	/* on a bare loop of its own: nothing of the worker's loop runs before READY, and the
	 * wait sleeps in epoll instead of spinning on the worker's tick */
	struct worker *loop = NULL;
	struct httpc *http = NULL;
	int ret = worker_loop_new(&loop);
	if (ret == 0)
		ret = httpc_new(loop, opts, &http);
	if (ret < 0) {
		snprintf(k->degraded, sizeof(k->degraded), "cannot probe: %s", strerror(-ret));
		httpc_free(http);
		worker_loop_free(loop);
		return;
	}
	struct strbuf url = STRBUF_INIT;
	strbuf_init(&url, URL_MAX * 2);
	for (size_t i = 0; i < k->nrefl; i++) {
		struct reflector *r = &k->refl[i];
		if (build_url(r, false, 1, &url) < 0)
			continue;
		struct httpc_request req = {
			.url = url.data,
			.accept = kubeapi_resources[r->res].metadata_only ? ACCEPT_META_LIST
									  : ACCEPT_JSON,
			.timeout_ms = k->cfg->probe_timeout_ms,
			.max_body = 4u << 20,
			.on_done = on_probe_done,
			.data = r,
		};
		ret = httpc_get(http, &req, &r->req);
		if (ret < 0) {
			snprintf(k->degraded, sizeof(k->degraded), "cannot start requests: %s",
				 httpc_last_error(http)[0] ? httpc_last_error(http)
							   : strerror(-ret));
			break;
		}
		k->probe_pending++;
	}
	strbuf_release(&url);
	uint64_t deadline = timeconv_now_mono_ns() +
			    (uint64_t)k->cfg->probe_timeout_ms * 1000000ull + 500000000ull;
	while (k->probe_pending > 0 && timeconv_now_mono_ns() < deadline)
		if (worker_loop_run_once(loop, 100) < 0)
			break;
	httpc_free(http); /* cancels what did not answer */
	worker_loop_free(loop);
	for (size_t i = 0; i < k->nrefl; i++)
		k->refl[i].req = NULL;
	if (k->probe_pending > 0 && !k->degraded[0])
		snprintf(k->degraded, sizeof(k->degraded), "API server did not answer within %u ms",
			 k->cfg->probe_timeout_ms);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static int add_read_path(struct worker *w, const char *file, bool dir)
{
	if (!file || !file[0])
		return 0;
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", file);
	/* a projected token is a symlink swapped on rotation: its directory is what lasts */
	return worker_add_read_path(w, dir ? dirname(buf) : buf);
}

static int add_reflector(struct kubeapi *k, enum kres res, const char *ns)
{
	struct reflector *n = realloc(k->refl, (k->nrefl + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	k->refl = n;
	struct reflector *r = &k->refl[k->nrefl];
	memset(r, 0, sizeof(*r));
	r->k = k;
	r->res = res;
	r->ns = ns;
	kstream_init(&r->ks, KSTREAM_LIST, (size_t)k->cfg->max_object_kib << 10, on_object, NULL);
	k->nrefl++;
	return 0;
}

static int kubeapi_setup(struct worker *w, void *ctx)
{
	struct kubeapi *k = ctx;
	k->w = w;
	k->cfg = config_section(worker_config(w), "kubeapi");
	k->node = worker_config(w)->node_name;
	const struct config_kubeapi *c = k->cfg;
	srand((unsigned)now_ns() ^ (unsigned)getpid());

	worker_set_step(w, "API server and credentials");
	struct httpc_opts o = {
		.ca_file = c->ca_file[0] ? c->ca_file : NULL,
		.token_file = c->token_file[0] ? c->token_file : NULL,
		.cert_file = c->cert_file[0] ? c->cert_file : NULL,
		.key_file = c->key_file[0] ? c->key_file : NULL,
	};
	if (c->kubeconfig[0]) {
		char err[256];
		int r = kubeconfig_load(c->kubeconfig, &k->kc, err, sizeof(err));
		if (r < 0) {
			log_error("kubeapi: kubeconfig %s: %s", c->kubeconfig, err);
			return -EINVAL;
		}
		snprintf(k->base, sizeof(k->base), "%s", k->kc.server);
		o.ca_file = k->kc.ca_file;
		o.token_file = k->kc.token_file;
		o.cert_file = k->kc.cert_file;
		o.key_file = k->kc.key_file;
		r = add_read_path(w, c->kubeconfig, false);
		if (r < 0)
			return r;
	} else if (c->api_server[0]) {
		snprintf(k->base, sizeof(k->base), "%s", c->api_server);
	} else {
		const char *host = getenv("KUBERNETES_SERVICE_HOST");
		const char *port = getenv("KUBERNETES_SERVICE_PORT");
		if (!host || !*host) {
			log_error("kubeapi: not in a cluster (no KUBERNETES_SERVICE_HOST): set "
				  "collectors.kubeapi.api_server or kubeconfig");
			return -EINVAL;
		}
		bool v6 = strchr(host, ':') != NULL;
		snprintf(k->base, sizeof(k->base), "https://%s%s%s:%s", v6 ? "[" : "", host,
			 v6 ? "]" : "", port && *port ? port : "443");
	}
	size_t bl = strlen(k->base);
	while (bl > 0 && k->base[bl - 1] == '/')
		k->base[--bl] = '\0';
	uint16_t port;
	if (strncmp(k->base, "https://", 8) != 0 || httpc_url_port(k->base, &port) < 0) {
		log_error("kubeapi: API server %s: not an https://host[:port] URL", k->base);
		return -EINVAL;
	}
	static char pin[600];
	static const char *resolve[2];
	/* resolved now: libcurl would resolve in a thread, which the sandbox forbids */
	int r = httpc_pin_host(k->base, port, pin, sizeof(pin));
	if (r < 0) {
		log_error("kubeapi: cannot resolve the API server %s", pin);
		return r;
	}
	if (pin[0]) {
		log_info("kubeapi: %s pinned at setup (a new address needs a restart)", pin);
		resolve[0] = pin;
		o.resolve = resolve;
	}
	r = worker_allow_connect(w, port);
	if (r == 0)
		r = add_read_path(w, o.token_file, true);
	if (r == 0)
		r = add_read_path(w, o.ca_file, false);
	if (r == 0)
		r = add_read_path(w, o.cert_file, false);
	if (r == 0)
		r = add_read_path(w, o.key_file, false);
	if (r < 0)
		return r;

	k->ca_path = o.ca_file;
	k->token_path = o.token_file;
	worker_set_step(w, "HTTPS client");
	r = httpc_new(w, &o, &k->http);
	if (r < 0)
		return r;
	k->tok = json_tokener_new_ex(64);
	if (!k->tok || kstore_init(&k->store) < 0)
		return -ENOMEM;
	k->annotations = calloc(c->annotations.n + 1, sizeof(*k->annotations));
	if (!k->annotations)
		return -ENOMEM;
	for (size_t i = 0; i < c->annotations.n; i++)
		k->annotations[i] = c->annotations.items[i];
	k->dopts.annotations = k->annotations;

	worker_set_step(w, "reflectors");
	bool want[KRES_COUNT] = {0};
	if (c->resources.n == 0)
		for (int i = 0; i < KRES_COUNT; i++)
			want[i] = true;
	for (size_t i = 0; i < c->resources.n; i++)
		want[kubeapi_resource_find(c->resources.items[i])] = true;
	for (int i = 0; i < KRES_COUNT; i++) {
		if (!want[i])
			continue;
		if (kubeapi_resources[i].namespaced && c->namespaces_include.n) {
			for (size_t j = 0; j < c->namespaces_include.n && r == 0; j++)
				r = add_reflector(k, (enum kres)i, c->namespaces_include.items[j]);
		} else {
			r = add_reflector(k, (enum kres)i, NULL);
		}
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < k->nrefl; i++) {
		k->refl[i].ks.arg = &k->refl[i]; /* stable now */
		r = worker_timer_new(w, on_timer, &k->refl[i], &k->refl[i].timer);
		if (r < 0)
			return r;
	}

	worker_set_step(w, "probe the API server");
	probe(k, &o);
	if (k->degraded[0]) {
		worker_set_degraded(w, k->degraded);
	} else {
		char hook[600];
		static const char *const wl[] = {"watch-list, else list+watch", "watch-list",
						 "list+watch"};
		snprintf(hook, sizeof(hook), "%s %s (%zu resources)", wl[c->watch_list], k->base,
			 k->nrefl);
		worker_add_hook(w, hook);
	}
	log_info("kubeapi: %s, %zu watches, pods %s", k->base, k->nrefl,
		 c->pods_all_nodes ? "of every node" : "of this node only");
	/* the lists start on the loop, after READY */
	for (size_t i = 0; i < k->nrefl; i++)
		schedule(&k->refl[i], 0);
	return 0;
}

static void kubeapi_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct kubeapi *k = ctx;
	static uint64_t last_logged;
	uint64_t sum = k->lists + k->watches + k->relists + k->oversized + k->failures +
		       k->watchlists + k->wl_synced + k->wl_fallbacks;
	if (sum != last_logged) {
		last_logged = sum;
		log_info("kubeapi: %zu objects (%zu KiB): lists %llu, watch-lists %llu (synced "
			 "%llu, fallbacks %llu), watches %llu, re-lists %llu "
			 "(410 %llu), cut streams %llu, oversized %llu, duplicates %llu, unchanged "
			 "%llu, denied %llu, failures %llu",
			 k->store.total, k->store.bytes >> 10, (unsigned long long)k->lists,
			 (unsigned long long)k->watchlists, (unsigned long long)k->wl_synced,
			 (unsigned long long)k->wl_fallbacks, (unsigned long long)k->watches,
			 (unsigned long long)k->relists, (unsigned long long)k->gone,
			 (unsigned long long)k->cut_streams, (unsigned long long)k->oversized,
			 (unsigned long long)k->duplicates, (unsigned long long)k->unchanged,
			 (unsigned long long)k->denied, (unsigned long long)k->failures);
	}
	worker_counters(w)->filtered = k->duplicates + k->unchanged;
}

static void kubeapi_teardown(struct worker *w, void *ctx)
{
	struct kubeapi *k = ctx;
	httpc_free(k->http); /* cancels every request: no callback after this */
	for (size_t i = 0; i < k->nrefl; i++) {
		worker_timer_free(k->refl[i].timer);
		kstream_release(&k->refl[i].ks);
		free(k->refl[i].cont);
	}
	free(k->refl);
	kstore_free(&k->store);
	if (k->tok)
		json_tokener_free(k->tok);
	free(k->annotations);
	kubeconfig_free(&k->kc);
}

static const struct worker_collector kubeapi_collector = {
	.name = "kubeapi",
	.setup = kubeapi_setup,
	.fill_stats = kubeapi_fill_stats,
	.teardown = kubeapi_teardown,
};

int main(int argc, char **argv)
{
	static struct kubeapi ctx;
	return worker_main(argc, argv, &kubeapi_collector, &ctx);
}
