/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* security collector: the kernel/user contract (records, actions, limits). */
#pragma once

#include "tapio_rec.h"

#define SECURITY_COMM_LEN TAPIO_COMM_LEN
#define SECURITY_STR_MAX  256  /* power of two: also a verifier mask */
#define SECURITY_NAME_MAX 64   /* power of two: dentry / module names */
#define SECURITY_NR_MAX	  1024 /* syscall numbers mapped (array map size) */

enum security_rec_type {
	SECURITY_REC_SYSCALL = 1,
	SECURITY_REC_EXEC = 2,
	SECURITY_REC_CAPABLE = 3,
	SECURITY_REC_MODULE = 4,
};
#define SECURITY_REC_VERSION 1

/* What a traced syscall is, filled by user space into the syscall_action map (index =
 * syscall number of this architecture). 0 = not traced. */
enum security_action {
	SEC_ACT_NONE = 0,
	SEC_ACT_SETUID,
	SEC_ACT_SETREUID,
	SEC_ACT_SETRESUID,
	SEC_ACT_SETFSUID,
	SEC_ACT_SETGID,
	SEC_ACT_SETREGID,
	SEC_ACT_SETRESGID,
	SEC_ACT_SETFSGID,
	SEC_ACT_CAPSET,
	SEC_ACT_PTRACE,
	SEC_ACT_VM_READV,
	SEC_ACT_VM_WRITEV,
	SEC_ACT_BPF,
	SEC_ACT_MOUNT,
	SEC_ACT_UMOUNT,
	SEC_ACT_MOVE_MOUNT,
	SEC_ACT_FSOPEN,
	SEC_ACT_FSMOUNT,
	SEC_ACT_UNSHARE,
	SEC_ACT_SETNS,
	SEC_ACT_CLONE,
	SEC_ACT_CLONE3,
	SEC_ACT_INIT_MODULE,
	SEC_ACT_FINIT_MODULE,
	SEC_ACT_MAX,
};

/* Which task an event is about, as seen in the kernel (at syscall exit for syscalls). */

enum security_sys_flags {
	SEC_SYS_STR0_TRUNC = 1 << 0,
	SEC_SYS_STR1_TRUNC = 1 << 1,
	SEC_SYS_STR2_TRUNC = 1 << 2,
	SEC_SYS_HAVE_IDS = 1 << 3,  /* old_ids / new_ids valid */
	SEC_SYS_HAVE_CAPS = 1 << 4, /* old_caps / new_caps valid */
	SEC_SYS_HAVE_NS = 1 << 5,   /* ns_type / ns_inum resolved from the setns fd */
	SEC_SYS_HAVE_PROG = 1 << 6, /* prog_type / prog_name read from the bpf attr */
};

/* One traced syscall, at its exit (args as seen at enter, result at exit). Strings:
 *   mount: str0 source, str1 target, str2 fstype; umount: str1 target;
 *   move_mount: str0 from path, str1 to path; fsopen: str2 fstype. */
struct security_sys_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u32 action; /* enum security_action */
	__u32 flags;  /* enum security_sys_flags */
	__s64 ret;
	__u64 args[6];	  /* only the syscall's own arguments are meaningful */
	__u32 old_ids[4]; /* uid family: r, e, s, fs uid; gid family: the gids */
	__u32 new_ids[4];
	__u64 old_caps[3]; /* effective, permitted, inheritable */
	__u64 new_caps[3];
	__u64 clone_flags; /* clone/clone3: the flags (clone3 reads them from user memory) */
	__u32 prog_type;
	__u32 ns_type; /* setns: CLONE_NEW* type of the namespace behind the fd */
	__u32 ns_inum;
	__u16 str_len[3]; /* bytes used in str[i], no NUL */
	char prog_name[16];
	char str[3][SECURITY_STR_MAX];
};

enum security_exec_flags {
	SEC_EXEC_ANON = 1 << 0,	      /* i_nlink == 0 */
	SEC_EXEC_MEMFD_NAME = 1 << 1, /* dentry name starts with "memfd:" */
};

struct security_exec_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u32 flags;
	__u32 nlink;
	__u16 filename_len;
	__u16 dname_len;
	__u32 pad;
	char filename[SECURITY_STR_MAX];
	char dname[SECURITY_NAME_MAX];
};

struct security_capable_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__s32 cap;
	__s32 ret;     /* 0 granted, -EPERM denied */
	__u32 dropped; /* events of this process suppressed by the rate limit before it */
	__u32 pad;
};

struct security_module_rec {
	struct tapio_rec_hdr hdr;
	struct tapio_task task;
	__u32 taints;
	__u16 name_len;
	__u16 pad;
	char name[SECURITY_NAME_MAX];
};
