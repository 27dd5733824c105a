// SPDX-License-Identifier: Apache-2.0
// The disk spool (see spool.h): segment files <dir>/<seq>.seg of records, a cursor file
// <dir>/cursor with the acknowledged position. Old segments are immutable; only the newest one
// is appended to, and each open starts a new one, so what a crash can tear is the end of the
// newest segment of the run before, which the open scan cuts off and counts.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"

#define READ_CHUNK  (64u << 10)
#define WRITE_AT    (64u << 10) /* buffered bytes written within an append */
#define CURSOR_FILE "cursor"
#define CURSOR_SIZE 28 /* seg, off, idx (u64 each), CRC-32 */

struct seg {
	uint64_t seq, size, records;
};

struct spool {
	int dirfd;
	struct spool_options o;
	struct seg *segs; /* oldest first; the last one is the write segment */
	size_t nsegs, cap;
	uint64_t disk_bytes;

	int wfd;
	uint8_t *wbuf; /* records of the write segment not yet written */
	size_t wlen, wcap;
	uint64_t written; /* bytes of the write segment in its file */

	struct spool_pos rd, ack, saved_ack;
	int rfd;
	uint64_t rfd_seq;
	uint8_t *rbuf; /* file bytes [rbuf_off, rbuf_off + rlen) of segment rd.seg */
	size_t rlen, rcap;
	uint64_t rbuf_off, rbuf_seq;

	uint64_t appended, dropped, refused, torn;
	/* Segments from this one on were written by this process: their CRCs are made, not
	 * checked, on the way back (older ones were checked at open and are checked again). */
	uint64_t own_seq;
};

static void settle(struct spool *sp);

/* ---- records ------------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The CRC covers the length, the time and the payload. */
static uint32_t record_crc(const uint8_t *hdr, const void *data, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, hdr, 4);
	c = crc32(c, hdr + 8, 8);
	c = crc32(c, data, (uInt)len);
	return (uint32_t)c;
}

void spool_record_header(uint8_t hdr[SPOOL_HDR], const void *data, size_t len, int64_t time_ns)
{
	put32(hdr, (uint32_t)len);
	put64(hdr + 8, (uint64_t)time_ns);
	put32(hdr + 4, record_crc(hdr, data, len));
}

static int parse_record(const uint8_t *buf, size_t len, bool verify, struct spool_record *ret)
{
	if (len < SPOOL_HDR)
		return 0;
	uint32_t n = get32(buf);
	if (n > SPOOL_RECORD_MAX)
		return -EBADMSG;
	if (len - SPOOL_HDR < n)
		return 0;
	if (verify && get32(buf + 4) != record_crc(buf, buf + SPOOL_HDR, n))
		return -EBADMSG;
	ret->data = buf + SPOOL_HDR;
	ret->len = n;
	ret->time_ns = (int64_t)get64(buf + 8);
	return (int)(SPOOL_HDR + n);
}

int spool_record_parse(const uint8_t *buf, size_t len, struct spool_record *ret)
{
	return parse_record(buf, len, true, ret);
}

int spool_msg_encode(const struct spool_msg *m, uint8_t *out, size_t out_max)
{
	if (m->subject_len == 0 || m->subject_len > SPOOL_MSG_STR_MAX ||
	    m->id_len > SPOOL_MSG_STR_MAX)
		return -EINVAL;
	size_t need = 2 + m->subject_len + m->id_len + m->data_len;
	if (need > out_max || need > SPOOL_RECORD_MAX)
		return -ENOSPC;
	uint8_t *p = out;
	*p++ = (uint8_t)m->subject_len;
	memcpy(p, m->subject, m->subject_len);
	p += m->subject_len;
	*p++ = (uint8_t)m->id_len;
	if (m->id_len)
		memcpy(p, m->id, m->id_len);
	p += m->id_len;
	if (m->data_len)
		memcpy(p, m->data, m->data_len);
	return (int)need;
}

