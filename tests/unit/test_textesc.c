// SPDX-License-Identifier: Apache-2.0
// text_escape_utf8 (common/textesc.c): a worker's degraded reason (Status and READY frames) as tapiod shows it,
// always valid UTF-8 whatever bytes the worker sent.
#include <criterion/criterion.h>
#include <string.h>

#include "textesc.h"

static const char *esc(const char *in, size_t n, size_t room)
{
	static char out[512];
	cr_assert_leq(room, sizeof(out));
	text_escape_utf8(out, room, (const uint8_t *)in, n);
	return out;
}

#define ESC(s) esc((s), sizeof(s) - 1, 512)

Test(textesc, escape_keeps_text_and_utf8)
{
	cr_assert_str_eq(ESC("bus lost (Connection reset by peer)"),
			 "bus lost (Connection reset by peer)");
	cr_assert_str_eq(ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7"),
			 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7");
}

Test(textesc, escape_control_backslash_and_invalid_bytes)
{
	cr_assert_str_eq(ESC("a\nb\x01\x7f"), "a\\x0ab\\x01\\x7f");
	cr_assert_str_eq(ESC("back\\slash"), "back\\x5cslash");
	cr_assert_str_eq(ESC("\xff\xfe"), "\\xff\\xfe");
	/* overlong '/', a UTF-16 surrogate, beyond U+10FFFF, a lone continuation byte */
	cr_assert_str_eq(ESC("\xc0\xaf"), "\\xc0\\xaf");
	cr_assert_str_eq(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	cr_assert_str_eq(ESC("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
	cr_assert_str_eq(ESC("\x80x"), "\\x80x");
	/* a character cut off by the end of the input */
	cr_assert_str_eq(ESC("ok\xe2\x82"), "ok\\xe2\\x82");
	/* a NUL inside the bytes is a byte like any other */
	cr_assert_str_eq(esc("a\0b", 3, 512), "a\\x00b");
}

Test(textesc, escape_is_bounded_and_never_cuts_a_character)
{
	cr_assert_str_eq(esc("abcdef", 6, 4), "abc");
	/* "é" needs 2 bytes: with room for 3 characters + NUL after "ab" it does not fit */
	cr_assert_str_eq(esc("ab\xc3\xa9", 4, 4), "ab");
	cr_assert_str_eq(esc("a\x01", 2, 5), "a"); /* "\x01" needs 4 */
	cr_assert_str_eq(esc("a\x01", 2, 6), "a\\x01");
	char big[300];
	memset(big, 0xff, sizeof(big));
	const char *out = esc(big, sizeof(big), 512);
	cr_assert_eq(strlen(out) % 4, 0);
	cr_assert_lt(strlen(out), 512);
}
