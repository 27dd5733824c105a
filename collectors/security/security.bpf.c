// SPDX-License-Identifier: GPL-2.0-only
// security collector, kernel side: privilege-relevant syscalls (enter records the arguments
// per thread, exit emits them with the result, so failed attempts are seen too), exec of
// anonymous files, capability checks (rate-limited) and module loads where the kernel has them.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "security.h"
#include "tapio_bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 cfg_self_tgid = 0;	    /* the worker itself: never reported */
const volatile __u64 cfg_cap_mask = 0;	    /* bit n set: report capability n */
const volatile __u32 cfg_cap_rate = 10;	    /* capability events per process per second */
const volatile bool cfg_ns_exclude = false; /* ns_exclude holds comms to skip */
/* Kernel text ranges [lo, hi) of the memory-accounting callers of cap_capable
 * (security_vm_enough_memory_mm, cap_vm_enough_memory): their CAP_SYS_ADMIN checks run on
 * every mmap, fork and exec without audit and are not a use of the capability. 0 = unknown. */
const volatile __u64 cfg_vm_acct_lo[2] = {0, 0};
const volatile __u64 cfg_vm_acct_hi[2] = {0, 0};

#define CLONE_NS_MASK                                                                              \
	(0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 |             \
	 0x20000000 |                                                                              \
	 0x40000000) /* NEWTIME NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET */
#define NSFS_MAGIC_	  0x6e736673
#define BPF_PROG_LOAD_CMD 5
#define SEC_NS		  1000000000ull

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized from config before load */
} events SEC(".maps");

/* syscall number of this architecture → enum security_action (filled by user space) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SECURITY_NR_MAX);
	__type(key, __u32);
	__type(value, __u32);
} syscall_action SEC(".maps");

struct inflight {
	__u32 action;
	__u32 flags;
	__u64 args[6];
	__u32 old_ids[4];
	__u64 old_caps[3];
	__u64 clone_flags;
	__u32 ns_type;
	__u32 ns_inum;
};

/* Arguments between sys_enter and sys_exit, per thread. LRU: a thread that never reaches
 * the exit tracepoint cannot fill the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct inflight);
} inflight SEC(".maps");

struct comm_key {
	char comm[SECURITY_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct comm_key);
	__type(value, __u8);
} ns_exclude SEC(".maps");

struct cap_window {
	__u64 start_ns;
	__u32 count;
	__u32 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct cap_window);
} cap_rate SEC(".maps");

/* The records the syscall tracepoints hand to BPF (kernel/trace/trace_syscalls.c,
 * perf_call_bpf_enter/exit): the nr is an int, arguments and result are 8 bytes at 16. */
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

/* CO-RE views that do not depend on the generated vmlinux.h having them. */
struct trace_event_raw_cap_capable___tapio {
	const struct cred *cred;
	int cap;
	int ret;
} __attribute__((preserve_access_index));

struct ns_common___new {
	__u32 ns_type; /* 6.18+ */
} __attribute__((preserve_access_index));

struct ns_common___old {
	const struct proc_ns_operations___old *ops;
} __attribute__((preserve_access_index));

struct proc_ns_operations___old {
	int type; /* before 6.18 */
} __attribute__((preserve_access_index));

static __always_inline bool is_uid_family(__u32 act)
{
	return act == SEC_ACT_SETUID || act == SEC_ACT_SETREUID || act == SEC_ACT_SETRESUID ||
	       act == SEC_ACT_SETFSUID;
}

static __always_inline bool is_gid_family(__u32 act)
{
	return act == SEC_ACT_SETGID || act == SEC_ACT_SETREGID || act == SEC_ACT_SETRESGID ||
	       act == SEC_ACT_SETFSGID;
}

static __always_inline bool is_ns_action(__u32 act)
{
	return act == SEC_ACT_UNSHARE || act == SEC_ACT_SETNS || act == SEC_ACT_CLONE ||
	       act == SEC_ACT_CLONE3;
}