int spool_msg_decode(const uint8_t *buf, size_t len, struct spool_msg *ret)
{
	struct spool_msg m;
	if (len < 1 || buf[0] == 0 || len < 2u + buf[0])
		return -EBADMSG;
	m.subject_len = buf[0];
	m.subject = (const char *)buf + 1;
	size_t at = 1 + m.subject_len;
	m.id_len = buf[at++];
	if (len - at < m.id_len)
		return -EBADMSG;
	m.id = (const char *)buf + at;
	at += m.id_len;
	m.data = buf + at;
	m.data_len = len - at;
	*ret = m;
	return 0;
}

/* ---- segments ------------------------------------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void seg_name(char *buf, size_t n, uint64_t seq)
{
	snprintf(buf, n, "%020llu.seg", (unsigned long long)seq);
}

static struct seg *find_seg(const struct spool *sp, uint64_t seq)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].seq == seq)
			return &sp->segs[i];
	return NULL;
}

static struct seg *wseg(const struct spool *sp)
{
	return &sp->segs[sp->nsegs - 1];
}

static int push_seg(struct spool *sp, struct seg s)
{
	if (sp->nsegs == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 16;
		struct seg *v = realloc(sp->segs, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		sp->segs = v;
		sp->cap = cap;
	}
	sp->segs[sp->nsegs++] = s;
	sp->disk_bytes += s.size;
	return 0;
}

static void save_cursor(struct spool *sp)
{
	if (memcmp(&sp->ack, &sp->saved_ack, sizeof(sp->ack)) == 0)
		return;
	uint8_t b[CURSOR_SIZE];
	put64(b, sp->ack.seg);
	put64(b + 8, sp->ack.off);
	put64(b + 16, sp->ack.idx);
	put32(b + 24, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, 24));
	int fd = openat(sp->dirfd, CURSOR_FILE, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (pwrite(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b))
		sp->saved_ack = sp->ack;
	close(fd);
}

static void load_cursor(struct spool *sp)
{
	uint8_t b[CURSOR_SIZE];
	int fd = openat(sp->dirfd, CURSOR_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n != (ssize_t)sizeof(b) ||
	    get32(b + 24) != (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, 24))
		return;
	struct spool_pos p = {get64(b), get64(b + 8), get64(b + 16)};
	struct seg *s = find_seg(sp, p.seg);
	if (!s || p.off > s->size || p.idx > s->records)
		return;
	sp->ack = sp->rd = sp->saved_ack = p;
}

/* Delete the oldest segment (never the write segment). */
static void drop_head(struct spool *sp, bool count)
{
	struct seg *h = &sp->segs[0];
	if (count) {
		if (sp->rd.seg == h->seq)
			sp->dropped += h->records - sp->rd.idx;
		else if (sp->rd.seg < h->seq)
			sp->dropped += h->records;
	}
	char name[32];
	seg_name(name, sizeof(name), h->seq);
	unlinkat(sp->dirfd, name, 0);
	if (sp->rfd >= 0 && sp->rfd_seq == h->seq) {
		close(sp->rfd);
		sp->rfd = -1;
	}
	sp->disk_bytes -= h->size;
	struct spool_pos next = {sp->segs[1].seq, 0, 0};
	if (sp->rd.seg <= h->seq) {
		sp->rd = next;
		sp->rlen = 0;
	}
	if (sp->ack.seg <= h->seq)
		sp->ack = next;
	memmove(&sp->segs[0], &sp->segs[1], (sp->nsegs - 1) * sizeof(*sp->segs));
	sp->nsegs--;
}

static int write_buffer(struct spool *sp)
{
	size_t off = 0;
	while (off < sp->wlen) {
		ssize_t n = write(sp->wfd, sp->wbuf + off, sp->wlen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			memmove(sp->wbuf, sp->wbuf + off, sp->wlen - off);
			sp->wlen -= off;
			sp->written += off;
			return r;
		}
		off += (size_t)n;
	}
	sp->written += off;
	sp->wlen = 0;
	return 0;
}

static int open_write_seg(struct spool *sp, uint64_t seq)
{
	char name[32];
	seg_name(name, sizeof(name), seq);
	int fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = push_seg(sp, (struct seg){.seq = seq});
	if (r < 0) {
		close(fd);
		return r;
	}
	sp->wfd = fd;
	sp->written = 0;
	return 0;
}

