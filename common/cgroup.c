// SPDX-License-Identifier: Apache-2.0
// Container attribution from cgroups (see cgroup.h): the path parser, and the cgroup v2
// id -> path cache (hash table + LRU list, pid-hint fast path, rate-limited tree rescans).
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "strbuf.h"

#define CGROUP_PATH_MAX	   4096		      /* longest path cgroup_parse_path accepts */
#define CACHE_MAX_ENTRIES  ((size_t)1 << 22)  /* upper bound for max_entries */
#define SCAN_MAX_DEPTH	   64		      /* directories below the root */
#define SCAN_MAX_DIRS	   ((size_t)1 << 17)  /* directories recorded per rescan */
#define SCAN_MAX_BYTES	   ((size_t)16 << 20) /* path bytes recorded per rescan */
#define RESCAN_INTERVAL_NS 100000000ULL	      /* 100 ms */
#define NEGATIVE_TTL_NS	   1000000000ULL      /* 1 s */
#define LINE_MAX_LEN	   32768	      /* longer /proc lines are skipped */

/* ---- small helpers -------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- path parsing --------------------------------------------------------------------- */

static const char RT_CONTAINERD[] = "containerd";
static const char RT_CRIO[] = "cri-o";
static const char RT_DOCKER[] = "docker";
static const char RT_PODMAN[] = "podman";
static const char RT_UNKNOWN[] = "unknown";

static const char QOS_GUARANTEED[] = "guaranteed";
static const char QOS_BURSTABLE[] = "burstable";
static const char QOS_BESTEFFORT[] = "besteffort";

/* A piece of the path: not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool span_starts(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && memcmp(s.p, lit, n) == 0;
}

static bool span_ends(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && memcmp(s.p + s.n - n, lit, n) == 0;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int hex_lower(char c)
{
	if (is_lower_hex(c))
		return c;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 'a';
	return -1;
}

/* Exactly 64 lowercase hex: runtimes never emit uppercase, so anything else is not an id. */
static bool is_container_id(struct span s)
{
	if (s.n != CGROUP_ID_LEN)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!is_lower_hex(s.p[i]))
			return false;
	return true;
}

/* A pod uid: 8-4-4-4-12 hex groups joined by sep ('-' for cgroupfs, '_' in systemd slice
 * names), or 32 hex without separators (static pods: the kubelet uses the manifest hash).
 * Hex may be either case; ret_uid gets lowercase with dashes. */
static bool parse_pod_uid(struct span s, char sep, char ret_uid[CGROUP_POD_UID_LEN + 1])
{
	static const size_t groups[] = {8, 4, 4, 4, 12};
	char tmp[CGROUP_POD_UID_LEN + 1];
	size_t i = 0, o = 0;

	if (s.n == 32) {
		for (; i < 32; i++) {
			int c = hex_lower(s.p[i]);
			if (c < 0)
				return false;
			tmp[o++] = (char)c;
		}
	} else if (s.n == CGROUP_POD_UID_LEN) {
		for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
			if (g > 0) {
				if (s.p[i++] != sep)
					return false;
				tmp[o++] = '-';
			}
			for (size_t k = 0; k < groups[g]; k++) {
				int c = hex_lower(s.p[i++]);
				if (c < 0)
					return false;
				tmp[o++] = (char)c;
			}
		}
	} else {
		return false;
	}
	tmp[o] = '\0';
	memcpy(ret_uid, tmp, o + 1);
	return true;
}

static const char *qos_from_word(struct span w)
{
	if (span_eq(w, "burstable"))
		return QOS_BURSTABLE;
	if (span_eq(w, "besteffort"))
		return QOS_BESTEFFORT;
	return NULL;
}

/* Systemd driver: "[<root>-]kubepods[-<qos>]-pod<uid with _>.slice", e.g.
 * kubepods-burstable-pod<uid>.slice, kubepods-pod<uid>.slice (guaranteed),
 * kubelet-kubepods-besteffort-pod<uid>.slice (kubelet --cgroup-root=/kubelet). Systemd
 * encodes the slice's ancestry in its name, so the component alone is enough. */
