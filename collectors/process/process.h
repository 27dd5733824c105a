/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* process collector: the kernel/user contract (records, limits, knob names). */
#pragma once

#include "tapio_rec.h"

#define PROCESS_COMM_LEN     TAPIO_COMM_LEN
#define PROCESS_FILENAME_MAX 512  /* power of two: also a verifier mask */
#define PROCESS_ARGS_MAX     8192 /* power of two: hard cap of cfg_argv_max_bytes */

enum process_rec_type {
	PROCESS_REC_EXEC = 1,
	PROCESS_REC_EXIT = 2,
	PROCESS_REC_FORK = 3,
};
#define PROCESS_REC_VERSION 1

enum process_exec_flags {
	PROCESS_EXEC_SETUID = 1 << 0,
	PROCESS_EXEC_SETGID = 1 << 1,
	PROCESS_EXEC_ANON_FILE = 1 << 2, /* executed file has no link: memfd / deleted */
	PROCESS_EXEC_ARGS_TRUNCATED = 1 << 3,
	PROCESS_EXEC_FILENAME_TRUNCATED = 1 << 4,
};

/* Followed by filename_len bytes of filename (no NUL) and args_len bytes of the argument
 * area (NUL-separated, as in the process's memory). */
struct process_exec_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u32 old_pid;
	__u32 flags;
	__u16 filename_len;
	__u16 args_len;
	__u32 argc; /* the kernel's count (linux_binprm.argc), not the strings captured */
	char data[PROCESS_FILENAME_MAX + PROCESS_ARGS_MAX];
};
#define PROCESS_EXEC_FIXED                                                                         \
	(sizeof(struct process_exec_rec) - PROCESS_FILENAME_MAX - PROCESS_ARGS_MAX)

struct process_exit_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u32 exit_code; /* raw wait status: (code << 8) | core << 7 | signal */
	__u32 nr_threads;
	__u64 start_boot_ns; /* task start, boot-time ns; 0 if unknown */
};

struct process_fork_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task; /* the parent */
	__u32 child_pid;
	__u32 child_tid;
	__u64 clone_flags; /* 0 when the hook cannot see them */
};
