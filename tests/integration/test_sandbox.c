// SPDX-License-Identifier: Apache-2.0
// sandbox_apply() against the real kernel (root): every check runs in a grandchild we fork, so
// Criterion's own test process keeps its privileges and its link to the runner.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/securebits.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "privilege.h"
#include "sandbox.h"

#define NOBODY 65534

static void require_root(void)
{
	if (geteuid() == 0)
		return;
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0)
		cr_assert_fail("needs root (CI=true: skipping is a failure)");
	cr_skip_test("needs root");
}

/* The kernel's Landlock ABI, 0 when it has none. */
static int landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* VERSION */);
	return abi < 0 ? 0 : (int)abi;
}

/* Skip (naming the ABI needed and the kernel's) where the kernel's Landlock is older. */
static void require_landlock(int min_abi)
{
	int abi = landlock_abi();
	if (abi >= min_abi)
		return;
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0)
		cr_assert_fail("needs Landlock ABI %d, the kernel has %d (CI=true: skipping is a "
			       "failure)",
			       min_abi, abi);
	cr_skip_test("needs Landlock ABI %d, the kernel has %d", min_abi, abi);
}

static const char *const default_paths[] = { "/proc", "/sys/fs/cgroup", NULL };

static struct sandbox_spec default_spec(void)
{
	return (struct sandbox_spec){
		.uid = NOBODY,
		.gid = NOBODY,
		.read_paths = default_paths,
		.landlock = true,
	};
}

/* What a sandboxed child sends back over its pipe: sandbox_apply()'s return and result, then
 * whatever the check writes (text or a struct). */
struct report {
	int apply_rc;
	struct sandbox_result result;
};

struct outcome {
	int status; /* from waitpid */
	struct report rep;
	char payload[4096];
	size_t payload_len;
};

typedef int (*check_fn)(int out_fd, void *arg);

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
		_exit(97);
}

/* Fork; in the child apply `spec`, report, run `check` and exit with its return value. The
 * child never returns into Criterion and never runs atexit handlers. */
static void run_sandboxed(const struct sandbox_spec *spec, check_fn check, void *arg,
			  struct outcome *out)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		struct report rep;
		memset(&rep, 0, sizeof(rep));
		rep.apply_rc = sandbox_apply(spec, &rep.result);
		if (write(p[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
			_exit(98);
		if (rep.apply_rc < 0)
			_exit(99);
		_exit(check ? check(p[1], arg) : 0);
	}
	close(p[1]);
	memset(out, 0, sizeof(*out));
	char buf[sizeof(out->rep) + sizeof(out->payload)];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(p[0], buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof(buf))
			break;
	}
	close(p[0]);
	cr_assert_eq(waitpid(pid, &out->status, 0), pid);
	cr_assert_geq(len, sizeof(out->rep), "the child sent no report (status 0x%x)", out->status);
	memcpy(&out->rep, buf, sizeof(out->rep));
	out->payload_len = len - sizeof(out->rep);
	memcpy(out->payload, buf + sizeof(out->rep), out->payload_len);
	out->payload[out->payload_len < sizeof(out->payload) ? out->payload_len
							     : sizeof(out->payload) - 1] = '\0';
}

static void expect_exit0(const struct outcome *o)
{
	cr_assert_eq(o->rep.apply_rc, 0, "sandbox_apply: %s", strerror(-o->rep.apply_rc));
	cr_assert(WIFEXITED(o->status), "child died by signal %d; said: %s",
		  WIFSIGNALED(o->status) ? WTERMSIG(o->status) : 0, o->payload);
	cr_assert_eq(WEXITSTATUS(o->status), 0, "child exit %d; said: %s", WEXITSTATUS(o->status),
		     o->payload);
}

static void expect_signal(const struct outcome *o, int sig)
{
	cr_assert_eq(o->rep.apply_rc, 0, "sandbox_apply: %s", strerror(-o->rep.apply_rc));
	cr_assert(WIFSIGNALED(o->status), "child exited %d instead of dying by signal %d; said: %s",
		  WIFEXITED(o->status) ? WEXITSTATUS(o->status) : -1, sig, o->payload);
	cr_assert_eq(WTERMSIG(o->status), sig, "child died by signal %d, expected %d",
		     WTERMSIG(o->status), sig);
}