static bool match_pod_slice(struct span c, char ret_uid[CGROUP_POD_UID_LEN + 1],
			    const char **ret_qos)
{
	if (!span_ends(c, ".slice"))
		return false;
	c.n -= strlen(".slice");

	/* Words are separated by '-'; a systemd-form uid contains none. */
	const char *end = c.p + c.n;
	const char *dash = memrchr(c.p, '-', c.n);
	if (!dash)
		return false;
	struct span last = {dash + 1, (size_t)(end - dash - 1)};
	if (!span_starts(last, "pod"))
		return false;
	struct span u = {last.p + 3, last.n - 3};

	struct span head = {c.p, (size_t)(dash - c.p)};
	const char *d2 = memrchr(head.p, '-', head.n);
	struct span word = d2 ? (struct span){d2 + 1, (size_t)(dash - d2 - 1)} : head;
	const char *q;
	if (span_eq(word, "kubepods")) {
		q = QOS_GUARANTEED;
	} else {
		q = qos_from_word(word);
		if (!q || !d2)
			return false;
		struct span rest = {head.p, (size_t)(d2 - head.p)};
		const char *d3 = memrchr(rest.p, '-', rest.n);
		struct span kp = d3 ? (struct span){d3 + 1, (size_t)(d2 - d3 - 1)} : rest;
		if (!span_eq(kp, "kubepods"))
			return false;
	}
	if (!parse_pod_uid(u, '_', ret_uid))
		return false;
	*ret_qos = q;
	return true;
}

/* Cgroupfs driver: "pod<uid>" directly below "kubepods" (guaranteed) or below
 * "kubepods/<qos>". parent and grand are the preceding components (n == 0 if none). */
static bool match_pod_dir(struct span c, struct span parent, struct span grand,
			  char ret_uid[CGROUP_POD_UID_LEN + 1], const char **ret_qos)
{
	if (!span_starts(c, "pod"))
		return false;
	const char *q;
	if (span_eq(parent, "kubepods"))
		q = QOS_GUARANTEED;
	else if ((q = qos_from_word(parent)) == NULL || !span_eq(grand, "kubepods"))
		return false;
	if (!parse_pod_uid((struct span){c.p + 3, c.n - 3}, '-', ret_uid))
		return false;
	*ret_qos = q;
	return true;
}

struct id_form {
	const char *prefix, *suffix, *runtime;
};

static const struct id_form id_forms[] = {
	{"cri-containerd-", ".scope", RT_CONTAINERD},
	{"crio-conmon-", ".scope", RT_CRIO},
	{"crio-conmon-", "", RT_CRIO}, /* cri-o, cgroupfs driver */
	{"crio-", ".scope", RT_CRIO},
	{"crio-", "", RT_CRIO}, /* cri-o, cgroupfs driver */
	{"docker-", ".scope", RT_DOCKER},
	{"libpod-", ".scope", RT_PODMAN},
	{"libpod-", "", RT_PODMAN}, /* podman, cgroupfs driver */
	{"libpod-conmon-", ".scope", RT_PODMAN},
	{"", "", NULL}, /* bare id: cgroupfs kubelet, /docker/<id> */
};

static bool match_container(struct span c, struct span parent, char ret_id[CGROUP_ID_LEN + 1],
			    const char **ret_runtime)
{
	for (size_t i = 0; i < sizeof(id_forms) / sizeof(id_forms[0]); i++) {
		const struct id_form *f = &id_forms[i];
		size_t pl = strlen(f->prefix), sl = strlen(f->suffix);
		if (c.n != pl + CGROUP_ID_LEN + sl || !span_starts(c, f->prefix) ||
		    !span_ends(c, f->suffix))
			continue;
		struct span s = {c.p + pl, CGROUP_ID_LEN};
		if (!is_container_id(s))
			continue;
		memcpy(ret_id, s.p, CGROUP_ID_LEN);
		ret_id[CGROUP_ID_LEN] = '\0';
		if (f->runtime)
			*ret_runtime = f->runtime;
		else
			*ret_runtime = span_eq(parent, "docker") ? RT_DOCKER : RT_UNKNOWN;
		return true;
	}
	return false;
}

