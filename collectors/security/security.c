// SPDX-License-Identifier: Apache-2.0
// security collector, worker side: probe which tracepoints exist, load, attach what exists
// (report the rest as missing), then decode ring-buffer records into security.* events.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroup.h"
#include "cleanup.h"
#include "hookset.h"
#include "kevent.h"
#include "log.h"
#include "security.h"
#include "security_config.h"
#include "security.skel.h"
#include "security_names.h"
#include "worker.h"

#define CGROUP_CACHE_ENTRIES 8192
#define MAX_SYSCALLS	     32

/* One traced syscall: the tracefs names (sys_enter_<tp>, sys_exit_<tp>), this architecture's
 * number, the action, and the event type it becomes. */
struct syscall_def {
	const char *tp;
	long nr;
	enum security_action action;
	const char *type;
};

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif

static const struct syscall_def syscalls[] = {
	{"setuid", SYS_setuid, SEC_ACT_SETUID, "security.setuid"},
	{"setreuid", SYS_setreuid, SEC_ACT_SETREUID, "security.setreuid"},
	{"setresuid", SYS_setresuid, SEC_ACT_SETRESUID, "security.setresuid"},
	{"setfsuid", SYS_setfsuid, SEC_ACT_SETFSUID, "security.setfsuid"},
	{"setgid", SYS_setgid, SEC_ACT_SETGID, "security.setgid"},
	{"setregid", SYS_setregid, SEC_ACT_SETREGID, "security.setregid"},
	{"setresgid", SYS_setresgid, SEC_ACT_SETRESGID, "security.setresgid"},
	{"setfsgid", SYS_setfsgid, SEC_ACT_SETFSGID, "security.setfsgid"},
	{"capset", SYS_capset, SEC_ACT_CAPSET, "security.capset"},
	{"ptrace", SYS_ptrace, SEC_ACT_PTRACE, "security.ptrace"},
	{"process_vm_readv", SYS_process_vm_readv, SEC_ACT_VM_READV, "security.process_vm"},
	{"process_vm_writev", SYS_process_vm_writev, SEC_ACT_VM_WRITEV, "security.process_vm"},
	{"bpf", SYS_bpf, SEC_ACT_BPF, "security.bpf"},
	{"mount", SYS_mount, SEC_ACT_MOUNT, "security.mount"},
	{"umount", SYS_umount2, SEC_ACT_UMOUNT, "security.mount"},
	{"move_mount", SYS_move_mount, SEC_ACT_MOVE_MOUNT, "security.mount"},
	{"fsopen", SYS_fsopen, SEC_ACT_FSOPEN, "security.mount"},
	{"fsmount", SYS_fsmount, SEC_ACT_FSMOUNT, "security.mount"},
	{"unshare", SYS_unshare, SEC_ACT_UNSHARE, "security.namespace"},
	{"setns", SYS_setns, SEC_ACT_SETNS, "security.namespace"},
	{"clone", SYS_clone, SEC_ACT_CLONE, "security.namespace"},
	{"clone3", SYS_clone3, SEC_ACT_CLONE3, "security.namespace"},
	{"init_module", SYS_init_module, SEC_ACT_INIT_MODULE, "security.module_load"},
	{"finit_module", SYS_finit_module, SEC_ACT_FINIT_MODULE, "security.module_load"},
};
#define N_SYSCALLS (sizeof(syscalls) / sizeof(syscalls[0]))

struct security_ctx {
	struct security_bpf *skel;
	struct cgroup_cache *cgroups; /* NULL when the host has no cgroup2 mount */
	const struct config_security *cfg;
	struct worker *w;
	uint64_t user_filtered;
	const struct syscall_def *by_action[SEC_ACT_MAX];
	struct bpf_link *links[2 * N_SYSCALLS]; /* owned: enter/exit links of the syscalls */
	size_t n_links;
	int counters_fd; /* the skeleton's or a stored one */
};

/* ---- setup ------------------------------------------------------------------------------- */