static __always_inline void read_ids(__u32 ids[4], const struct cred *cred, bool gid)
{
	if (gid) {
		ids[0] = BPF_CORE_READ(cred, gid.val);
		ids[1] = BPF_CORE_READ(cred, egid.val);
		ids[2] = BPF_CORE_READ(cred, sgid.val);
		ids[3] = BPF_CORE_READ(cred, fsgid.val);
	} else {
		ids[0] = BPF_CORE_READ(cred, uid.val);
		ids[1] = BPF_CORE_READ(cred, euid.val);
		ids[2] = BPF_CORE_READ(cred, suid.val);
		ids[3] = BPF_CORE_READ(cred, fsuid.val);
	}
}

/* kernel_cap_t is a u64 since 6.3 and u32[2] before: the same 8 bytes on little endian. */
static __always_inline void read_caps(__u64 caps[3], const struct cred *cred)
{
	bpf_core_read(&caps[0], sizeof(__u64), &cred->cap_effective);
	bpf_core_read(&caps[1], sizeof(__u64), &cred->cap_permitted);
	bpf_core_read(&caps[2], sizeof(__u64), &cred->cap_inheritable);
}

/* Map map-element operations of bpf(2): data-path traffic of every eBPF agent, not a
 * privilege event (BPF_MAP_LOOKUP/UPDATE/DELETE_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE,
 * the batch variants). */
static __always_inline bool bpf_cmd_boring(__u64 cmd)
{
	return (cmd >= 1 && cmd <= 4) || cmd == 21 || (cmd >= 24 && cmd <= 27);
}

static __always_inline bool comm_excluded(void)
{
	if (!cfg_ns_exclude)
		return false;
	struct comm_key key = {};
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	return bpf_map_lookup_elem(&ns_exclude, &key) != NULL;
}

/* setns(fd, ...): which namespace the fd refers to, when it is an nsfs file. */
static __always_inline void resolve_ns_fd(struct inflight *in, struct task_struct *task, int fd)
{
	struct files_struct *files = BPF_CORE_READ(task, files);
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if (fd < 0 || (unsigned int)fd >= max)
		return;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (bpf_core_read(&f, sizeof(f), &fds[fd]) < 0 || !f)
		return;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	if (BPF_CORE_READ(ino, i_sb, s_magic) != NSFS_MAGIC_)
		return;
	void *ns = BPF_CORE_READ(ino, i_private);
	in->ns_inum = BPF_CORE_READ(ino, i_ino);
	if (bpf_core_field_exists(((struct ns_common___new *)0)->ns_type)) {
		in->ns_type = BPF_CORE_READ((struct ns_common___new *)ns, ns_type);
	} else {
		struct ns_common___old *o = ns;
		in->ns_type = BPF_CORE_READ(o, ops, type);
	}
	in->flags |= SEC_SYS_HAVE_NS;
}

/* A traced syscall's entry (act != SEC_ACT_NONE): record its arguments and the state it may
 * change, per thread, for its exit. Shared by the tracepoint and the fentry hook sets. */
static __always_inline int sys_enter(__u32 act, const __u64 *args)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) == cfg_self_tgid)
		return 0;

	struct inflight in = {};
	in.action = act;
	__builtin_memcpy(in.args, args, sizeof(in.args));

	if (act == SEC_ACT_CLONE) {
		in.clone_flags = args[0];
		if (!(in.clone_flags & CLONE_NS_MASK))
			return 0;
	} else if (act == SEC_ACT_CLONE3) {
		if (bpf_probe_read_user(&in.clone_flags, sizeof(__u64), (void *)args[0]) < 0)
			return 0;
		if (!(in.clone_flags & CLONE_NS_MASK))
			return 0;
	} else if (act == SEC_ACT_BPF && bpf_cmd_boring(args[0])) {
		return 0;
	}
	if (is_ns_action(act) && comm_excluded()) {
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	}

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	if (is_uid_family(act) || is_gid_family(act)) {
		read_ids(in.old_ids, cred, is_gid_family(act));
		in.flags |= SEC_SYS_HAVE_IDS;
	} else if (act == SEC_ACT_CAPSET) {
		read_caps(in.old_caps, cred);
		in.flags |= SEC_SYS_HAVE_CAPS;
	} else if (act == SEC_ACT_SETNS) {
		resolve_ns_fd(&in, task, (int)args[0]);
	}
	bpf_map_update_elem(&inflight, &id, &in, BPF_ANY);
	return 0;
}