int cgroup_parse_path(const char *path, struct cgroup_info *ret_info)
{
	if (!path || !ret_info)
		return -EINVAL;
	size_t len = strnlen(path, CGROUP_PATH_MAX);
	if (len >= CGROUP_PATH_MAX)
		return -EINVAL;

	struct cgroup_info info = {0};
	struct span parent = {"", 0}, grand = {"", 0};
	const char *p = path, *end = path + len;

	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *cend = slash ? slash : end;
		struct span c = {p, (size_t)(cend - p)};
		p = slash ? slash + 1 : end;
		if (c.n == 0)
			continue;

		char uid[CGROUP_POD_UID_LEN + 1], id[CGROUP_ID_LEN + 1];
		const char *qos = NULL, *runtime = NULL;

		/* "<pod slice>:cri-containerd:<id>": runc's systemd-style cgroupsPath taken
		 * literally by a cgroupfs-driven containerd under a systemd kubelet. */
		struct span pod_part = c, ctr = {"", 0};
		const char *colon = memchr(c.p, ':', c.n);
		if (colon) {
			static const char tag[] = "cri-containerd:";
			struct span rest = {colon + 1, (size_t)(cend - colon - 1)};
			pod_part = (struct span){c.p, (size_t)(colon - c.p)};
			if (span_starts(rest, tag)) {
				struct span s = {rest.p + strlen(tag), rest.n - strlen(tag)};
				if (is_container_id(s))
					ctr = s;
			}
		}

		if (match_pod_slice(pod_part, uid, &qos) ||
		    (!colon && match_pod_dir(c, parent, grand, uid, &qos))) {
			/* A pod below an earlier container (a cluster nested in a container):
			 * whatever comes next belongs to this pod, not to the outer container. */
			memcpy(info.pod_uid, uid, sizeof(uid));
			info.qos = qos;
			info.container_id[0] = '\0';
			info.runtime = NULL;
		}
		if (ctr.n) {
			memcpy(info.container_id, ctr.p, CGROUP_ID_LEN);
			info.container_id[CGROUP_ID_LEN] = '\0';
			info.runtime = RT_CONTAINERD;
		} else if (!colon && match_container(c, parent, id, &runtime)) {
			memcpy(info.container_id, id, sizeof(id));
			info.runtime = runtime;
		}
		grand = parent;
		parent = c;
	}

	*ret_info = info;
	return info.container_id[0] || info.pod_uid[0] ? 1 : 0;
}

/* ---- /proc line reading --------------------------------------------------------------- */

/* Reads a file line by line through a fixed buffer; lines longer than LINE_MAX_LEN are
 * skipped whole, so a hostile or unexpected file costs bounded memory. */
struct line_reader {
	int fd;
	char *buf; /* owned, LINE_MAX_LEN + 1 */
	size_t start, end;
	bool eof, skipping;
};

