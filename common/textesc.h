/* SPDX-License-Identifier: Apache-2.0 */
/* Untrusted bytes as text for the log, `tapioctl status` and JSON: always valid UTF-8. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* src[0..n) into dst (len > 0), NUL-terminated: UTF-8 characters kept; control characters,
 * backslashes and bytes that are not UTF-8 (overlong forms, surrogates, beyond U+10FFFF, cut
 * off) written as \xNN; cut where dst is full, never inside a character or an escape. */
void text_escape_utf8(char *dst, size_t len, const uint8_t *src, size_t n);
