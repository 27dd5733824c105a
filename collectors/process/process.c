// SPDX-License-Identifier: Apache-2.0
// process collector, worker side: probe the best hook set (tp_btf, else raw_tp), load and
// attach, then decode ring-buffer records into process.exec / process.exit / process.fork.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "cgroup.h"
#include "hookset.h"
#include "kevent.h"
#include "log.h"
#include "process.h"
#include "process_config.h"
#include "process.skel.h"
#include "procfs.h"
#include "worker.h"

#define CGROUP_CACHE_ENTRIES 8192

struct process_ctx {
	struct process_bpf *skel;
	struct cgroup_cache *cgroups; /* NULL when the host has no cgroup2 mount */
	const struct config_process *cfg;
	struct worker *w;
	uint64_t user_filtered;	  /* dropped by user-space filters (containers_only) */
	struct procfs_poll *poll; /* the /proc fallback, NULL when eBPF runs */
	int poll_fd;		  /* its timerfd */
	const char *hookset;	  /* the set that loaded */
	int counters_fd;	  /* the per-CPU counters map: the skeleton's or a stored one */
};

/* ---- setup ------------------------------------------------------------------------------- */

static void set_hookset(struct process_bpf *s, bool btf)
{
	bpf_program__set_autoload(s->progs.handle_exec_btf, btf);
	bpf_program__set_autoload(s->progs.handle_exit_btf, btf);
	bpf_program__set_autoload(s->progs.handle_fork_btf, btf);
	bpf_program__set_autoload(s->progs.handle_exec_raw, !btf);
	bpf_program__set_autoload(s->progs.handle_exit_raw, !btf);
	bpf_program__set_autoload(s->progs.handle_fork_raw, !btf);
}

static int fill_comm_filter(struct process_ctx *pc)
{
	int fd = bpf_map__fd(pc->skel->maps.comm_filter);
	const struct config_string_list *lists[2] = {&pc->cfg->comm_allow, &pc->cfg->comm_deny};
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; i < lists[l]->n; i++) {
			char key[PROCESS_COMM_LEN] = {0};
			strncpy(key, lists[l]->items[i], sizeof(key) - 1);
			__u8 v = (__u8)(l + 1);
			if (bpf_map_update_elem(fd, key, &v, BPF_ANY) < 0)
				return -errno;
		}
	}
	return 0;
}

/* Candidate hook sets, best first (hookset.h). */
static const struct hookset hooksets[] = {
	{"tp_btf", true, "tp_btf/sched_process_{exec,exit,fork}"},
	{"raw_tp", false, NULL},
};
static const char *const hook_names[] = {"sched_process_exec", "sched_process_exit",
					 "sched_process_fork"};

/* Open, configure, load and attach one hook set. 0 or -errno (skeleton destroyed). */
static int try_hookset(void *ctx, const struct hookset *set)
{
	struct process_ctx *pc = ctx;
	const struct config_process *cfg = pc->cfg;
	bool btf = set->btf;
	struct process_bpf *s = process_bpf__open();
	if (!s)
		return -errno ? -errno : -ENOMEM;
	set_hookset(s, btf);
	s->rodata->cfg_argv_max_bytes = cfg->argv_max_bytes;
	s->rodata->cfg_include_threads = cfg->include_threads;
	s->rodata->cfg_comm_allow = cfg->comm_allow.n > 0;
	s->rodata->cfg_comm_deny = cfg->comm_deny.n > 0;
	int r = bpf_map__set_max_entries(s->maps.events, cfg->ring_buffer_kib * 1024u);
	if (r == 0)
		r = process_bpf__load(s);
	if (r == 0) {
		pc->skel = s;
		r = fill_comm_filter(pc);
	}
	if (r == 0)
		r = process_bpf__attach(s);
	if (r < 0) {
		process_bpf__destroy(s);
		pc->skel = NULL;
		return r;
	}
	pc->hookset = set->name;
	return 0;
}

