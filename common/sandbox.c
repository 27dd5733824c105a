// SPDX-License-Identifier: Apache-2.0
// Privilege drop for workers (DESIGN.md, worker lifecycle step 4): securebits and bounding set,
// unprivileged ids, empty capability sets, no_new_privs, Landlock, seccomp allow-list — in that
// order. The SIGSYS report is fatal_report.c, the /proc/<pid>/status reader privilege.c.
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/landlock.h>
#include <linux/securebits.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "fatal_report.h"
#include "log.h"

/* ---- Landlock uapi the build host's headers may lack ----------------------------------------
 * Debian 12's linux-libc-dev (6.1) stops at ABI 2/3. The values below are the kernel's stable
 * uapi (include/uapi/linux/landlock.h); each is used only once the running kernel reported the
 * ABI that introduced it. */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2, Linux 5.19 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3, Linux 6.2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5, Linux 6.10 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0) /* ABI 4, Linux 6.7 */
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1) /* ABI 4, Linux 6.7 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6, Linux 6.12 */
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1) /* ABI 6, Linux 6.12 */
#endif

/* The newest ABI whose rights this file knows. A newer kernel gets this ABI's rule set: rights
 * added later stay unhandled (= allowed by Landlock) until they are added here. */
#define LANDLOCK_ABI_KNOWN 7

/* struct landlock_ruleset_attr as of ABI 6, declared here so the later fields exist whatever
 * the headers' age. The size passed to the kernel matches the ABI in use. */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI >= 4 */
	uint64_t scoped;	     /* ABI >= 6 */
};

/* ABI 1: every right up to MAKE_SYM. */
#define LANDLOCK_ACCESS_FS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)

#define SECBITS_WANTED                                                                             \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |                    \
	 SECBIT_KEEP_CAPS_LOCKED)

/* ---- the seccomp base set -------------------------------------------------------------------
 * What a worker's steady-state loop needs, and no more. Setup (loading BPF, opening ring
 * buffers, timerfds, signalfds, epoll instances) happens before the sandbox and is not here.
 * Names are x86_64/arm64 syscall names as glibc 2.36 issues them; names a libseccomp or an
 * architecture does not know are skipped when the filter is built (see add_base_rules). */
enum rule_kind {
	RULE_PLAIN,	/* any arguments */
	RULE_NO_EXEC,	/* arg2 (prot) without PROT_EXEC: mmap, mprotect */
	RULE_READ_ONLY, /* arg2 (flags) read-only open: no O_WRONLY/O_RDWR/O_CREAT/O_TRUNC */
	RULE_FCNTL,	/* arg1 (cmd) one of F_GETFD F_SETFD F_GETFL F_SETFL */
	RULE_SELF_SIG,	/* arg0 (tgid) is this process */
};