static int lr_open(struct line_reader *lr, const char *path)
{
	*lr = (struct line_reader){.fd = -1};
	lr->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (lr->fd < 0)
		return -errno;
	lr->buf = malloc(LINE_MAX_LEN + 1);
	if (!lr->buf) {
		close(lr->fd);
		lr->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

static void lr_close(struct line_reader *lr)
{
	if (lr->fd >= 0)
		close(lr->fd);
	free(lr->buf);
	*lr = (struct line_reader){.fd = -1};
}

/* For _cleanup_(): a line_reader declared before lr_open() must start as LINE_READER_NONE. */
#define LINE_READER_NONE ((struct line_reader){.fd = -1})

/* 1 and a NUL-terminated line without '\n' (valid until the next call), 0 at the end,
 * -errno on a read error. */
static int lr_next(struct line_reader *lr, char **ret_line)
{
	for (;;) {
		char *b = lr->buf + lr->start;
		char *nl = memchr(b, '\n', lr->end - lr->start);
		if (nl) {
			*nl = '\0';
			lr->start = (size_t)(nl - lr->buf) + 1;
			if (lr->skipping) {
				lr->skipping = false;
				continue;
			}
			*ret_line = b;
			return 1;
		}
		if (lr->eof) {
			if (lr->start == lr->end || lr->skipping)
				return 0;
			lr->buf[lr->end] = '\0';
			lr->start = lr->end;
			*ret_line = b;
			return 1;
		}
		if (lr->start > 0) {
			memmove(lr->buf, b, lr->end - lr->start);
			lr->end -= lr->start;
			lr->start = 0;
		}
		if (lr->end == LINE_MAX_LEN) {
			lr->skipping = true;
			lr->end = 0;
		}
		ssize_t n = read(lr->fd, lr->buf + lr->end, LINE_MAX_LEN - lr->end);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			lr->eof = true;
		lr->end += (size_t)n;
	}
}

/* ---- cgroup2 mount -------------------------------------------------------------------- */

/* Undo mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
static void unescape_octal(char *s)
{
	char *o = s;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": fields 3 and 4 are root
 * and mount point, then optional fields up to a lone "-", then the file system type. */
static bool mountinfo_cgroup2(char *line, char **ret_root, char **ret_mnt)
{
	char *field[6];
	char *save = NULL, *tok;
	size_t i = 0;

	tok = strtok_r(line, " ", &save);
	while (tok && i < 6) {
		field[i++] = tok;
		tok = strtok_r(NULL, " ", &save);
	}
	if (i < 6)
		return false;
	while (tok && strcmp(tok, "-") != 0)
		tok = strtok_r(NULL, " ", &save);
	if (!tok)
		return false;
	tok = strtok_r(NULL, " ", &save);
	if (!tok || strcmp(tok, "cgroup2") != 0)
		return false;
	*ret_root = field[3];
	*ret_mnt = field[4];
	return true;
}

int cgroup2_find_mount_from(const char *mountinfo_path, char *buf, size_t len)
{
	_cleanup_(lr_close) struct line_reader lr = LINE_READER_NONE;
	char *line, *root, *mnt;
	_cleanup_free_ char *found = NULL;
	int r;

	if (!mountinfo_path || !buf)
		return -EINVAL;
	r = lr_open(&lr, mountinfo_path);
	if (r < 0)
		return r;
	while ((r = lr_next(&lr, &line)) > 0) {
		if (!mountinfo_cgroup2(line, &root, &mnt))
			continue;
		unescape_octal(mnt);
		if (mnt[0] != '/')
			continue;
		bool whole = strcmp(root, "/") == 0;
		if (found && !whole)
			continue;
		free(found);
		found = strdup(mnt);
		if (!found) {
			r = -ENOMEM;
			break;
		}
		if (whole)
			break;
	}
	if (r < 0)
		return r;
	if (!found)
		return -ENOENT;
	size_t n = strlen(found);
	if (n >= len)
		return -ERANGE;
	memcpy(buf, found, n + 1);
	return 0;
}

int cgroup2_find_mount(char *buf, size_t len)
{
	return cgroup2_find_mount_from("/proc/self/mountinfo", buf, len);
}

/* ---- the cache ------------------------------------------------------------------------ */

struct node {
	struct cgroup_entry entry; /* entry.path owned; NULL for a negative entry */
	uint64_t expires_ns;	   /* negative entries only */
	struct node *hnext, **hpprev;
	struct node *lru_prev, *lru_next;
};

/* One directory found by the last rescan; off indexes cache->listing_paths. */
struct listing_ent {
	uint64_t id;
	size_t off;
};

struct cgroup_cache {
	char *root; /* owned */
	int root_fd;
	dev_t root_dev;
	size_t max_entries, count;
	struct node **buckets;		  /* owned; chains of nodes */
	size_t nbuckets, max_buckets;	  /* powers of two */
	struct node *lru_head, *lru_tail; /* head: most recently used */
	bool scanned;
	uint64_t last_scan_ns;
	struct listing_ent *listing; /* owned, sorted by id */
	size_t listing_len;
	struct strbuf listing_paths;
	struct cgroup_cache_stats stats;
};

static size_t hash_id(uint64_t id, size_t nbuckets)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	id *= 0xc4ceb9fe1a85ec53ULL;
	id ^= id >> 33;
	return (size_t)id & (nbuckets - 1);
}

static void hash_link(struct node **buckets, size_t nbuckets, struct node *n)
{
	struct node **head = &buckets[hash_id(n->entry.id, nbuckets)];
	n->hnext = *head;
	if (*head)
		(*head)->hpprev = &n->hnext;
	*head = n;
	n->hpprev = head;
}

static void hash_unlink(struct node *n)
{
	*n->hpprev = n->hnext;
	if (n->hnext)
		n->hnext->hpprev = n->hpprev;
}

static void lru_unlink(struct cgroup_cache *c, struct node *n)
{
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		c->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		c->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
}

static void lru_push_front(struct cgroup_cache *c, struct node *n)
{
	n->lru_prev = NULL;
	n->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = n;
	else
		c->lru_tail = n;
	c->lru_head = n;
}

static struct node *cache_find(const struct cgroup_cache *c, uint64_t id)
{
	for (struct node *n = c->buckets[hash_id(id, c->nbuckets)]; n; n = n->hnext)
		if (n->entry.id == id)
			return n;
	return NULL;
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	free(n->entry.path);
	free(n);
}

static void cache_remove(struct cgroup_cache *c, struct node *n)
{
	hash_unlink(n);
	lru_unlink(c, n);
	c->count--;
	node_free(n);
}

/* Double the bucket array (load factor 1) until it matches max_entries. Failure to grow is
 * harmless: chains just get longer. */
static void cache_maybe_grow(struct cgroup_cache *c)
{
	if (c->count < c->nbuckets || c->nbuckets >= c->max_buckets)
		return;
	size_t nb = c->nbuckets * 2;
	struct node **b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct node *n = c->buckets[i];
		while (n) {
			struct node *next = n->hnext;
			hash_link(b, nb, n);
			n = next;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
}

/* Takes ownership of path (NULL: a negative entry). */
static struct node *cache_insert(struct cgroup_cache *c, uint64_t id, char *path, uint64_t now)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n) {
		free(path);
		return NULL;
	}
	if (c->count >= c->max_entries && c->lru_tail) {
		cache_remove(c, c->lru_tail);
		c->stats.evictions++;
	}
	n->entry.id = id;
	n->entry.path = path;
	if (path)
		cgroup_parse_path(path, &n->entry.info);
	else
		n->expires_ns = now + NEGATIVE_TTL_NS;
	hash_link(c->buckets, c->nbuckets, n);
	lru_push_front(c, n);
	c->count++;
	cache_maybe_grow(c);
	return n;
}