static int handle_record(void *ctx, void *data, size_t size);

/* ---- the /proc fallback (DEGRADED) ------------------------------------------------------ */

static void fallback_event(struct process_ctx *pc, const struct procfs_proc *p, bool exec)
{
	struct tapio_task t = {
		.boot_ns = timeconv_now_boot_ns(),
		.pid = p->pid,
		.tid = p->pid,
		.ppid = p->ppid,
		.uid = p->uid,
		.gid = p->gid,
		.euid = p->uid,
		.egid = p->gid,
		.loginuid = (uint32_t)-1,
	};
	memcpy(t.comm, p->comm, sizeof(t.comm));
	struct kevent k;
	kevent_init(&k, worker_timeconv(pc->w), exec ? "process.exec" : "process.exit", t.boot_ns,
		    &t);
	k.proc.has_cgroup_id = 0; /* not known without eBPF */
	k.proc.has_euid = k.proc.has_egid = 0;

	char args[PROCESS_ARGS_MAX + 1], cg[1024];
	size_t alen = 0;
	uint32_t max = pc->cfg->argv_max_bytes < PROCESS_ARGS_MAX ? pc->cfg->argv_max_bytes
								  : PROCESS_ARGS_MAX;
	Tapio__V1__ProcessExec x = TAPIO__V1__PROCESS_EXEC__INIT;
	Tapio__V1__ProcessExit e = TAPIO__V1__PROCESS_EXIT__INIT;
	struct cgroup_info info;
	char *argv[128];
	if (exec) {
		procfs_poll_details((pid_t)p->pid, args, max, &alen, cg, sizeof(cg));
		args[alen] = '\0';
		if (cg[0] && cgroup_parse_path(cg, &info) >= 0) {
			k.k8s.cgroup_path = cg;
			if (info.container_id[0])
				k.k8s.container_id = info.container_id;
			if (info.pod_uid[0])
				k.k8s.pod_uid = info.pod_uid;
			k.k8s.runtime = (char *)info.runtime;
			k.k8s.qos_class = (char *)info.qos;
			k.ev.k8s = &k.k8s;
		}
		if (pc->cfg->containers_only && !(k.ev.k8s && k.k8s.container_id)) {
			pc->user_filtered++;
			return;
		}
		size_t n = 0, off = 0;
		uint32_t argc = 0, max_args = pc->cfg->argv_max_args;
		while (off < alen) {
			argc++;
			if (n < max_args && n < 128)
				argv[n++] = args + off;
			off += strnlen(args + off, alen - off) + 1;
		}
		x.argv = argv;
		x.n_argv = n;
		x.has_argc = x.has_argv_truncated = 1;
		x.argc = argc;
		x.argv_truncated = n < argc || alen == max;
		x.filename = n ? argv[0] : k.comm; /* /proc/PID/exe needs ptrace access */
		k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_PROCESS_EXEC;
		k.ev.process_exec = &x;
	} else {
		if (pc->cfg->containers_only) {
			pc->user_filtered++; /* the cgroup of a gone process is not known */
			return;
		}
		uint64_t now = timeconv_now_boot_ns();
		if (p->start_boot_ns && p->start_boot_ns <= now) {
			e.has_runtime_ns = 1;
			e.runtime_ns = now - p->start_boot_ns;
		}
		k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_PROCESS_EXIT;
		k.ev.process_exit = &e; /* exit code and signal: unknown from /proc */
	}
	worker_emit(pc->w, &k.ev);
}

static void on_proc_new(void *arg, const struct procfs_proc *p)
{
	fallback_event(arg, p, true);
}

static void on_proc_gone(void *arg, const struct procfs_proc *p)
{
	fallback_event(arg, p, false);
}