#define BASE_SYSCALLS(X)                                                                           \
	/* event loop and ring buffers (fds opened before the sandbox) */                          \
	X(epoll_wait, RULE_PLAIN)   /* libbpf ring_buffer__poll(), glibc epoll_wait() */           \
	X(epoll_pwait, RULE_PLAIN)  /* arm64 has no epoll_wait; libuv uses it */                   \
	X(epoll_pwait2, RULE_PLAIN) /* timespec timeouts */                                        \
	X(epoll_ctl, RULE_PLAIN)    /* toggling EPOLLOUT on the supervisor socket */               \
	X(read, RULE_PLAIN)	    /* timerfd, signalfd, the files below */                       \
	X(pread64, RULE_PLAIN)	    /* procfs/cgroupfs files at an offset */                       \
	X(close, RULE_PLAIN)                                                                       \
	/* frames to the supervisor (inherited socketpair end) and log lines to stderr */          \
	X(write, RULE_PLAIN)                                                                       \
	X(writev, RULE_PLAIN)                                                                      \
	X(sendmsg, RULE_PLAIN)                                                                     \
	X(sendto, RULE_PLAIN) /* glibc send() */                                                   \
	/* time; clock calls go through the vDSO unless it is off or the clock is a CPU clock */   \
	X(timerfd_settime, RULE_PLAIN)                                                             \
	X(timerfd_gettime, RULE_PLAIN)                                                             \
	X(clock_gettime, RULE_PLAIN)                                                               \
	X(gettimeofday, RULE_PLAIN)                                                                \
	X(time, RULE_PLAIN)	       /* vDSO fallback of time(2), same class as the two above */ \
	X(clock_nanosleep, RULE_PLAIN) /* glibc 2.36 nanosleep(), usleep(), sleep() */             \
	X(nanosleep, RULE_PLAIN)                                                                   \
	/* memory: malloc, realloc of large blocks, free; never new executable memory */           \
	X(mmap, RULE_NO_EXEC)                                                                      \
	X(mprotect, RULE_NO_EXEC)                                                                  \
	X(munmap, RULE_PLAIN)                                                                      \
	X(mremap, RULE_PLAIN) /* keeps the protection of the mapping it moves */                   \
	X(brk, RULE_PLAIN)                                                                         \
	X(madvise, RULE_PLAIN) /* free() trimming */                                               \
	/* reading the files Landlock still allows (cgroup, /proc); glibc 2.36 on x86_64 */        \
	X(openat, RULE_READ_ONLY) /* open(), fopen(), opendir() */                                 \
	X(newfstatat, RULE_PLAIN) /* stat(), lstat(), fstat(), opendir(), fopen() */               \
	X(fstat, RULE_PLAIN)	  /* fstat() of other libcs and older glibc */                     \
	X(statx, RULE_PLAIN)                                                                       \
	X(getdents64, RULE_PLAIN) /* readdir() */                                                  \
	X(lseek, RULE_PLAIN)	  /* rewind() of /proc files */                                    \
	X(readlink, RULE_PLAIN)	  /* glibc 2.36 readlink() on x86_64 (not readlinkat) */           \
	X(readlinkat, RULE_PLAIN) /* arm64 readlink() */                                           \
	X(fcntl, RULE_FCNTL)	  /* O_NONBLOCK, FD_CLOEXEC; no F_SETOWN, F_DUPFD, locks */        \
	/* signals: handlers, masks; signalfd reads are read(2) */                                 \
	X(rt_sigreturn, RULE_PLAIN)                                                                \
	X(rt_sigprocmask, RULE_PLAIN)                                                              \
	X(rt_sigaction, RULE_PLAIN)                                                                \
	X(tgkill, RULE_SELF_SIG) /* abort()/raise(): SIGABRT stays SIGABRT, to self only */        \
	/* process */                                                                              \
	X(getpid, RULE_PLAIN)                                                                      \
	X(gettid, RULE_PLAIN)                                                                      \
	X(getppid, RULE_PLAIN) /* noticing that the supervisor died */                             \
	X(exit, RULE_PLAIN)                                                                        \
	X(exit_group, RULE_PLAIN)                                                                  \
	X(futex, RULE_PLAIN) /* glibc locks (stdio, malloc) */                                     \
	X(restart_syscall, RULE_PLAIN)                                                             \
	X(sched_yield, RULE_PLAIN)                                                                 \
	X(getrandom, RULE_PLAIN) /* glibc malloc, hash seeds */                                    \
	X(sysinfo, RULE_PLAIN)	 /* glibc qsort() sizes its buffer by physical memory */           \
	X(uname, RULE_PLAIN)

#define BASE_NAME(name, kind)  #name,
#define BASE_ENTRY(name, kind) {#name, kind},

const char *const sandbox_base_syscalls[] = {BASE_SYSCALLS(BASE_NAME) NULL};

static const struct {
	const char *name;
	enum rule_kind kind;
} base_rules[] = {BASE_SYSCALLS(BASE_ENTRY)};

/* Sanitizer builds (make SANITIZE=...). The runtimes make calls of their own on paths a worker
 * reaches after the sandbox: ASan queries the alternate signal stack before every noreturn call
 * (sigaltstack), and a report reads /proc/self/{cmdline,maps} with the raw open syscall and
 * checks for a terminal (ioctl TCGETS). GCC defines no macro for UBSan, so the runtime is
 * detected by a weak reference to a function every sanitizer runtime exports; a release binary
 * has no such runtime and never gets these calls. */
#include <sanitizer/common_interface_defs.h>
#pragma weak __sanitizer_set_report_path
static const char *const sanitizer_syscalls[] = {"sigaltstack", "open", "ioctl", NULL};

static bool sanitizer_runtime(void)
{
	return __sanitizer_set_report_path != NULL;
}

/* LeakSanitizer's exit-time check stops the world with clone and ptrace, which the filter kills
 * (SIGSYS instead of exit 0 on SIGTERM). ASan builds therefore run the leak check when the
 * sandbox is applied, which also turns the exit-time check off. */
#if defined(__SANITIZE_ADDRESS__)
#define LEAK_CHECK_BEFORE_SANDBOX 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LEAK_CHECK_BEFORE_SANDBOX 1
#endif
#endif
#ifdef LEAK_CHECK_BEFORE_SANDBOX
#include <sanitizer/lsan_interface.h>
#endif

