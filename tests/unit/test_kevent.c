// SPDX-License-Identifier: Apache-2.0
// kevent_rec_type / kevent_rec_done: the header check and the bad-record accounting every
// eBPF collector's ring-buffer handler shares.
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#include "kevent.h"
#include "worker.h"

struct rec {
	struct tapio_rec_hdr hdr;
	uint64_t body;
};

Test(kevent, rec_type_checks_the_header)
{
	struct worker *w;
	cr_assert_eq(worker_loop_new(&w), 0);
	struct worker_counters *cnt = worker_counters(w);
	struct rec r = {.hdr = {.type = 3, .version = 2, .size = sizeof(r)}};

	cr_expect_eq(kevent_rec_type(w, &r, sizeof(r), 2), 3);
	cr_expect_eq(kevent_rec_type(w, &r, sizeof(r), 1), -EBADMSG, "other version");
	cr_expect_eq(kevent_rec_type(w, &r, sizeof(r) - 1, 2), -EBADMSG, "size not the header's");
	cr_expect_eq(kevent_rec_type(w, &r, sizeof(r.hdr) - 1, 2), -EBADMSG, "no whole header");
	cr_expect_eq(cnt->records_read, 4);
	cr_expect_eq(cnt->decode_errors, 0, "counting errors is kevent_rec_done's");
	worker_loop_free(w);
}

Test(kevent, rec_done_counts_only_bad_records)
{
	struct worker *w;
	cr_assert_eq(worker_loop_new(&w), 0);
	struct worker_counters *cnt = worker_counters(w);
	struct rec r = {.hdr = {.type = 3, .version = 2, .size = sizeof(r)}};

	cr_expect_eq(kevent_rec_done(w, &r, sizeof(r), 0), 0);
	cr_expect_eq(kevent_rec_done(w, &r, sizeof(r), -EIO), -EIO, "other errors pass through");
	cr_expect_eq(cnt->decode_errors, 0);
	cr_expect_eq(kevent_rec_done(w, &r, sizeof(r), -EBADMSG), 0);
	cr_expect_eq(kevent_rec_done(w, &r, 1, -EBADMSG), 0, "a short record is only counted");
	cr_expect_eq(cnt->decode_errors, 2);
	worker_loop_free(w);
}