/* Does the tracepoint exist? (tracefs at its usual mount points) */
static bool tp_exists(const char *category, const char *name)
{
	static const char *const roots[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
	for (size_t i = 0; i < 2; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/events/%s/%s/id", roots[i], category, name);
		if (access(path, R_OK) == 0)
			return true;
	}
	return false;
}

static void btf_freep(struct btf **p)
{
	btf__free(*p); /* accepts NULL */
}

/* Does the kernel's BTF describe this tracepoint for tp_btf? */
static bool btf_tp_exists(const char *name)
{
	_cleanup_(btf_freep) struct btf *btf = btf__load_vmlinux_btf();
	if (!btf)
		return false;
	char tn[128];
	snprintf(tn, sizeof(tn), "btf_trace_%s", name);
	return btf__find_by_name_kind(btf, tn, BTF_KIND_TYPEDEF) > 0;
}

/* The names were checked when the configuration was loaded (security_def.c). */
static uint64_t cap_mask(const struct config_security *cfg)
{
	if (cfg->capabilities.n == 0)
		return security_cap_default_mask();
	uint64_t m = 0;
	for (size_t i = 0; i < cfg->capabilities.n; i++) {
		int c = security_cap_parse(cfg->capabilities.items[i]);
		if (c >= 0)
			m |= 1ull << c;
	}
	return m;
}

/* [lo, hi) of each named kernel function from /proc/kallsyms (hi = the next symbol above).
 * Returns how many were found with a real (non-zero) address. */
static int kallsyms_ranges(const char *const *names, size_t n, uint64_t *lo, uint64_t *hi)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/kallsyms", "re");
	if (!f)
		return 0;
	for (size_t i = 0; i < n; i++)
		lo[i] = hi[i] = 0;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[256];
		if (sscanf(line, "%llx %c %255s", &a, &type, name) != 3 || a == 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(name, names[i]) == 0)
				lo[i] = a;
		}
	}
	/* second pass: the lowest symbol address above each start */
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[256];
		if (sscanf(line, "%llx %c %255s", &a, &type, name) != 3)
			continue;
		for (size_t i = 0; i < n; i++)
			if (lo[i] && a > lo[i] && (hi[i] == 0 || a < hi[i]))
				hi[i] = a;
	}
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		if (lo[i] && hi[i] && hi[i] - lo[i] < 65536)
			found++;
		else
			lo[i] = hi[i] = 0;
	}
	return found;
}

/* The syscall functions fentry/fexit attach to: __<arch>_sys_<SYSCALL_DEFINE name>. */
#if defined(__x86_64__)
#define SYS_PREFIX "__x64_sys_"
#elif defined(__aarch64__)
#define SYS_PREFIX "__arm64_sys_"
#else
#define SYS_PREFIX "sys_"
#endif

/* The fentry (p[0]) and fexit (p[1]) programs of syscalls[i] (fe_<tp>, fx_<tp>). */
static void sys_progs(struct security_bpf *s, size_t i, struct bpf_program *p[2])
{
	char n[64];
	snprintf(n, sizeof(n), "fe_%s", syscalls[i].tp);
	p[0] = bpf_object__find_program_by_name(s->obj, n);
	snprintf(n, sizeof(n), "fx_%s", syscalls[i].tp);
	p[1] = bpf_object__find_program_by_name(s->obj, n);
}

struct plan {
	bool sys[N_SYSCALLS]; /* both tracepoints exist */
	bool any_sys;
	bool exec_btf, exec_tp, capable, modload;
	bool cap_fexit_want;   /* no cap_capable tracepoint: try fexit/cap_capable */
	bool cap_fexit;	       /* fexit/cap_capable is loaded */
	int cap_fexit_err;     /* why it did not load (0: it did, or was not tried) */
	bool fentry;	       /* syscalls through fentry/fexit, not the tracepoints */
	bool fsys[N_SYSCALLS]; /* the syscall's function is in the kernel's BTF */
	uint64_t cap_mask;
	uint64_t vm_lo[2], vm_hi[2];
};

static int load(struct security_ctx *sc, const struct plan *pl)
{
	struct security_bpf *s = security_bpf__open();
	if (!s)
		return -errno ? -errno : -ENOMEM;
	bpf_program__set_autoload(s->progs.handle_enter, pl->any_sys && !pl->fentry);
	bpf_program__set_autoload(s->progs.handle_exit, pl->any_sys && !pl->fentry);
	for (size_t i = 0; i < N_SYSCALLS; i++) {
		struct bpf_program *p[2];
		sys_progs(s, i, p);
		bool on = pl->fentry && pl->fsys[i];
		for (int k = 0; k < 2; k++) {
			if (!p[k])
				continue;
			bpf_program__set_autoload(p[k], on);
			if (on) {
				char fn[64];
				snprintf(fn, sizeof(fn), "%s%s", SYS_PREFIX, syscalls[i].tp);
				int r = bpf_program__set_attach_target(p[k], 0, fn);
				if (r < 0) {
					security_bpf__destroy(s);
					return r;
				}
			}
		}
	}
	bpf_program__set_autoload(s->progs.handle_exec_btf, pl->exec_btf);
	bpf_program__set_autoload(s->progs.handle_exec_tp, pl->exec_tp);
	bpf_program__set_autoload(s->progs.handle_capable, pl->capable);
	bpf_program__set_autoload(s->progs.handle_capable_fexit, pl->cap_fexit);
	bpf_program__set_autoload(s->progs.handle_modload, pl->modload);
	s->rodata->cfg_self_tgid = (uint32_t)getpid();
	s->rodata->cfg_cap_mask = pl->cap_mask;
	s->rodata->cfg_cap_rate = sc->cfg->capability_rate_per_s;
	s->rodata->cfg_ns_exclude = sc->cfg->namespace_exclude_comms.n > 0;
	for (int i = 0; i < 2; i++) {
		s->rodata->cfg_vm_acct_lo[i] = pl->vm_lo[i];
		s->rodata->cfg_vm_acct_hi[i] = pl->vm_hi[i];
	}
	int r = bpf_map__set_max_entries(s->maps.events, sc->cfg->ring_buffer_kib * 1024u);
	if (r == 0)
		r = security_bpf__load(s);
	if (r < 0) {
		security_bpf__destroy(s);
		return r;
	}
	sc->skel = s;
	return 0;
}

