/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* cri collector: the kernel/user contract. Records of the eBPF half (OOM victims, exits of
 * container init processes, cgroup creation/removal); user space joins them with CRI metadata
 * by cgroup id and pid. */
#pragma once

#include "tapio_rec.h"

#define CRI_REC_VERSION	    1
#define CRI_COMM_LEN	    16
#define CRI_CGROUP_PATH_MAX 256

enum cri_rec_type {
	CRI_REC_OOM = 1,    /* oom/mark_victim */
	CRI_REC_EXIT = 2,   /* sched_process_exit of a container init (or an OOM victim) */
	CRI_REC_CGROUP = 3, /* cgroup/cgroup_mkdir, cgroup/cgroup_rmdir (cgroup2 hierarchy) */
};

/* cri_oom_rec.flags */
#define CRI_OOM_VICTIM_CGROUP 1 /* cgroup_id is the victim's (tp_btf); else the allocator's */

struct cri_oom_rec {
	struct tapio_rec_hdr hdr;
	__u64 boot_ns;
	__u64 cgroup_id;
	__u64 anon_rss_pages; /* of the victim, 0 when the hook does not say */
	__u32 victim_pid;     /* tgid of the victim, as the host sees it */
	__u32 flags;
	char comm[CRI_COMM_LEN];
};

/* cri_exit_rec.flags */
#define CRI_EXIT_NS_INIT    1 /* pid 1 of its pid namespace */
#define CRI_EXIT_SHIM_CHILD 2 /* child of a containerd shim or conmon */
#define CRI_EXIT_OOM_VICTIM 4 /* marked by oom/mark_victim before */

struct cri_exit_rec {
	struct tapio_rec_hdr hdr;
	__u64 boot_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 exit_code; /* task->exit_code: (status << 8) | signal | 0x80 core */
	__u32 flags;
	__u32 pad;
	char comm[CRI_COMM_LEN];
};

enum cri_cgroup_op {
	CRI_CGROUP_MKDIR = 1,
	CRI_CGROUP_RMDIR = 2,
};

struct cri_cgroup_rec {
	struct tapio_rec_hdr hdr;
	__u64 boot_ns;
	__u64 id;
	__u32 op;
	__s32 level;
	__s32 root;	/* hierarchy id */
	__u32 path_len; /* bytes in path, without the NUL */
	char path[CRI_CGROUP_PATH_MAX];
};
