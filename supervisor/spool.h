/* SPDX-License-Identifier: Apache-2.0 */
/* The disk spool of a network sink: an append-only log of records in segment files, read back
 * in order by one reader, deleted once acknowledged. It survives a restart and a crash: every
 * record has a length and a CRC, a torn or corrupt tail is cut off at open and counted, and the
 * acknowledged position is kept in a small cursor file. No libuv, no threads: one owner calls
 * everything (tapiod's loop). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_HDR	 16	    /* u32 length, u32 CRC-32, u64 wall-clock ns; little-endian */
#define SPOOL_RECORD_MAX (2u << 20) /* payload bytes of one record */

enum spool_fsync {
	SPOOL_FSYNC_NEVER =
		0,	     /* the page cache decides (survives a tapiod crash, not power loss) */
	SPOOL_FSYNC_SEGMENT, /* fsync a segment when it is closed */
	SPOOL_FSYNC_ALWAYS,  /* fsync at every spool_flush (once per loop wakeup) */
};

enum spool_full {
	SPOOL_DROP_OLDEST = 0, /* delete the oldest segment, count its unsent records */
	SPOOL_REFUSE_NEW,      /* refuse the new record, count it */
};

struct spool_options {
	const char *dir; /* created if missing; borrowed for spool_open only */
	uint64_t max_bytes;
	uint64_t segment_bytes;
	enum spool_fsync fsync;
	enum spool_full when_full;
};

/* A place in the spool: before the record number idx of segment seg, at byte off. */
struct spool_pos {
	uint64_t seg, off, idx;
};

struct spool_record {
	const uint8_t *data; /* borrowed until the next spool call */
	size_t len;
	int64_t time_ns; /* CLOCK_REALTIME when appended */
	struct spool_pos start, end;
};

struct spool_stats {
	uint64_t bytes;	     /* not yet acknowledged */
	uint64_t disk_bytes; /* in the segment files (and not yet written) */
	uint64_t segments;
	uint64_t appended; /* records since open */
	uint64_t dropped;  /* records deleted unsent with the oldest segment */
	uint64_t refused;  /* records refused because the spool was full */
	uint64_t torn;	   /* torn or corrupt tails cut off (one per segment) */
	int64_t oldest_ns; /* wall clock of the oldest unacknowledged record, 0 = none */
};

struct spool;

/* Open (or create) the spool in opts->dir; recovers what an earlier run left. */
int spool_open(const struct spool_options *opts, struct spool **ret);
void spool_close(struct spool *sp); /* NULL is fine */

/* Append one record. -ENOBUFS: refused (full, refuse_new) or larger than the spool; -EMSGSIZE
 * above SPOOL_RECORD_MAX; other -errno: the disk failed. */
int spool_append(struct spool *sp, const void *data, size_t len);
/* Write what is buffered, fsync as configured, save the acknowledged position. */
int spool_flush(struct spool *sp);
/* The next record for the reader: 1 with *ret set, 0 when there is none now, -errno. */
int spool_next(struct spool *sp, struct spool_record *ret);
/* Everything before pos is acknowledged (positions from spool_next's end; older ones ignored). */
void spool_ack(struct spool *sp, struct spool_pos pos);
/* Move the reader back to pos (the start of an unacknowledged record) to send again. */
void spool_rewind(struct spool *sp, struct spool_pos pos);
/* Whether pos lies in a segment that was deleted (dropped when full). */
bool spool_pos_gone(const struct spool *sp, struct spool_pos pos);
bool spool_empty(const struct spool *sp); /* nothing left to read */
void spool_stats(const struct spool *sp, struct spool_stats *ret);

/* ---- the record format, on its own for tests and fuzzing ------------------------------------ */

/* Parse the record at the start of buf: > 0 its total size (header + payload) with *ret data,
 * len and time set; 0 when buf holds only part of it; -EBADMSG when it is not a record. */
int spool_record_parse(const uint8_t *buf, size_t len, struct spool_record *ret);
/* Write the header of a record with this payload into hdr. */
void spool_record_header(uint8_t hdr[SPOOL_HDR], const void *data, size_t len, int64_t time_ns);

/* A network sink's message: a subject, an id and the payload bytes. */
struct spool_msg {
	const char *subject; /* not NUL-terminated */
	size_t subject_len;
	const char *id;
	size_t id_len;
	const uint8_t *data;
	size_t data_len;
};

#define SPOOL_MSG_STR_MAX 255 /* longest subject and id */

/* Encode into out (out_max bytes): the size, or -ENOSPC/-EINVAL. */
int spool_msg_encode(const struct spool_msg *m, uint8_t *out, size_t out_max);
/* Decode a record's payload (everything borrowed from buf): 0 or -EBADMSG. */
int spool_msg_decode(const uint8_t *buf, size_t len, struct spool_msg *ret);
