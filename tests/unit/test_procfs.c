// SPDX-License-Identifier: Apache-2.0
// The /proc fallback of the process collector: stat parsing and scan diffs on the real /proc.
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collectors/process/procfs.c"

Test(procfs, stat_comm_with_parens_and_spaces)
{
	struct procfs_proc p;
	const char *s = "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 "
			"123456 1000 100 18446744073709551615";
	cr_assert_eq(parse_stat(s, &p, 100), 0);
	cr_assert_str_eq(p.comm, "a) b (c)");
	cr_assert_eq(p.ppid, 17);
	cr_assert_eq(p.start_boot_ns, 123456ull * 10000000ull);
}

Test(procfs, stat_garbage_is_rejected)
{
	struct procfs_proc p;
	cr_assert_lt(parse_stat("no parens here", &p, 100), 0);
	cr_assert_lt(parse_stat("1 (x", &p, 100), 0);
	cr_assert_lt(parse_stat("1 (x) S", &p, 100), 0);
}

struct seen {
	pid_t want;
	int news, gones;
};

static void on_new(void *arg, const struct procfs_proc *p)
{
	struct seen *s = arg;
	if ((pid_t)p->pid == s->want)
		s->news++;
}

static void on_gone(void *arg, const struct procfs_proc *p)
{
	struct seen *s = arg;
	if ((pid_t)p->pid == s->want)
		s->gones++;
}

Test(procfs, scan_reports_a_new_and_a_gone_process)
{
	struct procfs_poll *p;
	cr_assert_eq(procfs_poll_new(&p), 0);
	struct seen s = { 0 };
	cr_assert_eq(procfs_poll_scan(p, on_new, on_gone, &s), 0); /* baseline */
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	s.want = child;
	cr_assert_eq(procfs_poll_scan(p, on_new, on_gone, &s), 0);
	cr_assert_eq(s.news, 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_assert_eq(procfs_poll_scan(p, on_new, on_gone, &s), 0);
	cr_assert_eq(s.gones, 1);
	procfs_poll_free(p);
}
