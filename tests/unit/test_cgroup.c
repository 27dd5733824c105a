// SPDX-License-Identifier: Apache-2.0
// cgroup path parsing (every driver/runtime form, malformed input), mountinfo parsing, and the
// id -> path cache over a plain directory tree (no root needed; the real cgroup2 tree is
// tests/integration/test_cgroup_cache.c).
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

#define CID "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define CID2 "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define CID_UPPER "CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB"
#define CID_63 "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48b"
#define CID_65 CID "0"
#define UID "8f2d1c3b-4a5e-4f60-9b7a-1c2d3e4f5a6b"
#define UID_ "8f2d1c3b_4a5e_4f60_9b7a_1c2d3e4f5a6b"

_Static_assert(sizeof(CID) == CGROUP_ID_LEN + 1, "CID is 64 hex");
_Static_assert(sizeof(CID2) == CGROUP_ID_LEN + 1, "CID2 is 64 hex");
_Static_assert(sizeof(CID_63) == CGROUP_ID_LEN, "CID_63 is 63 hex");
_Static_assert(sizeof(UID) == CGROUP_POD_UID_LEN + 1, "UID is 36 chars");

/* Inline strings, not pointers: Criterion may run each test in a freshly exec'd process,
 * where the parent's pointers mean nothing. "" = none. */
struct parse_case {
	char path[400];
	int ret;
	char id[CGROUP_ID_LEN + 1];
	char uid[CGROUP_POD_UID_LEN + 1];
	char runtime[16];
	char qos[16];
};