/* Does path (relative to the root, starting with '/') name the cgroup with this id? The
 * device check keeps a ".." or a foreign mount from producing a false match. */
static bool path_has_id(const struct cgroup_cache *c, const char *path, uint64_t id)
{
	struct stat st;
	const char *rel = path[1] ? path + 1 : ".";

	if (fstatat(c->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return S_ISDIR(st.st_mode) && st.st_dev == c->root_dev && (uint64_t)st.st_ino == id;
}

static bool path_is_canonical(const char *p)
{
	if (p[0] != '/' || strlen(p) >= CGROUP_PATH_MAX)
		return false;
	/* no "." or ".." components: the kernel never prints them for our own namespace */
	for (const char *s = p; s; s = strchr(s + 1, '/')) {
		const char *e = strchrnul(s + 1, '/');
		size_t n = (size_t)(e - s - 1);
		if ((n == 1 && s[1] == '.') || (n == 2 && s[1] == '.' && s[2] == '.'))
			return false;
	}
	return true;
}

/* The cgroup v2 path of pid, confirmed to be id. -ENOENT when the process is gone, is in
 * another cgroup by now, or its cgroup was removed. */
static int resolve_by_pid(const struct cgroup_cache *c, pid_t pid, uint64_t id, char **ret_path)
{
	char file[64], *line;
	_cleanup_(lr_close) struct line_reader lr = LINE_READER_NONE;
	int r, k;

	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	r = lr_open(&lr, file);
	if (r < 0)
		return r;
	r = -ENOENT;
	while ((k = lr_next(&lr, &line)) > 0) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		const char *p = line + 3;
		if (path_is_canonical(p) && path_has_id(c, p, id)) {
			char *dup = strdup(p);
			r = dup ? 0 : -ENOMEM;
			if (dup)
				*ret_path = dup;
		}
		break;
	}
	return r;
}

static int listing_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct listing_ent *)a)->id, y = ((const struct listing_ent *)b)->id;
	return x < y ? -1 : x > y;
}

