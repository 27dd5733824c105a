// SPDX-License-Identifier: Apache-2.0
// privilege_status_parse/read: the privilege report a worker sends with READY (no root needed).
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "privilege.h"

/* A full status file as Linux 6.18 prints it, for a sandboxed worker. */
static const char status_sandboxed[] = "Name:\tcollector-proc\n"
				       "Umask:\t0022\n"
				       "State:\tS (sleeping)\n"
				       "Tgid:\t4242\n"
				       "Ngid:\t0\n"
				       "Pid:\t4242\n"
				       "PPid:\t4200\n"
				       "TracerPid:\t0\n"
				       "Uid:\t65534\t65534\t65534\t65534\n"
				       "Gid:\t65533\t65534\t65534\t65534\n"
				       "FDSize:\t64\n"
				       "Groups:\t \n"
				       "NStgid:\t4242\n"
				       "NSpid:\t4242\n"
				       "NSpgid:\t4200\n"
				       "NSsid:\t4100\n"
				       "Kthread:\t0\n"
				       "VmPeak:\t    3060 kB\n"
				       "VmRSS:\t    1740 kB\n"
				       "Threads:\t1\n"
				       "SigQ:\t0/96365\n"
				       "SigPnd:\t0000000000000000\n"
				       "ShdPnd:\t0000000000000000\n"
				       "SigBlk:\t0000000000000000\n"
				       "SigIgn:\t0000000000000000\n"
				       "SigCgt:\t0000000000004000\n"
				       "CapInh:\t0000000000000000\n"
				       "CapPrm:\t0000000000000000\n"
				       "CapEff:\t0000000000000000\n"
				       "CapBnd:\t0000000000000000\n"
				       "CapAmb:\t0000000000000000\n"
				       "NoNewPrivs:\t1\n"
				       "Seccomp:\t2\n"
				       "Seccomp_filters:\t1\n"
				       "Speculation_Store_Bypass:\tthread force mitigated\n"
				       "SpeculationIndirectBranch:\tconditional force disabled\n"
				       "Cpus_allowed:\t3\n"
				       "Cpus_allowed_list:\t0-1\n"
				       "Mems_allowed:\t00000000,00000001\n"
				       "Mems_allowed_list:\t0\n"
				       "voluntary_ctxt_switches:\t12\n"
				       "nonvoluntary_ctxt_switches:\t0\n";

/* Root as seen on the build machine (CAP_SYS_RESOURCE missing from the bounding set). */
static const char status_root[] = "Name:\tcat\n"
				  "Uid:\t0\t0\t0\t0\n"
				  "Gid:\t0\t0\t0\t0\n"
				  "Groups:\t0 1 2\n"
				  "CapInh:\t0000000000000000\n"
				  "CapPrm:\t000001fffeffffff\n"
				  "CapEff:\t000001fffeffffff\n"
				  "CapBnd:\t000001fffeffffff\n"
				  "CapAmb:\t0000000000000000\n"
				  "NoNewPrivs:\t0\n"
				  "Seccomp:\t0\n"
				  "Seccomp_filters:\t0\n";

Test(privilege_status, parses_sandboxed_worker)
{
	struct privilege_status st;
	memset(&st, 0xaa, sizeof(st));
	cr_assert_eq(privilege_status_parse(status_sandboxed, &st), 0);
	cr_expect_eq(st.uid, 65534);
	cr_expect_eq(st.euid, 65534);
	cr_expect_eq(st.gid, 65533);
	cr_expect_eq(st.egid, 65534);
	cr_expect_eq(st.cap_inh, 0);
	cr_expect_eq(st.cap_prm, 0);
	cr_expect_eq(st.cap_eff, 0);
	cr_expect_eq(st.cap_bnd, 0);
	cr_expect_eq(st.cap_amb, 0);
	cr_expect_eq(st.no_new_privs, 1);
	cr_expect_eq(st.seccomp, 2);
	cr_expect_eq(st.seccomp_filters, 1);
}

Test(privilege_status, parses_root)
{
	struct privilege_status st;
	cr_assert_eq(privilege_status_parse(status_root, &st), 0);
	cr_expect_eq(st.uid, 0);
	cr_expect_eq(st.euid, 0);
	cr_expect_eq(st.cap_prm, 0x1fffeffffffULL);
	cr_expect_eq(st.cap_eff, 0x1fffeffffffULL);
	cr_expect_eq(st.cap_bnd, 0x1fffeffffffULL);
	cr_expect_eq(st.cap_amb, 0);
	cr_expect_eq(st.no_new_privs, 0);
	cr_expect_eq(st.seccomp, 0);
}

Test(privilege_status, real_and_effective_are_fields_one_and_two)
{
	static const char text[] = "Uid:\t1000\t0\t0\t0\n"
				   "Gid:\t100\t200\t300\t400\n"
				   "CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n";
	struct privilege_status st;
	cr_assert_eq(privilege_status_parse(text, &st), 0);
	cr_expect_eq(st.uid, 1000);
	cr_expect_eq(st.euid, 0);
	cr_expect_eq(st.gid, 100);
	cr_expect_eq(st.egid, 200);
}

Test(privilege_status, full_64_bit_capability_masks)
{
	static const char text[] = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
				   "CapInh:\tffffffffffffffff\nCapPrm:\tFFFFFFFFFFFFFFFF\n"
				   "CapEff:\t8000000000000001\nCapBnd:\t0000000000000000\n";
	struct privilege_status st;
	cr_assert_eq(privilege_status_parse(text, &st), 0);
	cr_expect_eq(st.cap_inh, UINT64_MAX);
	cr_expect_eq(st.cap_prm, UINT64_MAX);
	cr_expect_eq(st.cap_eff, 0x8000000000000001ULL);
}