/* A world-readable file outside every allowed path, created before the sandbox. */
static void make_public_file(char *path, size_t size, const char *content)
{
	snprintf(path, size, "/tmp/tapio-sandbox-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchmod(fd, 0644), 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

/* ---- the privilege report ---------------------------------------------------------------- */

static int send_status(int out, void *arg)
{
	struct privilege_status st;
	int r = privilege_status_read(0, &st);
	if (r < 0) {
		say(out, "privilege_status_read: %s", strerror(-r));
		return 1;
	}
	return write(out, &st, sizeof(st)) == (ssize_t)sizeof(st) ? 0 : 2;
}

Test(sandbox, drops_every_privilege)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, send_status, NULL, &o);
	expect_exit0(&o);
	cr_assert_eq(o.payload_len, sizeof(struct privilege_status));
	struct privilege_status st;
	memcpy(&st, o.payload, sizeof(st));
	cr_expect_eq(st.cap_eff, 0);
	cr_expect_eq(st.cap_prm, 0);
	cr_expect_eq(st.cap_inh, 0);
	cr_expect_eq(st.cap_amb, 0);
	cr_expect_eq(st.cap_bnd, 0);
	cr_expect_eq(st.uid, NOBODY);
	cr_expect_eq(st.euid, NOBODY);
	cr_expect_eq(st.gid, NOBODY);
	cr_expect_eq(st.egid, NOBODY);
	cr_expect_eq(st.no_new_privs, 1);
	cr_expect_eq(st.seccomp, 2);
	cr_expect_geq(st.seccomp_filters, 1);

	int abi = landlock_abi();
	if (abi > 0) {
		int want = abi > 7 ? 7 : abi;
		cr_expect_eq(o.rep.result.landlock_abi, want);
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "abi %d", want);
		cr_expect_eq(strncmp(o.rep.result.landlock, prefix, strlen(prefix)), 0,
			     "got \"%s\"", o.rep.result.landlock);
	} else {
		cr_expect_eq(o.rep.result.landlock_abi, 0);
		cr_expect_str_eq(o.rep.result.landlock, "unsupported (kernel has no Landlock)");
	}
}

static int check_ids_and_groups(int out, void *arg)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return 1;
	/* getresuid is not in the base set: this check runs with it as an extra. */
	if (r != NOBODY || e != NOBODY || s != NOBODY || rg != 4242 || eg != 4242 || sg != 4242) {
		say(out, "ids %u/%u/%u %u/%u/%u", r, e, s, rg, eg, sg);
		return 2;
	}
	if (getgroups(0, NULL) != 0) {
		say(out, "supplementary groups left");
		return 3;
	}
	return 0;
}

Test(sandbox, switches_saved_ids_and_clears_groups)
{
	require_root();
	static const char *const extra[] = { "getresuid", "getresgid", "getgroups", NULL };
	struct sandbox_spec spec = default_spec();
	spec.gid = 4242;
	spec.extra_syscalls = extra;
	struct outcome o;
	run_sandboxed(&spec, check_ids_and_groups, NULL, &o);
	expect_exit0(&o);
}

static int check_disabled_result(int out, void *arg)
{
	return 0;
}

Test(sandbox, reports_landlock_disabled)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	spec.landlock = false;
	struct outcome o;
	run_sandboxed(&spec, check_disabled_result, NULL, &o);
	expect_exit0(&o);
	cr_expect_eq(o.rep.result.landlock_abi, 0);
	cr_expect_str_eq(o.rep.result.landlock, "disabled");
}

/* ---- Landlock ----------------------------------------------------------------------------- */

struct open_check {
	char path[64];
	int want_errno; /* 0: must open and read "tapio" */
};