static int fill_maps(struct security_ctx *sc, const struct plan *pl)
{
	int fd = bpf_map__fd(sc->skel->maps.syscall_action);
	for (size_t i = 0; i < N_SYSCALLS; i++) {
		if (!pl->sys[i] || syscalls[i].nr < 0 || syscalls[i].nr >= SECURITY_NR_MAX)
			continue;
		__u32 k = (__u32)syscalls[i].nr, v = syscalls[i].action;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) < 0)
			return -errno;
	}
	fd = bpf_map__fd(sc->skel->maps.ns_exclude);
	const struct config_string_list *l = &sc->cfg->namespace_exclude_comms;
	for (size_t i = 0; i < l->n; i++) {
		char key[SECURITY_COMM_LEN] = {0};
		strncpy(key, l->items[i], sizeof(key) - 1);
		__u8 v = 1;
		if (bpf_map_update_elem(fd, key, &v, BPF_ANY) < 0)
			return -errno;
	}
	return 0;
}

/* Attach the syscall pairs one by one; a pair that fails is reported, the rest stay. */
static size_t attach_syscalls(struct security_ctx *sc, const struct plan *pl, char *missing,
			      size_t missing_len)
{
	char attached[1024] = "";
	size_t n = 0;
	for (size_t i = 0; i < N_SYSCALLS; i++) {
		if (!pl->sys[i])
			continue;
		char en[64], ex[64];
		snprintf(en, sizeof(en), "sys_enter_%s", syscalls[i].tp);
		snprintf(ex, sizeof(ex), "sys_exit_%s", syscalls[i].tp);
		struct bpf_link *le =
			bpf_program__attach_tracepoint(sc->skel->progs.handle_exit, "syscalls", ex);
		struct bpf_link *ln = NULL;
		if (le)
			ln = bpf_program__attach_tracepoint(sc->skel->progs.handle_enter,
							    "syscalls", en);
		if (!le || !ln) {
			log_info("syscalls/%s: attach failed: %s", syscalls[i].tp, strerror(errno));
			bpf_link__destroy(le);
			size_t u = strlen(missing);
			snprintf(missing + u, missing_len - u, " %s", syscalls[i].tp);
			continue;
		}
		sc->links[sc->n_links++] = le;
		sc->links[sc->n_links++] = ln;
		size_t u = strlen(attached);
		snprintf(attached + u, sizeof(attached) - u, "%s%s", n ? "," : "", syscalls[i].tp);
		n++;
	}
	if (n) {
		char hook[1100];
		snprintf(hook, sizeof(hook), "tracepoint/syscalls/sys_{enter,exit}_{%s}", attached);
		worker_add_hook(sc->w, hook);
	}
	return n;
}

static void drop_links(struct security_ctx *sc)
{
	for (size_t i = 0; i < sc->n_links; i++)
		bpf_link__destroy(sc->links[i]);
	sc->n_links = 0;
}

/* Attach the fentry/fexit pair of every syscall whose function the kernel's BTF has: all or
 * nothing (a kernel that loads but cannot attach tracing programs falls back as a whole). */
static int attach_fentry(struct security_ctx *sc, const struct plan *pl, char *missing,
			 size_t missing_len)
{
	char attached[1024] = "";
	size_t n = 0;
	for (size_t i = 0; i < N_SYSCALLS; i++) {
		if (!pl->fsys[i])
			continue;
		struct bpf_program *p[2];
		sys_progs(sc->skel, i, p);
		for (int k = 0; k < 2; k++) {
			struct bpf_link *l = p[k] ? bpf_program__attach(p[k]) : NULL;
			if (!l) {
				int e = p[k] ? errno : ENOENT;
				log_info("fentry/fexit %s%s: attach failed: %s", SYS_PREFIX,
					 syscalls[i].tp, strerror(e));
				drop_links(sc);
				return -(e ? e : EINVAL);
			}
			sc->links[sc->n_links++] = l;
		}
		size_t u = strlen(attached);
		snprintf(attached + u, sizeof(attached) - u, "%s%s", n ? "," : "", syscalls[i].tp);
		n++;
	}
	if (n == 0)
		return -ENOENT;
	for (size_t i = 0; i < N_SYSCALLS; i++) {
		if (!pl->fsys[i]) {
			size_t u = strlen(missing);
			snprintf(missing + u, missing_len - u, " %s", syscalls[i].tp);
		}
	}
	char hook[1100];
	snprintf(hook, sizeof(hook), "fentry+fexit/%s{%s}", SYS_PREFIX, attached);
	worker_add_hook(sc->w, hook);
	return (int)n;
}

