// SPDX-License-Identifier: Apache-2.0
// The disk spool: order, acknowledgment and deletion, recovery across close/reopen, torn and
// corrupt tails, the two full policies with exact counts, rewind, the record and message codecs.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor/spool.h"

static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tapio-spool-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(spool, .init = mkdir_tmp, .fini = rm_tmp);

static struct spool *open_spool(uint64_t max, uint64_t seg, enum spool_full full)
{
	struct spool_options o = {.dir = dir,
				  .max_bytes = max,
				  .segment_bytes = seg,
				  .fsync = SPOOL_FSYNC_NEVER,
				  .when_full = full};
	struct spool *sp = NULL;
	cr_assert_eq(spool_open(&o, &sp), 0);
	return sp;
}

static void append_n(struct spool *sp, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++) {
		char b[64];
		int len = snprintf(b, sizeof(b), "record-%06u", i);
		cr_assert_eq(spool_append(sp, b, (size_t)len), 0);
	}
}

/* Read everything now readable; check it is from, from+1, ...; return the count and the last
 * record's end position. */
static unsigned read_all(struct spool *sp, unsigned from, struct spool_pos *ret_end)
{
	struct spool_record rec;
	unsigned n = 0;
	int r;
	while ((r = spool_next(sp, &rec)) == 1) {
		char want[64];
		int len = snprintf(want, sizeof(want), "record-%06u", from + n);
		cr_assert_eq(rec.len, (size_t)len, "record %u", from + n);
		cr_assert_eq(memcmp(rec.data, want, rec.len), 0, "record %u", from + n);
		cr_assert_gt(rec.time_ns, 0);
		if (ret_end)
			*ret_end = rec.end;
		n++;
	}
	cr_assert_eq(r, 0);
	return n;
}

static unsigned count_files(void)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "ls %s/*.seg | wc -l", dir);
	FILE *f = popen(cmd, "r");
	unsigned n = 0;
	cr_assert_eq(fscanf(f, "%u", &n), 1);
	pclose(f);
	return n;
}

Test(spool, reads_back_in_order_and_deletes_once_acknowledged)
{
	struct spool *sp = open_spool(1 << 20, 4096, SPOOL_DROP_OLDEST);
	append_n(sp, 0, 2000);
	struct spool_pos end;
	cr_assert_eq(read_all(sp, 0, &end), 2000);
	struct spool_stats st;
	spool_stats(sp, &st);
	cr_assert_gt(st.segments, 5);
	cr_assert_gt(st.bytes, 2000 * 20);
	cr_assert_gt(st.oldest_ns, 0);
	spool_ack(sp, end);
	spool_flush(sp);
	spool_stats(sp, &st);
	cr_assert_eq(st.bytes, 0);
	cr_assert_eq(st.segments, 1, "only the write segment is left");
	cr_assert_eq(st.oldest_ns, 0);
	cr_assert_eq(count_files(), 1);
	cr_assert(spool_empty(sp));
	spool_close(sp);
}

Test(spool, survives_reopen_and_resumes_after_the_acknowledged_position)
{
	struct spool *sp = open_spool(1 << 20, 4096, SPOOL_DROP_OLDEST);
	append_n(sp, 0, 1000);
	spool_close(sp);

	sp = open_spool(1 << 20, 4096, SPOOL_DROP_OLDEST);
	struct spool_record rec;
	struct spool_pos mid = {0};
	for (int i = 0; i < 600; i++) {
		cr_assert_eq(spool_next(sp, &rec), 1);
		mid = rec.end;
	}
	spool_ack(sp, mid);
	append_n(sp, 1000, 10);
	spool_close(sp);

	sp = open_spool(1 << 20, 4096, SPOOL_DROP_OLDEST);
	cr_assert_eq(read_all(sp, 600, NULL), 410);
	struct spool_stats st;
	spool_stats(sp, &st);
	cr_assert_eq(st.torn, 0);
	spool_close(sp);
}

static void last_segment(char *path, size_t n)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "ls %s/*.seg | sort | tail -2 | head -1", dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(fgets(path, (int)n, f));
	path[strcspn(path, "\n")] = 0;
	pclose(f);
}

