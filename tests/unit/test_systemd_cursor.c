// SPDX-License-Identifier: Apache-2.0
// The systemd collector's journal cursor file (collectors/systemd/systemd_cursor.c): what it
// writes reads back, and what is damaged or foreign is refused.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>

#include "collectors/systemd/systemd_cursor.c"

#define CUR "s=fb7cea6ca4a649808206125df4243f73;i=98;b=49a00cddf96c48cabb075e8aadcfeefb;m=4b56e058"

Test(systemd_cursor, round_trip)
{
	char file[SYSTEMD_CURSOR_FILE_SIZE], back[SYSTEMD_CURSOR_FILE_SIZE];
	cr_assert_eq(systemd_cursor_format(CUR, file, sizeof(file)), 0);
	cr_assert(memcmp(file, "tapio-journal-cursor 1\n" CUR "\n", strlen(CUR) + 24) == 0);
	for (size_t i = strlen(CUR) + 24; i < sizeof(file); i++)
		cr_assert_eq(file[i], '\0', "padding byte %zu", i);
	cr_assert_eq(systemd_cursor_parse(file, sizeof(file), back, sizeof(back)),
		     (int)strlen(CUR));
	cr_assert_str_eq(back, CUR);
	/* only as much of the file as the cursor needs */
	cr_assert_eq(systemd_cursor_parse(file, strlen(CUR) + 24, back, sizeof(back)),
		     (int)strlen(CUR));
	cr_assert_eq(systemd_cursor_parse(file, strlen(CUR) + 23, back, sizeof(back)), 0);
}

Test(systemd_cursor, format_refuses)
{
	char file[SYSTEMD_CURSOR_FILE_SIZE];
	cr_assert_eq(systemd_cursor_format("", file, sizeof(file)), -EINVAL);
	cr_assert_eq(systemd_cursor_format("a b", file, sizeof(file)), -EINVAL);
	cr_assert_eq(systemd_cursor_format("a\nb", file, sizeof(file)), -EINVAL);
	cr_assert_eq(systemd_cursor_format("x", file, 100), -ENOSPC);
	char big[SYSTEMD_CURSOR_FILE_SIZE];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(systemd_cursor_format(big, file, sizeof(file)), -ENAMETOOLONG);
	big[SYSTEMD_CURSOR_FILE_SIZE - 25] = '\0'; /* magic 23 + '\n' + the longest that fits */
	cr_assert_eq(systemd_cursor_format(big, file, sizeof(file)), 0);
}

struct bad_file {
	char data[128];
	size_t len; /* 0 = strlen(data) */
};

ParameterizedTestParameters(systemd_cursor, parse_refuses)
{
	static struct bad_file cases[] = {
		{"", 0},
		{"tapio-journal-cursor 1\n", 0},
		{"tapio-journal-cursor 1\n\n", 0},
		{"tapio-journal-cursor 1\ns=1;i=2", 0},	      /* no newline */
		{"tapio-journal-cursor 1\ns=1 i=2\n", 0},     /* a space */
		{"tapio-journal-cursor 2\ns=1;i=2\n", 0},     /* another version */
		{"tapio-journal-cursor 1\ns=1\0;i=2\n", 30},  /* a NUL inside */
		{"tapio-journal-cursor 1\ns=1\x01;i=2\n", 0}, /* a control character */
		{"s=1;i=2\n", 0},
		{"TAPIO-JOURNAL-CURSOR 1\ns=1;i=2\n", 0},
	};
	return cr_make_param_array(struct bad_file, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_file *c, systemd_cursor, parse_refuses)
{
	char buf[64];
	size_t len = c->len ? c->len : strlen(c->data);
	cr_assert_eq(systemd_cursor_parse(c->data, len, buf, sizeof(buf)), 0, "%s", c->data);
	cr_assert_str_eq(buf, "");
}

Test(systemd_cursor, parse_small_buffer)
{
	const char *f = "tapio-journal-cursor 1\nabcdef\n";
	char buf[6];
	cr_assert_eq(systemd_cursor_parse(f, strlen(f), buf, sizeof(buf)), -ENOSPC);
	char ok[7];
	cr_assert_eq(systemd_cursor_parse(f, strlen(f), ok, sizeof(ok)), 6);
}