SEC("tp")
int handle_enter(void *ctx)
{
	struct sys_enter_ctx a;
	if (bpf_probe_read_kernel(&a, sizeof(a), ctx) < 0)
		return 0;
	__u32 nr = (__u32)a.nr;
	if (nr >= SECURITY_NR_MAX)
		return 0;
	__u32 *act = bpf_map_lookup_elem(&syscall_action, &nr);
	if (!act || *act == SEC_ACT_NONE)
		return 0;
	return sys_enter(*act, a.args);
}

static __always_inline __u16 read_ustr(char *dst, __u64 ptr, __u32 *flags, __u32 trunc_bit)
{
	if (!ptr)
		return 0;
	long n = bpf_probe_read_user_str(dst, SECURITY_STR_MAX, (const void *)ptr);
	if (n <= 0) {
		tapio_count(TAPIO_CNT_READ_FAIL);
		return 0;
	}
	n--; /* the NUL */
	if (n >= SECURITY_STR_MAX - 1)
		*flags |= trunc_bit;
	return (__u16)(n & (SECURITY_STR_MAX - 1));
}

/* A traced syscall's exit: the record of its entry (this thread's), completed with the result
 * and the state after. act is the syscall's action (a constant in the fexit programs: the
 * switch below then keeps only its own case). */