/* Kernels before 4.3/4.10/5.9 print no CapAmb/NoNewPrivs/Seccomp_filters: they read as 0. */
Test(privilege_status, optional_lines_default_to_zero)
{
	static const char text[] = "Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\n"
				   "CapInh:\t0\nCapPrm:\t1\nCapEff:\t1\nCapBnd:\t3f\n"
				   "Seccomp:\t2\n";
	struct privilege_status st;
	cr_assert_eq(privilege_status_parse(text, &st), 0);
	cr_expect_eq(st.cap_amb, 0);
	cr_expect_eq(st.no_new_privs, 0);
	cr_expect_eq(st.seccomp, 2);
	cr_expect_eq(st.seccomp_filters, 0);
	cr_expect_eq(st.cap_bnd, 0x3f);
}

Test(privilege_status, last_line_without_newline)
{
	static const char text[] =
		"Uid:\t7\t7\t7\t7\nGid:\t7\t7\t7\t7\n"
		"CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nSeccomp_filters:\t3";
	struct privilege_status st;
	cr_assert_eq(privilege_status_parse(text, &st), 0);
	cr_expect_eq(st.seccomp_filters, 3);
}

Test(privilege_status, output_untouched_on_error)
{
	struct privilege_status st;
	memset(&st, 0x5a, sizeof(st));
	cr_assert_eq(privilege_status_parse("garbage", &st), -EINVAL);
	for (size_t i = 0; i < sizeof(st); i++)
		cr_assert_eq(((unsigned char *)&st)[i], 0x5a);
}

Test(privilege_status, null_arguments)
{
	struct privilege_status st;
	cr_expect_eq(privilege_status_parse(NULL, &st), -EINVAL);
	cr_expect_eq(privilege_status_parse(status_root, NULL), -EINVAL);
	cr_expect_eq(privilege_status_read(0, NULL), -EINVAL);
	cr_expect_eq(privilege_status_read(-1, &st), -EINVAL);
}

/* Held by value: Criterion copies parameters into the test process, pointers would dangle. */
struct bad_status {
	char name[32];
	char text[160];
};

#define CAPS "CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n"
#define IDS  "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"

ParameterizedTestParameters(privilege_status, rejects_bad_input)
{
	static struct bad_status cases[] = {
		{"empty", ""},
		{"binary", "\x01\x02\x03\xff"},
		{"only newlines", "\n\n\n"},
		{"no Uid line", "Gid:\t0\t0\t0\t0\n" CAPS},
		{"no Gid line", "Uid:\t0\t0\t0\t0\n" CAPS},
		{"no CapBnd line", IDS "CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\n"},
		{"no CapEff line", IDS "CapInh:\t0\nCapPrm:\t0\nCapBnd:\t0\n"},
		{"truncated inside Uid", "Uid:\t0\t0"},
		{"truncated before caps", "Name:\tx\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapI"},
		{"Uid with letters", "Uid:\tabc\t0\t0\t0\nGid:\t0\t0\t0\t0\n" CAPS},
		{"Uid with 5 fields", "Uid:\t0\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n" CAPS},
		{"Uid negative", "Uid:\t-1\t0\t0\t0\nGid:\t0\t0\t0\t0\n" CAPS},
		{"Uid over 32 bits", "Uid:\t4294967296\t0\t0\t0\nGid:\t0\t0\t0\t0\n" CAPS},
		{"Uid empty", "Uid:\nGid:\t0\t0\t0\t0\n" CAPS},
		{"cap over 64 bits",
		 IDS "CapInh:\t10000000000000000\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n"},
		{"cap not hex", IDS "CapInh:\tzz\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n"},
		{"cap trailing junk", IDS "CapInh:\t0\nCapPrm:\t0x\nCapEff:\t0\nCapBnd:\t0\n"},
		{"cap empty", IDS "CapInh:\t\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n"},
		{"repeated line", IDS CAPS "CapEff:\t0\n"},
		{"NoNewPrivs 2", IDS CAPS "NoNewPrivs:\t2\n"},
		{"NoNewPrivs word", IDS CAPS "NoNewPrivs:\tyes\n"},
		{"Seccomp 3", IDS CAPS "Seccomp:\t3\n"},
		{"Seccomp_filters huge", IDS CAPS "Seccomp_filters:\t99999999999\n"},
	};
	return cr_make_param_array(struct bad_status, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_status *c, privilege_status, rejects_bad_input)
{
	struct privilege_status st;
	cr_expect_eq(privilege_status_parse(c->text, &st), -EINVAL, "case \"%s\"", c->name);
}

Test(privilege_status, reads_self)
{
	struct privilege_status st;
	cr_assert_eq(privilege_status_read(0, &st), 0);
	cr_expect_eq(st.uid, (uint32_t)getuid());
	cr_expect_eq(st.euid, (uint32_t)geteuid());
	cr_expect_eq(st.gid, (uint32_t)getgid());
	cr_expect_eq(st.egid, (uint32_t)getegid());
	cr_expect(st.no_new_privs <= 1);
	cr_expect(st.seccomp <= 2);
}

Test(privilege_status, reads_self_by_pid)
{
	struct privilege_status a, b;
	cr_assert_eq(privilege_status_read(0, &a), 0);
	cr_assert_eq(privilege_status_read(getpid(), &b), 0);
	cr_expect_eq(a.uid, b.uid);
	cr_expect_eq(a.cap_eff, b.cap_eff);
	cr_expect_eq(a.cap_bnd, b.cap_bnd);
}

Test(privilege_status, missing_process)
{
	struct privilege_status st;
	/* Above the largest pid_max Linux allows (4194304). */
	cr_expect_eq(privilege_status_read(0x7fffffff, &st), -ENOENT);
}
