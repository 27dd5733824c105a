// SPDX-License-Identifier: Apache-2.0
// CNI result/error and network configuration parsing with json-c (see cni_json.h).
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cni_json.h"

#define JSON_DEPTH 16 /* CNI documents nest a few levels; deeper input is refused */
#define ITEMS_MAX  16 /* the most elements of an array a cni_result keeps */
_Static_assert(CNI_RES_IFACES <= ITEMS_MAX && CNI_RES_IPS <= ITEMS_MAX &&
		       CNI_RES_ROUTES <= ITEMS_MAX && CNI_RES_DNS <= ITEMS_MAX,
	       "ITEMS_MAX");

/* Copy the string member `key` of obj into dst (cut to fit); false when absent or not a
 * string. Sets *cut when the value did not fit. */
static bool get_str(json_object *obj, const char *key, char *dst, size_t size, bool *cut)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return false;
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n >= size) {
		n = size - 1;
		if (cut)
			*cut = true;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	/* An embedded NUL ends the value. */
	return true;
}

static json_object *parse(const char *buf, size_t len)
{
	if (len > (size_t)INT32_MAX)
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return NULL;
	json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || err != json_tokener_success) {
		json_object_put(o);
		return NULL;
	}
	/* Only whitespace may follow the document. */
	for (size_t i = used; i < len; i++) {
		if (!strchr(" \t\r\n", buf[i])) {
			json_object_put(o);
			return NULL;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *get_array(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

/* The elements of type t of array a (NULL: none), the others skipped: the first max of them
 * into items (borrowed from a), and *cut set when there were more. Their number. */
static size_t get_items(json_object *a, json_type t, json_object **items, size_t max, bool *cut)
{
	size_t n = a ? json_object_array_length(a) : 0, got = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);
		if (!json_object_is_type(v, t))
			continue;
		if (got == max) {
			*cut = true;
			break;
		}
		items[got++] = v;
	}
	return got;
}

static void parse_dns(json_object *dns, struct cni_result *r)
{
	json_object *v[ITEMS_MAX];
	r->n_nameservers = get_items(get_array(dns, "nameservers"), json_type_string, v,
				     CNI_RES_DNS, &r->truncated);
	for (size_t i = 0; i < r->n_nameservers; i++)
		snprintf(r->nameservers[i], sizeof(r->nameservers[i]), "%s",
			 json_object_get_string(v[i]));
	get_str(dns, "domain", r->domain, sizeof(r->domain), &r->truncated);
	r->n_search = get_items(get_array(dns, "search"), json_type_string, v, CNI_RES_DNS,
				&r->truncated);
	for (size_t i = 0; i < r->n_search; i++)
		snprintf(r->search[i], sizeof(r->search[i]), "%s", json_object_get_string(v[i]));
}

int cni_result_parse(const char *buf, size_t len, struct cni_result *r)
{
	memset(r, 0, sizeof(*r));
	json_object *o = parse(buf, len);
	if (!o)
		return -EINVAL;
	get_str(o, "cniVersion", r->cni_version, sizeof(r->cni_version), &r->truncated);

	json_object *code;
	bool has_msg = get_str(o, "msg", r->msg, sizeof(r->msg), &r->truncated);
	if (json_object_object_get_ex(o, "code", &code) &&
	    json_object_is_type(code, json_type_int)) {
		int64_t c = json_object_get_int64(code);
		r->is_error = true;
		r->code = c < 0 || c > UINT32_MAX ? 0 : (uint32_t)c;
		get_str(o, "details", r->details, sizeof(r->details), &r->truncated);
		json_object_put(o);
		return 0;
	}

	bool any = false;
	json_object *v[ITEMS_MAX];
	json_object *a = get_array(o, "interfaces");
	any |= a != NULL;
	r->n_ifaces = get_items(a, json_type_object, v, CNI_RES_IFACES, &r->truncated);
	for (size_t i = 0; i < r->n_ifaces; i++) {
		typeof(r->ifaces[0]) *f = &r->ifaces[i];
		get_str(v[i], "name", f->name, sizeof(f->name), &r->truncated);
		get_str(v[i], "mac", f->mac, sizeof(f->mac), &r->truncated);
		get_str(v[i], "sandbox", f->sandbox, sizeof(f->sandbox), &r->truncated);
	}
	a = get_array(o, "ips");
	any |= a != NULL;
	r->n_ips = get_items(a, json_type_object, v, CNI_RES_IPS, &r->truncated);
	for (size_t i = 0; i < r->n_ips; i++) {
		typeof(r->ips[0]) *p = &r->ips[i];
		get_str(v[i], "address", p->address, sizeof(p->address), &r->truncated);
		get_str(v[i], "gateway", p->gateway, sizeof(p->gateway), &r->truncated);
		json_object *idx;
		p->interface = -1;
		if (json_object_object_get_ex(v[i], "interface", &idx) &&
		    json_object_is_type(idx, json_type_int)) {
			int64_t x = json_object_get_int64(idx);
			if (x >= 0 && x < CNI_RES_IFACES)
				p->interface = (int)x;
		}
	}
	a = get_array(o, "routes");
	any |= a != NULL;
	r->n_routes = get_items(a, json_type_object, v, CNI_RES_ROUTES, &r->truncated);
	for (size_t i = 0; i < r->n_routes; i++) {
		typeof(r->routes[0]) *rt = &r->routes[i];
		get_str(v[i], "dst", rt->dst, sizeof(rt->dst), &r->truncated);
		get_str(v[i], "gw", rt->gw, sizeof(rt->gw), &r->truncated);
	}
	json_object *dns;
	if (json_object_object_get_ex(o, "dns", &dns) && json_object_is_type(dns, json_type_object))
		parse_dns(dns, r);
	/* A VERSION answer or an empty result still names its cniVersion. */
	any |= r->cni_version[0] != '\0';
	json_object_put(o);
	if (!any && !has_msg)
		return -EINVAL;
	return 0;
}

static int conf_error(struct cni_conf *c, json_object *o, const char *msg)
{
	snprintf(c->error, sizeof(c->error), "%s", msg);
	json_object_put(o);
	return -EINVAL;
}

int cni_conf_parse(const char *buf, size_t len, bool is_list, struct cni_conf *c)
{
	memset(c, 0, sizeof(*c));
	json_object *o = parse(buf, len);
	if (!o)
		return conf_error(c, NULL, "not a JSON object");
	bool cut = false;
	get_str(o, "cniVersion", c->cni_version, sizeof(c->cni_version), &cut);
	if (!get_str(o, "name", c->name, sizeof(c->name), &cut) || !c->name[0])
		return conf_error(c, o, "missing \"name\"");
	if (!c->cni_version[0])
		return conf_error(c, o, "missing \"cniVersion\"");
	if (!is_list) {
		if (!get_str(o, "type", c->plugins[0], sizeof(c->plugins[0]), &cut) ||
		    !c->plugins[0][0])
			return conf_error(c, o, "missing \"type\"");
		c->n_plugins = 1;
		json_object_put(o);
		return 0;
	}
	json_object *a = get_array(o, "plugins");
	size_t n = a ? json_object_array_length(a) : 0;
	if (n == 0)
		return conf_error(c, o, "\"plugins\" is missing or empty");
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);
		char type[64] = "";
		if (!json_object_is_type(v, json_type_object) ||
		    !get_str(v, "type", type, sizeof(type), &cut) || !type[0]) {
			char msg[64];
			snprintf(msg, sizeof(msg), "plugin %zu has no \"type\"", i);
			return conf_error(c, o, msg);
		}
		if (c->n_plugins < CNI_CONF_PLUGINS)
			memcpy(c->plugins[c->n_plugins++], type, sizeof(type));
	}
	json_object_put(o);
	return 0;
}
