/* SPDX-License-Identifier: Apache-2.0 */
/* The privilege-related lines of /proc/<pid>/status: what a worker reports in READY about
 * itself after the sandbox, and what tapiod observes of each worker for the audit. */
#pragma once
#include <stdint.h>
#include <sys/types.h>

/* Privilege-related lines of /proc/<pid>/status (pid 0 = self). */
struct privilege_status {
	uint32_t uid, euid, gid, egid; /* real and effective ids */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint32_t no_new_privs;
	uint32_t seccomp; /* 0 disabled, 1 strict, 2 filter */
	uint32_t seccomp_filters;
};
int privilege_status_read(pid_t pid, struct privilege_status *ret_status);
/* Parse the text of a status file (for tests and for the reader above). -EINVAL unless the
 * Uid, Gid (four numbers each), CapInh, CapPrm, CapEff and CapBnd lines are present and well
 * formed; CapAmb (Linux 4.3), NoNewPrivs (4.10), Seccomp (CONFIG_SECCOMP) and Seccomp_filters
 * (5.9) may be absent and then read as 0. A repeated or malformed line is -EINVAL. Inside the
 * sandbox privilege_status_read() works when /proc is one of the read paths. */
int privilege_status_parse(const char *text, struct privilege_status *ret_status);

/* The wire form of a status (tapio.v1.PrivilegeReport; landlock left unset): what a worker
 * says in READY and what tapiod observes for the audit. */
struct Tapio__V1__PrivilegeReport;
void privilege_report_fill(struct Tapio__V1__PrivilegeReport *pr,
			   const struct privilege_status *st);
