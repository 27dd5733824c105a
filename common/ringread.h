/* SPDX-License-Identifier: Apache-2.0 */
/* A BPF ring buffer reader that separates reading from releasing: records are handed to the
 * callback as they are read, but the kernel's consumer position moves only when the caller
 * commits, once what it made of those records is safe (written to tapiod's socket). A worker
 * killed in between leaves the records in the ring for the next worker (the fd store). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A record callback: returns 0 (a bad record is the callback's to count, never fatal). */
typedef int (*ringread_fn)(void *ctx, void *data, size_t size);

struct ringread {
	int map_fd;		  /* borrowed */
	void *cons;		  /* owned mapping: the consumer page (read-write) */
	void *prod;		  /* owned mapping: producer page + the data area mapped twice */
	size_t page, size;	  /* data area size: a power of two */
	uint64_t read_pos;	  /* records before this were handed to the callback */
	uint64_t rec_pos;	  /* in the callback: where its record starts */
	uint64_t backlog_end;	  /* producer position when opened: what a predecessor left */
	uint64_t backlog_records; /* records read that were already there when opened */
	ringread_fn fn;
	void *ctx;
	bool commit_each; /* release every record as soon as it is handed over (libbpf's way) */
};

/* Map the ring buffer map map_fd (BPF_MAP_TYPE_RINGBUF: checked). Reading starts at the
 * kernel's consumer position, so records a previous reader read but never committed are read
 * again. 0 or -errno. */
int ringread_open(struct ringread *r, int map_fd, ringread_fn fn, void *ctx);
void ringread_close(struct ringread *r);
/* Skip to pos, a position a predecessor already delivered (it is released to the kernel):
 * ignored unless it lies between the consumer and producer positions on a record boundary's
 * alignment. Returns the bytes skipped. */
uint64_t ringread_skip_to(struct ringread *r, uint64_t pos);
/* Hand complete records to the callback until about max_bytes were read (the record that
 * crosses it is the last); the number read (≥ 0). */
int64_t ringread_consume(struct ringread *r, uint64_t max_bytes);
/* Release the records read so far to the kernel. */
void ringread_commit(struct ringread *r);
/* Bytes written by the kernel and not yet committed. */
uint64_t ringread_pending(const struct ringread *r);