ParameterizedTestParameters(cgroup, parses_path_forms)
{
	static struct parse_case cases[] = {
		/* containerd, systemd driver, each QoS class */
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		  ".slice/cri-containerd-" CID ".scope",
		  1, CID, UID, "containerd", "burstable" },
		{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
		  ".slice/cri-containerd-" CID ".scope",
		  1, CID, UID, "containerd", "besteffort" },
		{ "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope", 1, CID,
		  UID, "containerd", "guaranteed" },
		/* containerd (or anything) with the cgroupfs driver: bare id */
		{ "/kubepods/burstable/pod" UID "/" CID, 1, CID, UID, "unknown", "burstable" },
		{ "/kubepods/besteffort/pod" UID "/" CID, 1, CID, UID, "unknown", "besteffort" },
		{ "/kubepods/pod" UID "/" CID, 1, CID, UID, "unknown", "guaranteed" },
		/* cri-o, systemd and cgroupfs, container and conmon */
		{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
		  ".slice/crio-" CID ".scope",
		  1, CID, UID, "cri-o", "besteffort" },
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		  ".slice/crio-conmon-" CID ".scope",
		  1, CID, UID, "cri-o", "burstable" },
		{ "/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" CID ".scope", 1, CID, UID,
		  "cri-o", "guaranteed" },
		{ "/kubepods/burstable/pod" UID "/crio-" CID, 1, CID, UID, "cri-o", "burstable" },
		{ "/kubepods/pod" UID "/crio-conmon-" CID, 1, CID, UID, "cri-o", "guaranteed" },
		/* docker: cri-dockerd under a systemd kubelet, plain systemd, plain cgroupfs */
		{ "/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" CID ".scope", 1, CID, UID,
		  "docker", "guaranteed" },
		{ "/system.slice/docker-" CID ".scope", 1, CID, "", "docker", "" },
		{ "/docker/" CID, 1, CID, "", "docker", "" },
		{ "/" CID, 1, CID, "", "unknown", "" },
		/* podman */
		{ "/machine.slice/libpod-" CID ".scope", 1, CID, "", "podman", "" },
		{ "/machine.slice/libpod-" CID ".scope/container", 1, CID, "", "podman", "" },
		/* nested and prefixed: k3s/rke, kubelet --cgroup-root, containerd without
		 * SystemdCgroup, kind/k3d (a cluster inside a docker container) */
		{ "/system.slice/containerd.service/kubepods-burstable-pod" UID_
		  ".slice:cri-containerd:" CID,
		  1, CID, UID, "containerd", "burstable" },
		{ "/system.slice/containerd.service/kubepods-pod" UID_ ".slice:cri-containerd:" CID,
		  1, CID, UID, "containerd", "guaranteed" },
		{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
		  "kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" CID ".scope",
		  1, CID, UID, "containerd", "besteffort" },
		{ "/system.slice/k3s.service/kubepods/burstable/pod" UID "/" CID, 1, CID, UID,
		  "unknown", "burstable" },
		{ "/docker/" CID2 "/kubepods/besteffort/pod" UID "/" CID, 1, CID, UID, "unknown",
		  "besteffort" },
		{ "/docker/" CID2 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
		  ".slice/cri-containerd-" CID ".scope",
		  1, CID, UID, "containerd", "burstable" },
		/* innermost container id wins; sub-cgroups of a container stay with it */
		{ "/docker/" CID2 "/system.slice/docker-" CID ".scope", 1, CID, "", "docker", "" },
		{ "/kubepods/burstable/pod" UID "/" CID "/init.scope", 1, CID, UID, "unknown",
		  "burstable" },
		/* a pod cgroup below a container belongs to the inner cluster: no container yet */
		{ "/docker/" CID2 "/kubepods/burstable/pod" UID, 1, "", UID, "", "burstable" },
		/* pod only */
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice", 1,
		  "", UID, "", "burstable" },
		{ "/kubepods.slice/kubepods-pod" UID_ ".slice", 1, "", UID, "", "guaranteed" },
		{ "/kubepods/besteffort/pod" UID, 1, "", UID, "", "besteffort" },
		{ "/kubepods/pod" UID "/", 1, "", UID, "", "guaranteed" },
		/* static pod: the uid is the manifest hash, 32 hex */
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		  "8daa50c3a64c9ff60bb9eab7b44b56fd.slice/cri-containerd-" CID ".scope",
		  1, CID, "8daa50c3a64c9ff60bb9eab7b44b56fd", "containerd", "burstable" },
		/* uppercase uid hex is lowercased */
		{ "/kubepods/pod8F2D1C3B-4A5E-4F60-9B7A-1C2D3E4F5A6B", 1, "", UID, "",
		  "guaranteed" },
		/* not containers */
		{ "/system.slice/sshd.service", 0, "", "", "", "" },
		{ "/user.slice", 0, "", "", "", "" },
		{ "/user.slice/user-1000.slice/session-3.scope", 0, "", "", "", "" },
		{ "/init.scope", 0, "", "", "", "" },
		{ "/", 0, "", "", "", "" },
		{ "", 0, "", "", "", "" },
		{ "/kubepods.slice/kubepods-burstable.slice", 0, "", "", "", "" },
		{ "/kubepods/burstable", 0, "", "", "", "" },
		{ "/system.slice/containerd.service", 0, "", "", "", "" },
		/* malformed ids */
		{ "/system.slice/docker-" CID_63 ".scope", 0, "", "", "", "" },
		{ "/system.slice/docker-" CID_65 ".scope", 0, "", "", "", "" },
		{ "/system.slice/docker-" CID_UPPER ".scope", 0, "", "", "", "" },
		{ "/system.slice/docker-" CID ".scopex", 0, "", "", "", "" },
		{ "/system.slice/docker-" CID, 0, "", "", "", "" },
		{ "/system.slice/cri-containerd-" CID_63 ".scope", 0, "", "", "", "" },
		{ "/" CID_63, 0, "", "", "", "" },
		{ "/" CID_65, 0, "", "", "", "" },
		{ "/" CID_UPPER, 0, "", "", "", "" },
		{ "/docker/ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bg", 0, "",
		  "", "", "" },
		{ "/x:cri-containerd:" CID_63, 0, "", "", "", "" },
		/* malformed pod uids (a valid container id next to one still counts) */
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		  "8f2d1c3b_4a5e_4f60_9b7a_1c2d3e4f5a6.slice",
		  0, "", "", "", "" },
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		  "8f2d1c3b_4a5e_4f60_9b7a_1c2d3e4f5a6bb.slice",
		  0, "", "", "", "" },
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		  "8f2d1c3b_4a5e_4f60_9b7a_1c2d3e4f5a6z.slice",
		  0, "", "", "", "" },
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		  "8f2d1c3b4_a5e_4f60_9b7a_1c2d3e4f5a6b.slice",
		  0, "", "", "", "" },
		{ "/kubepods.slice/kubepods-pod" UID ".slice", 0, "", "", "", "" },
		{ "/kubepods.slice/kubepods-gold-pod" UID_ ".slice", 0, "", "", "", "" },
		{ "/system.slice/pod" UID_ ".slice", 0, "", "", "", "" },
		{ "/kubepods/burstable/pod" UID_, 0, "", "", "", "" },
		{ "/kubepods/gold/pod" UID, 0, "", "", "", "" },
		{ "/somewhere/pod" UID, 0, "", "", "", "" },
		{ "/kubepods/burstable/podnot-a-uid/" CID, 1, CID, "", "unknown", "" },
	};
	return cr_make_param_array(struct parse_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct parse_case *c, cgroup, parses_path_forms)
{
	struct cgroup_info info;
	memset(&info, 0x5a, sizeof(info));

	int r = cgroup_parse_path(c->path, &info);
	cr_assert_eq(r, c->ret, "%s: ret %d, want %d", c->path, r, c->ret);
	cr_assert_str_eq(info.container_id, c->id, "%s", c->path);
	cr_assert_str_eq(info.pod_uid, c->uid, "%s", c->path);
	if (c->runtime[0])
		cr_assert(info.runtime && strcmp(info.runtime, c->runtime) == 0,
			  "%s: runtime %s, want %s", c->path, info.runtime ? info.runtime : "(null)",
			  c->runtime);
	else
		cr_assert_null(info.runtime, "%s: runtime %s", c->path, info.runtime);
	if (c->qos[0])
		cr_assert(info.qos && strcmp(info.qos, c->qos) == 0, "%s: qos %s, want %s",
			  c->path, info.qos ? info.qos : "(null)", c->qos);
	else
		cr_assert_null(info.qos, "%s: qos %s", c->path, info.qos);
}

