/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* cni collector: the kernel/user contract (records, limits, map keys). */
#pragma once

#include "tapio_rec.h"

#define CNI_FILENAME_MAX    256	  /* power of two: also a verifier mask */
#define CNI_ENV_MAX	    8192  /* power of two: hard cap of cfg_env_max_bytes */
#define CNI_CHUNK_MAX	    16384 /* power of two: bytes of one write() copied */
#define CNI_PLUGIN_DIRS_MAX 16	  /* entries of the plugin_dirs map */
#define CNI_TRACKED_MAX	    1024  /* plugin processes followed at once */

enum cni_rec_type {
	CNI_REC_EXEC = 1,
	CNI_REC_OUTPUT = 2,
	CNI_REC_EXIT = 3,
	CNI_REC_NETNS = 4,
};
#define CNI_REC_VERSION 1

/* The key of the plugin_dirs map: a plugin directory by device and inode, as the kernel
 * encodes the device (MAJOR << 20 | MINOR, not the stat() encoding). */
struct cni_dir_key {
	__u64 dev;
	__u64 ino;
};

enum cni_exec_flags {
	CNI_EXEC_ENV_TRUNCATED = 1 << 0, /* the environment's tail was copied */
	CNI_EXEC_FILENAME_TRUNCATED = 1 << 1,
};

/* Followed by filename_len bytes of filename (no NUL) and env_len bytes of the environment
 * area (NUL-separated). When the environment is larger than the bound, its last env_len
 * bytes are copied (runtimes append the CNI_* variables last) and the first entry is cut. */
struct cni_exec_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u32 parent_plugin; /* tgid of the tracked plugin that exec'd this one, 0 none */
	__u32 flags;
	__u16 filename_len;
	__u16 env_len;
	__u32 pad;
	char data[CNI_FILENAME_MAX + CNI_ENV_MAX];
};
#define CNI_EXEC_FIXED (sizeof(struct cni_exec_rec) - CNI_FILENAME_MAX - CNI_ENV_MAX)

/* Bytes a plugin wrote to fd 1 or 2, in write order. */
struct cni_output_rec {
	struct tapio_rec_hdr hdr;
	__u32 pid;
	__u32 fd;
	__u32 len;
	__u32 pad;
	char data[CNI_CHUNK_MAX];
};
#define CNI_OUTPUT_FIXED (sizeof(struct cni_output_rec) - CNI_CHUNK_MAX)

struct cni_exit_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u64 start_boot_ns; /* when the plugin was exec'd */
	__u32 exit_code;     /* raw wait status */
	__u32 parent_plugin;
	__u64 output_bytes;   /* written to fd 1 and 2 */
	__u64 output_dropped; /* of those, not copied (capture bound) */
};

enum cni_netns_op {
	CNI_NETNS_UNSHARE = 1,
	CNI_NETNS_CLONE = 2,
	CNI_NETNS_SETNS = 3,
};

struct cni_netns_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u32 op;	 /* enum cni_netns_op */
	__u32 child_pid; /* clone: the new process */
	__u64 inum;	 /* the namespace now in use */
	__u64 old_inum;	 /* the namespace before */
};

/* The per-process state of a tracked plugin (map `plugins`). */
struct cni_plugin_state {
	__u64 start_boot_ns;
	__u64 output_bytes;
	__u64 output_dropped;
	__u32 parent_plugin;
	__u32 captured;
};