static __always_inline int sys_exit(__u32 act, __s64 ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct inflight *p = bpf_map_lookup_elem(&inflight, &id);
	if (!p)
		return 0;
	struct inflight in = *p;
	bpf_map_delete_elem(&inflight, &id);
	if (in.action != act)
		return 0; /* a stale entry of another syscall */

	struct security_sys_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	tapio_fill_task(&r->task, task);
	r->hdr.type = SECURITY_REC_SYSCALL;
	r->hdr.version = SECURITY_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->action = act;
	r->flags = in.flags;
	r->ret = ret;
	__builtin_memcpy(r->args, in.args, sizeof(r->args));
	__builtin_memcpy(r->old_ids, in.old_ids, sizeof(r->old_ids));
	__builtin_memcpy(r->old_caps, in.old_caps, sizeof(r->old_caps));
	__builtin_memset(r->new_ids, 0, sizeof(r->new_ids));
	__builtin_memset(r->new_caps, 0, sizeof(r->new_caps));
	r->clone_flags = in.clone_flags;
	r->prog_type = 0;
	r->ns_type = in.ns_type;
	r->ns_inum = in.ns_inum;
	r->str_len[0] = r->str_len[1] = r->str_len[2] = 0;
	__builtin_memset(r->prog_name, 0, sizeof(r->prog_name));

	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	switch (act) {
	case SEC_ACT_SETUID:
	case SEC_ACT_SETREUID:
	case SEC_ACT_SETRESUID:
	case SEC_ACT_SETFSUID:
		read_ids(r->new_ids, cred, false);
		break;
	case SEC_ACT_SETGID:
	case SEC_ACT_SETREGID:
	case SEC_ACT_SETRESGID:
	case SEC_ACT_SETFSGID:
		read_ids(r->new_ids, cred, true);
		break;
	case SEC_ACT_CAPSET:
		read_caps(r->new_caps, cred);
		break;
	case SEC_ACT_BPF:
		/* union bpf_attr, prog load: prog_type at 0, prog_name at 48 (UAPI, stable) */
		if (in.args[0] == BPF_PROG_LOAD_CMD && in.args[1] &&
		    bpf_probe_read_user(&r->prog_type, sizeof(__u32), (void *)in.args[1]) == 0) {
			if (bpf_probe_read_user(r->prog_name, sizeof(r->prog_name),
						(void *)(in.args[1] + 48)) < 0)
				__builtin_memset(r->prog_name, 0, sizeof(r->prog_name));
			r->flags |= SEC_SYS_HAVE_PROG;
		}
		break;
	case SEC_ACT_MOUNT:
		r->str_len[0] = read_ustr(r->str[0], in.args[0], &r->flags, SEC_SYS_STR0_TRUNC);
		r->str_len[1] = read_ustr(r->str[1], in.args[1], &r->flags, SEC_SYS_STR1_TRUNC);
		r->str_len[2] = read_ustr(r->str[2], in.args[2], &r->flags, SEC_SYS_STR2_TRUNC);
		break;
	case SEC_ACT_UMOUNT:
		r->str_len[1] = read_ustr(r->str[1], in.args[0], &r->flags, SEC_SYS_STR1_TRUNC);
		break;
	case SEC_ACT_MOVE_MOUNT:
		r->str_len[0] = read_ustr(r->str[0], in.args[1], &r->flags, SEC_SYS_STR0_TRUNC);
		r->str_len[1] = read_ustr(r->str[1], in.args[3], &r->flags, SEC_SYS_STR1_TRUNC);
		break;
	case SEC_ACT_FSOPEN:
		r->str_len[2] = read_ustr(r->str[2], in.args[0], &r->flags, SEC_SYS_STR2_TRUNC);
		break;
	}
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

SEC("tp")
int handle_exit(struct sys_exit_ctx *ctx)
{
	__u32 nr = (__u32)ctx->nr;
	if (nr >= SECURITY_NR_MAX)
		return 0;
	__u32 *act = bpf_map_lookup_elem(&syscall_action, &nr);
	if (!act || *act == SEC_ACT_NONE)
		return 0;
	return sys_exit(*act, ctx->ret);
}

/* ---- the fentry set: fentry/fexit on the syscall functions ---------------------------------
 * The syscall tracepoints put every syscall of every task on the kernel's tracing slow path
 * (TIF_SYSCALL_TRACEPOINT); a trampoline on __<arch>_sys_<name> costs only that syscall. One
 * program pair per syscall (a tracing program has one target, set by user space before load:
 * SEC("fentry") without a name). Arguments from the syscall's pt_regs, the result from fexit;
 * the same records as the tracepoint pair. */
/* The syscall's arguments from the pt_regs its __<arch>_sys_ wrapper receives (CO-RE views:
 * the vmlinux.h of the build is x86's). No traced syscall uses a 6th argument. */
#if defined(__TARGET_ARCH_arm64)
struct user_pt_regs___tapio {
	__u64 regs[31];
} __attribute__((preserve_access_index));

static __always_inline void sys_args(void *regs, __u64 a[6])
{
	const struct user_pt_regs___tapio *u = regs;
	a[0] = BPF_CORE_READ(u, regs[0]);
	a[1] = BPF_CORE_READ(u, regs[1]);
	a[2] = BPF_CORE_READ(u, regs[2]);
	a[3] = BPF_CORE_READ(u, regs[3]);
	a[4] = BPF_CORE_READ(u, regs[4]);
	a[5] = 0;
}
#else
static __always_inline void sys_args(struct pt_regs *regs, __u64 a[6])
{
	a[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	a[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	a[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	a[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	a[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	a[5] = 0;
}
#endif

#define SYS_FENTRY(name, act)                                                                      \
	SEC("fentry")                                                                              \
	int BPF_PROG(fe_##name, struct pt_regs *regs)                                              \
	{                                                                                          \
		__u64 a[6];                                                                        \
		sys_args(regs, a);                                                                 \
		return sys_enter(act, a);                                                          \
	}                                                                                          \
	SEC("fexit")                                                                               \
	int BPF_PROG(fx_##name, struct pt_regs *regs, long ret)                                    \
	{                                                                                          \
		return sys_exit(act, ret);                                                         \
	}

SYS_FENTRY(setuid, SEC_ACT_SETUID)
SYS_FENTRY(setreuid, SEC_ACT_SETREUID)
SYS_FENTRY(setresuid, SEC_ACT_SETRESUID)
SYS_FENTRY(setfsuid, SEC_ACT_SETFSUID)
SYS_FENTRY(setgid, SEC_ACT_SETGID)
SYS_FENTRY(setregid, SEC_ACT_SETREGID)
SYS_FENTRY(setresgid, SEC_ACT_SETRESGID)
SYS_FENTRY(setfsgid, SEC_ACT_SETFSGID)
SYS_FENTRY(capset, SEC_ACT_CAPSET)
SYS_FENTRY(ptrace, SEC_ACT_PTRACE)
SYS_FENTRY(process_vm_readv, SEC_ACT_VM_READV)
SYS_FENTRY(process_vm_writev, SEC_ACT_VM_WRITEV)
SYS_FENTRY(bpf, SEC_ACT_BPF)
SYS_FENTRY(mount, SEC_ACT_MOUNT)
SYS_FENTRY(umount, SEC_ACT_UMOUNT)
SYS_FENTRY(move_mount, SEC_ACT_MOVE_MOUNT)
SYS_FENTRY(fsopen, SEC_ACT_FSOPEN)
SYS_FENTRY(fsmount, SEC_ACT_FSMOUNT)
SYS_FENTRY(unshare, SEC_ACT_UNSHARE)
SYS_FENTRY(setns, SEC_ACT_SETNS)
SYS_FENTRY(clone, SEC_ACT_CLONE)
SYS_FENTRY(clone3, SEC_ACT_CLONE3)
SYS_FENTRY(init_module, SEC_ACT_INIT_MODULE)
SYS_FENTRY(finit_module, SEC_ACT_FINIT_MODULE)

/* ---- exec of an anonymous file ------------------------------------------------------------ */

static __always_inline int do_exec(struct task_struct *task, const char *fname)
{
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	if (!exe)
		return 0;
	unsigned int nlink = BPF_CORE_READ(exe, f_inode, __i_nlink);
	const unsigned char *dn = BPF_CORE_READ(exe, f_path.dentry, d_name.name);
	char head[6] = {};
	bpf_probe_read_kernel(head, sizeof(head), dn);
	bool memfd_name = head[0] == 'm' && head[1] == 'e' && head[2] == 'm' && head[3] == 'f' &&
			  head[4] == 'd' && head[5] == ':';
	if (nlink != 0 && !memfd_name)
		return 0;

	struct security_exec_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	tapio_fill_task(&r->task, task);
	r->hdr.type = SECURITY_REC_EXEC;
	r->hdr.version = SECURITY_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->flags = (nlink == 0 ? SEC_EXEC_ANON : 0) | (memfd_name ? SEC_EXEC_MEMFD_NAME : 0);
	r->nlink = nlink;
	r->pad = 0;
	long n = bpf_probe_read_kernel_str(r->filename, sizeof(r->filename), fname);
	r->filename_len = n > 0 ? (__u16)((n - 1) & (SECURITY_STR_MAX - 1)) : 0;
	n = bpf_probe_read_kernel_str(r->dname, sizeof(r->dname), dn);
	r->dname_len = n > 0 ? (__u16)((n - 1) & (SECURITY_NAME_MAX - 1)) : 0;
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return do_exec(p, BPF_CORE_READ(bprm, filename));
}

SEC("tp/sched/sched_process_exec")
int handle_exec_tp(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 loc = ctx->__data_loc_filename;
	const char *fname = (const char *)ctx + (loc & 0xffff);
	return do_exec((struct task_struct *)bpf_get_current_task(), fname);
}

/* ---- capability use ------------------------------------------------------------------------ */

/* Is the check made by memory accounting? Looks at the first `frames` kernel frames only
 * (at most VM_ACCT_FRAMES): the tracepoint's stack starts in cap_capable; a fexit program's
 * starts in the program itself and the BPF trampoline, two frames more. */
#define VM_ACCT_FRAMES 6
static __always_inline bool vm_accounting(void *ctx, int frames)
{
	__u64 ips[VM_ACCT_FRAMES] = {};
	if (bpf_get_stack(ctx, ips, sizeof(ips), 0) <= 0)
		return false;
	for (int i = 0; i < VM_ACCT_FRAMES && i < frames; i++)
		for (int j = 0; j < 2; j++)
			if (ips[i] >= cfg_vm_acct_lo[j] && ips[i] < cfg_vm_acct_hi[j])
				return true;
	return false;
}

/* One capability check (cap, its result ret): the same record from the tracepoint and from
 * the fexit on cap_capable. Filters: the configured set, the worker itself, memory
 * accounting (CAP_SYS_ADMIN), then the per-process rate. */
static __always_inline int cap_event(void *ctx, int cap, int ret, int frames)
{
	if (cap < 0 || cap >= 64 || !(cfg_cap_mask & (1ull << cap)))
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == cfg_self_tgid)
		return 0;
	if (cap == 21 /* CAP_SYS_ADMIN */ && cfg_vm_acct_lo[0] && vm_accounting(ctx, frames))
		return 0;
	if (cfg_cap_rate == 0) {
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	}
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 dropped = 0;
	struct cap_window *w = bpf_map_lookup_elem(&cap_rate, &tgid);
	if (!w || now - w->start_ns >= SEC_NS) {
		struct cap_window nw = {.start_ns = now, .count = 1};
		if (w)
			dropped = w->dropped;
		bpf_map_update_elem(&cap_rate, &tgid, &nw, BPF_ANY);
	} else if (w->count >= cfg_cap_rate) {
		__sync_fetch_and_add(&w->dropped, 1);
		tapio_count(TAPIO_CNT_FILTERED);
		return 0;
	} else {
		__sync_fetch_and_add(&w->count, 1);
	}

	struct security_capable_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	tapio_fill_task(&r->task, (struct task_struct *)bpf_get_current_task());
	r->hdr.type = SECURITY_REC_CAPABLE;
	r->hdr.version = SECURITY_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->cap = cap;
	r->ret = ret;
	r->dropped = dropped;
	r->pad = 0;
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}

/* capability/cap_capable (6.15+): fired by cap_capable with its result. */
SEC("tp/capability/cap_capable")
int handle_capable(struct trace_event_raw_cap_capable___tapio *ctx)
{
	return cap_event(ctx, ctx->cap, ctx->ret, 4);
}

/* Kernels without that tracepoint (Debian's 6.1, 6.12): the return of cap_capable itself,
 * int cap_capable(const struct cred *, struct user_namespace *, int cap, unsigned int opts)
 * (security/commoncap.c, the same since 5.1). */
SEC("fexit/cap_capable")
int BPF_PROG(handle_capable_fexit, const struct cred *cred, struct user_namespace *targ_ns, int cap,
	     unsigned int opts, int ret)
{
	return cap_event(ctx, cap, ret, VM_ACCT_FRAMES);
}

/* ---- module load (kernels with CONFIG_MODULES; probed) ------------------------------------- */

/* include/trace/events/module.h: taints at 8, __data_loc name at 12 since 2.6.33. */
struct module_load_ctx {
	__u64 common;
	__u32 taints;
	__u32 name_loc;
};

SEC("tp/module/module_load")
int handle_modload(struct module_load_ctx *ctx)
{
	struct security_module_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		tapio_count(TAPIO_CNT_RINGBUF_DROP);
		return 0;
	}
	tapio_fill_task(&r->task, (struct task_struct *)bpf_get_current_task());
	r->hdr.type = SECURITY_REC_MODULE;
	r->hdr.version = SECURITY_REC_VERSION;
	r->hdr.size = sizeof(*r);
	r->taints = ctx->taints;
	r->pad = 0;
	__u32 loc = ctx->name_loc;
	long n = bpf_probe_read_kernel_str(r->name, sizeof(r->name),
					   (const char *)ctx + (loc & 0xffff));
	r->name_len = n > 0 ? (__u16)((n - 1) & (SECURITY_NAME_MAX - 1)) : 0;
	bpf_ringbuf_submit(r, tapio_wakeup(&events));
	return 0;
}