Test(cgroup, rejects_null_path)
{
	struct cgroup_info info;
	cr_assert_eq(cgroup_parse_path(NULL, &info), -EINVAL);
	cr_assert_eq(cgroup_parse_path("/", NULL), -EINVAL);
}

Test(cgroup, rejects_overlong_path)
{
	char *p = malloc(5001);
	struct cgroup_info info;

	cr_assert_not_null(p);
	memset(p, 'a', 5000);
	p[0] = '/';
	p[5000] = '\0';
	cr_assert_eq(cgroup_parse_path(p, &info), -EINVAL);
	free(p);
}

Test(cgroup, accepts_4095_chars_and_rejects_4096)
{
	static const char tail[] = "/docker-" CID ".scope";
	char p[4097];
	struct cgroup_info info;

	size_t pad = 4095 - (sizeof(tail) - 1);
	p[0] = '/';
	memset(p + 1, 'x', pad - 1);
	memcpy(p + pad, tail, sizeof(tail));
	cr_assert_eq(strlen(p), 4095);
	cr_assert_eq(cgroup_parse_path(p, &info), 1);
	cr_assert_str_eq(info.container_id, CID);

	memmove(p + 1, p, 4096); /* now 4096 chars, still NUL-terminated */
	cr_assert_eq(strlen(p), 4096);
	cr_assert_eq(cgroup_parse_path(p, &info), -EINVAL);
}

Test(cgroup, handles_path_without_leading_slash_and_repeated_slashes)
{
	struct cgroup_info info;
	cr_assert_eq(cgroup_parse_path("kubepods//burstable///pod" UID "//" CID "/", &info), 1);
	cr_assert_str_eq(info.container_id, CID);
	cr_assert_str_eq(info.pod_uid, UID);
	cr_assert_str_eq(info.qos, "burstable");
}

Test(cgroup, finds_cgroup2_mount_on_this_machine)
{
	char buf[PATH_MAX];
	struct stat st;

	cr_assert_eq(cgroup2_find_mount(buf, sizeof(buf)), 0);
	cr_assert_eq(buf[0], '/');
	cr_assert_eq(stat(buf, &st), 0, "%s: %s", buf, strerror(errno));
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(cgroup2_find_mount(buf, 2), -ERANGE);
}

/* ---- mountinfo parsing from files ----------------------------------------------------- */