/* The candidate sets, best first (hookset.h): syscalls through fentry/fexit and exec through
 * tp_btf; then the syscall tracepoints with exec through tp_btf, or the classic tracepoint. */
static const struct hookset hooksets[] = {
	{"fentry", true, "fentry/fexit on the syscall functions (syscall tracepoints used)"},
	{"tp_btf", true, "tp_btf/sched_process_exec (classic tracepoint used)"},
	{"tracepoint", false, NULL},
};

struct load_try {
	struct security_ctx *sc;
	struct plan *pl;
	bool tp_exec_ok;   /* the classic sched_process_exec tracepoint exists */
	bool any_fsys;	   /* some syscall function is in the kernel's BTF */
	size_t n_fentry;   /* syscalls attached through fentry/fexit */
	char missing[512]; /* fentry: syscalls without a function in BTF, space separated */
};

/* Load (and for fentry attach) the programs of one set. */
static int try_set(void *ctx, const struct hookset *set)
{
	struct load_try *t = ctx;
	bool fentry = strcmp(set->name, "fentry") == 0;
	t->pl->fentry = fentry;
	t->pl->exec_btf = set->btf;
	t->pl->exec_tp = !set->btf && t->tp_exec_ok;
	int r = 0;
	if (set->btf && !btf_tp_exists("sched_process_exec"))
		r = -EOPNOTSUPP;
	else if (fentry && !t->any_fsys)
		r = -ENOENT; /* no syscall function in BTF */
	if (r == 0) {
		/* fexit/cap_capable goes with any set; a kernel that cannot load it (no
		 * trampolines, another signature) loses security.capability, not the set. */
		t->pl->cap_fexit = t->pl->cap_fexit_want;
		t->pl->cap_fexit_err = 0;
		r = load(t->sc, t->pl);
		if (r < 0 && t->pl->cap_fexit) {
			int e = r;
			t->pl->cap_fexit = false;
			r = load(t->sc, t->pl);
			if (r == 0) {
				t->pl->cap_fexit_err = e;
				log_info("fexit/cap_capable: load failed: %s", strerror(-e));
			}
		}
	}
	if (r == 0 && fentry) {
		t->missing[0] = '\0';
		r = attach_fentry(t->sc, t->pl, t->missing, sizeof(t->missing));
		if (r < 0) {
			security_bpf__destroy(t->sc->skel);
			t->sc->skel = NULL;
		} else {
			t->n_fentry = (size_t)r;
			r = 0;
		}
	}
	if (r < 0)
		t->pl->exec_btf = t->pl->exec_tp = t->pl->fentry = t->pl->cap_fexit = false;
	return r;
}

static int handle_record(void *ctx, void *data, size_t size);