static int roll(struct spool *sp)
{
	int r = write_buffer(sp);
	if (r < 0)
		return r;
	if (sp->o.fsync >= SPOOL_FSYNC_SEGMENT)
		fsync(sp->wfd);
	uint64_t seq = wseg(sp)->seq + 1;
	int old = sp->wfd;
	r = open_write_seg(sp, seq);
	if (r < 0)
		return r;
	close(old);
	return 0;
}

/* Read a segment through, cut off what does not parse; *ret_records the records kept. */
static int scan_seg(struct spool *sp, uint64_t seq, struct seg *ret)
{
	char name[32];
	seg_name(name, sizeof(name), seq);
	int fd = openat(sp->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	size_t cap = READ_CHUNK + SPOOL_HDR + SPOOL_RECORD_MAX;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	uint64_t good = 0, records = 0, file_off = 0;
	size_t len = 0, start = 0;
	bool bad = false;
	for (;;) {
		struct spool_record rec;
		int n = spool_record_parse(buf + start, len - start, &rec);
		if (n > 0) {
			start += (size_t)n;
			good += (uint64_t)n;
			records++;
			continue;
		}
		if (n < 0) {
			bad = true;
			break;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		start = 0;
		ssize_t got = pread(fd, buf + len, cap - len, (off_t)file_off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			bad = len > 0;
			break;
		}
		len += (size_t)got;
		file_off += (uint64_t)got;
	}
	free(buf);
	if (bad || good < (uint64_t)st.st_size) {
		sp->torn++;
		if (ftruncate(fd, (off_t)good) < 0) {
			close(fd);
			return -errno;
		}
	}
	close(fd);
	*ret = (struct seg){.seq = seq, .size = good, .records = records};
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int recover(struct spool *sp)
{
	int fd = dup(sp->dirfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	uint64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		unsigned long long v = strtoull(de->d_name, &end, 10);
		if (end == de->d_name || strcmp(end, ".seg") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(seqs, cap * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			seqs = nv;
		}
		seqs[n++] = v;
	}
	closedir(d);
	if (r == 0 && n)
		qsort(seqs, n, sizeof(*seqs), cmp_u64);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct seg s;
		r = scan_seg(sp, seqs[i], &s);
		if (r == 0) {
			if (s.size == 0) {
				char name[32];
				seg_name(name, sizeof(name), s.seq);
				unlinkat(sp->dirfd, name, 0);
				continue;
			}
			r = push_seg(sp, s);
		}
	}
	uint64_t next = n ? seqs[n - 1] + 1 : 1;
	sp->own_seq = next;
	free(seqs);
	if (r < 0)
		return r;
	if (sp->nsegs)
		sp->ack = sp->rd = (struct spool_pos){sp->segs[0].seq, 0, 0};
	load_cursor(sp);
	/* Segments the cursor says are acknowledged through. */
	while (sp->nsegs && sp->segs[0].seq < sp->ack.seg)
		drop_head(sp, false);
	return open_write_seg(sp, next);
}

int spool_open(const struct spool_options *opts, struct spool **ret)
{
	if (opts->segment_bytes < 4096 || opts->max_bytes < opts->segment_bytes)
		return -EINVAL;
	if (mkdir(opts->dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	struct spool *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->o = *opts;
	sp->o.dir = NULL;
	sp->wfd = sp->rfd = -1;
	sp->dirfd = open(opts->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		int r = -errno;
		free(sp);
		return r;
	}
	int r = recover(sp);
	if (r < 0) {
		spool_close(sp);
		return r;
	}
	if (sp->nsegs == 1)
		sp->ack = sp->rd = sp->saved_ack = (struct spool_pos){wseg(sp)->seq, 0, 0};
	settle(sp);
	*ret = sp;
	return 0;
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	if (sp->wfd >= 0) {
		spool_flush(sp);
		close(sp->wfd);
	}
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->segs);
	free(sp->wbuf);
	free(sp->rbuf);
	free(sp);
}

int spool_append(struct spool *sp, const void *data, size_t len)
{
	if (len > SPOOL_RECORD_MAX)
		return -EMSGSIZE;
	uint64_t need = SPOOL_HDR + len;
	if (need > sp->o.max_bytes / 2) {
		sp->refused++;
		return -ENOBUFS;
	}
	while (sp->disk_bytes + need > sp->o.max_bytes) {
		if (sp->o.when_full == SPOOL_REFUSE_NEW) {
			sp->refused++;
			return -ENOBUFS;
		}
		if (sp->nsegs == 1) {
			int r = roll(sp);
			if (r < 0)
				return r;
		}
		drop_head(sp, true);
	}
	if (wseg(sp)->size >= sp->o.segment_bytes) {
		int r = roll(sp);
		if (r < 0)
			return r;
	}
	if (sp->wcap - sp->wlen < need) {
		size_t cap = sp->wlen + need + WRITE_AT;
		uint8_t *b = realloc(sp->wbuf, cap);
		if (!b)
			return -ENOMEM;
		sp->wbuf = b;
		sp->wcap = cap;
	}
	spool_record_header(sp->wbuf + sp->wlen, data, len, now_ns());
	memcpy(sp->wbuf + sp->wlen + SPOOL_HDR, data, len);
	sp->wlen += need;
	struct seg *w = wseg(sp);
	w->size += need;
	w->records++;
	sp->disk_bytes += need;
	sp->appended++;
	if (sp->wlen >= WRITE_AT)
		return write_buffer(sp);
	return 0;
}

int spool_flush(struct spool *sp)
{
	int r = write_buffer(sp);
	if (r == 0 && sp->o.fsync == SPOOL_FSYNC_ALWAYS)
		fsync(sp->wfd);
	save_cursor(sp);
	return r;
}

static int pos_cmp(struct spool_pos a, struct spool_pos b)
{
	if (a.seg != b.seg)
		return a.seg < b.seg ? -1 : 1;
	return a.off < b.off ? -1 : a.off > b.off;
}

/* Move the reader to the start of the segment after its own. */
static bool reader_next_seg(struct spool *sp)
{
	for (size_t i = 0; i < sp->nsegs; i++) {
		if (sp->segs[i].seq > sp->rd.seg) {
			sp->rd = (struct spool_pos){sp->segs[i].seq, 0, 0};
			sp->rlen = 0;
			return true;
		}
	}
	return false;
}

static int reader_fill(struct spool *sp, const struct seg *s, size_t want)
{
	if (sp->rfd < 0 || sp->rfd_seq != s->seq) {
		if (sp->rfd >= 0)
			close(sp->rfd);
		char name[32];
		seg_name(name, sizeof(name), s->seq);
		sp->rfd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (sp->rfd < 0)
			return -errno;
		sp->rfd_seq = s->seq;
	}
	/* Keep the unread bytes from rd.off on, then read after them. */
	if (sp->rlen && sp->rbuf_seq == s->seq && sp->rd.off >= sp->rbuf_off &&
	    sp->rd.off <= sp->rbuf_off + sp->rlen) {
		size_t skip = (size_t)(sp->rd.off - sp->rbuf_off);
		memmove(sp->rbuf, sp->rbuf + skip, sp->rlen - skip);
		sp->rlen -= skip;
	} else {
		sp->rlen = 0;
	}
	sp->rbuf_off = sp->rd.off;
	sp->rbuf_seq = s->seq;
	if (want < READ_CHUNK)
		want = READ_CHUNK;
	if (sp->rcap < want) {
		uint8_t *b = realloc(sp->rbuf, want);
		if (!b)
			return -ENOMEM;
		sp->rbuf = b;
		sp->rcap = want;
	}
	uint64_t limit = s->size;
	while (sp->rlen < sp->rcap && sp->rbuf_off + sp->rlen < limit) {
		size_t n = sp->rcap - sp->rlen;
		if (n > limit - sp->rbuf_off - sp->rlen)
			n = (size_t)(limit - sp->rbuf_off - sp->rlen);
		ssize_t got =
			pread(sp->rfd, sp->rbuf + sp->rlen, n, (off_t)(sp->rbuf_off + sp->rlen));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		sp->rlen += (size_t)got;
	}
	return 0;
}

int spool_next(struct spool *sp, struct spool_record *ret)
{
	for (;;) {
		struct seg *s = find_seg(sp, sp->rd.seg);
		if (!s) {
			if (!reader_next_seg(sp))
				return 0;
			continue;
		}
		if (sp->rd.off >= s->size) {
			if (s == wseg(sp) || !reader_next_seg(sp))
				return 0;
			continue;
		}
		if (s == wseg(sp) && sp->wlen) {
			int r = write_buffer(sp);
			if (r < 0)
				return r;
		}
		size_t have = 0;
		if (sp->rlen && sp->rbuf_seq == s->seq && sp->rd.off >= sp->rbuf_off &&
		    sp->rd.off < sp->rbuf_off + sp->rlen)
			have = (size_t)(sp->rbuf_off + sp->rlen - sp->rd.off);
		const uint8_t *p = sp->rbuf + (sp->rd.off - sp->rbuf_off);
		struct spool_record rec;
		bool verify = s->seq < sp->own_seq;
		int n = have ? parse_record(p, have, verify, &rec) : 0;
		if (n == 0) {
			size_t want = SPOOL_HDR;
			if (have >= 4)
				want = SPOOL_HDR + get32(p);
			int r = reader_fill(sp, s, want);
			if (r < 0)
				return r;
			have = sp->rlen;
			p = sp->rbuf;
			n = parse_record(p, have, verify, &rec);
		}
		if (n <= 0) {
			/* Checked at open and written by us since: only a file changed
			 * behind our back gets here. Skip the rest of the segment. */
			sp->torn++;
			s->size = sp->rd.off;
			if (s == wseg(sp))
				return 0;
			reader_next_seg(sp);
			continue;
		}
		rec.start = sp->rd;
		sp->rd.off += (uint64_t)n;
		sp->rd.idx++;
		rec.end = sp->rd;
		*ret = rec;
		return 1;
	}
}

/* Delete the segments acknowledged through (never the write segment). */
static void settle(struct spool *sp)
{
	while (sp->nsegs > 1 &&
	       (sp->segs[0].seq < sp->ack.seg ||
		(sp->segs[0].seq == sp->ack.seg && sp->ack.off >= sp->segs[0].size)))
		drop_head(sp, false);
}

void spool_ack(struct spool *sp, struct spool_pos pos)
{
	if (pos_cmp(pos, sp->ack) <= 0 || !find_seg(sp, pos.seg))
		return;
	sp->ack = pos;
	settle(sp);
}

void spool_rewind(struct spool *sp, struct spool_pos pos)
{
	if (pos_cmp(pos, sp->ack) < 0)
		pos = sp->ack;
	if (pos_cmp(pos, sp->rd) >= 0)
		return;
	sp->rd = pos;
}

bool spool_pos_gone(const struct spool *sp, struct spool_pos pos)
{
	return !find_seg(sp, pos.seg);
}

bool spool_empty(const struct spool *sp)
{
	const struct seg *w = wseg(sp);
	return sp->rd.seg == w->seq && sp->rd.off >= w->size;
}

void spool_stats(const struct spool *sp, struct spool_stats *ret)
{
	struct spool_stats st = {
		.disk_bytes = sp->disk_bytes,
		.segments = sp->nsegs,
		.appended = sp->appended,
		.dropped = sp->dropped,
		.refused = sp->refused,
		.torn = sp->torn,
	};
	const struct seg *h = find_seg(sp, sp->ack.seg);
	st.bytes = sp->disk_bytes - (h && h == &sp->segs[0] ? sp->ack.off : 0);
	if (h && sp->ack.off < h->size) {
		uint8_t hdr[SPOOL_HDR];
		bool got = false;
		if (h == wseg(sp) && sp->ack.off >= sp->written) {
			size_t at = (size_t)(sp->ack.off - sp->written);
			if (at + SPOOL_HDR <= sp->wlen) {
				memcpy(hdr, sp->wbuf + at, SPOOL_HDR);
				got = true;
			}
		} else {
			char name[32];
			seg_name(name, sizeof(name), h->seq);
			int fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				got = pread(fd, hdr, sizeof(hdr), (off_t)sp->ack.off) ==
				      (ssize_t)sizeof(hdr);
				close(fd);
			}
		}
		if (got)
			st.oldest_ns = (int64_t)get64(hdr + 8);
	}
	*ret = st;
}
