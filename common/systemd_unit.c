// SPDX-License-Identifier: Apache-2.0
// The systemd unit owning a cgroup path (see systemd_unit.h). Pure functions over bytes: the
// path is walked once, components are never copied until the winner is.
#include "systemd_unit.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const struct {
	const char *suffix;
	size_t len;
	enum systemd_unit_type type;
} suffixes[] = {
	{".service", 8, SYSTEMD_UNIT_SERVICE}, {".socket", 7, SYSTEMD_UNIT_SOCKET},
	{".timer", 6, SYSTEMD_UNIT_TIMER},     {".scope", 6, SYSTEMD_UNIT_SCOPE},
	{".mount", 6, SYSTEMD_UNIT_MOUNT},     {".device", 7, SYSTEMD_UNIT_DEVICE},
	{".target", 7, SYSTEMD_UNIT_TARGET},   {".slice", 6, SYSTEMD_UNIT_SLICE},
};

static enum systemd_unit_type component_type(const char *c, size_t n)
{
	if (n == 0 || n > SYSTEMD_UNIT_NAME_MAX || c[0] == '.' || memchr(c, '\0', n))
		return SYSTEMD_UNIT_NONE;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t s = suffixes[i].len;
		/* n > s: the name before the suffix is not empty */
		if (n > s && memcmp(c + n - s, suffixes[i].suffix, s) == 0)
			return suffixes[i].type;
	}
	return SYSTEMD_UNIT_NONE;
}

static bool contains(const char *p, size_t len, const char *needle)
{
	return memmem(p, len, needle, strlen(needle)) != NULL;
}

static bool container_path(const char *p, size_t len)
{
	return contains(p, len, "kubepods") || contains(p, len, "docker") ||
	       contains(p, len, "cri-") || contains(p, len, "containerd");
}

/* Within one path: the deepest candidate, or in a container path the deepest .service. */
static int best_in_path(const char *path, size_t len, struct systemd_unit_ref *ret_ref,
			bool *ret_container_service)
{
	if (!path || len == 0 || contains(path, len, ".."))
		return 0;
	bool in_container = container_path(path, len);
	struct systemd_unit_ref deepest = {0}, service = {0};
	unsigned depth = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && path[i] == '/')
			i++;
		size_t start = i;
		while (i < len && path[i] != '/')
			i++;
		if (i == start)
			break;
		enum systemd_unit_type t = component_type(path + start, i - start);
		if (t != SYSTEMD_UNIT_NONE) {
			struct systemd_unit_ref r = {start, i - start, t, depth};
			deepest = r;
			if (t == SYSTEMD_UNIT_SERVICE)
				service = r;
		}
		depth++;
	}
	if (in_container && service.type == SYSTEMD_UNIT_SERVICE) {
		*ret_ref = service;
		*ret_container_service = true;
		return 1;
	}
	if (deepest.type == SYSTEMD_UNIT_NONE)
		return 0;
	*ret_ref = deepest;
	*ret_container_service = false;
	return 1;
}

int systemd_unit_from_path(const char *path, size_t len, struct systemd_unit_ref *ret_ref)
{
	bool cs;
	return best_in_path(path, len, ret_ref, &cs);
}

static int copy_name(const char *base, const struct systemd_unit_ref *r, char *buf, size_t size)
{
	if (size == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if (r->len + 1 > size)
		return -ENOSPC;
	memcpy(buf, base + r->offset, r->len);
	buf[r->len] = '\0';
	return (int)r->len;
}

int systemd_unit_name(const char *path, size_t len, char *buf, size_t size)
{
	struct systemd_unit_ref r;
	if (size > 0)
		buf[0] = '\0';
	if (systemd_unit_from_path(path, len, &r) <= 0)
		return size > 0 ? 0 : -ENOSPC;
	return copy_name(path, &r, buf, size);
}

/* a beats b: a container's .service, then depth, then the type's priority */
static bool better(const struct systemd_unit_ref *a, bool a_cs, const struct systemd_unit_ref *b,
		   bool b_cs)
{
	if (a_cs != b_cs)
		return a_cs;
	if (a->depth != b->depth)
		return a->depth > b->depth;
	return a->type > b->type;
}

int systemd_unit_from_proc_cgroup(const char *text, size_t len, char *buf, size_t size)
{
	struct systemd_unit_ref best = {0};
	const char *best_line = NULL;
	bool best_cs = false;
	if (size > 0)
		buf[0] = '\0';
	size_t i = 0;
	while (text && i < len) {
		const char *line = text + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) : len - i;
		i += n + 1;
		/* "ID:CONTROLLERS:PATH": the path is everything after the second ':' (unit names
		 * such as dbus-:1.2-....service contain colons themselves) */
		const char *c1 = memchr(line, ':', n);
		const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line)) : NULL;
		if (!c2)
			continue;
		const char *p = c2 + 1;
		size_t plen = n - (size_t)(p - line);
		struct systemd_unit_ref r;
		bool cs;
		if (best_in_path(p, plen, &r, &cs) <= 0)
			continue;
		if (!best_line || better(&r, cs, &best, best_cs)) {
			best = r;
			best_cs = cs;
			best_line = p;
		}
	}
	if (!best_line)
		return size > 0 ? 0 : -ENOSPC;
	return copy_name(best_line, &best, buf, size);
}
