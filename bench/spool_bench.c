// SPDX-License-Identifier: Apache-2.0
// The NATS sink's disk spool on its own (supervisor/spool.c): append COUNT messages the size of
// a binary bench event with its subject and id, flush, then read them back in order and
// acknowledge them, as the sink does. Prints "append_ns=.. replay_ns=.. records=.. bytes=..".
//   spool_bench DIR [COUNT] [fsync: never|segment|always]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spool.h"

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: spool_bench DIR [COUNT] [never|segment|always]\n");
		return 2;
	}
	long count = argc > 2 ? atol(argv[2]) : 1000000;
	const char *fs = argc > 3 ? argv[3] : "segment";
	struct spool_options o = {
		.dir = argv[1],
		.max_bytes = 4ull << 30,
		.segment_bytes = 16 << 20,
		.fsync = strcmp(fs, "always") == 0  ? SPOOL_FSYNC_ALWAYS
			 : strcmp(fs, "never") == 0 ? SPOOL_FSYNC_NEVER
						    : SPOOL_FSYNC_SEGMENT,
	};
	struct spool *sp = NULL;
	int r = spool_open(&o, &sp);
	if (r < 0) {
		fprintf(stderr, "spool_open: %s\n", strerror(-r));
		return 1;
	}
	/* A bench.call event in the binary format is about 110 bytes. */
	uint8_t payload[110], rec[512];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	const char *subject = "tapio.node-1.bench.bench_call";
	char id[64];
	long long t0 = now_ns();
	uint64_t bytes = 0;
	for (long i = 1; i <= count; i++) {
		int il = snprintf(id, sizeof(id), "0123456789abcdef-%ld", i);
		struct spool_msg m = {subject,	  strlen(subject), id,
				      (size_t)il, payload,	   sizeof(payload)};
		int n = spool_msg_encode(&m, rec, sizeof(rec));
		if (n < 0 || spool_append(sp, rec, (size_t)n) < 0) {
			fprintf(stderr, "append failed at %ld\n", i);
			return 1;
		}
		bytes += (uint64_t)n + SPOOL_HDR;
		if (i % 256 == 0) /* the sink flushes once per loop wakeup */
			spool_flush(sp);
	}
	spool_flush(sp);
	long long t1 = now_ns();
	long got = 0;
	struct spool_record rr;
	while ((r = spool_next(sp, &rr)) == 1) {
		struct spool_msg m;
		if (spool_msg_decode(rr.data, rr.len, &m) < 0)
			return 1;
		got++;
		spool_ack(sp, rr.end);
		if (got % 256 == 0)
			spool_flush(sp);
	}
	spool_flush(sp);
	long long t2 = now_ns();
	spool_close(sp);
	if (got != count) {
		fprintf(stderr, "read back %ld of %ld\n", got, count);
		return 1;
	}
	printf("records=%ld bytes=%llu append_ns=%lld replay_ns=%lld\n", count,
	       (unsigned long long)bytes, t1 - t0, t2 - t1);
	return 0;
}