static int security_setup(struct worker *w, void *ctx)
{
	struct security_ctx *sc = ctx;
	sc->w = w;
	sc->cfg = config_section(worker_config(w), "security");
	worker_set_step(w, "libbpf setup");
	int r = kevent_setup();
	if (r < 0)
		return r;
	for (size_t i = 0; i < N_SYSCALLS; i++)
		sc->by_action[syscalls[i].action] = &syscalls[i];
	sc->counters_fd = -1;
	if (worker_stored(w)) {
		/* a predecessor's programs are still attached (the fd store) */
		worker_set_step(w, "resume the stored ring buffer");
		r = kevent_resume_ring(w, "events", handle_record, sc);
		if (r < 0)
			return r;
		sc->counters_fd = kevent_stored_map(w, "counters");
		kevent_cgroup_cache(w, CGROUP_CACHE_ENTRIES, &sc->cgroups);
		log_info("resumed on the kernel objects kept by tapiod");
		return 0;
	}

	struct plan pl = {0};
	pl.cap_mask = cap_mask(sc->cfg);

	worker_set_step(w, "probe hooks");
	/* Probe: which tracepoints does this kernel have? */
	char missing[512] = "";
	for (size_t i = 0; i < N_SYSCALLS; i++) {
		char en[64], ex[64];
		snprintf(en, sizeof(en), "sys_enter_%s", syscalls[i].tp);
		snprintf(ex, sizeof(ex), "sys_exit_%s", syscalls[i].tp);
		pl.sys[i] = syscalls[i].nr >= 0 && syscalls[i].nr < SECURITY_NR_MAX &&
			    tp_exists("syscalls", en) && tp_exists("syscalls", ex);
		if (pl.sys[i])
			pl.any_sys = true;
		else {
			size_t u = strlen(missing);
			snprintf(missing + u, sizeof(missing) - u, " %s", syscalls[i].tp);
		}
	}
	{
		_cleanup_(btf_freep) struct btf *vbtf = btf__load_vmlinux_btf();
		for (size_t i = 0; vbtf && i < N_SYSCALLS; i++) {
			char fn[64];
			snprintf(fn, sizeof(fn), "%s%s", SYS_PREFIX, syscalls[i].tp);
			pl.fsys[i] = syscalls[i].nr >= 0 && syscalls[i].nr < SECURITY_NR_MAX &&
				     btf__find_by_name_kind(vbtf, fn, BTF_KIND_FUNC) > 0;
		}
	}
	enum config_hooks want = sc->cfg->hooks;
	bool tp_exec_ok = tp_exists("sched", "sched_process_exec");
	pl.capable = sc->cfg->capability_rate_per_s > 0 && tp_exists("capability", "cap_capable");
	/* Without the tracepoint (before 6.15), fexit on cap_capable itself when the kernel's BTF
	 * has the function (whether it loads and attaches is what decides); not with
	 * `hooks: tracepoint` (classic tracepoints only). */
	if (!pl.capable && sc->cfg->capability_rate_per_s > 0 && want != CONFIG_HOOKS_TRACEPOINT) {
		_cleanup_(btf_freep) struct btf *vbtf = btf__load_vmlinux_btf();
		pl.cap_fexit_want =
			vbtf && btf__find_by_name_kind(vbtf, "cap_capable", BTF_KIND_FUNC) > 0;
	}
	pl.modload = tp_exists("module", "module_load");
	if ((pl.capable || pl.cap_fexit_want) && (pl.cap_mask & (1ull << 21))) {
		static const char *const vm[2] = {"security_vm_enough_memory_mm",
						  "cap_vm_enough_memory"};
		if (kallsyms_ranges(vm, 2, pl.vm_lo, pl.vm_hi) == 0) {
			/* Without the filter, CAP_SYS_ADMIN means every mmap of every root
			 * process: leave it out of the built-in set, keep it if asked for. */
			if (sc->cfg->capabilities.n == 0) {
				pl.cap_mask &= ~(1ull << 21);
				worker_add_missing(w,
						   "/proc/kallsyms addresses (needs CAP_SYSLOG): "
						   "CAP_SYS_ADMIN left out of the capability set");
			} else {
				worker_add_missing(w,
						   "/proc/kallsyms addresses (needs CAP_SYSLOG): "
						   "CAP_SYS_ADMIN includes memory accounting");
			}
		}
		if (!pl.vm_lo[0] && pl.vm_lo[1]) { /* keep slot 0 set when any is known */
			pl.vm_lo[0] = pl.vm_lo[1];
			pl.vm_hi[0] = pl.vm_hi[1];
		}
	}

	worker_set_step(w, "load programs");
	struct load_try lt = {sc, &pl, tp_exec_ok, false, 0, ""};
	for (size_t i = 0; i < N_SYSCALLS; i++)
		lt.any_fsys |= pl.fsys[i];
	r = hookset_select(w, want, hooksets, sizeof(hooksets) / sizeof(hooksets[0]), NULL, 0,
			   try_set, &lt);
	if (r < 0 && want == CONFIG_HOOKS_TP_BTF) {
		log_error("hooks: tp_btf requested but tp_btf/sched_process_exec cannot load");
		return -EOPNOTSUPP;
	}
	if (r < 0) {
		log_error("the security programs could not be loaded (%s); the kernel needs BTF "
			  "and tracepoint programs",
			  strerror(-r));
		return r == -EPERM || r == -EACCES ? r : -EOPNOTSUPP;
	}
	worker_set_step(w, "fill maps");
	r = fill_maps(sc, &pl);
	if (r < 0)
		return r;

	worker_set_step(w, "attach hooks");
	size_t hooks;
	if (pl.fentry) {
		hooks = lt.n_fentry;
		snprintf(missing, sizeof(missing), "%s", lt.missing);
	} else {
		hooks = attach_syscalls(sc, &pl, missing, sizeof(missing));
	}
	if (missing[0]) {
		char m[600];
		snprintf(m, sizeof(m), "%s (absent or not attachable):%s",
			 pl.fentry ? "fentry+fexit/" SYS_PREFIX "*" : "tracepoint/syscalls",
			 missing);
		worker_add_missing(w, m);
	}
	struct {
		struct bpf_program *prog;
		bool want;
		const char *name;
		struct bpf_link **link;
	} singles[] = {
		{sc->skel->progs.handle_exec_btf, pl.exec_btf, "tp_btf/sched_process_exec",
		 &sc->skel->links.handle_exec_btf},
		{sc->skel->progs.handle_exec_tp, pl.exec_tp, "tracepoint/sched/sched_process_exec",
		 &sc->skel->links.handle_exec_tp},
		{sc->skel->progs.handle_capable, pl.capable, "tracepoint/capability/cap_capable",
		 &sc->skel->links.handle_capable},
		{sc->skel->progs.handle_capable_fexit, pl.cap_fexit, "fexit/cap_capable",
		 &sc->skel->links.handle_capable_fexit},
		{sc->skel->progs.handle_modload, pl.modload, "tracepoint/module/module_load",
		 &sc->skel->links.handle_modload},
	};
	const char *cap_hook = NULL; /* the hook that gives security.capability */
	for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
		if (!singles[i].want)
			continue;
		struct bpf_link *l = bpf_program__attach(singles[i].prog);
		if (!l) {
			char m[128];
			snprintf(m, sizeof(m), "%s (attach: %s)", singles[i].name, strerror(errno));
			worker_add_missing(w, m);
			continue;
		}
		*singles[i].link = l;
		worker_add_hook(w, singles[i].name);
		hooks++;
		if (singles[i].prog == sc->skel->progs.handle_capable ||
		    singles[i].prog == sc->skel->progs.handle_capable_fexit)
			cap_hook = singles[i].name;
	}
	if (!pl.exec_btf && !pl.exec_tp)
		worker_add_missing(w, "sched/sched_process_exec (security.memfd_exec)");
	if (pl.cap_fexit_err) {
		char m[128];
		snprintf(m, sizeof(m), "fexit/cap_capable (load: %s)", strerror(-pl.cap_fexit_err));
		worker_add_missing(w, m);
	}
	if (sc->cfg->capability_rate_per_s == 0)
		worker_add_missing(w, "capability/cap_capable (capability_rate_per_s: 0)");
	else if (!cap_hook && !pl.capable)
		worker_add_missing(w, "tracepoint/capability/cap_capable (security.capability)");
	if (!pl.modload)
		worker_add_missing(w, "tracepoint/module/module_load (security.module_load: "
				      "kernel without loadable modules)");
	if (hooks == 0) {
		log_error("no security hook could be attached");
		return -EOPNOTSUPP;
	}

	worker_set_step(w, "ring buffer");
	r = kevent_add_ring(w, sc->skel->obj, sc->skel->maps.events, handle_record, sc);
	if (r < 0)
		return r;
	sc->counters_fd = bpf_map__fd(sc->skel->maps.counters);
	/* Kept by tapiod: a restart re-attaches nothing, and a stop does not make the worker
	 * wait for the kernel to detach ~46 tracepoints (an RCU grace period each). */
	worker_set_step(w, "fd store");
	r = kevent_store_skeleton(w, sc->skel->skeleton);
	for (size_t i = 0; r == 0 && i < sc->n_links; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sys#%zu", i);
		r = kevent_store_link(w, sc->links[i], name);
	}
	if (r < 0)
		return r;
	kevent_cgroup_cache(w, CGROUP_CACHE_ENTRIES, &sc->cgroups);
	log_info("attached %zu security hooks (exec via %s); syscalls via %s; capability via %s; "
		 "ring buffer %u KiB",
		 hooks, pl.exec_btf ? "tp_btf" : "tracepoint",
		 pl.fentry ? "fentry/fexit" : "tracepoints", cap_hook ? cap_hook : "(none)",
		 sc->cfg->ring_buffer_kib);
	return 0;
}