static int check_open(int out, void *arg)
{
	const struct open_check *c = arg;
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	int err = fd < 0 ? errno : 0;
	if (err != c->want_errno) {
		say(out, "open(%s): errno %d (%s), want %d", c->path, err, strerror(err),
		    c->want_errno);
		return 1;
	}
	if (fd >= 0) {
		char buf[16] = { 0 };
		if (read(fd, buf, sizeof(buf) - 1) != 5 || strcmp(buf, "tapio") != 0) {
			say(out, "read(%s) gave \"%s\"", c->path, buf);
			return 2;
		}
		close(fd);
	}
	/* An allowed path keeps working. */
	struct privilege_status st;
	int r = privilege_status_read(0, &st);
	if (r < 0) {
		say(out, "reading /proc/self/status: %s", strerror(-r));
		return 3;
	}
	return 0;
}

Test(sandbox, landlock_denies_paths_outside_read_paths)
{
	require_root();
	require_landlock(1);
	struct open_check c = { .want_errno = EACCES };
	make_public_file(c.path, sizeof(c.path), "tapio");

	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, check_open, &c, &o);

	/* Control: the same file, same uid, no Landlock — DAC lets nobody read it. */
	struct outcome ctl;
	struct open_check c2 = c;
	c2.want_errno = 0;
	spec.landlock = false;
	run_sandboxed(&spec, check_open, &c2, &ctl);
	unlink(c.path);

	expect_exit0(&o);
	expect_exit0(&ctl);
}

static int check_single_file(int out, void *arg)
{
	const struct open_check *c = arg;
	int r = check_open(out, arg);
	if (r)
		return r;
	/* The file's directory is not readable: the rule covers the file only. */
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 || errno != EACCES) {
		say(out, "open(/tmp) for listing: fd %d errno %d", fd, errno);
		return 10;
	}
	(void)c;
	return 0;
}

Test(sandbox, landlock_rule_on_a_regular_file)
{
	require_root();
	require_landlock(1);
	struct open_check c = { .want_errno = 0 };
	make_public_file(c.path, sizeof(c.path), "tapio");
	const char *paths[] = { "/proc", c.path, NULL };
	struct sandbox_spec spec = default_spec();
	spec.read_paths = paths;
	struct outcome o;
	run_sandboxed(&spec, check_single_file, &c, &o);
	unlink(c.path);
	expect_exit0(&o);
}

Test(sandbox, absent_read_path_is_skipped)
{
	require_root();
	const char *paths[] = { "/nonexistent/tapio/sandbox", "/proc", "/proc/no-such-file/x",
				NULL };
	struct sandbox_spec spec = default_spec();
	spec.read_paths = paths;
	struct outcome o;
	run_sandboxed(&spec, send_status, NULL, &o);
	expect_exit0(&o);
	cr_expect_eq(o.payload_len, sizeof(struct privilege_status));
}

Test(sandbox, no_read_paths_at_all)
{
	require_root();
	require_landlock(1);
	struct sandbox_spec spec = default_spec();
	spec.read_paths = NULL;
	struct outcome o;
	run_sandboxed(&spec, send_status, NULL, &o);
	/* Sandboxed fine, but /proc is not readable any more. */
	cr_assert_eq(o.rep.apply_rc, 0);
	cr_assert(WIFEXITED(o.status));
	cr_expect_eq(WEXITSTATUS(o.status), 1);
	cr_expect(strstr(o.payload, "Permission denied") != NULL, "said: %s", o.payload);
}

static int check_tcp_connect(int out, void *arg)
{
	int want = *(int *)arg;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		say(out, "socket: %s", strerror(errno));
		return 1;
	}
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(9), /* discard: nothing listens here */
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int r = connect(s, (struct sockaddr *)&sin, sizeof(sin));
	int err = r < 0 ? errno : 0;
	if ((want == EACCES) != (err == EACCES)) {
		say(out, "connect: errno %d (%s), want %s EACCES", err, strerror(err),
		    want == EACCES ? "" : "not");
		return 2;
	}
	return 0;
}

/* With socket and connect let through seccomp, Landlock (ABI >= 4) still refuses TCP. */
Test(sandbox, landlock_denies_tcp_connect)
{
	require_root();
	require_landlock(4);
	static const char *const extra[] = { "socket", "connect", NULL };
	struct sandbox_spec spec = default_spec();
	spec.extra_syscalls = extra;
	int want = EACCES;
	struct outcome o;
	run_sandboxed(&spec, check_tcp_connect, &want, &o);
	expect_exit0(&o);

	spec.landlock = false;
	want = ECONNREFUSED;
	run_sandboxed(&spec, check_tcp_connect, &want, &o);
	expect_exit0(&o);
}

