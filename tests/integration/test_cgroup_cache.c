// SPDX-License-Identifier: Apache-2.0
// The cgroup id -> path cache against the real cgroup2 hierarchy: a container-shaped cgroup
// tree with a live process in it, resolved by pid hint and by rescan. Needs root.
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

#define CID1 "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define CID2 "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define CID3 "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
#define POD_UID "5b0e7c4a-91d2-4f3e-8a6b-0c1d2e3f4a5b"
#define POD_UID_ "5b0e7c4a_91d2_4f3e_8a6b_0c1d2e3f4a5b"
#define POD_DIR "kubepods-burstable-pod" POD_UID_ ".slice"

static char mnt[PATH_MAX];   /* the cgroup2 mount */
static char top_rel[64];     /* "/tapio-test-<pid>" */
static const char *const ctr_names[] = {
	"cri-containerd-" CID1 ".scope",
	"crio-" CID2 ".scope",
	"docker-" CID3 ".scope",
};
static uint64_t pod_ino, ctr_ino[3];
static pid_t child = -1;

static void need_root(void)
{
	if (geteuid() == 0)
		return;
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0)
		cr_assert_fail("needs root (CI=true: skipping is a failure)");
	cr_skip_test("needs root");
}

static void abs_path(char *buf, size_t len, const char *rel)
{
	int n = snprintf(buf, len, "%s%s", mnt, rel);
	cr_assert(n > 0 && (size_t)n < len);
}

static void ctr_rel(char *buf, size_t len, int i)
{
	snprintf(buf, len, "%s/" POD_DIR "/%s", top_rel, ctr_names[i]);
}

static uint64_t make_dir(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	abs_path(p, sizeof(p), rel);
	cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
	cr_assert_eq(stat(p, &st), 0);
	return (uint64_t)st.st_ino;
}

static void move_pid(const char *rel, pid_t pid)
{
	char p[PATH_MAX], num[32];

	int k = snprintf(p, sizeof(p), "%s%s/cgroup.procs", mnt, rel);
	cr_assert(k > 0 && (size_t)k < sizeof(p));
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s: %s", p, strerror(errno));
	int n = snprintf(num, sizeof(num), "%d", (int)pid);
	ssize_t w = write(fd, num, (size_t)n);
	int saved = errno;
	close(fd);
	cr_assert_eq(w, n, "move %d to %s: %s", (int)pid, p, strerror(saved));
}

/* rmdir bottom-up; cgroup files inside cannot and need not be removed. A cgroup whose last
 * process was just reaped can report EBUSY for a moment. */
static int rmdir_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag != FTW_DP)
		return 0;
	for (int i = 0; i < 100 && rmdir(p) < 0 && errno == EBUSY; i++)
		usleep(10 * 1000);
	return 0;
}

static void remove_tree(const char *abs)
{
	nftw(abs, rmdir_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Leftovers of a run that crashed before its teardown (their child died with them). */
static void remove_stale(void)
{
	char p[PATH_MAX];
	DIR *d = opendir(mnt);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		int pid;
		if (sscanf(de->d_name, "tapio-test-%d", &pid) != 1 || pid <= 0)
			continue;
		if (kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		int n = snprintf(p, sizeof(p), "%s/%s", mnt, de->d_name);
		if (n > 0 && (size_t)n < sizeof(p))
			remove_tree(p);
	}
	closedir(d);
}

static void setup(void)
{
	char rel[PATH_MAX];

	if (geteuid() != 0)
		return;
	cr_assert_eq(cgroup2_find_mount(mnt, sizeof(mnt)), 0);
	remove_stale();
	snprintf(top_rel, sizeof(top_rel), "/tapio-test-%d", (int)getpid());
	make_dir(top_rel);
	snprintf(rel, sizeof(rel), "%s/" POD_DIR, top_rel);
	pod_ino = make_dir(rel);
	for (int i = 0; i < 3; i++) {
		ctr_rel(rel, sizeof(rel), i);
		ctr_ino[i] = make_dir(rel);
	}

	int ready[2];
	cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
	pid_t parent = getpid();
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		close(ready[0]);
		close(ready[1]);
		for (;;)
			pause();
	}
	close(ready[1]);
	char b;
	(void)!read(ready[0], &b, 1); /* EOF once the child is past PR_SET_PDEATHSIG */
	close(ready[0]);
	ctr_rel(rel, sizeof(rel), 0);
	move_pid(rel, child);
}

static void teardown(void)
{
	char p[PATH_MAX];

	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	if (top_rel[0]) {
		abs_path(p, sizeof(p), top_rel);
		remove_tree(p);
		struct stat st;
		cr_expect_neq(stat(p, &st), 0, "%s left behind", p);
	}
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

static void expect_ctr0(const struct cgroup_entry *e)
{
	char rel[PATH_MAX];
	ctr_rel(rel, sizeof(rel), 0);
	cr_assert_eq(e->id, ctr_ino[0]);
	cr_assert_str_eq(e->path, rel);
	cr_assert_str_eq(e->info.container_id, CID1);
	cr_assert_str_eq(e->info.pod_uid, POD_UID);
	cr_assert_str_eq(e->info.runtime, "containerd");
	cr_assert_str_eq(e->info.qos, "burstable");
}

TestSuite(cgroup_cache, .init = setup, .fini = teardown, .timeout = 30);

Test(cgroup_cache, resolves_by_pid_hint_without_rescan)
{
	need_root();
	struct cgroup_cache *c;
	const struct cgroup_entry *e;

	cr_assert_eq(cgroup_cache_new(NULL, 16, &c), 0);
	cr_assert_str_eq(cgroup_cache_root(c), mnt);
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[0], child, &e), 0);
	expect_ctr0(e);
	struct cgroup_cache_stats s = stats_of(c);
	cr_assert_eq(s.rescans, 0);
	cr_assert_eq(s.misses, 1);
	cr_assert_eq(s.hits, 0);

	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[0], child, &e), 0);
	expect_ctr0(e);
	s = stats_of(c);
	cr_assert_eq(s.hits, 1);
	cr_assert_eq(s.rescans, 0);
	cgroup_cache_free(c);
}