static void security_teardown(struct worker *w, void *ctx)
{
	struct security_ctx *sc = ctx;
	/* Detaching a perf-event link needs ioctl(PERF_EVENT_IOC_DISABLE), which the sandbox
	 * forbids: disconnect, and let the exit close the fds (the kernel detaches then). */
	for (size_t i = 0; i < sc->n_links; i++) {
		bpf_link__disconnect(sc->links[i]);
		bpf_link__destroy(sc->links[i]);
	}
	sc->n_links = 0;
	if (sc->skel) {
		struct bpf_link *sl[] = {
			sc->skel->links.handle_exec_btf, sc->skel->links.handle_exec_tp,
			sc->skel->links.handle_capable, sc->skel->links.handle_capable_fexit,
			sc->skel->links.handle_modload};
		for (size_t i = 0; i < sizeof(sl) / sizeof(sl[0]); i++)
			if (sl[i])
				bpf_link__disconnect(sl[i]);
	}
	security_bpf__destroy(sc->skel);
	cgroup_cache_free(sc->cgroups);
}

static void security_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct security_ctx *sc = ctx;
	uint64_t sums[TAPIO_CNT_MAX];
	if (kevent_counters_sum(sc->counters_fd, sums) < 0)
		return;
	st->has_kernel_drops = 1;
	st->kernel_drops = sums[TAPIO_CNT_RINGBUF_DROP];
	worker_counters(w)->filtered = sc->user_filtered + sums[TAPIO_CNT_FILTERED] -
				       worker_counters(w)->kernel_filtered_at_start;
}

/* ---- decode ------------------------------------------------------------------------------ */

/* Everything one event needs, on the stack: no allocation per event. */
struct event_parts {
	struct kevent k;
	Tapio__V1__SecurityEvent sec;
	uint32_t old_ids[4], new_ids[4];
	const char *ns[8];
};

static void init_parts(struct security_ctx *sc, struct event_parts *p, const char *type,
		       const char *action, const struct tapio_task *t)
{
	kevent_init(&p->k, worker_timeconv(sc->w), type, t->boot_ns, t);
	p->sec = (Tapio__V1__SecurityEvent)TAPIO__V1__SECURITY_EVENT__INIT;
	p->sec.action = (char *)action;
	p->k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_SECURITY;
	p->k.ev.security = &p->sec;
}