static int poll_proc(struct process_ctx *pc)
{
	uint64_t n;
	if (read(pc->poll_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	int r = procfs_poll_scan(pc->poll, on_proc_new, on_proc_gone, pc);
	if (r < 0)
		log_warn("/proc scan: %s", strerror(-r));
	return 0;
}

static int setup_fallback(struct process_ctx *pc, const char *why)
{
	char reason[256];
	snprintf(reason, sizeof(reason),
		 "%s: polling /proc every %u ms (exec and exit only; no exit codes, no forks, "
		 "processes shorter than a poll are missed)",
		 why, pc->cfg->poll_interval_ms);
	worker_set_step(pc->w, "/proc polling fallback");
	int r = procfs_poll_new(&pc->poll);
	if (r < 0)
		return r;
	pc->poll_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (pc->poll_fd < 0)
		return -errno;
	long ns = (long)pc->cfg->poll_interval_ms * 1000000L;
	struct itimerspec its = {.it_interval = {ns / 1000000000L, ns % 1000000000L},
				 .it_value = {0, 1}};
	if (timerfd_settime(pc->poll_fd, 0, &its, NULL) < 0)
		return -errno;
	r = worker_watch(pc->w, pc->poll_fd);
	if (r < 0)
		return r;
	worker_set_degraded(pc->w, reason);
	worker_add_hook(pc->w, "procfs polling");
	log_warn("DEGRADED: %s", reason);
	return 0;
}

static int process_setup(struct worker *w, void *ctx)
{
	struct process_ctx *pc = ctx;
	pc->w = w;
	pc->cfg = config_section(worker_config(w), "process");
	pc->poll_fd = -1;
	pc->counters_fd = -1;
	worker_set_step(w, "libbpf setup");
	int r = kevent_setup();
	if (r < 0)
		return r;

	kevent_cgroup_cache(w, CGROUP_CACHE_ENTRIES, &pc->cgroups);
	if (pc->cfg->force_fallback)
		return setup_fallback(pc, "force_fallback is set");

	if (worker_stored(w)) {
		worker_set_step(w, "resume the stored ring buffer");
		pc->counters_fd = kevent_stored_map(w, "counters");
		r = kevent_resume_ring(w, "events", handle_record, pc);
		if (r == 0)
			log_info("resumed on the kernel objects kept by tapiod");
		return r;
	}
	worker_set_step(w, "load and attach hooks");
	r = hookset_select(w, pc->cfg->hooks, hooksets, sizeof(hooksets) / sizeof(hooksets[0]),
			   hook_names, sizeof(hook_names) / sizeof(hook_names[0]), try_hookset, pc);
	if (r < 0) {
		char why[160];
		snprintf(why, sizeof(why), "no eBPF hook set loads (%s)", strerror(-r));
		log_warn("%s; the kernel needs BTF and tp_btf or raw tracepoints", why);
		return setup_fallback(pc, why);
	}
	worker_add_missing(w, "clone_flags (no stable hook exposes them at sched_process_fork)");

	worker_set_step(w, "ring buffer");
	r = kevent_add_ring(w, pc->skel->obj, pc->skel->maps.events, handle_record, pc);
	if (r < 0)
		return r;
	pc->counters_fd = bpf_map__fd(pc->skel->maps.counters);
	worker_set_step(w, "fd store");
	r = kevent_store_skeleton(w, pc->skel->skeleton);
	if (r < 0)
		return r;

	log_info("attached %s hooks; ring buffer %u KiB", pc->hookset, pc->cfg->ring_buffer_kib);
	return 0;
}

static void process_teardown(struct worker *w, void *ctx)
{
	struct process_ctx *pc = ctx;
	process_bpf__destroy(pc->skel);
	cgroup_cache_free(pc->cgroups);
	procfs_poll_free(pc->poll);
	if (pc->poll_fd >= 0)
		close(pc->poll_fd);
}

static int process_on_readable(struct worker *w, void *ctx, int fd)
{
	struct process_ctx *pc = ctx;
	return fd == pc->poll_fd ? poll_proc(pc) : 0;
}

static void process_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct process_ctx *pc = ctx;
	uint64_t sums[TAPIO_CNT_MAX];
	if (pc->counters_fd < 0) {
		worker_counters(w)->filtered = pc->user_filtered;
		return;
	}
	if (kevent_counters_sum(pc->counters_fd, sums) < 0)
		return;
	st->has_kernel_drops = 1;
	st->kernel_drops = sums[TAPIO_CNT_RINGBUF_DROP];
	worker_counters(w)->filtered = pc->user_filtered + sums[TAPIO_CNT_FILTERED] -
				       worker_counters(w)->kernel_filtered_at_start;
}

/* ---- decode ------------------------------------------------------------------------------ */

/* Envelope and container context; false when the event is filtered (containers_only). */
static bool init_event(struct process_ctx *pc, struct kevent *k, const char *type,
		       const struct tapio_task *t)
{
	kevent_init(k, worker_timeconv(pc->w), type, t->boot_ns, t);
	if (kevent_attach_k8s(&k->ev, &k->k8s, pc->cgroups, t->cgroup_id, (pid_t)t->pid,
			      pc->cfg->containers_only, worker_counters(pc->w)))
		return true;
	pc->user_filtered++;
	return false;
}

/* Is s[0..len) valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF)? */
static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p, n;
		unsigned cp;
		if (c < 0x80) {
			p++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		p += n + 1;
	}
	return true;
}