static int resolve_by_listing(const struct cgroup_cache *c, uint64_t id, char **ret_path)
{
	struct listing_ent key = {.id = id};
	const struct listing_ent *e;

	if (!c->listing_len)
		return -ENOENT;
	e = bsearch(&key, c->listing, c->listing_len, sizeof(*c->listing), listing_cmp);
	if (!e)
		return -ENOENT;
	const char *p = c->listing_paths.data + e->off;
	if (!path_has_id(c, p, id))
		return -ENOENT; /* renamed or removed since the rescan */
	char *dup = strdup(p);
	if (!dup)
		return -ENOMEM;
	*ret_path = dup;
	return 0;
}

struct walk {
	const struct cgroup_cache *cache;
	struct listing_ent *ents; /* owned */
	size_t len, alloc;
	struct strbuf paths;
	char path[CGROUP_PATH_MAX]; /* "" for the root, else "/a/b" */
	size_t plen;
	bool truncated;
};

static int walk_record(struct walk *w, uint64_t id)
{
	if (w->len >= SCAN_MAX_DIRS) {
		w->truncated = true;
		return -ENOBUFS;
	}
	if (w->len == w->alloc) {
		size_t na = w->alloc ? w->alloc * 2 : 256;
		struct listing_ent *e = realloc(w->ents, na * sizeof(*e));
		if (!e)
			return -ENOMEM;
		w->ents = e;
		w->alloc = na;
	}
	size_t off = w->paths.len;
	int r = strbuf_append(&w->paths, w->plen ? w->path : "/", w->plen ? w->plen + 1 : 2);
	if (r < 0) {
		w->truncated = true;
		return r;
	}
	w->ents[w->len++] = (struct listing_ent){.id = id, .off = off};
	return 0;
}

/* Record the directory open at dfd (owned: closed here) and everything below it. Directories
 * that vanish or turn out not to be directories (or symlinks) are skipped; so are other
 * mounts. Returns < 0 only when the walk must stop (a cap was hit, out of memory). */
static int walk_dir(struct walk *w, int dir_fd, unsigned depth)
{
	_cleanup_close_ int dfd = dir_fd;
	struct stat st;
	struct dirent *de;
	int r;

	if (fstat(dfd, &st) < 0 || st.st_dev != w->cache->root_dev)
		return 0;
	r = walk_record(w, (uint64_t)st.st_ino);
	if (r < 0 || depth >= SCAN_MAX_DEPTH)
		return r;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d)
		return 0;
	TAKE_FD(dfd); /* d owns it now */
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		size_t nl = strlen(de->d_name);
		if (w->plen + 1 + nl >= sizeof(w->path)) {
			w->truncated = true;
			continue;
		}
		int cfd = openat(dirfd(d), de->d_name,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (cfd < 0)
			continue; /* gone, not a directory, a symlink, no permission */
		size_t saved = w->plen;
		w->path[w->plen++] = '/';
		memcpy(w->path + w->plen, de->d_name, nl + 1);
		w->plen += nl;
		r = walk_dir(w, cfd, depth + 1);
		w->plen = saved;
		w->path[saved] = '\0';
		if (r < 0)
			break;
	}
	return r < 0 ? r : 0;
}

