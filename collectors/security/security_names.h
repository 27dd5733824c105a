/* SPDX-License-Identifier: Apache-2.0 */
/* security collector: names for numbers (capabilities, namespaces, ptrace requests, bpf
 * commands, actions). Pure functions, unit-tested. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SECURITY_CAP_LAST 40 /* CAP_CHECKPOINT_RESTORE */

/* "CAP_SYS_ADMIN" for 21; NULL when unknown. */
const char *security_cap_name(int cap);
/* Parse "CAP_SYS_ADMIN" or "sys_admin" (any case): the number, or -EINVAL. */
int security_cap_parse(const char *name);
/* The built-in set of interesting capabilities (bit n = capability n). */
uint64_t security_cap_default_mask(void);
/* Names ("mnt", "net", ...) of the CLONE_NEW* bits in flags, in bit order; returns how many
 * were written to out (at most max). */
size_t security_ns_names(uint64_t flags, const char **out, size_t max);
/* "PTRACE_ATTACH" / "BPF_PROG_LOAD"; NULL when unknown. */
const char *security_ptrace_name(int64_t request);
const char *security_bpf_cmd_name(int64_t cmd);
