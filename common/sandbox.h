/* SPDX-License-Identifier: Apache-2.0 */
/* Dropping every privilege a worker holds once its setup is done, in the order of DESIGN.md:
 * bounding set and securebits → unprivileged uid/gid → PR_SET_DUMPABLE 0 (whatever
 * fs.suid_dumpable says: no ptrace, no /proc/PID/mem, no pidfd_getfd by that uid) and the
 * parent-death signal re-armed (the id switch clears it) → empty capability sets →
 * no_new_privs →
 * Landlock (read-only access to the declared paths) → seccomp allow-list (last). After
 * sandbox_apply() returns 0 the process holds no capability at all. A syscall outside the
 * allow-list never runs: it raises SIGSYS, whose handler (fatal_report.h) reports it and lets
 * the process die by SIGSYS. What the process holds afterwards is read with privilege.h. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox_spec {
	uid_t uid; /* switch to this uid/gid: the worker's own */
	gid_t gid;
	pid_t parent;			   /* > 0: re-arm PR_SET_PDEATHSIG (SIGKILL) after the
					    * switch and check the parent is still this pid */
	const char *const *read_paths;	   /* NULL-terminated; Landlock read-only access */
	const char *const *extra_syscalls; /* NULL-terminated names beyond the worker base set */
	bool allow_bpf_map_read;	   /* bpf(2) limited to BPF_MAP_LOOKUP_ELEM/GET_NEXT_KEY */
	bool landlock;			   /* default true; false only for tests */
	const uint16_t *connect_ports; /* TCP ports connect(2) may reach under Landlock ABI 4+ */
	size_t n_connect_ports;	       /* 0: no TCP connect at all */
};

struct sandbox_result {
	int landlock_abi;  /* ABI applied, 0 = not available on this kernel */
	char landlock[64]; /* "abi 7", "unsupported (kernel has no Landlock)" */
	int dumpable;	   /* PR_GET_DUMPABLE afterwards: 0 */
};

/* Apply the sandbox to the calling process (all threads must not exist yet: call before
 * creating any). Returns 0 or -errno; on failure the process must exit (it is in an
 * undefined partially-dropped state). Seccomp violations kill the process with SIGSYS.
 * Refused before anything changes: -EINVAL for uid/gid 0 or -1 or an extra syscall name
 * libseccomp does not know, -EBUSY when the process has more than one thread; -ESRCH when
 * spec->parent is set and the process's parent is no longer that pid (it died before the
 * parent-death signal was re-armed).
 * Steps 1-3 need CAP_SETPCAP, CAP_SETGID and CAP_SETUID, except that each is skipped where the
 * process is already in its target state (securebits locked, bounding set empty, ids set).
 * Read paths that do not exist are skipped (debug log); a kernel without Landlock is not an
 * error: ret_result says "unsupported (kernel has no Landlock)". Files opened before the call
 * stay usable whatever Landlock says. Only the base set below, extra_syscalls and, with
 * allow_bpf_map_read, bpf(BPF_MAP_LOOKUP_ELEM/BPF_MAP_GET_NEXT_KEY) remain. In builds linked
 * with a sanitizer runtime, sigaltstack, open and ioctl are allowed too, and ASan builds run
 * the LeakSanitizer check here (its exit-time check would need clone and ptrace). */
int sandbox_apply(const struct sandbox_spec *spec, struct sandbox_result *ret_result);

/* Keep only the capabilities in `keep` (bitmask of 1ull << CAP_*) in the bounding set, and
 * only `keep | keep_sets` in the effective, permitted and inheritable sets. Needs CAP_SETPCAP
 * unless nothing is to be dropped. tapiod calls it at start with the union of the enabled
 * collectors' needs as `keep` (all a worker can ever get at exec) and its own needs (CAP_KILL
 * for workers that run as another uid) as `keep_sets`; every worker calls it first thing
 * with its own declared needs. 0 or -errno. */
int sandbox_limit_caps(uint64_t keep, uint64_t keep_sets);

/* The worker base syscall set (NULL-terminated), for documentation and audit. Some carry an
 * argument filter: mmap/mprotect without PROT_EXEC, openat read-only (no O_WRONLY, O_RDWR,
 * O_CREAT, O_TRUNC), fcntl F_GETFD/F_SETFD/F_GETFL/F_SETFL only, tgkill to this process only. */
extern const char *const sandbox_base_syscalls[];