static int emit_exec(struct process_ctx *pc, const struct process_exec_rec *r, size_t size)
{
	if (size < PROCESS_EXEC_FIXED || r->filename_len >= PROCESS_FILENAME_MAX ||
	    r->args_len > PROCESS_ARGS_MAX ||
	    PROCESS_EXEC_FIXED + (size_t)r->filename_len + r->args_len != size)
		return -EBADMSG;
	struct kevent p;
	if (!init_event(pc, &p, "process.exec", &r->task))
		return 0;

	char filename[PROCESS_FILENAME_MAX + 1];
	memcpy(filename, r->data, r->filename_len);
	filename[r->filename_len] = '\0';

	/* The argument area: NUL-separated strings, the last may be cut by the bound. */
	uint32_t max_args = pc->cfg->argv_max_args;
	char args[PROCESS_ARGS_MAX + 1];
	char *argv[max_args];
	const char *a = r->data + r->filename_len;
	memcpy(args, a, r->args_len);
	args[r->args_len] = '\0';
	size_t n = 0, off = 0;
	uint32_t argc = 0;
	bool truncated = r->flags & PROCESS_EXEC_ARGS_TRUNCATED;
	while (off < r->args_len) {
		size_t len = strnlen(args + off, r->args_len - off);
		argc++;
		if (n < max_args)
			argv[n++] = args + off;
		else
			truncated = true;
		off += len + 1;
	}

	Tapio__V1__ProcessExec x = TAPIO__V1__PROCESS_EXEC__INIT;
	x.filename = filename;
	x.n_argv = n;
	x.argv = argv;
	/* the kernel's count; the strings of the captured area when the record has none */
	if (r->argc > argc)
		argc = r->argc;
	x.has_argv_truncated = 1;
	x.argv_truncated = truncated || argc > n;
	x.has_argc = 1;
	x.argc = argc;
	x.has_filename_truncated = 1;
	x.filename_truncated = !!(r->flags & PROCESS_EXEC_FILENAME_TRUNCATED);
	/* Not UTF-8: the exact bytes beside the strings (JSON would show U+FFFD). */
	if (!utf8_valid(filename, r->filename_len)) {
		x.has_filename_bytes = 1;
		x.filename_bytes.data = (uint8_t *)filename;
		x.filename_bytes.len = r->filename_len;
	}
	ProtobufCBinaryData argv_bytes[max_args ? max_args : 1];
	bool all_utf8 = true;
	for (size_t i = 0; i < n && all_utf8; i++)
		all_utf8 = utf8_valid(argv[i], strlen(argv[i]));
	if (!all_utf8) {
		for (size_t i = 0; i < n; i++) {
			argv_bytes[i].data = (uint8_t *)argv[i];
			argv_bytes[i].len = strlen(argv[i]);
		}
		x.argv_bytes = argv_bytes;
		x.n_argv_bytes = n;
	}
	x.has_setuid = x.has_setgid = x.has_memfd = 1;
	x.setuid = !!(r->flags & PROCESS_EXEC_SETUID);
	x.setgid = !!(r->flags & PROCESS_EXEC_SETGID);
	x.memfd = !!(r->flags & PROCESS_EXEC_ANON_FILE);
	if (r->old_pid != r->task.tid) {
		x.has_old_pid = 1;
		x.old_pid = r->old_pid;
	}
	p.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_PROCESS_EXEC;
	p.ev.process_exec = &x;
	return worker_emit(pc->w, &p.ev);
}

