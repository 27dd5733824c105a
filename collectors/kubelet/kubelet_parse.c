// SPDX-License-Identifier: Apache-2.0
// The kubelet's JSON (a v1 PodList from /pods, a stats/v1alpha1 Summary from /stats/summary)
// into the bounded model of kubelet.h, with json-c. Field names as the Kubernetes API writes
// them; a field of the wrong type makes the document invalid.
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelet.h"

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v))
		return v;
	return NULL;
}

/* A string member: NULL when absent or null; *bad set when present with another type. */
static const char *str(struct json_object *o, const char *key, bool *bad)
{
	struct json_object *v = get(o, key);
	if (!v)
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		*bad = true;
		return NULL;
	}
	return json_object_get_string(v);
}

static bool num(struct json_object *o, const char *key, int64_t *ret, bool *bad)
{
	struct json_object *v = get(o, key);
	if (!v)
		return false;
	if (!json_object_is_type(v, json_type_int)) {
		*bad = true;
		return false;
	}
	errno = 0;
	*ret = json_object_get_int64(v);
	return true;
}

static bool unum(struct json_object *o, const char *key, uint64_t *ret, bool *bad)
{
	int64_t v;
	if (!num(o, key, &v, bad))
		return false;
	if (v < 0) {
		*bad = true;
		return false;
	}
	*ret = (uint64_t)v;
	return true;
}

static struct json_object *obj(struct json_object *o, const char *key, bool *bad)
{
	struct json_object *v = get(o, key);
	if (v && !json_object_is_type(v, json_type_object)) {
		*bad = true;
		return NULL;
	}
	return v;
}

static struct json_object *arr(struct json_object *o, const char *key, bool *bad)
{
	struct json_object *v = get(o, key);
	if (v && !json_object_is_type(v, json_type_array)) {
		*bad = true;
		return NULL;
	}
	return v;
}

static int parse_json(const char *json, size_t len, struct json_object **ret)
{
	if (len > INT32_MAX)
		return -EMSGSIZE;
	struct json_tokener *tok = json_tokener_new_ex(KL_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	struct json_object *root = json_tokener_parse_ex(tok, json, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	/* a complete value must end the document (trailing blanks aside) */
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!root || err != json_tokener_success) {
		json_object_put(root);
		return -EBADMSG;
	}
	for (size_t i = used; i < len; i++)
		if (json[i] != ' ' && json[i] != '\n' && json[i] != '\r' && json[i] != '\t') {
			json_object_put(root);
			return -EBADMSG;
		}
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return -EBADMSG;
	}
	*ret = root;
	return 0;
}

int kl_parse_time(const char *s, int64_t *ret_ns)
{
	if (!s)
		return -EINVAL;
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	int64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits < 9) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
		if (digits == 0)
			return -EINVAL;
		for (; digits < 9; digits++)
			frac *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
		if (hh > 23 || mm > 59)
			return -EINVAL;
		off = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 && tm.tm_year != 69)
		return -EINVAL;
	*ret_ns = ((int64_t)t - off) * 1000000000LL + frac;
	return 0;
}

int kl_parse_quantity(const char *s, uint64_t *ret)
{
	if (!s || !*s)
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return -EINVAL;
	static const struct {
		const char *sfx;
		double mul;
	} sfx[] = {
		{"", 1},
		{"k", 1e3},
		{"M", 1e6},
		{"G", 1e9},
		{"T", 1e12},
		{"P", 1e15},
		{"E", 1e18},
		{"Ki", 1024.0},
		{"Mi", 1048576.0},
		{"Gi", 1073741824.0},
		{"Ti", 1099511627776.0},
		{"Pi", 1125899906842624.0},
		{"Ei", 1152921504606846976.0},
		{"m", 1e-3},
	};
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if (strcmp(end, sfx[i].sfx) == 0) {
			double b = v * sfx[i].mul;
			if (b >= 18446744073709551615.0)
				return -ERANGE;
			*ret = (uint64_t)(b + 0.999999); /* quantities round up */
			return 0;
		}
	return -EINVAL;
}

static void split_id(const char *full, struct kl_container *c)
{
	if (!full)
		return;
	const char *sep = strstr(full, "://");
	if (sep) {
		size_t n = (size_t)(sep - full);
		if (n >= sizeof(c->runtime))
			n = sizeof(c->runtime) - 1;
		memcpy(c->runtime, full, n);
		c->runtime[n] = '\0';
		copy(c->id, sizeof(c->id), sep + 3);
	} else {
		copy(c->id, sizeof(c->id), full);
	}
}

