/* SPDX-License-Identifier: Apache-2.0 */
/* Framing of the worker ↔ supervisor stream: 4-byte big-endian length, then that many bytes
 * of one protobuf message. Lengths of 0 or above FRAME_MAX are protocol errors. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define FRAME_MAX (1u << 20)
#define FRAME_HDR 4

struct frame_reader {
	uint8_t *buf; /* owned; FRAME_HDR + FRAME_MAX + slack */
	size_t start; /* first unconsumed byte */
	size_t len;   /* end of valid data */
	size_t cap;
	int error; /* sticky: once the stream is bad it stays bad */
};

int frame_reader_init(struct frame_reader *r);
void frame_reader_release(struct frame_reader *r);
/* Where and how much the caller may read(2) into next; compacts the buffer as needed. */
void frame_reader_space(struct frame_reader *r, uint8_t **ret_ptr, size_t *ret_len);
/* Account n bytes written at the pointer given by frame_reader_space. */
void frame_reader_commit(struct frame_reader *r, size_t n);
/* Copy bytes in (for tests and for callers that receive into their own buffer). Returns
 * -ENOBUFS when more is fed than one maximum frame can hold before it is consumed. */
int frame_reader_feed(struct frame_reader *r, const void *data, size_t len);
/* Next complete frame: 1 and the payload (borrowed until the next reader call); 0 when more
 * bytes are needed; -EMSGSIZE for a length of 0 or above FRAME_MAX (sticky). */
int frame_reader_next(struct frame_reader *r, const uint8_t **ret_payload, size_t *ret_len);

/* Write the 4-byte header for len into hdr. */
void frame_put_header(uint8_t hdr[FRAME_HDR], uint32_t len);
/* Blocking write of a whole buffer, retrying on EINTR and short writes. 0 or -errno. */
int frame_write_all(int fd, const void *data, size_t len);