DEFINE_POINTER_CLEANUP(cap_t, cap_free)
DEFINE_POINTER_CLEANUP(scmp_filter_ctx, seccomp_release)

static int errno_or(int fallback)
{
	return errno > 0 ? -errno : fallback;
}

/* ---- step 0: checks before anything changes ------------------------------------------------ */

/* Returns the number of threads, or 0 when /proc is not mounted (nothing to check then). */
static int count_threads(void)
{
	_cleanup_closedir_ DIR *d = opendir("/proc/self/task");
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	return n;
}

static int check_spec(const struct sandbox_spec *spec)
{
	if (!spec)
		return -EINVAL;
	/* 0 keeps root's DAC powers; -1 means "unchanged" to setresuid(). */
	if (spec->uid == 0 || spec->gid == 0 || spec->uid == (uid_t)-1 || spec->gid == (gid_t)-1)
		return -EINVAL;
	if (count_threads() > 1)
		return -EBUSY;
	return 0;
}

/* ---- seccomp filter, built before any privilege changes (it allocates and validates names) */

static int add_rule(scmp_filter_ctx ctx, int nr, enum rule_kind kind, pid_t self)
{
	int r = 0;

	switch (kind) {
	case RULE_PLAIN:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	case RULE_NO_EXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case RULE_READ_ONLY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ,
						(scmp_datum_t)(O_ACCMODE | O_CREAT | O_TRUNC), 0));
	case RULE_FCNTL: {
		static const int cmds[] = {F_GETFD, F_SETFD, F_GETFL, F_SETFL};
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && r == 0; i++)
			r = seccomp_rule_add(
				ctx, SCMP_ACT_ALLOW, nr, 1,
				SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)cmds[i]));
		return r;
	}
	case RULE_SELF_SIG:
		/* The kernel reads tgid as an int: compare the low 32 bits only. */
		return seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, nr, 1,
			SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)self));
	}
	return -EINVAL;
}

static int add_base_rules(scmp_filter_ctx ctx, pid_t self)
{
	for (size_t i = 0; i < sizeof(base_rules) / sizeof(base_rules[0]); i++) {
		int nr = seccomp_syscall_resolve_name(base_rules[i].name);
		if (nr == __NR_SCMP_ERROR) {
			/* This libseccomp predates the call, so glibc is unlikely to issue it. */
			log_debug("sandbox: seccomp: libseccomp does not know %s, not allowed",
				  base_rules[i].name);
			continue;
		}
		int r = add_rule(ctx, nr, base_rules[i].kind, self);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_named(scmp_filter_ctx ctx, const char *const *names)
{
	for (size_t i = 0; names && names[i]; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR) {
			log_debug("sandbox: seccomp: unknown syscall name \"%s\"", names[i]);
			return -EINVAL;
		}
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static int build_filter(const struct sandbox_spec *spec, scmp_filter_ctx *ret_ctx)
{
	/* TRAP, not KILL: the SIGSYS handler reports the syscall number, then dies by SIGSYS.
	 * The refused syscall never runs either way. */
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r >= 0)
		r = add_base_rules(ctx, getpid());
	if (r >= 0)
		r = add_named(ctx, spec->extra_syscalls);
	if (r >= 0 && sanitizer_runtime())
		r = add_named(ctx, sanitizer_syscalls);
	if (r >= 0 && spec->allow_bpf_map_read) {
		/* cmd is an int for the kernel: compare its low 32 bits. */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(bpf), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, BPF_MAP_LOOKUP_ELEM));
		if (r >= 0)
			r = seccomp_rule_add(
				ctx, SCMP_ACT_ALLOW, SCMP_SYS(bpf), 1,
				SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, BPF_MAP_GET_NEXT_KEY));
	}
	if (r < 0)
		return r;
	*ret_ctx = TAKE_PTR(ctx);
	return 0;
}

/* ---- step 1: securebits and bounding set --------------------------------------------------- */