static void parse_term(struct json_object *t, struct kl_termination *ret, bool *bad)
{
	if (!t)
		return;
	int64_t v;
	ret->set = true;
	if (num(t, "exitCode", &v, bad))
		ret->exit_code = (int32_t)v;
	if (num(t, "signal", &v, bad))
		ret->signal = (int32_t)v;
	copy(ret->reason, sizeof(ret->reason), str(t, "reason", bad));
	copy(ret->message, sizeof(ret->message), str(t, "message", bad));
	const char *ts = str(t, "startedAt", bad);
	if (ts && kl_parse_time(ts, &ret->started_ns) < 0)
		*bad = true;
	ts = str(t, "finishedAt", bad);
	if (ts && kl_parse_time(ts, &ret->finished_ns) < 0)
		*bad = true;
}

static void parse_container(struct json_object *cs, bool init, struct kl_container *c, bool *bad)
{
	if (!json_object_is_type(cs, json_type_object)) {
		*bad = true;
		return;
	}
	c->init = init;
	copy(c->name, sizeof(c->name), str(cs, "name", bad));
	split_id(str(cs, "containerID", bad), c);
	int64_t v;
	if (num(cs, "restartCount", &v, bad))
		c->restarts = v < 0 ? 0 : (uint32_t)v;
	struct json_object *ready = get(cs, "ready");
	if (ready) {
		if (json_object_is_type(ready, json_type_boolean))
			c->ready = json_object_get_boolean(ready);
		else
			*bad = true;
	}
	struct json_object *state = obj(cs, "state", bad);
	struct json_object *w = obj(state, "waiting", bad);
	struct json_object *r = obj(state, "running", bad);
	struct json_object *t = obj(state, "terminated", bad);
	if (w) {
		c->state = KL_WAITING;
		copy(c->reason, sizeof(c->reason), str(w, "reason", bad));
		copy(c->message, sizeof(c->message), str(w, "message", bad));
	} else if (r) {
		c->state = KL_RUNNING;
	} else if (t) {
		c->state = KL_TERMINATED;
		parse_term(t, &c->term, bad);
	}
	struct json_object *last = obj(cs, "lastState", bad);
	parse_term(obj(last, "terminated", bad), &c->last, bad);
}

static void parse_pod(struct json_object *item, struct kl_pod *p, uint64_t *cut, bool *bad)
{
	if (!json_object_is_type(item, json_type_object)) {
		*bad = true;
		return;
	}
	struct json_object *md = obj(item, "metadata", bad);
	copy(p->uid, sizeof(p->uid), str(md, "uid", bad));
	copy(p->name, sizeof(p->name), str(md, "name", bad));
	copy(p->ns, sizeof(p->ns), str(md, "namespace", bad));
	struct json_object *spec = obj(item, "spec", bad);
	struct json_object *specs = arr(spec, "containers", bad);
	for (size_t i = 0; specs && i < json_object_array_length(specs); i++) {
		struct json_object *res =
			obj(json_object_array_get_idx(specs, i), "resources", bad);
		const char *q = str(obj(res, "limits", bad), "ephemeral-storage", bad);
		uint64_t b;
		if (q && kl_parse_quantity(q, &b) == 0 && p->ephemeral_limit + b >= b)
			p->ephemeral_limit += b;
	}
	struct json_object *st = obj(item, "status", bad);
	copy(p->phase, sizeof(p->phase), str(st, "phase", bad));
	copy(p->reason, sizeof(p->reason), str(st, "reason", bad));
	copy(p->message, sizeof(p->message), str(st, "message", bad));
	struct json_object *conds = arr(st, "conditions", bad);
	for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
		struct json_object *c = json_object_array_get_idx(conds, i);
		const char *type = str(c, "type", bad);
		if (!type || strcmp(type, "Ready") != 0)
			continue;
		const char *status = str(c, "status", bad);
		p->has_ready = true;
		p->ready = status && strcmp(status, "True") == 0;
		copy(p->ready_reason, sizeof(p->ready_reason), str(c, "reason", bad));
		copy(p->ready_message, sizeof(p->ready_message), str(c, "message", bad));
	}
	static const char *const lists[] = {"initContainerStatuses", "containerStatuses",
					    "ephemeralContainerStatuses"};
	size_t total = 0;
	for (int l = 0; l < 3; l++) {
		struct json_object *a = arr(st, lists[l], bad);
		total += a ? json_object_array_length(a) : 0;
	}
	if (total > KL_MAX_CONTAINERS) {
		*cut += total - KL_MAX_CONTAINERS;
		total = KL_MAX_CONTAINERS;
	}
	p->ctr = total ? calloc(total, sizeof(*p->ctr)) : NULL;
	if (total && !p->ctr) {
		*bad = true;
		return;
	}
	for (int l = 0; l < 3; l++) {
		struct json_object *a = arr(st, lists[l], bad);
		for (size_t i = 0; a && i < json_object_array_length(a) && p->n_ctr < total; i++)
			parse_container(json_object_array_get_idx(a, i), l == 0,
					&p->ctr[p->n_ctr++], bad);
	}
}

