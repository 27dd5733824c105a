// SPDX-License-Identifier: Apache-2.0
// Unit attribution from cgroup paths (common/systemd_unit.c): every vector of
// COLLECTORS.md "systemd" (the seed's rules), the rejection rules, and /proc/<pid>/cgroup text.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>

#include "systemd_unit.h"

#define CID  "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define A50  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A248 A50 A50 A50 A50 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

_Static_assert(sizeof(A248) == 249, "A248 is 248 characters");

/* Inline strings: Criterion may run each case in a fresh process. "" = unknown. */
struct unit_case {
	char path[600];
	char unit[SYSTEMD_UNIT_NAME_MAX + 1];
};

ParameterizedTestParameters(systemd_unit, attributes_cgroup_paths)
{
	static struct unit_case cases[] = {
		/* the vectors of COLLECTORS.md */
		{"/system.slice/nginx.service", "nginx.service"},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/snap.code.code.service",
		 "snap.code.code.service"},
		{"/system.slice/docker.service/docker/" CID, "docker.service"},
		{"/system.slice/containerd.service/kubepods-besteffort-pod123.slice/"
		 "cri-containerd-abc123.scope",
		 "containerd.service"},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod456.slice/"
		 "cri-containerd-456def.scope",
		 "cri-containerd-456def.scope"},
		{"/system.slice/backup.timer", "backup.timer"},
		{"/docker/" CID, ""},
		{"", ""},
		{"/user.slice/user-1000.slice/session-1.scope", "session-1.scope"},
		{"getty@tty1.service", "getty@tty1.service"},
		{"dbus-:1.2-com.example.Service@0.service",
		 "dbus-:1.2-com.example.Service@0.service"},
		{"/system.slice/dbus-:1.2-com.example.Service@0.service",
		 "dbus-:1.2-com.example.Service@0.service"},
		/* each type, and the deepest winning over the type's priority */
		{"/system.slice/docker.socket", "docker.socket"},
		{"/system.slice/var-lib.mount", "var-lib.mount"},
		{"/system.slice/dev-sda.device", "dev-sda.device"},
		{"/multi-user.target", "multi-user.target"},
		{"/system.slice", "system.slice"},
		{"/", ""},
		{"/system.slice/foo.service/bar.scope", "bar.scope"},
		{"/system.slice/foo.service/sub/dir", "foo.service"},
		{"//system.slice//nginx.service//", "nginx.service"},
		/* container paths: a .service wins, the deepest one */
		{"/system.slice/crio.service/kubepods-pod1.slice/crio-" CID ".scope",
		 "crio.service"},
		{"/system.slice/a.service/docker/b.service/x.scope", "b.service"},
		{"/kubepods/burstable/pod123/" CID, ""},
		/* not candidates */
		{"/system.slice/.service", "system.slice"},
		{"/.hidden.service", ""},
		{"/system.slice/nginx.services", "system.slice"},
		{"/system.slice/nginx.service.d", "system.slice"},
		{"/system.slice/service", "system.slice"},
		/* ".." anywhere: no unit */
		{"/system.slice/../nginx.service", ""},
		{"/system.slice/a..b.service", ""},
		/* the length bound: 256 is a candidate, 257 is not */
		{"/system.slice/" A248 ".service", A248 ".service"},
		{"/system.slice/" A248 "a.service", "system.slice"},
	};
	return cr_make_param_array(struct unit_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct unit_case *c, systemd_unit, attributes_cgroup_paths)
{
	char buf[SYSTEMD_UNIT_NAME_MAX + 1];
	memset(buf, 'x', sizeof(buf));
	int r = systemd_unit_name(c->path, strlen(c->path), buf, sizeof(buf));
	cr_assert_eq(r, (int)strlen(c->unit), "%s: returned %d", c->path, r);
	cr_assert_str_eq(buf, c->unit, "%s: got \"%s\", want \"%s\"", c->path, buf, c->unit);

	struct systemd_unit_ref ref;
	r = systemd_unit_from_path(c->path, strlen(c->path), &ref);
	cr_assert_eq(r, c->unit[0] ? 1 : 0, "%s", c->path);
	if (r == 1) {
		cr_assert_eq(ref.len, strlen(c->unit));
		cr_assert(memcmp(c->path + ref.offset, c->unit, ref.len) == 0);
	}
}