static int drop_bounding_and_lock_securebits(void)
{
	unsigned cur = cap_get_secbits();
	/* Keep bits a parent may have set and locked (e.g. NO_CAP_AMBIENT_RAISE); turn off the two
	 * that would keep capabilities across the uid switch, and lock them off. */
	unsigned want =
		(cur & ~(unsigned)(SECBIT_KEEP_CAPS | SECBIT_NO_SETUID_FIXUP)) | SECBITS_WANTED;
	if (cur != want && cap_set_secbits(want) < 0)
		return errno_or(-EPERM);
	if (cap_get_secbits() != want)
		return -EPERM;

	cap_value_t max = cap_max_bits();
	for (cap_value_t c = 0; c < max; c++) {
		int in = cap_get_bound(c);
		if (in < 0)
			break; /* the kernel does not know this capability */
		if (in > 0 && cap_drop_bound(c) < 0)
			return errno_or(-EPERM);
	}
	for (cap_value_t c = 0; c < 64; c++)
		if (cap_get_bound(c) > 0)
			return -EPERM;
	return 0;
}

/* ---- before setup: keep only the declared capabilities ------------------------------------ */

int sandbox_limit_caps(uint64_t keep, uint64_t keep_sets)
{
	cap_value_t max = cap_max_bits();
	for (cap_value_t c = 0; c < max && c < 64; c++) {
		if (keep & (1ull << c))
			continue;
		int in = cap_get_bound(c);
		if (in < 0)
			break;
		if (in > 0 && cap_drop_bound(c) < 0)
			return errno_or(-EPERM);
	}
	_cleanup_(cap_freep) cap_t caps = cap_get_proc();
	if (!caps)
		return errno_or(-ENOMEM);
	for (cap_value_t c = 0; c < max && c < 64; c++) {
		if ((keep | keep_sets) & (1ull << c))
			continue;
		cap_value_t v = c;
		cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_CLEAR);
		cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_CLEAR);
		cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_CLEAR);
	}
	int r = cap_set_proc(caps) < 0 ? errno_or(-EPERM) : 0;
	for (cap_value_t c = 0; r == 0 && c < 64; c++)
		if (!(keep & (1ull << c)) && cap_get_bound(c) > 0)
			r = -EPERM;
	return r;
}

/* ---- step 2: ids --------------------------------------------------------------------------- */

static int switch_ids(uid_t uid, gid_t gid)
{
	/* Each call is a no-op for a process already in the target state, which lets a worker that
	 * was started unprivileged run the same sequence. */
	int ngroups = getgroups(0, NULL);
	if (ngroups != 0 && setgroups(0, NULL) < 0)
		return errno_or(-EPERM);
	if (setresgid(gid, gid, gid) < 0)
		return errno_or(-EPERM);
	if (setresuid(uid, uid, uid) < 0)
		return errno_or(-EPERM);

	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return errno_or(-EIO);
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		return -EPERM;
	if (getgroups(0, NULL) != 0)
		return -EPERM;
	return 0;
}

/* ---- step 3: capability sets --------------------------------------------------------------- */

static int clear_capabilities(void)
{
	_cleanup_(cap_freep) cap_t empty = cap_init();
	if (!empty)
		return -ENOMEM;
	if (cap_set_proc(empty) < 0)
		return errno_or(-EPERM);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    !(errno == EINVAL && !CAP_AMBIENT_SUPPORTED())) /* Linux < 4.3: no ambient set */
		return errno_or(-EPERM);
	_cleanup_(cap_freep) cap_t now = cap_get_proc();
	if (!now)
		return errno_or(-ENOMEM);
	if (cap_compare(now, empty) != 0)
		return -EPERM;
	for (cap_value_t c = 0; c < 64; c++)
		if (cap_get_ambient(c) > 0)
			return -EPERM;
	return 0;
}

/* ---- step 5: Landlock ---------------------------------------------------------------------- */

