// SPDX-License-Identifier: Apache-2.0
// cleanup.h: each destructor runs at scope exit, accepts "nothing held", and TAKE_* hands
// ownership out so that nothing is released twice.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cleanup.h"

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int open_and_leave(void)
{
	_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	return fd; /* the number only: closed on return */
}

static int open_and_take(void)
{
	_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	return TAKE_FD(fd);
}

Test(cleanup, close_runs_at_scope_exit)
{
	int fd = open_and_leave();
	cr_expect(!fd_is_open(fd), "fd %d still open", fd);
	cr_expect_eq(errno, EBADF);
}

Test(cleanup, take_fd_keeps_it_open)
{
	int fd = open_and_take();
	cr_expect(fd_is_open(fd));
	close(fd);
}

Test(cleanup, take_fd_leaves_minus_one)
{
	int fd = 42, got = TAKE_FD(fd);
	cr_expect_eq(got, 42);
	cr_expect_eq(fd, -1);
	_cleanup_close_ int none = -1; /* closep(-1): nothing */
	(void)none;
}

Test(cleanup, take_ptr_leaves_null)
{
	_cleanup_free_ char *p = malloc(16);
	cr_assert_not_null(p);
	char *q = TAKE_PTR(p);
	cr_expect_null(p);
	free(q);
}

static int fclose_count;
static void count_fclose(FILE **f)
{
	if (*f)
		fclose_count++;
	fclosep(f);
}

Test(cleanup, fclose_and_closedir_skip_null)
{
	{
		_cleanup_(count_fclose) FILE *f = fopen("/dev/null", "re");
		cr_assert_not_null(f);
		_cleanup_(count_fclose) FILE *none = NULL;
		(void)none;
	}
	cr_expect_eq(fclose_count, 1);
	{
		_cleanup_closedir_ DIR *d = opendir("/");
		cr_assert_not_null(d);
		_cleanup_closedir_ DIR *none = NULL;
		(void)none;
	}
}
