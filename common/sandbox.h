/* SPDX-License-Identifier: Apache-2.0 */
/* Dropping every privilege a worker holds once its setup is done, in the order of DESIGN.md:
 * bounding set and securebits → unprivileged uid/gid → empty capability sets → no_new_privs →
 * Landlock (read-only access to the declared paths) → seccomp allow-list (last). After
 * sandbox_apply() returns 0 the process holds no capability at all. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox_spec {
	uid_t uid;                        /* switch to this uid/gid (e.g. 65534) */
	gid_t gid;
	const char *const *read_paths;    /* NULL-terminated; Landlock read-only access */
	const char *const *extra_syscalls;/* NULL-terminated names beyond the worker base set */
	bool allow_bpf_map_read;          /* bpf(2) limited to BPF_MAP_LOOKUP_ELEM/GET_NEXT_KEY */
	bool landlock;                    /* default true; false only for tests */
};

struct sandbox_result {
	int landlock_abi;                 /* ABI applied, 0 = not available on this kernel */
	char landlock[64];                /* "abi 7", "unsupported (kernel has no Landlock)" */
};

/* Apply the sandbox to the calling process (all threads must not exist yet: call before
 * creating any). Returns 0 or -errno; on failure the process must exit (it is in an
 * undefined partially-dropped state). Seccomp violations kill the process with SIGSYS. */
int sandbox_apply(const struct sandbox_spec *spec, struct sandbox_result *ret_result);

/* The worker base syscall set (NULL-terminated), for documentation and audit. */
extern const char *const sandbox_base_syscalls[];

/* Privilege-related lines of /proc/<pid>/status (pid 0 = self). */
struct privilege_status {
	uint32_t uid, euid, gid, egid;       /* real and effective ids */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint32_t no_new_privs;
	uint32_t seccomp;                    /* 0 disabled, 1 strict, 2 filter */
	uint32_t seccomp_filters;
};
int privilege_status_read(pid_t pid, struct privilege_status *ret_status);
/* Parse the text of a status file (for tests and for the reader above). */
int privilege_status_parse(const char *text, struct privilege_status *ret_status);