static int landlock_add_path(int ruleset_fd, const char *path)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			log_debug("sandbox: landlock: %s does not exist, no rule added", path);
			return 0;
		}
		int r = -errno;
		log_debug("sandbox: landlock: cannot open %s: %s", path, strerror(errno));
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* A rule on a non-directory may only carry file rights. */
	struct landlock_path_beneath_attr rule = {
		.allowed_access = S_ISDIR(st.st_mode) ? LANDLOCK_ACCESS_FS_READ_FILE |
								LANDLOCK_ACCESS_FS_READ_DIR
						      : LANDLOCK_ACCESS_FS_READ_FILE,
		.parent_fd = fd,
	};
	if (syscall(__NR_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0) {
		int r = -errno;
		log_debug("sandbox: landlock: rule for %s: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

/* uapi of Landlock ABI 4 (Linux 6.7), absent from older headers. */
#define RULE_NET_PORT 2
struct net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
} __attribute__((packed));

static int apply_landlock(const char *const *paths, const uint16_t *ports, size_t n_ports,
			  struct sandbox_result *res)
{
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP) {
			/* Built without Landlock (ENOSYS) or not enabled at boot (EOPNOTSUPP). */
			res->landlock_abi = 0;
			snprintf(res->landlock, sizeof(res->landlock),
				 "unsupported (kernel has no Landlock)");
			return 0;
		}
		return -errno;
	}
	int use = abi > LANDLOCK_ABI_KNOWN ? LANDLOCK_ABI_KNOWN : (int)abi;

	struct ruleset_attr attr = {.handled_access_fs = LANDLOCK_ACCESS_FS_ABI1};
	size_t size = offsetof(struct ruleset_attr, handled_access_net);
	if (use >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (use >= 3)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (use >= 4) {
		/* Handled with no port rule: no TCP bind or connect at all. */
		attr.handled_access_net =
			LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
		size = offsetof(struct ruleset_attr, scoped);
	}
	if (use >= 5)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (use >= 6) {
		attr.scoped = LANDLOCK_SCOPE_SIGNAL | LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET;
		size = sizeof(attr);
	}

	_cleanup_close_ int ruleset_fd = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
	if (ruleset_fd < 0)
		return -errno;
	for (size_t i = 0; paths && paths[i]; i++) {
		int r = landlock_add_path(ruleset_fd, paths[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; use >= 4 && i < n_ports; i++) {
		struct net_port_attr rule = {.allowed_access = LANDLOCK_ACCESS_NET_CONNECT_TCP,
					     .port = ports[i]};
		if (syscall(__NR_landlock_add_rule, ruleset_fd, RULE_NET_PORT, &rule, 0) < 0)
			return -errno;
	}
	if (syscall(__NR_landlock_restrict_self, ruleset_fd, 0) < 0)
		return -errno;

	res->landlock_abi = use;
	if (use == abi)
		snprintf(res->landlock, sizeof(res->landlock), "abi %d", use);
	else
		snprintf(res->landlock, sizeof(res->landlock), "abi %d (kernel abi %ld)", use, abi);
	return 0;
}

/* ---- the sequence -------------------------------------------------------------------------- */

int sandbox_apply(const struct sandbox_spec *spec, struct sandbox_result *ret_result)
{
	struct sandbox_result res = {.landlock_abi = 0, .landlock = "disabled"};
	_cleanup_(seccomp_releasep) scmp_filter_ctx filter = NULL;

	int r = check_spec(spec);
	if (r < 0)
		return r;
#ifdef LEAK_CHECK_BEFORE_SANDBOX
	__lsan_do_leak_check();
#endif
	r = build_filter(spec, &filter);
	if (r < 0) {
		log_debug("sandbox: seccomp filter: %s", strerror(-r));
		return r;
	}

	r = drop_bounding_and_lock_securebits();
	if (r < 0) {
		log_debug("sandbox: securebits/bounding set: %s", strerror(-r));
		return r;
	}
	r = switch_ids(spec->uid, spec->gid);
	if (r < 0) {
		log_debug("sandbox: switch to %u:%u: %s", (unsigned)spec->uid, (unsigned)spec->gid,
			  strerror(-r));
		return r;
	}
	/* The id switch set dumpable from fs.suid_dumpable (1 on some distributions: then any
	 * process of the worker's uid could ptrace it or read its memory) and cleared the
	 * parent-death signal. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		r = errno_or(-EPERM);
		log_debug("sandbox: dumpable 0: %s", strerror(-r));
		return r;
	}
	res.dumpable = 0;
	if (spec->parent > 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			return errno_or(-EPERM);
		if (getppid() != spec->parent) {
			log_debug("sandbox: parent %d is gone", (int)spec->parent);
			return -ESRCH;
		}
	}
	r = clear_capabilities();
	if (r < 0) {
		log_debug("sandbox: clearing capabilities: %s", strerror(-r));
		return r;
	}
	errno = 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		r = errno_or(-EPERM);
		log_debug("sandbox: no_new_privs: %s", strerror(-r));
		return r;
	}
	if (spec->landlock) {
		r = apply_landlock(spec->read_paths, spec->connect_ports, spec->n_connect_ports,
				   &res);
		if (r < 0) {
			log_debug("sandbox: landlock: %s", strerror(-r));
			return r;
		}
	}
	/* Last: from here on only the allow-list runs (the filter's cleanup frees memory). */
	r = fatal_report_install();
	if (r == 0)
		r = seccomp_load(filter);
	if (r < 0) {
		log_debug("sandbox: seccomp load: %s", strerror(-r));
		return r;
	}
	if (ret_result)
		*ret_result = res;
	return 0;
}