Test(systemd_unit, reports_type_and_depth)
{
	const char *p = "/system.slice/docker.socket";
	struct systemd_unit_ref r;
	cr_assert_eq(systemd_unit_from_path(p, strlen(p), &r), 1);
	cr_assert_eq(r.type, SYSTEMD_UNIT_SOCKET);
	cr_assert_eq(r.depth, 1);
	cr_assert_eq(r.offset, 14);
	cr_assert_eq(r.len, 13);
}

Test(systemd_unit, bounded_input_not_terminated)
{
	/* only the first len bytes count: the path stops inside "nginx.service" */
	const char p[] = "/system.slice/nginx.service";
	char buf[64];
	cr_assert_eq(systemd_unit_name(p, 14, buf, sizeof(buf)), 12);
	cr_assert_str_eq(buf, "system.slice");
	cr_assert_eq(systemd_unit_name(p, strlen(p) - 1, buf, sizeof(buf)), 12);
	cr_assert_str_eq(buf, "system.slice");
}

Test(systemd_unit, nul_in_component_is_no_candidate)
{
	const char p[] = "/system.slice/ngi\0nx.service";
	char buf[64];
	cr_assert_eq(systemd_unit_name(p, sizeof(p) - 1, buf, sizeof(buf)), 12);
	cr_assert_str_eq(buf, "system.slice");
}

Test(systemd_unit, small_buffer_is_enospc)
{
	const char *p = "/system.slice/nginx.service";
	char buf[13];
	cr_assert_eq(systemd_unit_name(p, strlen(p), buf, sizeof(buf)), -ENOSPC);
	cr_assert_str_eq(buf, "");
	char fits[14];
	cr_assert_eq(systemd_unit_name(p, strlen(p), fits, sizeof(fits)), 13);
	cr_assert_str_eq(fits, "nginx.service");
	cr_assert_eq(systemd_unit_name(p, strlen(p), NULL, 0), -ENOSPC);
	cr_assert_eq(systemd_unit_name(NULL, 0, fits, sizeof(fits)), 0);
}

struct proc_case {
	char text[700];
	char unit[SYSTEMD_UNIT_NAME_MAX + 1];
};

ParameterizedTestParameters(systemd_unit, attributes_proc_cgroup)
{
	static struct proc_case cases[] = {
		{"0::/system.slice/nginx.service\n", "nginx.service"},
		{"0::/system.slice/nginx.service", "nginx.service"},
		{"0::/system.slice/dbus-:1.2-com.example.Service@0.service\n",
		 "dbus-:1.2-com.example.Service@0.service"},
		{"0::/\n", ""},
		{"", ""},
		{"garbage without colons\n", ""},
		/* v1/hybrid: the deepest over all lines wins, then the type's priority */
		{"12:pids:/system.slice\n"
		 "1:name=systemd:/system.slice/sshd.service\n"
		 "0::/system.slice/sshd.service\n",
		 "sshd.service"},
		{"3:cpu:/user.slice/x.slice\n"
		 "2:memory:/user.slice/x.socket\n",
		 "x.socket"},
		{"3:cpu:/system.slice/containerd.service/kubepods-pod1.slice/"
		 "cri-containerd-1.scope\n"
		 "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope/deeper/x.scope\n",
		 "containerd.service"},
		{"5:devices:/system.slice/../x.service\n0::/system.slice/y.service\n", "y.service"},
	};
	return cr_make_param_array(struct proc_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct proc_case *c, systemd_unit, attributes_proc_cgroup)
{
	char buf[SYSTEMD_UNIT_NAME_MAX + 1];
	int r = systemd_unit_from_proc_cgroup(c->text, strlen(c->text), buf, sizeof(buf));
	cr_assert_eq(r, (int)strlen(c->unit), "%s: returned %d", c->text, r);
	cr_assert_str_eq(buf, c->unit, "%s: got \"%s\"", c->text, buf);
}
