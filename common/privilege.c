// SPDX-License-Identifier: Apache-2.0
// Reading and parsing /proc/<pid>/status for the privilege report (see privilege.h).
#include "privilege.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "strbuf.h"
#include "tapio/v1/worker.pb-c.h"

/* ---- /proc/<pid>/status -------------------------------------------------------------------- */

enum {
	SEEN_UID = 1u << 0,
	SEEN_GID = 1u << 1,
	SEEN_CAP_INH = 1u << 2,
	SEEN_CAP_PRM = 1u << 3,
	SEEN_CAP_EFF = 1u << 4,
	SEEN_CAP_BND = 1u << 5,
	SEEN_CAP_AMB = 1u << 6,
	SEEN_NNP = 1u << 7,
	SEEN_SECCOMP = 1u << 8,
	SEEN_SECCOMP_FILTERS = 1u << 9,
	/* Lines every kernel that can run tapio prints. CapAmb (4.3), NoNewPrivs (4.10), Seccomp
	 * (CONFIG_SECCOMP) and Seccomp_filters (5.9) may be absent: they then read as 0. */
	SEEN_REQUIRED =
		SEEN_UID | SEEN_GID | SEEN_CAP_INH | SEEN_CAP_PRM | SEEN_CAP_EFF | SEEN_CAP_BND,
};

/* Parse one unsigned number in `base` from [*p, end), skipping leading tabs/spaces. */
static int parse_number(const char **p, const char *end, int base, uint64_t max, uint64_t *ret)
{
	const char *s = *p;
	while (s < end && (*s == '\t' || *s == ' '))
		s++;
	uint64_t v = 0;
	const char *start = s;
	for (; s < end; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (v > (max - d) / (uint64_t)base)
			return -EINVAL;
		v = v * (uint64_t)base + d;
	}
	if (s == start)
		return -EINVAL;
	*p = s;
	*ret = v;
	return 0;
}

/* The value part of a line must be exactly `n` numbers and nothing else but blanks. */
static int parse_numbers(const char *s, const char *end, int base, uint64_t max, uint64_t *out,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = parse_number(&s, end, base, max, &out[i]);
		if (r < 0)
			return r;
	}
	while (s < end && (*s == '\t' || *s == ' '))
		s++;
	return s == end ? 0 : -EINVAL;
}

static int parse_ids(const char *s, const char *end, uint32_t *ret_real, uint32_t *ret_eff)
{
	uint64_t v[4]; /* real, effective, saved, filesystem */
	int r = parse_numbers(s, end, 10, UINT32_MAX, v, 4);
	if (r < 0)
		return r;
	*ret_real = (uint32_t)v[0];
	*ret_eff = (uint32_t)v[1];
	return 0;
}

int privilege_status_parse(const char *text, struct privilege_status *ret_status)
{
	static const struct {
		const char *key; /* including the colon */
		unsigned seen;
		int base;
	} keys[] = {
		{"Uid:", SEEN_UID, 10},		{"Gid:", SEEN_GID, 10},
		{"CapInh:", SEEN_CAP_INH, 16},	{"CapPrm:", SEEN_CAP_PRM, 16},
		{"CapEff:", SEEN_CAP_EFF, 16},	{"CapBnd:", SEEN_CAP_BND, 16},
		{"CapAmb:", SEEN_CAP_AMB, 16},	{"NoNewPrivs:", SEEN_NNP, 10},
		{"Seccomp:", SEEN_SECCOMP, 10}, {"Seccomp_filters:", SEEN_SECCOMP_FILTERS, 10},
	};
	struct privilege_status st = {0};
	unsigned seen = 0;

	if (!text || !ret_status)
		return -EINVAL;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *next = nl ? nl + 1 : end;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			size_t klen = strlen(keys[k].key);
			if ((size_t)(end - line) < klen || memcmp(line, keys[k].key, klen) != 0)
				continue;
			if (seen & keys[k].seen)
				return -EINVAL; /* a repeated line: not a status file */
			const char *v = line + klen;
			uint64_t x = 0;
			int r;
			switch (keys[k].seen) {
			case SEEN_UID:
				r = parse_ids(v, end, &st.uid, &st.euid);
				break;
			case SEEN_GID:
				r = parse_ids(v, end, &st.gid, &st.egid);
				break;
			default:
				r = parse_numbers(v, end, keys[k].base,
						  keys[k].base == 16 ? UINT64_MAX : UINT32_MAX, &x,
						  1);
				break;
			}
			if (r < 0)
				return r;
			switch (keys[k].seen) {
			case SEEN_CAP_INH:
				st.cap_inh = x;
				break;
			case SEEN_CAP_PRM:
				st.cap_prm = x;
				break;
			case SEEN_CAP_EFF:
				st.cap_eff = x;
				break;
			case SEEN_CAP_BND:
				st.cap_bnd = x;
				break;
			case SEEN_CAP_AMB:
				st.cap_amb = x;
				break;
			case SEEN_NNP:
				st.no_new_privs = (uint32_t)x;
				break;
			case SEEN_SECCOMP:
				st.seccomp = (uint32_t)x;
				break;
			case SEEN_SECCOMP_FILTERS:
				st.seccomp_filters = (uint32_t)x;
				break;
			default:
				break;
			}
			seen |= keys[k].seen;
			break;
		}
		line = next;
	}
	if ((seen & SEEN_REQUIRED) != SEEN_REQUIRED)
		return -EINVAL;
	if (st.no_new_privs > 1 || st.seccomp > 2)
		return -EINVAL;
	*ret_status = st;
	return 0;
}

int privilege_status_read(pid_t pid, struct privilege_status *ret_status)
{
	char path[64];
	if (pid < 0 || !ret_status)
		return -EINVAL;
	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/status");
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);

	/* Uses only openat, read, close and malloc: callable inside the sandbox when /proc is one
	 * of its read paths. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_(strbuf_release) struct strbuf sb;
	strbuf_init(&sb, (size_t)1 << 20); /* a status file is ~1.5 KiB; Groups: can be long */
	for (;;) {
		int r = strbuf_reserve(&sb, 4096);
		if (r < 0)
			return r;
		ssize_t n = read(fd, sb.data + sb.len, 4096);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		sb.len += (size_t)n;
	}
	if (!sb.data || memchr(sb.data, '\0', sb.len))
		return -EINVAL;
	sb.data[sb.len] = '\0';
	return privilege_status_parse(sb.data, ret_status);
}

void privilege_report_fill(Tapio__V1__PrivilegeReport *pr, const struct privilege_status *st)
{
	*pr = (Tapio__V1__PrivilegeReport)TAPIO__V1__PRIVILEGE_REPORT__INIT;
	pr->has_uid = pr->has_gid = pr->has_cap_inh = pr->has_cap_prm = pr->has_cap_eff = 1;
	pr->has_cap_bnd = pr->has_cap_amb = pr->has_no_new_privs = pr->has_seccomp = 1;
	pr->has_seccomp_filters = 1;
	pr->uid = st->uid;
	pr->gid = st->gid;
	pr->cap_inh = st->cap_inh;
	pr->cap_prm = st->cap_prm;
	pr->cap_eff = st->cap_eff;
	pr->cap_bnd = st->cap_bnd;
	pr->cap_amb = st->cap_amb;
	pr->no_new_privs = st->no_new_privs;
	pr->seccomp = st->seccomp;
	pr->seccomp_filters = st->seccomp_filters;
}
