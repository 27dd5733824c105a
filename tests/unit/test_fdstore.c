// SPDX-License-Identifier: Apache-2.0
// The fd store's bookkeeping and checks (common/fdstore.c): names, duplicates, capacity, and
// that an fd is only accepted as the kind of object its name says.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fdstore.h"

Test(fdstore, names)
{
	cr_assert(fdstore_name_valid("map:events"));
	cr_assert(fdstore_name_valid("link:handle_exec_btf"));
	cr_assert(fdstore_name_valid("link:sys#12"));
	cr_assert(fdstore_name_valid("map:process_.rodata"));
	cr_assert_not(fdstore_name_valid("map:"));
	cr_assert_not(fdstore_name_valid("prog:x"));
	cr_assert_not(fdstore_name_valid("events"));
	cr_assert_not(fdstore_name_valid("map:a b"));
	cr_assert_not(fdstore_name_valid("map:../x"));
	cr_assert_not(fdstore_name_valid("map:\xff"));
	char longest[FDSTORE_NAME_MAX + 8] = "map:";
	memset(longest + 4, 'a', FDSTORE_NAME_MAX - 5);
	longest[FDSTORE_NAME_MAX - 1] = '\0';
	cr_assert(fdstore_name_valid(longest), "47 characters fit");
	longest[FDSTORE_NAME_MAX - 1] = 'a';
	longest[FDSTORE_NAME_MAX] = '\0';
	cr_assert_not(fdstore_name_valid(longest), "48 do not");
}

Test(fdstore, add_find_duplicates_and_capacity)
{
	struct fdstore s = {0};
	cr_assert_eq(fdstore_add(&s, "map:events", 7), 0);
	cr_assert_eq(fdstore_add(&s, "link:a", 8), 0);
	cr_assert_eq(fdstore_add(&s, "map:events", 9), -EINVAL, "a name is unique");
	cr_assert_eq(fdstore_add(&s, "bad", 9), -EINVAL);
	cr_assert_eq(fdstore_find(&s, "map:events"), 7);
	cr_assert_eq(fdstore_find(&s, "link:a"), 8);
	cr_assert_eq(fdstore_find(&s, "map:nothing"), -ENOENT);
	fdstore_clear(&s); /* not owned: nothing closed */
	cr_assert_eq(s.n, 0);
	for (int i = 0; i < FDSTORE_MAX; i++) {
		char name[32];
		snprintf(name, sizeof(name), "link:l%d", i);
		cr_assert_eq(fdstore_add(&s, name, 100 + i), 0);
	}
	cr_assert_eq(fdstore_add(&s, "link:one_more", 1), -ENOSPC);
}

Test(fdstore, owned_fds_are_closed)
{
	struct fdstore s = {.owned = true};
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdstore_add(&s, "map:x", fd), 0);
	fdstore_clear(&s);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "the owned fd was closed");
	struct fdstore t = {.owned = true};
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC),
	    b = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fdstore_add(&t, "link:a", a);
	fdstore_add(&t, "link:b", b);
	struct fdstore *all[] = {&t};
	fdstore_clear_all(all, 1);
	cr_assert_eq(t.n, 0);
	cr_assert_eq(fcntl(a, F_GETFD), -1);
	cr_assert_eq(fcntl(b, F_GETFD), -1);
}

/* A worker is not trusted to send what it names: a file is neither a map nor a link. */
Test(fdstore, check_refuses_what_is_not_a_bpf_object)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(fdstore_check(fd, "map:events"), -EINVAL);
	cr_assert_eq(fdstore_check(fd, "link:handle_exec_btf"), -EINVAL);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fdstore_check(p[0], "map:events"), -EINVAL);
	close(p[0]);
	close(p[1]);
	close(fd);
	cr_assert_eq(fdstore_check(fd, "map:events"), -EBADF, "a closed fd");
	cr_assert_eq(fdstore_check(-1, "map:events"), -EBADF);
}