/* Attach container context. Returns false when the event is filtered (containers_only). */
static bool enrich(struct security_ctx *sc, struct event_parts *p, const struct tapio_task *t)
{
	if (kevent_attach_k8s(&p->k.ev, &p->k.k8s, sc->cgroups, t->cgroup_id, (pid_t)t->pid,
			      sc->cfg->containers_only, worker_counters(sc->w)))
		return true;
	sc->user_filtered++;
	return false;
}

static void set_result(Tapio__V1__SecurityEvent *s, int64_t ret)
{
	s->has_result = 1;
	s->result = ret;
	if (ret < 0 && ret > -4096) {
		const char *e = strerrorname_np((int)-ret);
		if (e)
			s->error = (char *)e;
	}
}

static void set_namespaces(struct event_parts *p, uint64_t flags)
{
	p->sec.n_namespaces = security_ns_names(flags, p->ns, 8);
	p->sec.namespaces = (char **)p->ns;
}

/* A string field of the syscall record: validated length, NUL-terminated copy in buf. */
static char *rec_str(const struct security_sys_rec *r, int i, char *buf)
{
	uint16_t n = r->str_len[i];
	if (n == 0)
		return NULL;
	memcpy(buf, r->str[i], n);
	buf[n] = '\0';
	return buf;
}

static int emit_syscall(struct security_ctx *sc, const struct security_sys_rec *r, size_t size)
{
	if (size != sizeof(*r) || r->action == SEC_ACT_NONE || r->action >= SEC_ACT_MAX ||
	    !sc->by_action[r->action])
		return -EBADMSG;
	for (int i = 0; i < 3; i++)
		if (r->str_len[i] >= SECURITY_STR_MAX)
			return -EBADMSG;
	const struct syscall_def *d = sc->by_action[r->action];
	struct event_parts p;
	init_parts(sc, &p, d->type, d->tp, &r->task);
	if (!enrich(sc, &p, &r->task))
		return 0;
	Tapio__V1__SecurityEvent *s = &p.sec;
	set_result(s, r->ret);
	char str[3][SECURITY_STR_MAX];
	char prog_name[sizeof(r->prog_name) + 1];

	switch (r->action) {
	case SEC_ACT_SETUID:
	case SEC_ACT_SETREUID:
	case SEC_ACT_SETRESUID:
	case SEC_ACT_SETFSUID:
	case SEC_ACT_SETGID:
	case SEC_ACT_SETREGID:
	case SEC_ACT_SETRESGID:
	case SEC_ACT_SETFSGID:
		if (r->flags & SEC_SYS_HAVE_IDS) {
			memcpy(p.old_ids, r->old_ids, sizeof(p.old_ids));
			memcpy(p.new_ids, r->new_ids, sizeof(p.new_ids));
			s->n_old_ids = s->n_new_ids = 4;
			s->old_ids = p.old_ids;
			s->new_ids = p.new_ids;
		}
		break;
	case SEC_ACT_CAPSET:
		if (r->flags & SEC_SYS_HAVE_CAPS) {
			s->has_old_cap_effective = s->has_old_cap_permitted = 1;
			s->has_old_cap_inheritable = 1;
			s->has_cap_effective = s->has_cap_permitted = s->has_cap_inheritable = 1;
			s->old_cap_effective = r->old_caps[0];
			s->old_cap_permitted = r->old_caps[1];
			s->old_cap_inheritable = r->old_caps[2];
			s->cap_effective = r->new_caps[0];
			s->cap_permitted = r->new_caps[1];
			s->cap_inheritable = r->new_caps[2];
		}
		break;
	case SEC_ACT_PTRACE:
		s->has_request = s->has_target_pid = 1;
		s->request = (int64_t)r->args[0];
		s->request_name = (char *)security_ptrace_name(s->request);
		s->target_pid = (uint32_t)r->args[1];
		break;
	case SEC_ACT_VM_READV:
	case SEC_ACT_VM_WRITEV:
		s->has_target_pid = 1;
		s->target_pid = (uint32_t)r->args[0];
		break;
	case SEC_ACT_BPF:
		s->has_request = 1;
		s->request = (int64_t)r->args[0];
		s->request_name = (char *)security_bpf_cmd_name(s->request);
		if (r->flags & SEC_SYS_HAVE_PROG) {
			s->has_prog_type = 1;
			s->prog_type = r->prog_type;
			memcpy(prog_name, r->prog_name, sizeof(r->prog_name));
			prog_name[sizeof(r->prog_name)] = '\0';
			if (prog_name[0])
				s->prog_name = prog_name;
		}
		break;
	case SEC_ACT_MOUNT:
		s->source = rec_str(r, 0, str[0]);
		s->target = rec_str(r, 1, str[1]);
		s->fstype = rec_str(r, 2, str[2]);
		s->has_flags = 1;
		s->flags = r->args[3];
		break;
	case SEC_ACT_UMOUNT:
		s->target = rec_str(r, 1, str[1]);
		s->has_flags = 1;
		s->flags = r->args[1];
		break;
	case SEC_ACT_MOVE_MOUNT:
		s->source = rec_str(r, 0, str[0]);
		s->target = rec_str(r, 1, str[1]);
		s->has_flags = 1;
		s->flags = r->args[4];
		break;
	case SEC_ACT_FSOPEN:
		s->fstype = rec_str(r, 2, str[2]);
		s->has_flags = 1;
		s->flags = r->args[1];
		break;
	case SEC_ACT_FSMOUNT:
		s->has_flags = 1;
		s->flags = r->args[1];
		break;
	case SEC_ACT_UNSHARE:
		s->has_flags = 1;
		s->flags = r->args[0];
		set_namespaces(&p, r->args[0]);
		break;
	case SEC_ACT_SETNS:
		s->has_flags = 1;
		s->flags = r->args[1];
		if (r->flags & SEC_SYS_HAVE_NS) {
			set_namespaces(&p, r->ns_type);
			s->has_target_ns_inum = 1;
			s->target_ns_inum = r->ns_inum;
		} else {
			set_namespaces(&p, r->args[1]);
		}
		break;
	case SEC_ACT_CLONE:
	case SEC_ACT_CLONE3:
		s->has_flags = 1;
		s->flags = r->clone_flags;
		set_namespaces(&p, r->clone_flags);
		if (r->ret > 0) {
			s->has_target_pid = 1;
			s->target_pid = (uint32_t)r->ret;
		}
		break;
	default:
		break;
	}
	return worker_emit(sc->w, &p.k.ev);
}