Test(spool, cuts_off_a_torn_last_record_and_counts_it)
{
	struct spool *sp = open_spool(1 << 20, 1 << 20, SPOOL_DROP_OLDEST);
	append_n(sp, 0, 50);
	spool_close(sp);
	/* A crash in the middle of a write: the last record lacks its last 3 bytes. */
	char path[256];
	snprintf(path, sizeof(path), "%s/00000000000000000001.seg", dir);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(truncate(path, st.st_size - 3), 0);

	sp = open_spool(1 << 20, 1 << 20, SPOOL_DROP_OLDEST);
	struct spool_stats s;
	spool_stats(sp, &s);
	cr_assert_eq(s.torn, 1);
	cr_assert_eq(read_all(sp, 0, NULL), 49);
	spool_close(sp);
	/* Cut off for good: the next open finds nothing torn. */
	sp = open_spool(1 << 20, 1 << 20, SPOOL_DROP_OLDEST);
	spool_stats(sp, &s);
	cr_assert_eq(s.torn, 0);
	cr_assert_eq(read_all(sp, 0, NULL), 49);
	spool_close(sp);
}

Test(spool, stops_a_segment_at_a_corrupt_record)
{
	struct spool *sp = open_spool(1 << 20, 1 << 20, SPOOL_DROP_OLDEST);
	append_n(sp, 0, 50);
	spool_close(sp);
	char path[256];
	last_segment(path, sizeof(path));
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	/* Flip a payload byte of record 10 (each record is 16 + 13 bytes). */
	off_t at = 10 * (SPOOL_HDR + 13) + SPOOL_HDR + 2;
	char c;
	cr_assert_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x40;
	cr_assert_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);

	sp = open_spool(1 << 20, 1 << 20, SPOOL_DROP_OLDEST);
	struct spool_stats s;
	spool_stats(sp, &s);
	cr_assert_eq(s.torn, 1);
	cr_assert_eq(read_all(sp, 0, NULL), 10);
	spool_close(sp);
}

Test(spool, drop_oldest_counts_exactly_what_was_lost)
{
	struct spool *sp = open_spool(64 << 10, 4096, SPOOL_DROP_OLDEST);
	const unsigned total = 20000;
	append_n(sp, 0, total);
	struct spool_stats st;
	spool_stats(sp, &st);
	cr_assert_gt(st.dropped, 0);
	cr_assert_leq(st.disk_bytes, 64 << 10);
	/* What is left is the newest records, in order, and nothing else was lost. */
	unsigned first = (unsigned)st.dropped;
	cr_assert_eq(read_all(sp, first, NULL), total - first);
	spool_close(sp);
}

Test(spool, refuse_new_counts_every_refusal)
{
	struct spool *sp = open_spool(64 << 10, 4096, SPOOL_REFUSE_NEW);
	unsigned ok = 0, refused = 0;
	for (unsigned i = 0; i < 10000; i++) {
		char b[64];
		int len = snprintf(b, sizeof(b), "record-%06u", i);
		int r = spool_append(sp, b, (size_t)len);
		if (r == 0)
			ok++;
		else if (r == -ENOBUFS)
			refused++;
		else
			cr_assert_fail("append: %d", r);
	}
	struct spool_stats st;
	spool_stats(sp, &st);
	cr_assert_eq(st.refused, refused);
	cr_assert_gt(refused, 0);
	cr_assert_eq(st.dropped, 0);
	cr_assert_eq(read_all(sp, 0, NULL), ok);
	spool_close(sp);
}

Test(spool, a_drop_after_reading_counts_only_unread_records)
{
	struct spool *sp = open_spool(64 << 10, 4096, SPOOL_DROP_OLDEST);
	append_n(sp, 0, 100);
	struct spool_record rec;
	for (int i = 0; i < 30; i++)
		cr_assert_eq(spool_next(sp, &rec), 1);
	append_n(sp, 100, 5000);
	struct spool_stats st;
	spool_stats(sp, &st);
	cr_assert_gt(st.dropped, 0);
	unsigned first = 30 + (unsigned)st.dropped;
	cr_assert_eq(read_all(sp, first, NULL), 5100 - first);
	spool_close(sp);
}