static int check_signal_scope(int out, void *arg)
{
	int want = *(int *)arg;
	pid_t target = *((pid_t *)arg + 1);
	int r = kill(target, 0);
	int err = r < 0 ? errno : 0;
	if (err != want) {
		say(out, "kill(%d, 0): errno %d (%s), want %d", (int)target, err, strerror(err),
		    want);
		return 1;
	}
	return 0;
}

/* A process of the same uid outside the Landlock domain cannot be signalled (ABI >= 6). */
Test(sandbox, landlock_scopes_signals)
{
	require_root();
	require_landlock(6);
	pid_t other = fork();
	cr_assert_geq(other, 0);
	if (other == 0) {
		if (setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	static const char *const extra[] = { "kill", NULL };
	struct sandbox_spec spec = default_spec();
	spec.extra_syscalls = extra;
	int arg[2] = { EPERM, (int)other };
	struct outcome o, ctl;
	run_sandboxed(&spec, check_signal_scope, arg, &o);
	spec.landlock = false;
	arg[0] = 0;
	run_sandboxed(&spec, check_signal_scope, arg, &ctl);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	expect_exit0(&o);
	expect_exit0(&ctl);
}

/* ---- seccomp: what is killed ------------------------------------------------------------- */

static int do_socket(int out, void *arg)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	say(out, "socket returned %d", s);
	return 0;
}

Test(sandbox, socket_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_socket, NULL, &o);
	expect_signal(&o, SIGSYS);
}

static int do_execve(int out, void *arg)
{
	char *const argv[] = { "/bin/true", NULL };
	execve("/bin/true", argv, (char *const[]){ NULL });
	say(out, "execve returned: %s", strerror(errno));
	return 0;
}

Test(sandbox, execve_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_execve, NULL, &o);
	expect_signal(&o, SIGSYS);
}

static int do_fork(int out, void *arg)
{
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	say(out, "fork returned %d", (int)p);
	return 0;
}

Test(sandbox, fork_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_fork, NULL, &o);
	expect_signal(&o, SIGSYS);
}

static int do_setuid(int out, void *arg)
{
	int r = setuid(0);
	say(out, "setuid(0) returned %d errno %d", r, errno);
	return r == 0 ? 1 : 0;
}

Test(sandbox, setuid_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_setuid, NULL, &o);
	expect_signal(&o, SIGSYS);
}

/* Even where seccomp lets setuid through, there is no capability left to use it. */
Test(sandbox, setuid_fails_without_capabilities)
{
	require_root();
	static const char *const extra[] = { "setuid", "setresuid", NULL };
	struct sandbox_spec spec = default_spec();
	spec.extra_syscalls = extra;
	struct outcome o;
	run_sandboxed(&spec, do_setuid, NULL, &o);
	expect_exit0(&o);
	cr_expect(strstr(o.payload, "errno 1") != NULL, "said: %s", o.payload);
}

static int do_kill_parent(int out, void *arg)
{
	kill(getppid(), 0);
	return 0;
}

Test(sandbox, kill_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_kill_parent, NULL, &o);
	expect_signal(&o, SIGSYS);
}

static int do_tgkill_parent(int out, void *arg)
{
	syscall(SYS_tgkill, getppid(), getppid(), 0);
	return 0;
}

Test(sandbox, tgkill_to_another_process_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_tgkill_parent, NULL, &o);
	expect_signal(&o, SIGSYS);
}

static int do_abort(int out, void *arg)
{
	abort();
}

/* tgkill to self stays allowed so an assert()/abort() is reported as SIGABRT, not SIGSYS. */
Test(sandbox, abort_raises_sigabrt)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_abort, NULL, &o);
	expect_signal(&o, SIGABRT);
}

static int do_mmap_exec(int out, void *arg)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	say(out, "mmap(PROT_EXEC) returned %p", p);
	return 0;
}

Test(sandbox, mmap_exec_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_mmap_exec, NULL, &o);
	expect_signal(&o, SIGSYS);
}