static int emit_exec(struct security_ctx *sc, const struct security_exec_rec *r, size_t size)
{
	if (size != sizeof(*r) || r->filename_len >= SECURITY_STR_MAX ||
	    r->dname_len >= SECURITY_NAME_MAX)
		return -EBADMSG;
	struct event_parts p;
	init_parts(sc, &p, "security.memfd_exec", "exec", &r->task);
	if (!enrich(sc, &p, &r->task))
		return 0;
	char filename[SECURITY_STR_MAX + 1], dname[SECURITY_NAME_MAX + 1];
	memcpy(filename, r->filename, r->filename_len);
	filename[r->filename_len] = '\0';
	memcpy(dname, r->dname, r->dname_len);
	dname[r->dname_len] = '\0';
	p.sec.filename = filename;
	p.sec.file_name = dname;
	p.sec.has_nlink = 1;
	p.sec.nlink = r->nlink;
	return worker_emit(sc->w, &p.k.ev);
}

static int emit_capable(struct security_ctx *sc, const struct security_capable_rec *r, size_t size)
{
	if (size != sizeof(*r) || r->cap < 0 || r->cap > 63)
		return -EBADMSG;
	struct event_parts p;
	init_parts(sc, &p, "security.capability", "cap_capable", &r->task);
	if (!enrich(sc, &p, &r->task))
		return 0;
	p.sec.has_capability = 1;
	p.sec.capability = r->cap;
	p.sec.capability_name = (char *)security_cap_name(r->cap);
	set_result(&p.sec, r->ret);
	return worker_emit(sc->w, &p.k.ev);
}

static int emit_module(struct security_ctx *sc, const struct security_module_rec *r, size_t size)
{
	if (size != sizeof(*r) || r->name_len >= SECURITY_NAME_MAX)
		return -EBADMSG;
	struct event_parts p;
	init_parts(sc, &p, "security.module_load", "module_load", &r->task);
	if (!enrich(sc, &p, &r->task))
		return 0;
	char name[SECURITY_NAME_MAX + 1];
	memcpy(name, r->name, r->name_len);
	name[r->name_len] = '\0';
	p.sec.module = name;
	p.sec.has_flags = 1;
	p.sec.flags = r->taints;
	return worker_emit(sc->w, &p.k.ev);
}

/* Validate by type and version first, then by the exact size that type implies. */
static int handle_record(void *ctx, void *data, size_t size)
{
	struct security_ctx *sc = ctx;
	int r = -EBADMSG;

	switch (kevent_rec_type(sc->w, data, size, SECURITY_REC_VERSION)) {
	case SECURITY_REC_SYSCALL:
		r = emit_syscall(sc, data, size);
		break;
	case SECURITY_REC_EXEC:
		r = emit_exec(sc, data, size);
		break;
	case SECURITY_REC_CAPABLE:
		r = emit_capable(sc, data, size);
		break;
	case SECURITY_REC_MODULE:
		r = emit_module(sc, data, size);
		break;
	}
	kevent_rec_done(sc->w, data, size, r);
	return 0; /* queue drops are counted by the worker; never stop consuming */
}

static const struct worker_collector security_collector = {
	.name = "security",
	.setup = security_setup,
	.fill_stats = security_fill_stats,
	.teardown = security_teardown,
};

int main(int argc, char **argv)
{
	static struct security_ctx ctx;
	return worker_main(argc, argv, &security_collector, &ctx);
}