static int emit_exit(struct process_ctx *pc, const struct process_exit_rec *r, size_t size)
{
	if (size != sizeof(*r))
		return -EBADMSG;
	struct kevent p;
	if (!init_event(pc, &p, "process.exit", &r->task))
		return 0;
	Tapio__V1__ProcessExit x = TAPIO__V1__PROCESS_EXIT__INIT;
	uint32_t sig = r->exit_code & 0x7f;
	if (sig) {
		x.has_signal = 1;
		x.signal = (int32_t)sig;
	} else {
		x.has_exit_code = 1;
		x.exit_code = (int32_t)((r->exit_code >> 8) & 0xff);
	}
	x.has_core_dumped = 1;
	x.core_dumped = !!(r->exit_code & 0x80);
	x.has_nr_threads = 1;
	x.nr_threads = r->nr_threads;
	if (r->start_boot_ns && r->start_boot_ns <= r->task.boot_ns) {
		x.has_runtime_ns = 1;
		x.runtime_ns = r->task.boot_ns - r->start_boot_ns;
	}
	p.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_PROCESS_EXIT;
	p.ev.process_exit = &x;
	return worker_emit(pc->w, &p.ev);
}

static int emit_fork(struct process_ctx *pc, const struct process_fork_rec *r, size_t size)
{
	if (size != sizeof(*r))
		return -EBADMSG;
	struct kevent p;
	if (!init_event(pc, &p, "process.fork", &r->task))
		return 0;
	Tapio__V1__ProcessFork x = TAPIO__V1__PROCESS_FORK__INIT;
	x.has_parent_pid = x.has_child_pid = x.has_child_tid = x.has_thread = 1;
	x.parent_pid = r->task.pid;
	x.child_pid = r->child_pid;
	x.child_tid = r->child_tid;
	x.thread = r->child_pid != r->child_tid;
	p.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_PROCESS_FORK;
	p.ev.process_fork = &x;
	return worker_emit(pc->w, &p.ev);
}

/* Validate by type and version first, then by the exact size that type implies. */
static int handle_record(void *ctx, void *data, size_t size)
{
	struct process_ctx *pc = ctx;
	int r = -EBADMSG;

	switch (kevent_rec_type(pc->w, data, size, PROCESS_REC_VERSION)) {
	case PROCESS_REC_EXEC:
		r = emit_exec(pc, data, size);
		break;
	case PROCESS_REC_EXIT:
		r = emit_exit(pc, data, size);
		break;
	case PROCESS_REC_FORK:
		r = emit_fork(pc, data, size);
		break;
	}
	kevent_rec_done(pc->w, data, size, r);
	return 0; /* queue drops are counted by the worker; never stop consuming */
}

static const struct worker_collector process_collector = {
	.name = "process",
	.setup = process_setup,
	.on_readable = process_on_readable,
	.fill_stats = process_fill_stats,
	.teardown = process_teardown,
};

int main(int argc, char **argv)
{
	static struct process_ctx ctx;
	return worker_main(argc, argv, &process_collector, &ctx);
}