static int do_mprotect_exec(int out, void *arg)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		say(out, "mmap(RW): %s", strerror(errno));
		return 1;
	}
	int r = mprotect(p, 4096, PROT_READ | PROT_EXEC);
	say(out, "mprotect(PROT_EXEC) returned %d", r);
	return 0;
}

Test(sandbox, mprotect_exec_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_mprotect_exec, NULL, &o);
	expect_signal(&o, SIGSYS);
}

static int do_open_write(int out, void *arg)
{
	int fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
	say(out, "open(O_WRONLY) returned %d errno %d", fd, errno);
	return 0;
}

Test(sandbox, open_for_writing_is_killed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_open_write, NULL, &o);
	expect_signal(&o, SIGSYS);
}

static int do_getuid(int out, void *arg)
{
	return getuid() == NOBODY ? 0 : 1;
}

Test(sandbox, extra_syscalls_are_allowed)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, do_getuid, NULL, &o);
	expect_signal(&o, SIGSYS); /* getuid is not in the base set */

	static const char *const extra[] = { "getuid", NULL };
	spec.extra_syscalls = extra;
	run_sandboxed(&spec, do_getuid, NULL, &o);
	expect_exit0(&o);
}

static int check_still_root(int out, void *arg)
{
	/* sandbox_apply failed: nothing may have changed. */
	struct privilege_status st;
	if (privilege_status_read(0, &st) < 0)
		return 1;
	if (geteuid() != 0 || st.cap_eff == 0 || st.cap_bnd == 0 || st.seccomp != 0 ||
	    st.no_new_privs != 0) {
		say(out, "euid %u CapEff %llx CapBnd %llx Seccomp %u NoNewPrivs %u", geteuid(),
		    (unsigned long long)st.cap_eff, (unsigned long long)st.cap_bnd, st.seccomp,
		    st.no_new_privs);
		return 2;
	}
	return 0;
}

static void run_expect_refused(const struct sandbox_spec *spec, int want, struct outcome *o)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		int r = sandbox_apply(spec, NULL);
		if (r != want) {
			say(p[1], "sandbox_apply returned %d, want %d", r, want);
			_exit(3);
		}
		_exit(check_still_root(p[1], NULL));
	}
	close(p[1]);
	memset(o, 0, sizeof(*o));
	ssize_t n = read(p[0], o->payload, sizeof(o->payload) - 1);
	o->payload_len = n > 0 ? (size_t)n : 0;
	close(p[0]);
	cr_assert_eq(waitpid(pid, &o->status, 0), pid);
	cr_assert(WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0, "status 0x%x; said: %s",
		  o->status, o->payload);
}

Test(sandbox, unknown_extra_syscall_changes_nothing)
{
	require_root();
	static const char *const extra[] = { "getuid", "no_such_syscall_tapio", NULL };
	struct sandbox_spec spec = default_spec();
	spec.extra_syscalls = extra;
	struct outcome o;
	run_expect_refused(&spec, -EINVAL, &o);
}

Test(sandbox, root_ids_are_refused)
{
	require_root();
	struct sandbox_spec spec = default_spec();
	spec.uid = 0;
	struct outcome o;
	run_expect_refused(&spec, -EINVAL, &o);
	spec = default_spec();
	spec.gid = 0;
	run_expect_refused(&spec, -EINVAL, &o);
}

static void *idle_thread(void *arg)
{
	pause();
	return NULL;
}

Test(sandbox, refuses_when_threads_exist)
{
	require_root();
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		pthread_t t;
		if (pthread_create(&t, NULL, idle_thread, NULL) != 0)
			_exit(4);
		struct sandbox_spec spec = default_spec();
		int r = sandbox_apply(&spec, NULL);
		if (r != -EBUSY) {
			say(p[1], "sandbox_apply returned %d, want -EBUSY", r);
			_exit(3);
		}
		_exit(check_still_root(p[1], NULL));
	}
	close(p[1]);
	char msg[512] = { 0 };
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	(void)n;
	close(p[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; said: %s", status,
		  msg);
}

/* ---- seccomp: what a worker's loop does keeps working ------------------------------------ */

struct loop_fds {
	int pipe_r, pipe_w, epfd, tfd;
};