Test(cgroup_cache, resolves_by_rescan_without_hint)
{
	need_root();
	struct cgroup_cache *c;
	const struct cgroup_entry *e;

	cr_assert_eq(cgroup_cache_new(mnt, 16, &c), 0);
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[0], 0, &e), 0);
	expect_ctr0(e);
	cr_assert_eq(stats_of(c).rescans, 1);

	/* the pod cgroup and the other containers come from the same walk */
	cr_assert_eq(cgroup_cache_lookup(c, pod_ino, 0, &e), 0);
	cr_assert_str_eq(e->info.container_id, "");
	cr_assert_str_eq(e->info.pod_uid, POD_UID);
	cr_assert_str_eq(e->info.qos, "burstable");
	cr_assert_null(e->info.runtime);
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[1], 0, &e), 0);
	cr_assert_str_eq(e->info.container_id, CID2);
	cr_assert_str_eq(e->info.runtime, "cri-o");
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[2], 0, &e), 0);
	cr_assert_str_eq(e->info.container_id, CID3);
	cr_assert_str_eq(e->info.runtime, "docker");
	cr_assert_eq(stats_of(c).rescans, 1);

	struct stat st;
	cr_assert_eq(stat(mnt, &st), 0);
	cr_assert_eq(cgroup_cache_lookup(c, st.st_ino, 0, &e), 0);
	cr_assert_str_eq(e->path, "/");
	cgroup_cache_free(c);
}

Test(cgroup_cache, wrong_or_dead_pid_hint_falls_back_to_rescan)
{
	need_root();
	struct cgroup_cache *c;
	const struct cgroup_entry *e;

	cr_assert_eq(cgroup_cache_new(mnt, 16, &c), 0);
	/* this process is not in the container's cgroup */
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[0], getpid(), &e), 0);
	expect_ctr0(e);
	cr_assert_eq(stats_of(c).rescans, 1);
	cgroup_cache_free(c);

	cr_assert_eq(cgroup_cache_new(mnt, 16, &c), 0);
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[0], 0x3ffffff0, &e), 0); /* no such pid */
	expect_ctr0(e);
	cr_assert_eq(stats_of(c).rescans, 1);
	cgroup_cache_free(c);
}

Test(cgroup_cache, follows_a_process_that_moved)
{
	need_root();
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	char rel[PATH_MAX];

	cr_assert_eq(cgroup_cache_new(mnt, 16, &c), 0);
	ctr_rel(rel, sizeof(rel), 1);
	move_pid(rel, child);
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[1], child, &e), 0);
	cr_assert_str_eq(e->path, rel);
	cr_assert_str_eq(e->info.container_id, CID2);
	cr_assert_eq(stats_of(c).rescans, 0);
	cgroup_cache_free(c);
}

Test(cgroup_cache, unknown_id_is_enoent_and_remembered)
{
	need_root();
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	const uint64_t bogus = UINT64_MAX - 42;

	cr_assert_eq(cgroup_cache_new(mnt, 16, &c), 0);
	uint64_t t0 = mono_ms();
	cr_assert_eq(cgroup_cache_lookup(c, bogus, child, &e), -ENOENT);
	cr_assert_eq(stats_of(c).rescans, 1);
	cr_assert_eq(cgroup_cache_lookup(c, bogus, child, &e), -ENOENT);
	cr_assert_eq(cgroup_cache_lookup(c, bogus, 0, &e), -ENOENT);
	struct cgroup_cache_stats s = stats_of(c);
	if (mono_ms() - t0 < 900) {
		cr_assert_eq(s.rescans, 1, "a second lookup within 1 s must not rescan");
		cr_assert_eq(s.negative_hits, 2);
		cr_assert_eq(s.misses, 1);
	} else {
		cr_log_warn("machine too slow to check the negative entry");
	}

	/* once the negative entry has expired, the id is looked for again */
	usleep(1100 * 1000);
	cr_assert_eq(cgroup_cache_lookup(c, bogus, 0, &e), -ENOENT);
	cr_assert_geq(stats_of(c).rescans, 2);
	cgroup_cache_free(c);
}

Test(cgroup_cache, evicts_at_max_entries)
{
	need_root();
	struct cgroup_cache *c;
	const struct cgroup_entry *e;
	char rel[PATH_MAX];

	cr_assert_eq(cgroup_cache_new(mnt, 2, &c), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[i], 0, &e), 0);
	struct cgroup_cache_stats s = stats_of(c);
	cr_assert_eq(s.evictions, 1);
	cr_assert_eq(s.misses, 3);

	/* ctr 0 was the least recently used: gone, resolved again */
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[0], child, &e), 0);
	expect_ctr0(e);
	s = stats_of(c);
	cr_assert_eq(s.misses, 4);
	cr_assert_eq(s.hits, 0);
	cr_assert_eq(s.evictions, 2);
	/* ctr 2 survived (ctr 1 was evicted for ctr 0) */
	cr_assert_eq(cgroup_cache_lookup(c, ctr_ino[2], 0, &e), 0);
	ctr_rel(rel, sizeof(rel), 2);
	cr_assert_str_eq(e->path, rel);
	cr_assert_eq(stats_of(c).hits, 1);
	cgroup_cache_free(c);
}
