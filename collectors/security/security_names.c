// SPDX-License-Identifier: Apache-2.0
// security collector: names for capabilities, namespace flags, ptrace requests, bpf commands.
#include "security_names.h"

#include <errno.h>
#include <strings.h>

static const char *const cap_names[SECURITY_CAP_LAST + 1] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

const char *security_cap_name(int cap)
{
	if (cap < 0 || cap > SECURITY_CAP_LAST)
		return NULL;
	return cap_names[cap];
}

int security_cap_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	const char *bare = name;
	if (strncasecmp(bare, "CAP_", 4) == 0)
		bare += 4;
	for (int i = 0; i <= SECURITY_CAP_LAST; i++)
		if (strcasecmp(bare, cap_names[i] + 4) == 0)
			return i;
	return -EINVAL;
}

/* Capabilities whose use is rare on a healthy node and matters when it happens. CAP_SYS_ADMIN
 * is in: it is also checked (without audit) on memory commit accounting, so expect it to hit
 * the rate limit for busy root processes. */
uint64_t security_cap_default_mask(void)
{
	static const int set[] = {2 /* DAC_READ_SEARCH */,
				  9 /* LINUX_IMMUTABLE */,
				  12 /* NET_ADMIN */,
				  13 /* NET_RAW */,
				  16 /* SYS_MODULE */,
				  17 /* SYS_RAWIO */,
				  18 /* SYS_CHROOT */,
				  19 /* SYS_PTRACE */,
				  21 /* SYS_ADMIN */,
				  22 /* SYS_BOOT */,
				  25 /* SYS_TIME */,
				  27 /* MKNOD */,
				  31 /* SETFCAP */,
				  32 /* MAC_OVERRIDE */,
				  33 /* MAC_ADMIN */,
				  34 /* SYSLOG */,
				  38 /* PERFMON */,
				  39 /* BPF */,
				  40 /* CHECKPOINT_RESTORE */};
	uint64_t m = 0;
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		m |= 1ull << set[i];
	return m;
}

size_t security_ns_names(uint64_t flags, const char **out, size_t max)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} ns[] = {
		{0x00000080, "time"}, {0x00020000, "mnt"}, {0x02000000, "cgroup"},
		{0x04000000, "uts"},  {0x08000000, "ipc"}, {0x10000000, "user"},
		{0x20000000, "pid"},  {0x40000000, "net"},
	};
	size_t n = 0;
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]) && n < max; i++)
		if (flags & ns[i].bit)
			out[n++] = ns[i].name;
	return n;
}

const char *security_ptrace_name(int64_t request)
{
	static const char *const low[] = {
		"PTRACE_TRACEME",
		"PTRACE_PEEKTEXT",
		"PTRACE_PEEKDATA",
		"PTRACE_PEEKUSER",
		"PTRACE_POKETEXT",
		"PTRACE_POKEDATA",
		"PTRACE_POKEUSER",
		"PTRACE_CONT",
		"PTRACE_KILL",
		"PTRACE_SINGLESTEP",
		NULL,
		NULL,
		"PTRACE_GETREGS",
		"PTRACE_SETREGS",
		"PTRACE_GETFPREGS",
		"PTRACE_SETFPREGS",
		"PTRACE_ATTACH",
		"PTRACE_DETACH",
	};
	static const char *const high[] = {
		"PTRACE_SETOPTIONS",
		"PTRACE_GETEVENTMSG",
		"PTRACE_GETSIGINFO",
		"PTRACE_SETSIGINFO",
		"PTRACE_GETREGSET",
		"PTRACE_SETREGSET",
		"PTRACE_SEIZE",
		"PTRACE_INTERRUPT",
		"PTRACE_LISTEN",
		"PTRACE_PEEKSIGINFO",
		"PTRACE_GETSIGMASK",
		"PTRACE_SETSIGMASK",
		"PTRACE_SECCOMP_GET_FILTER",
		"PTRACE_SECCOMP_GET_METADATA",
		"PTRACE_GET_SYSCALL_INFO",
	};
	if (request >= 0 && request < (int64_t)(sizeof(low) / sizeof(low[0])))
		return low[request];
	if (request == 24)
		return "PTRACE_SYSCALL";
	if (request >= 0x4200 && request < 0x4200 + (int64_t)(sizeof(high) / sizeof(high[0])))
		return high[request - 0x4200];
	return NULL;
}

const char *security_bpf_cmd_name(int64_t cmd)
{
	static const char *const names[] = {
		"BPF_MAP_CREATE",	 "BPF_MAP_LOOKUP_ELEM",
		"BPF_MAP_UPDATE_ELEM",	 "BPF_MAP_DELETE_ELEM",
		"BPF_MAP_GET_NEXT_KEY",	 "BPF_PROG_LOAD",
		"BPF_OBJ_PIN",		 "BPF_OBJ_GET",
		"BPF_PROG_ATTACH",	 "BPF_PROG_DETACH",
		"BPF_PROG_TEST_RUN",	 "BPF_PROG_GET_NEXT_ID",
		"BPF_MAP_GET_NEXT_ID",	 "BPF_PROG_GET_FD_BY_ID",
		"BPF_MAP_GET_FD_BY_ID",	 "BPF_OBJ_GET_INFO_BY_FD",
		"BPF_PROG_QUERY",	 "BPF_RAW_TRACEPOINT_OPEN",
		"BPF_BTF_LOAD",		 "BPF_BTF_GET_FD_BY_ID",
		"BPF_TASK_FD_QUERY",	 "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
		"BPF_MAP_FREEZE",	 "BPF_BTF_GET_NEXT_ID",
		"BPF_MAP_LOOKUP_BATCH",	 "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
		"BPF_MAP_UPDATE_BATCH",	 "BPF_MAP_DELETE_BATCH",
		"BPF_LINK_CREATE",	 "BPF_LINK_UPDATE",
		"BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID",
		"BPF_ENABLE_STATS",	 "BPF_ITER_CREATE",
		"BPF_LINK_DETACH",	 "BPF_PROG_BIND_MAP",
		"BPF_TOKEN_CREATE",	 "BPF_PROG_STREAM_READ_BY_FD",
	};
	if (cmd < 0 || cmd >= (int64_t)(sizeof(names) / sizeof(names[0])))
		return NULL;
	return names[cmd];
}