/* Walk the whole tree and replace the listing with what was found. */
static void cache_rescan(struct cgroup_cache *c, uint64_t now)
{
	struct walk *w = calloc(1, sizeof(*w));

	c->scanned = true;
	c->last_scan_ns = now;
	c->stats.rescans++;
	if (!w)
		return;
	w->cache = c;
	strbuf_init(&w->paths, SCAN_MAX_BYTES);
	int fd = openat(c->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 ? -errno : walk_dir(w, fd, 0);
	if (r < 0 && r != -ENOBUFS)
		log_debug("cgroup: rescan of %s stopped: %s", c->root, strerror(-r));
	if (w->truncated)
		log_debug("cgroup: rescan of %s hit a limit after %zu directories", c->root,
			  w->len);

	if (w->len)
		qsort(w->ents, w->len, sizeof(*w->ents), listing_cmp);
	free(c->listing);
	strbuf_release(&c->listing_paths);
	c->listing = w->ents;
	c->listing_len = w->len;
	c->listing_paths = w->paths;
	free(w);
}

DEFINE_POINTER_CLEANUP(struct cgroup_cache *, cgroup_cache_free)

int cgroup_cache_new(const char *root, size_t max_entries, struct cgroup_cache **ret_cache)
{
	char found[PATH_MAX];
	struct stat st;
	int r;

	if (!ret_cache || max_entries == 0 || max_entries > CACHE_MAX_ENTRIES)
		return -EINVAL;
	if (!root) {
		r = cgroup2_find_mount(found, sizeof(found));
		if (r < 0)
			return r;
		root = found;
	}
	if (root[0] == '\0')
		return -EINVAL;

	_cleanup_(cgroup_cache_freep) struct cgroup_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->root_fd < 0)
		return -errno;
	if (fstat(c->root_fd, &st) < 0)
		return -errno;
	c->root_dev = st.st_dev;
	c->max_entries = max_entries;
	c->max_buckets = 16;
	while (c->max_buckets < max_entries)
		c->max_buckets *= 2;
	c->nbuckets = 16;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	c->root = strdup(root);
	strbuf_init(&c->listing_paths, SCAN_MAX_BYTES);
	if (!c->buckets || !c->root)
		return -ENOMEM;
	*ret_cache = TAKE_PTR(c);
	return 0;
}

void cgroup_cache_free(struct cgroup_cache *cache)
{
	if (!cache)
		return;
	struct node *n = cache->lru_head;
	while (n) {
		struct node *next = n->lru_next;
		node_free(n);
		n = next;
	}
	free(cache->buckets);
	free(cache->listing);
	strbuf_release(&cache->listing_paths);
	if (cache->root_fd >= 0)
		close(cache->root_fd);
	free(cache->root);
	free(cache);
}

const char *cgroup_cache_root(const struct cgroup_cache *cache)
{
	return cache->root;
}

int cgroup_cache_lookup(struct cgroup_cache *cache, uint64_t id, pid_t pid_hint,
			const struct cgroup_entry **ret_entry)
{
	uint64_t now = now_ns();
	char *path = NULL;
	int r;

	struct node *n = cache_find(cache, id);
	if (n && n->entry.path) {
		lru_unlink(cache, n);
		lru_push_front(cache, n);
		cache->stats.hits++;
		*ret_entry = &n->entry;
		return 0;
	}
	if (n) {
		if (now < n->expires_ns) {
			cache->stats.negative_hits++;
			return -ENOENT;
		}
		cache_remove(cache, n);
	}
	cache->stats.misses++;

	r = -ENOENT;
	if (pid_hint > 0)
		r = resolve_by_pid(cache, pid_hint, id, &path);
	if (r < 0 && r != -ENOMEM) /* gone, moved on, not readable: try what we know */
		r = resolve_by_listing(cache, id, &path);
	if (r == -ENOENT) {
		if (cache->scanned && now - cache->last_scan_ns < RESCAN_INTERVAL_NS)
			return -ENOENT; /* rate limited: do not remember what was not checked */
		cache_rescan(cache, now);
		r = resolve_by_listing(cache, id, &path);
		if (r == -ENOENT) {
			cache_insert(cache, id, NULL, now);
			return -ENOENT;
		}
	}
	if (r < 0)
		return r;
	n = cache_insert(cache, id, path, now);
	if (!n)
		return -ENOMEM;
	*ret_entry = &n->entry;
	return 0;
}

void cgroup_cache_get_stats(const struct cgroup_cache *cache, struct cgroup_cache_stats *ret)
{
	*ret = cache->stats;
}