Test(spool, rewind_sends_again_from_an_unacknowledged_record)
{
	struct spool *sp = open_spool(1 << 20, 4096, SPOOL_DROP_OLDEST);
	append_n(sp, 0, 500);
	struct spool_record rec;
	struct spool_pos third = {0}, first_end = {0};
	for (int i = 0; i < 400; i++) {
		cr_assert_eq(spool_next(sp, &rec), 1);
		if (i == 0)
			first_end = rec.end;
		if (i == 2)
			third = rec.start;
	}
	spool_ack(sp, first_end);
	spool_rewind(sp, third);
	cr_assert_eq(read_all(sp, 2, NULL), 498);
	spool_close(sp);
}

Test(spool, record_parser_refuses_what_is_not_a_record)
{
	uint8_t b[64];
	spool_record_header(b, "hello", 5, 42);
	memcpy(b + SPOOL_HDR, "hello", 5);
	struct spool_record rec;
	cr_assert_eq(spool_record_parse(b, SPOOL_HDR + 5, &rec), SPOOL_HDR + 5);
	cr_assert_eq(rec.len, 5);
	cr_assert_eq(rec.time_ns, 42);
	for (size_t n = 0; n < SPOOL_HDR + 5; n++)
		cr_assert_eq(spool_record_parse(b, n, &rec), 0, "prefix of %zu", n);
	b[SPOOL_HDR + 1] ^= 1;
	cr_assert_eq(spool_record_parse(b, SPOOL_HDR + 5, &rec), -EBADMSG);
	b[SPOOL_HDR + 1] ^= 1;
	b[9] ^= 1; /* the time is covered too */
	cr_assert_eq(spool_record_parse(b, SPOOL_HDR + 5, &rec), -EBADMSG);
	b[9] ^= 1;
	b[3] = 0x7f; /* a length above the maximum */
	cr_assert_eq(spool_record_parse(b, sizeof(b), &rec), -EBADMSG);
}

Test(spool, message_codec_round_trips)
{
	struct spool_msg m = {.subject = "tapio.n.process.exec",
			      .subject_len = 20,
			      .id = "abc-1",
			      .id_len = 5,
			      .data = (const uint8_t *)"{}",
			      .data_len = 2};
	uint8_t buf[128];
	int n = spool_msg_encode(&m, buf, sizeof(buf));
	cr_assert_eq(n, 2 + 20 + 5 + 2);
	struct spool_msg d;
	cr_assert_eq(spool_msg_decode(buf, (size_t)n, &d), 0);
	cr_assert_eq(d.subject_len, 20);
	cr_assert_eq(memcmp(d.subject, m.subject, 20), 0);
	cr_assert_eq(d.id_len, 5);
	cr_assert_eq(memcmp(d.id, "abc-1", 5), 0);
	cr_assert_eq(d.data_len, 2);
	cr_assert_eq(spool_msg_decode(buf, 10, &d), -EBADMSG);
	cr_assert_eq(spool_msg_encode(&m, buf, 10), -ENOSPC);
}

Test(spool, the_oldest_age_skips_a_segment_acknowledged_through)
{
	struct spool *sp = open_spool(1 << 20, 4096, SPOOL_DROP_OLDEST);
	append_n(sp, 0, 10);
	struct spool_pos end;
	cr_assert_eq(read_all(sp, 0, &end), 10);
	spool_ack(sp, end);
	spool_close(sp);
	/* The cursor now points at the end of the old segment; a new one gets the next events. */
	sp = open_spool(1 << 20, 4096, SPOOL_DROP_OLDEST);
	struct spool_stats st;
	spool_stats(sp, &st);
	cr_assert_eq(st.bytes, 0);
	cr_assert_eq(st.segments, 1);
	append_n(sp, 10, 3);
	spool_flush(sp);
	spool_stats(sp, &st);
	cr_assert_gt(st.oldest_ns, 0);
	cr_assert_eq(st.bytes, 3 * (SPOOL_HDR + 13));
	cr_assert_eq(read_all(sp, 10, NULL), 3);
	spool_close(sp);
}