static char *write_temp(const char *content, size_t len)
{
	char *path = strdup("/tmp/tapio-mountinfo-XXXXXX");
	cr_assert_not_null(path);
	int fd = mkostemp(path, O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static int find_in(const char *content, char *buf, size_t len)
{
	char *path = write_temp(content, strlen(content));
	int r = cgroup2_find_mount_from(path, buf, len);
	unlink(path);
	free(path);
	return r;
}

Test(cgroup, mountinfo_unescapes_mount_point)
{
	char buf[256];
	cr_assert_eq(find_in("22 1 0:21 / /proc rw - proc proc rw\n"
			     "30 22 0:26 / /my\\040cgroup\\134x rw,nosuid shared:4 - cgroup2 none rw\n",
			     buf, sizeof(buf)),
		     0);
	cr_assert_str_eq(buf, "/my cgroup\\x");
}

Test(cgroup, mountinfo_prefers_whole_hierarchy_over_bind_mount)
{
	char buf[256];
	cr_assert_eq(find_in("40 1 0:38 /kubepods /var/lib/x rw - cgroup2 cgroup2 rw\n"
			     "41 1 0:38 / /sys/fs/cgroup rw,relatime shared:9 master:2 - cgroup2 "
			     "cgroup2 rw,nsdelegate\n",
			     buf, sizeof(buf)),
		     0);
	cr_assert_str_eq(buf, "/sys/fs/cgroup");
	cr_assert_eq(find_in("40 1 0:38 /kubepods /var/lib/x rw - cgroup2 cgroup2 rw\n", buf,
			     sizeof(buf)),
		     0);
	cr_assert_str_eq(buf, "/var/lib/x");
}

Test(cgroup, mountinfo_without_cgroup2_is_enoent)
{
	char buf[256];
	cr_assert_eq(find_in("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
			     "33 31 0:30 / /sys/fs/cgroup2 rw - tmpfs cgroup2 rw\n"
			     "garbage\n"
			     "1 2 3 4 5 6 7 8 9\n"
			     "\n",
			     buf, sizeof(buf)),
		     -ENOENT);
	cr_assert_eq(find_in("", buf, sizeof(buf)), -ENOENT);
	cr_assert_eq(cgroup2_find_mount_from("/nonexistent/mountinfo", buf, sizeof(buf)),
		     -ENOENT);
}

Test(cgroup, mountinfo_skips_overlong_lines)
{
	size_t big = 100000;
	const char *good = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
	char *content = malloc(big + strlen(good) + 2);
	char buf[256];

	cr_assert_not_null(content);
	/* an overlong line that itself looks like a cgroup2 mount must not be half-read */
	memcpy(content, "1 2 3:4 / /evil rw - cgroup2 x rw ", 34);
	memset(content + 34, 'a', big - 34);
	content[big - 1] = '\n';
	strcpy(content + big, good); /* no trailing newline */
	char *path = write_temp(content, strlen(content));
	cr_assert_eq(cgroup2_find_mount_from(path, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/sys/fs/cgroup/unified");
	unlink(path);
	free(path);
	free(content);
}

/* ---- the cache over a plain directory tree -------------------------------------------- */

static char tree[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void tree_setup(void)
{
	snprintf(tree, sizeof(tree), "/tmp/tapio-cgtree-XXXXXX");
	cr_assert_not_null(mkdtemp(tree));
}

static void tree_teardown(void)
{
	if (tree[0])
		nftw(tree, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t mkdir_ino(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s%s", tree, rel);
	cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
	cr_assert_eq(stat(p, &st), 0);
	return (uint64_t)st.st_ino;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct cgroup_cache_stats stats_of(const struct cgroup_cache *c)
{
	struct cgroup_cache_stats s;
	cgroup_cache_get_stats(c, &s);
	return s;
}

Test(cgroup, cache_resolves_by_rescan, .init = tree_setup, .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;

	mkdir_ino("/kubepods.slice");
	mkdir_ino("/kubepods.slice/kubepods-burstable.slice");
	uint64_t pod = mkdir_ino("/kubepods.slice/kubepods-burstable.slice/"
				 "kubepods-burstable-pod" UID_ ".slice");
	uint64_t ctr = mkdir_ino("/kubepods.slice/kubepods-burstable.slice/"
				 "kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID ".scope");

	cr_assert_eq(cgroup_cache_new(tree, 8, &c), 0);
	cr_assert_str_eq(cgroup_cache_root(c), tree);
	cr_assert_eq(cgroup_cache_lookup(c, ctr, 0, &e), 0);
	cr_assert_eq(e->id, ctr);
	cr_assert_str_eq(e->path, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
				  ".slice/cri-containerd-" CID ".scope");
	cr_assert_str_eq(e->info.container_id, CID);
	cr_assert_str_eq(e->info.pod_uid, UID);
	cr_assert_str_eq(e->info.runtime, "containerd");
	cr_assert_str_eq(e->info.qos, "burstable");

	/* the pod comes from the same listing: no second walk */
	cr_assert_eq(cgroup_cache_lookup(c, pod, 0, &e), 0);
	cr_assert_str_eq(e->info.container_id, "");
	cr_assert_str_eq(e->info.pod_uid, UID);
	cr_assert_eq(cgroup_cache_lookup(c, ctr, 0, &e), 0);

	struct cgroup_cache_stats s = stats_of(c);
	cr_assert_eq(s.rescans, 1);
	cr_assert_eq(s.misses, 2);
	cr_assert_eq(s.hits, 1);
	cgroup_cache_free(c);
}

Test(cgroup, cache_maps_root_to_slash, .init = tree_setup, .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	struct stat st;

	cr_assert_eq(stat(tree, &st), 0);
	cr_assert_eq(cgroup_cache_new(tree, 4, &c), 0);
	cr_assert_eq(cgroup_cache_lookup(c, st.st_ino, 0, &e), 0);
	cr_assert_str_eq(e->path, "/");
	cr_assert_str_eq(e->info.container_id, "");
	cgroup_cache_free(c);
}

Test(cgroup, cache_remembers_misses_for_a_second, .init = tree_setup, .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	const uint64_t bogus = UINT64_MAX - 7;

	cr_assert_eq(cgroup_cache_new(tree, 4, &c), 0);
	cr_assert_eq(cgroup_cache_lookup(c, bogus, 0, &e), -ENOENT);
	cr_assert_eq(stats_of(c).rescans, 1);
	cr_assert_eq(cgroup_cache_lookup(c, bogus, 0, &e), -ENOENT);
	cr_assert_eq(stats_of(c).rescans, 1);
	cr_assert_eq(stats_of(c).negative_hits, 1);

	/* past the negative TTL the id is checked again */
	usleep(1100 * 1000);
	cr_assert_eq(cgroup_cache_lookup(c, bogus, 0, &e), -ENOENT);
	cr_assert_eq(stats_of(c).rescans, 2);
	cgroup_cache_free(c);
}

Test(cgroup, cache_rate_limits_rescans, .init = tree_setup, .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;

	cr_assert_eq(cgroup_cache_new(tree, 4, &c), 0);
	uint64_t t0 = mono_ms();
	cr_assert_eq(cgroup_cache_lookup(c, UINT64_MAX - 1, 0, &e), -ENOENT);
	uint64_t late = mkdir_ino("/late");
	int r = cgroup_cache_lookup(c, late, 0, &e);
	if (mono_ms() - t0 < 90) {
		/* within 100 ms of the last walk: not found, not remembered as missing */
		cr_assert_eq(r, -ENOENT);
		cr_assert_eq(stats_of(c).rescans, 1);
		cr_assert_eq(stats_of(c).negative_hits, 0);
	} else {
		cr_log_warn("machine too slow to check the rate limit");
	}
	usleep(150 * 1000);
	cr_assert_eq(cgroup_cache_lookup(c, late, 0, &e), 0);
	cr_assert_str_eq(e->path, "/late");
	cr_assert_eq(stats_of(c).rescans, 2);
	cgroup_cache_free(c);
}

Test(cgroup, cache_evicts_least_recently_used, .init = tree_setup, .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	uint64_t a = mkdir_ino("/a"), b = mkdir_ino("/b"), d = mkdir_ino("/d");

	cr_assert_eq(cgroup_cache_new(tree, 2, &c), 0);
	cr_assert_eq(cgroup_cache_lookup(c, a, 0, &e), 0);
	cr_assert_eq(cgroup_cache_lookup(c, b, 0, &e), 0);
	cr_assert_eq(cgroup_cache_lookup(c, a, 0, &e), 0); /* a is now the most recent */
	cr_assert_eq(cgroup_cache_lookup(c, d, 0, &e), 0); /* evicts b */
	struct cgroup_cache_stats s = stats_of(c);
	cr_assert_eq(s.evictions, 1);
	cr_assert_eq(s.hits, 1);

	cr_assert_eq(cgroup_cache_lookup(c, a, 0, &e), 0);
	cr_assert_eq(stats_of(c).hits, 2);
	cr_assert_eq(cgroup_cache_lookup(c, b, 0, &e), 0); /* a miss, from the listing */
	cr_assert_str_eq(e->path, "/b");
	s = stats_of(c);
	cr_assert_eq(s.hits, 2);
	cr_assert_eq(s.misses, 4);
	cr_assert_eq(s.evictions, 2);
	cr_assert_eq(s.rescans, 1);
	cgroup_cache_free(c);
}

Test(cgroup, cache_stays_bounded_under_many_ids, .init = tree_setup, .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	uint64_t ids[200];
	char name[32];

	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "/d%d", i);
		ids[i] = mkdir_ino(name);
	}
	cr_assert_eq(cgroup_cache_new(tree, 50, &c), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 200; i++) {
			cr_assert_eq(cgroup_cache_lookup(c, ids[i], 0, &e), 0);
			snprintf(name, sizeof(name), "/d%d", i);
			cr_assert_str_eq(e->path, name);
		}
	struct cgroup_cache_stats s = stats_of(c);
	cr_assert_eq(s.evictions, 400 - 50);
	cr_assert_eq(s.rescans, 1);
	/* the 50 most recent are cached */
	for (int i = 150; i < 200; i++)
		cr_assert_eq(cgroup_cache_lookup(c, ids[i], 0, &e), 0);
	cr_assert_eq(stats_of(c).hits, 50);
	cgroup_cache_free(c);
}

Test(cgroup, cache_does_not_follow_symlinks, .init = tree_setup, .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	char outside[] = "/tmp/tapio-cgout-XXXXXX", link[PATH_MAX];
	struct stat st;

	cr_assert_not_null(mkdtemp(outside));
	cr_assert_eq(stat(outside, &st), 0);
	snprintf(link, sizeof(link), "%s/link", tree);
	cr_assert_eq(symlink(outside, link), 0);
	cr_assert_eq(cgroup_cache_new(tree, 4, &c), 0);
	cr_assert_eq(cgroup_cache_lookup(c, st.st_ino, 0, &e), -ENOENT);
	cgroup_cache_free(c);
	rmdir(outside);
}

Test(cgroup, cache_caps_walk_depth, .init = tree_setup, .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	char rel[PATH_MAX] = "";
	uint64_t ino[71];

	for (int i = 1; i <= 70; i++) {
		strcat(rel, "/x");
		ino[i] = mkdir_ino(rel);
	}
	cr_assert_eq(cgroup_cache_new(tree, 4, &c), 0);
	cr_assert_eq(cgroup_cache_lookup(c, ino[64], 0, &e), 0);
	cr_assert_eq(strlen(e->path), 64 * 2);
	cr_assert_eq(cgroup_cache_lookup(c, ino[65], 0, &e), -ENOENT);
	cgroup_cache_free(c);
}

Test(cgroup, cache_drops_removed_directories_from_listing, .init = tree_setup,
     .fini = tree_teardown)
{
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	char p[PATH_MAX];
	uint64_t gone = mkdir_ino("/gone");

	cr_assert_eq(cgroup_cache_new(tree, 4, &c), 0);
	cr_assert_eq(cgroup_cache_lookup(c, UINT64_MAX - 3, 0, &e), -ENOENT); /* walks */
	snprintf(p, sizeof(p), "%s/gone", tree);
	cr_assert_eq(rmdir(p), 0);
	/* the listing still names it, but the inode check refuses */
	cr_assert_eq(cgroup_cache_lookup(c, gone, 0, &e), -ENOENT);
	cgroup_cache_free(c);
}

Test(cgroup, cache_rejects_bad_arguments)
{
	struct cgroup_cache *c = NULL;
	cr_assert_eq(cgroup_cache_new("/tmp", 0, &c), -EINVAL);
	cr_assert_eq(cgroup_cache_new("/nonexistent-tapio-root", 4, &c), -ENOENT);
	cr_assert_eq(cgroup_cache_new("/etc/hostname", 4, &c), -ENOTDIR);
	cr_assert_null(c);
	cgroup_cache_free(NULL);
}
