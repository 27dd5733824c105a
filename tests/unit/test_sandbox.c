// SPDX-License-Identifier: Apache-2.0
// sandbox_apply's checks before anything changes, the exported base set, and the SIGSYS report's
// frame (no root needed; the sandbox itself is exercised by the integration suite).
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "fatal_report.h"
#include "frame.h"
#include "sandbox.h"
#include "tapio/v1/worker.pb-c.h"

Test(sandbox, base_syscalls_exported)
{
	size_t n = 0;
	int has_read = 0, has_socket = 0, has_execve = 0;
	for (; sandbox_base_syscalls[n]; n++) {
		has_read |= strcmp(sandbox_base_syscalls[n], "read") == 0;
		has_socket |= strcmp(sandbox_base_syscalls[n], "socket") == 0;
		has_execve |= strcmp(sandbox_base_syscalls[n], "execve") == 0;
	}
	cr_expect(n > 10);
	cr_expect(has_read);
	cr_expect(!has_socket);
	cr_expect(!has_execve);
}

Test(sandbox, rejects_root_ids_without_changing_anything)
{
	struct sandbox_spec spec = {.uid = 0, .gid = 65534, .landlock = true};
	cr_expect_eq(sandbox_apply(&spec, NULL), -EINVAL);
	spec = (struct sandbox_spec){.uid = 65534, .gid = 0, .landlock = true};
	cr_expect_eq(sandbox_apply(&spec, NULL), -EINVAL);
	cr_expect_eq(sandbox_apply(NULL, NULL), -EINVAL);
}

/* What the SIGSYS handler writes decodes, through protobuf-c, as the Fatal frame tapiod
 * expects: a framed WorkerFrame whose body is fatal{syscall: nr}. */
Test(fatal_report, encodes_framed_fatal)
{
	static const int nrs[] = {0, 1, 127, 128, 435, 16383, 16384, 0x7fffffff};
	for (size_t i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++) {
		uint8_t buf[FATAL_REPORT_MAX];
		size_t n = fatal_report_encode(buf, nrs[i]);
		cr_assert(n > FRAME_HDR && n <= FATAL_REPORT_MAX, "syscall %d: %zu bytes", nrs[i],
			  n);
		uint32_t len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
			       (uint32_t)buf[2] << 8 | buf[3];
		cr_assert_eq(len, n - FRAME_HDR, "syscall %d", nrs[i]);
		Tapio__V1__WorkerFrame *f =
			tapio__v1__worker_frame__unpack(NULL, len, buf + FRAME_HDR);
		cr_assert_not_null(f, "syscall %d: does not decode", nrs[i]);
		cr_expect_eq(f->body_case, TAPIO__V1__WORKER_FRAME__BODY_FATAL);
		cr_assert_not_null(f->fatal);
		cr_expect(f->fatal->has_syscall);
		cr_expect_eq(f->fatal->syscall, nrs[i]);
		tapio__v1__worker_frame__free_unpacked(f, NULL);
	}
}
