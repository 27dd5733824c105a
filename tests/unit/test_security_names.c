// SPDX-License-Identifier: Apache-2.0
// security collector: the number → name tables and the capability parser.
#include <criterion/criterion.h>
#include <errno.h>

#include "collectors/security/security_names.c"

Test(security_names, capability_names_round_trip)
{
	for (int c = 0; c <= SECURITY_CAP_LAST; c++) {
		const char *n = security_cap_name(c);
		cr_assert_not_null(n, "cap %d", c);
		cr_assert_eq(security_cap_parse(n), c, "%s", n);
	}
	cr_assert_str_eq(security_cap_name(21), "CAP_SYS_ADMIN");
	cr_assert_str_eq(security_cap_name(40), "CAP_CHECKPOINT_RESTORE");
	cr_assert_null(security_cap_name(-1));
	cr_assert_null(security_cap_name(41));
}

Test(security_names, capability_parse_accepts_bare_and_any_case)
{
	cr_assert_eq(security_cap_parse("sys_admin"), 21);
	cr_assert_eq(security_cap_parse("cap_net_raw"), 13);
	cr_assert_eq(security_cap_parse("CAP_BPF"), 39);
	cr_assert_eq(security_cap_parse("CAP_NOPE"), -EINVAL);
	cr_assert_eq(security_cap_parse(""), -EINVAL);
	cr_assert_eq(security_cap_parse("CAP_"), -EINVAL);
	cr_assert_eq(security_cap_parse(NULL), -EINVAL);
}

Test(security_names, default_set_has_the_dangerous_ones)
{
	uint64_t m = security_cap_default_mask();
	cr_assert(m & (1ull << 21)); /* SYS_ADMIN */
	cr_assert(m & (1ull << 19)); /* SYS_PTRACE */
	cr_assert(m & (1ull << 16)); /* SYS_MODULE */
	cr_assert(m & (1ull << 39)); /* BPF */
	cr_assert_eq(m & (1ull << 0), 0, "CAP_CHOWN is routine");
	cr_assert_eq(m >> (SECURITY_CAP_LAST + 1), 0);
}

Test(security_names, namespace_flags)
{
	const char *out[8];
	cr_assert_eq(security_ns_names(0, out, 8), 0);
	cr_assert_eq(security_ns_names(0x40000000, out, 8), 1);
	cr_assert_str_eq(out[0], "net");
	size_t n = security_ns_names(0x00020000 | 0x40000000 | 0x10000000 | 0x80 | 0x11, out, 8);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(out[0], "time");
	cr_assert_str_eq(out[1], "mnt");
	cr_assert_str_eq(out[2], "user");
	cr_assert_str_eq(out[3], "net");
	cr_assert_eq(security_ns_names(0xffffffff, out, 2), 2, "bounded by max");
}

Test(security_names, ptrace_and_bpf_commands)
{
	cr_assert_str_eq(security_ptrace_name(0), "PTRACE_TRACEME");
	cr_assert_str_eq(security_ptrace_name(16), "PTRACE_ATTACH");
	cr_assert_str_eq(security_ptrace_name(17), "PTRACE_DETACH");
	cr_assert_str_eq(security_ptrace_name(24), "PTRACE_SYSCALL");
	cr_assert_str_eq(security_ptrace_name(0x4206), "PTRACE_SEIZE");
	cr_assert_str_eq(security_ptrace_name(0x420e), "PTRACE_GET_SYSCALL_INFO");
	cr_assert_null(security_ptrace_name(10));
	cr_assert_null(security_ptrace_name(-1));
	cr_assert_null(security_ptrace_name(0x420f));
	cr_assert_str_eq(security_bpf_cmd_name(0), "BPF_MAP_CREATE");
	cr_assert_str_eq(security_bpf_cmd_name(5), "BPF_PROG_LOAD");
	cr_assert_str_eq(security_bpf_cmd_name(28), "BPF_LINK_CREATE");
	cr_assert_str_eq(security_bpf_cmd_name(36), "BPF_TOKEN_CREATE");
	cr_assert_null(security_bpf_cmd_name(-1));
	cr_assert_null(security_bpf_cmd_name(1000));
}
