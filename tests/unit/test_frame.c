// SPDX-License-Identifier: Apache-2.0
// Framing: split reads, several frames per read, lengths out of range, hostile input.
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"

static size_t put_frame(uint8_t *out, const char *payload, size_t len)
{
	frame_put_header(out, (uint32_t)len);
	memcpy(out + FRAME_HDR, payload, len);
	return FRAME_HDR + len;
}

Test(frame, header_is_big_endian)
{
	uint8_t h[4];
	frame_put_header(h, 0x01020304);
	cr_assert_eq(h[0], 1);
	cr_assert_eq(h[1], 2);
	cr_assert_eq(h[2], 3);
	cr_assert_eq(h[3], 4);
}

Test(frame, reassembles_split_reads_byte_by_byte)
{
	struct frame_reader r;
	cr_assert_eq(frame_reader_init(&r), 0);
	uint8_t buf[64];
	size_t n = put_frame(buf, "hello", 5);
	n += put_frame(buf + n, "world!", 6);
	const uint8_t *p;
	size_t len;
	int got = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(frame_reader_feed(&r, buf + i, 1), 0);
		int k;
		while ((k = frame_reader_next(&r, &p, &len)) > 0) {
			if (got == 0) {
				cr_assert_eq(len, 5);
				cr_assert_arr_eq(p, "hello", 5);
			} else {
				cr_assert_eq(len, 6);
				cr_assert_arr_eq(p, "world!", 6);
			}
			got++;
		}
		cr_assert_geq(k, 0);
	}
	cr_assert_eq(got, 2);
	cr_assert_eq(frame_reader_next(&r, &p, &len), 0);
	frame_reader_release(&r);
}

Test(frame, many_frames_in_one_read)
{
	struct frame_reader r;
	frame_reader_init(&r);
	uint8_t buf[100 * 8];
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		n += put_frame(buf + n, "abc", 3);
	cr_assert_eq(frame_reader_feed(&r, buf, n), 0);
	const uint8_t *p;
	size_t len;
	int got = 0;
	while (frame_reader_next(&r, &p, &len) > 0)
		got++;
	cr_assert_eq(got, 100);
	frame_reader_release(&r);
}

Test(frame, rejects_oversized_length)
{
	struct frame_reader r;
	frame_reader_init(&r);
	uint8_t h[4];
	frame_put_header(h, FRAME_MAX + 1);
	frame_reader_feed(&r, h, 4);
	const uint8_t *p;
	size_t len;
	cr_assert_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
	/* sticky: a bad stream stays bad even if good bytes follow */
	uint8_t good[16];
	size_t n = put_frame(good, "ok", 2);
	frame_reader_feed(&r, good, n);
	cr_assert_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
	frame_reader_release(&r);
}

Test(frame, rejects_zero_length)
{
	struct frame_reader r;
	frame_reader_init(&r);
	uint8_t h[4] = { 0, 0, 0, 0 };
	frame_reader_feed(&r, h, 4);
	const uint8_t *p;
	size_t len;
	cr_assert_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
	frame_reader_release(&r);
}

Test(frame, garbage_ascii_is_an_oversized_length)
{
	struct frame_reader r;
	frame_reader_init(&r);
	frame_reader_feed(&r, "GET / HTTP/1.1\r\n", 16);
	const uint8_t *p;
	size_t len;
	cr_assert_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
	frame_reader_release(&r);
}

Test(frame, accepts_maximum_frame_across_reads)
{
	struct frame_reader r;
	frame_reader_init(&r);
	uint8_t *big = malloc(FRAME_HDR + FRAME_MAX);
	memset(big + FRAME_HDR, 0x5a, FRAME_MAX);
	frame_put_header(big, FRAME_MAX);
	size_t off = 0, total = FRAME_HDR + FRAME_MAX;
	const uint8_t *p;
	size_t len;
	while (off < total) {
		uint8_t *dst;
		size_t room;
		frame_reader_space(&r, &dst, &room);
		size_t n = total - off < 7777 ? total - off : 7777;
		cr_assert_geq(room, n);
		memcpy(dst, big + off, n);
		frame_reader_commit(&r, n);
		off += n;
		if (off < total)
			cr_assert_eq(frame_reader_next(&r, &p, &len), 0);
	}
	cr_assert_eq(frame_reader_next(&r, &p, &len), 1);
	cr_assert_eq(len, FRAME_MAX);
	cr_assert_eq(p[0], 0x5a);
	cr_assert_eq(p[FRAME_MAX - 1], 0x5a);
	free(big);
	frame_reader_release(&r);
}

Test(frame, feed_beyond_capacity_is_refused)
{
	struct frame_reader r;
	frame_reader_init(&r);
	uint8_t h[4];
	frame_put_header(h, FRAME_MAX);
	frame_reader_feed(&r, h, 4);
	uint8_t *junk = calloc(1, 2 * FRAME_MAX);
	cr_assert_eq(frame_reader_feed(&r, junk, 2 * FRAME_MAX), -ENOBUFS);
	free(junk);
	frame_reader_release(&r);
}

Test(frame, write_all_through_a_socketpair)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uint8_t buf[32];
	size_t n = put_frame(buf, "payload", 7);
	cr_assert_eq(frame_write_all(sv[0], buf, n), 0);
	struct frame_reader r;
	frame_reader_init(&r);
	uint8_t *dst;
	size_t room;
	frame_reader_space(&r, &dst, &room);
	ssize_t got = read(sv[1], dst, room);
	cr_assert_eq(got, (ssize_t)n);
	frame_reader_commit(&r, (size_t)got);
	const uint8_t *p;
	size_t len;
	cr_assert_eq(frame_reader_next(&r, &p, &len), 1);
	cr_assert_eq(len, 7);
	cr_assert_arr_eq(p, "payload", 7);
	close(sv[0]);
	cr_assert_eq(frame_write_all(sv[0], buf, n), -EBADF);
	close(sv[1]);
	frame_reader_release(&r);
}