void kl_pods_free(struct kl_pods *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->pods[i].ctr);
	free(p->pods);
	*p = (struct kl_pods){0};
}

int kl_parse_pods(const char *json, size_t len, struct kl_pods *ret)
{
	struct json_object *root;
	int r = parse_json(json, len, &root);
	if (r < 0)
		return r;
	bool bad = false;
	const char *kind = str(root, "kind", &bad);
	struct json_object *items = arr(root, "items", &bad);
	if (bad || (kind && strcmp(kind, "PodList") != 0)) {
		json_object_put(root);
		return -EBADMSG;
	}
	struct kl_pods out = {0};
	size_t n = items ? json_object_array_length(items) : 0;
	if (n > KL_MAX_PODS) {
		out.cut += n - KL_MAX_PODS;
		n = KL_MAX_PODS;
	}
	out.pods = n ? calloc(n, sizeof(*out.pods)) : NULL;
	if (n && !out.pods) {
		json_object_put(root);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !bad; i++) {
		parse_pod(json_object_array_get_idx(items, i), &out.pods[out.n], &out.cut, &bad);
		out.n++;
		if (!bad && !out.pods[out.n - 1].uid[0])
			bad = true; /* every pod has a uid */
	}
	json_object_put(root);
	if (bad) {
		kl_pods_free(&out);
		return -EBADMSG;
	}
	*ret = out;
	return 0;
}

static void fs_stats(struct json_object *fs, uint64_t *used, uint64_t *cap, uint64_t *avail,
		     bool *has, bool *bad)
{
	if (!fs)
		return;
	bool any = unum(fs, "usedBytes", used, bad);
	any |= unum(fs, "capacityBytes", cap, bad);
	any |= unum(fs, "availableBytes", avail, bad);
	*has = any;
}

void kl_summary_free(struct kl_summary *s)
{
	if (!s)
		return;
	free(s->pods);
	*s = (struct kl_summary){0};
}

int kl_parse_summary(const char *json, size_t len, struct kl_summary *ret)
{
	struct json_object *root;
	int r = parse_json(json, len, &root);
	if (r < 0)
		return r;
	bool bad = false;
	struct kl_summary out = {0};
	struct kl_node_summary *n = &out.node;
	struct json_object *node = obj(root, "node", &bad);
	if (!node)
		bad = true;
	copy(n->node_name, sizeof(n->node_name), str(node, "nodeName", &bad));
	struct json_object *cpu = obj(node, "cpu", &bad);
	n->has_cpu = unum(cpu, "usageCoreNanoSeconds", &n->cpu_usage_core_ns, &bad);
	struct json_object *mem = obj(node, "memory", &bad);
	n->has_mem = unum(mem, "workingSetBytes", &n->mem_working_set, &bad);
	n->has_mem &= unum(mem, "availableBytes", &n->mem_available, &bad);
	struct json_object *fs = obj(node, "fs", &bad);
	fs_stats(fs, &n->fs_used, &n->fs_capacity, &n->fs_available, &n->has_fs, &bad);
	unum(fs, "inodes", &n->fs_inodes, &bad);
	unum(fs, "inodesFree", &n->fs_inodes_free, &bad);
	struct json_object *img = obj(obj(node, "runtime", &bad), "imageFs", &bad);
	fs_stats(img, &n->imagefs_used, &n->imagefs_capacity, &n->imagefs_available,
		 &n->has_imagefs, &bad);
	struct json_object *rl = obj(node, "rlimit", &bad);
	n->has_rlimit = unum(rl, "maxpid", &n->rlimit_maxpid, &bad);
	n->has_rlimit &= unum(rl, "curproc", &n->rlimit_curproc, &bad);

	struct json_object *pods = arr(root, "pods", &bad);
	size_t np = pods ? json_object_array_length(pods) : 0;
	if (np > KL_MAX_PODS) {
		out.cut += np - KL_MAX_PODS;
		np = KL_MAX_PODS;
	}
	out.pods = np ? calloc(np, sizeof(*out.pods)) : NULL;
	if (np && !out.pods)
		bad = true;
	for (size_t i = 0; i < np && !bad; i++) {
		struct json_object *p = json_object_array_get_idx(pods, i);
		struct kl_pod_stats *ps = &out.pods[out.n++];
		copy(ps->uid, sizeof(ps->uid), str(obj(p, "podRef", &bad), "uid", &bad));
		struct json_object *eph = obj(p, "ephemeral-storage", &bad);
		ps->has_ephemeral = unum(eph, "usedBytes", &ps->ephemeral_used, &bad);
	}
	json_object_put(root);
	if (bad) {
		kl_summary_free(&out);
		return -EBADMSG;
	}
	*ret = out;
	return 0;
}