static int worker_loop(int out, void *arg)
{
	const struct loop_fds *f = arg;

	/* A frame to the supervisor... */
	static const char frame[] = "\0\0\0\5hello";
	if (write(f->pipe_w, frame, sizeof(frame) - 1) != (ssize_t)sizeof(frame) - 1) {
		say(out, "write: %s", strerror(errno));
		return 1;
	}
	/* ...seen through epoll, then read back. */
	struct epoll_event ev;
	int n = epoll_wait(f->epfd, &ev, 1, 1000);
	if (n != 1 || ev.data.fd != f->pipe_r) {
		say(out, "epoll_wait: %d %s", n, strerror(errno));
		return 2;
	}
	char buf[16];
	if (read(f->pipe_r, buf, sizeof(buf)) != (ssize_t)sizeof(frame) - 1 ||
	    memcmp(buf, frame, sizeof(frame) - 1) != 0) {
		say(out, "read back failed");
		return 3;
	}
	/* Heartbeat timer. */
	struct itimerspec its = { .it_value = { .tv_nsec = 1000000 } };
	if (timerfd_settime(f->tfd, 0, &its, NULL) < 0) {
		say(out, "timerfd_settime: %s", strerror(errno));
		return 4;
	}
	uint64_t ticks = 0;
	if (read(f->tfd, &ticks, sizeof(ticks)) != sizeof(ticks) || ticks < 1) {
		say(out, "timerfd read: %s", strerror(errno));
		return 5;
	}
	/* Time, sleeping, memory. */
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0 || clock_gettime(CLOCK_BOOTTIME, &ts) < 0 ||
	    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 6;
	struct timespec nap = { .tv_nsec = 1000 };
	if (nanosleep(&nap, NULL) < 0)
		return 7;
	char *big = malloc(8 << 20);
	if (!big)
		return 8;
	memset(big, 1, 8 << 20);
	big = realloc(big, 16 << 20);
	if (!big)
		return 9;
	free(big);
	char *small[64];
	for (int i = 0; i < 64; i++)
		if (!(small[i] = malloc(1000 + (size_t)i)))
			return 10;
	for (int i = 0; i < 64; i++)
		free(small[i]);
	/* Logging to stderr and reading procfs. */
	FILE *fp = fopen("/proc/self/stat", "re");
	if (!fp) {
		say(out, "fopen(/proc/self/stat): %s", strerror(errno));
		return 11;
	}
	char line[512];
	if (!fgets(line, sizeof(line), fp))
		return 12;
	fclose(fp);
	char link[64];
	if (readlink("/proc/self", link, sizeof(link)) <= 0) {
		say(out, "readlink(/proc/self): %s", strerror(errno));
		return 13;
	}
	if (fcntl(f->pipe_r, F_SETFL, O_NONBLOCK) < 0)
		return 14;
	if (getpid() <= 0 || getppid() <= 0)
		return 15;
	return 0;
}

Test(sandbox, worker_loop_keeps_working)
{
	require_root();
	struct loop_fds f;
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	f.pipe_r = p[0];
	f.pipe_w = p[1];
	f.epfd = epoll_create1(EPOLL_CLOEXEC);
	cr_assert_geq(f.epfd, 0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = f.pipe_r };
	cr_assert_eq(epoll_ctl(f.epfd, EPOLL_CTL_ADD, f.pipe_r, &ev), 0);
	f.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	cr_assert_geq(f.tfd, 0);

	struct sandbox_spec spec = default_spec();
	struct outcome o;
	run_sandboxed(&spec, worker_loop, &f, &o);
	close(p[0]);
	close(p[1]);
	close(f.epfd);
	close(f.tfd);
	expect_exit0(&o);
}

/* ---- bpf(2) limited to map reads --------------------------------------------------------- */

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

struct map_check {
	int map_fd;
	int try_update;
};

static int read_map(int out, void *arg)
{
	const struct map_check *m = arg;
	uint32_t key = 0, next = 0;
	uint64_t value = 0;
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)m->map_fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)&value;
	if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a) < 0 || value != 42) {
		say(out, "lookup: %s value %llu", strerror(errno), (unsigned long long)value);
		return 1;
	}
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)m->map_fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.next_key = (uint64_t)(uintptr_t)&next;
	if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a) < 0 || next != 1) {
		say(out, "get_next_key: %s next %u", strerror(errno), next);
		return 2;
	}
	if (m->try_update) {
		value = 7;
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)m->map_fd;
		a.key = (uint64_t)(uintptr_t)&key;
		a.value = (uint64_t)(uintptr_t)&value;
		sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
		say(out, "update was not killed");
		return 3;
	}
	return 0;
}

