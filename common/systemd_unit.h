/* SPDX-License-Identifier: Apache-2.0 */
/* The systemd unit that owns a process, from its cgroup path (the seed's rules, COLLECTORS.md
 * "systemd"). Pure: no allocation, no file system, libc only, so tapiod can link this file to
 * join `systemd.unit` into any collector's events. */
#pragma once
#include <stddef.h>

#define SYSTEMD_UNIT_NAME_MAX 256 /* longest unit name taken from a path component */

/* The unit types a cgroup path can name; the value is the type's priority (higher wins). */
enum systemd_unit_type {
	SYSTEMD_UNIT_NONE = 0,
	SYSTEMD_UNIT_SLICE = 1,
	SYSTEMD_UNIT_TARGET = 2,
	SYSTEMD_UNIT_DEVICE = 3,
	SYSTEMD_UNIT_MOUNT = 4,
	SYSTEMD_UNIT_SCOPE = 5,
	SYSTEMD_UNIT_TIMER = 6,
	SYSTEMD_UNIT_SOCKET = 7,
	SYSTEMD_UNIT_SERVICE = 8,
};

/* A unit found in a path: the component path[offset, offset + len). */
struct systemd_unit_ref {
	size_t offset;
	size_t len;
	enum systemd_unit_type type;
	unsigned depth; /* 0 for the first non-empty component */
};

/* The unit of one cgroup path of `len` bytes (need not be NUL-terminated). Candidates are the
 * components ending in .service .socket .timer .mount .device .target .scope or .slice, at
 * most SYSTEMD_UNIT_NAME_MAX bytes, not starting with '.', without NUL bytes. The deepest
 * candidate wins; in a container path (one containing "kubepods", "docker", "cri-" or
 * "containerd") the deepest .service wins if there is one, so a container below
 * containerd.service is containerd's. A path containing ".." names no unit. Returns 1 and
 * sets *ret_ref when a unit was found, 0 when none (ret_ref untouched). */
int systemd_unit_from_path(const char *path, size_t len, struct systemd_unit_ref *ret_ref);

/* The same, copying the name into buf (NUL-terminated). Returns its length, 0 when the path
 * names no unit (buf = ""), -ENOSPC when buf is smaller than the name + 1 (buf = ""). */
int systemd_unit_name(const char *path, size_t len, char *buf, size_t size);

/* The unit of a process from the text of /proc/<pid>/cgroup (lines "ID:CONTROLLERS:PATH";
 * cgroup v2 has one line "0::PATH", v1 and hybrid hosts several). The best candidate over all
 * lines wins: a .service of a container path first, then the deepest, then the type's
 * priority. Return values as systemd_unit_name(). */
int systemd_unit_from_proc_cgroup(const char *text, size_t len, char *buf, size_t size);