static int make_map(void)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 4;
	int fd = (int)sys_bpf(BPF_MAP_CREATE, &a);
	cr_assert_geq(fd, 0, "BPF_MAP_CREATE: %s", strerror(errno));
	uint32_t key = 0;
	uint64_t value = 42;
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)&value;
	cr_assert_eq(sys_bpf(BPF_MAP_UPDATE_ELEM, &a), 0, "update: %s", strerror(errno));
	return fd;
}

Test(sandbox, bpf_map_reads_only)
{
	require_root();
	struct map_check m = { .map_fd = make_map() };
	struct sandbox_spec spec = default_spec();
	spec.allow_bpf_map_read = true;
	struct outcome o;
	run_sandboxed(&spec, read_map, &m, &o);
	expect_exit0(&o);

	m.try_update = 1;
	run_sandboxed(&spec, read_map, &m, &o);
	expect_signal(&o, SIGSYS);

	/* Without the flag even a lookup is killed. */
	m.try_update = 0;
	spec.allow_bpf_map_read = false;
	run_sandboxed(&spec, read_map, &m, &o);
	expect_signal(&o, SIGSYS);
	close(m.map_fd);
}

/* A process whose parent already locked the securebits, emptied the bounding set and switched
 * ids (so it holds no capability to do any of it again) passes the same sequence. */
Test(sandbox, started_unprivileged)
{
	require_root();
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		if (cap_set_secbits(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
				    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED) < 0)
			_exit(10);
		for (cap_value_t c = 0; c < cap_max_bits(); c++)
			if (cap_drop_bound(c) < 0)
				_exit(11);
		if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(12);
		struct sandbox_spec spec = default_spec();
		int r = sandbox_apply(&spec, NULL);
		if (r < 0) {
			say(p[1], "sandbox_apply: %s", strerror(-r));
			_exit(13);
		}
		struct privilege_status st;
		if (privilege_status_read(0, &st) < 0)
			_exit(14);
		if (st.cap_eff || st.cap_prm || st.cap_bnd || st.uid != NOBODY ||
		    st.no_new_privs != 1 || st.seccomp != 2)
			_exit(15);
		_exit(0);
	}
	close(p[1]);
	char msg[512] = { 0 };
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	(void)n;
	close(p[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; said: %s", status,
		  msg);
}

/* ---- TCP connect under Landlock ABI 4+ --------------------------------------------------- */

struct connect_check {
	uint16_t allowed, denied;
};

static int try_connect(uint16_t port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int r = connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
	close(s);
	return r;
}

static int check_connect(int out, void *arg)
{
	const struct connect_check *c = arg;
	int r = try_connect(c->allowed);
	if (r < 0) {
		say(out, "connect to the declared port %u: %s", c->allowed, strerror(-r));
		return 1;
	}
	r = try_connect(c->denied);
	if (r != -EACCES) {
		say(out, "connect to an undeclared port %u: %d, want -EACCES", c->denied, r);
		return 2;
	}
	return 0;
}

static int listener(uint16_t *ret_port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s, 4), 0);
	socklen_t len = sizeof(a);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*ret_port = ntohs(a.sin_port);
	return s;
}

Test(sandbox, landlock_allows_only_declared_connect_ports)
{
	require_root();
	require_landlock(4);
	struct connect_check c;
	int l1 = listener(&c.allowed), l2 = listener(&c.denied);
	static const char *const net_syscalls[] = {"socket", "connect", NULL};
	struct sandbox_spec spec = default_spec();
	spec.extra_syscalls = net_syscalls;
	spec.connect_ports = &c.allowed;
	spec.n_connect_ports = 1;
	struct outcome o;
	run_sandboxed(&spec, check_connect, &c, &o);
	close(l1);
	close(l2);
	expect_exit0(&o);
}
