// SPDX-License-Identifier: Apache-2.0
// The kubeapi collector's kubeconfig reader: the current context's server and file paths
// (relative ones against the file's directory); exec plugins and inline data refused by name.
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectors/kubeapi/kubeapi_kubeconfig.c"

static char dir[64];

static const char *write_file(const char *text)
{
	static char path[128];
	snprintf(dir, sizeof(dir), "/tmp/tapio-kc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void cleanup(const char *path)
{
	unlink(path);
	rmdir(dir);
}

#define HEAD                                                                                       \
	"apiVersion: v1\nkind: Config\ncurrent-context: prod\n"                                    \
	"contexts:\n- name: dev\n  context: {cluster: dev, user: dev}\n"                           \
	"- name: prod\n  context:\n    cluster: prod\n    user: agent\n"                           \
	"clusters:\n- name: dev\n  cluster: {server: https://dev:6443}\n"                          \
	"- name: prod\n  cluster:\n    server: https://10.0.0.1:6443\n"

Test(kubeconfig, current_context_paths)
{
	const char *p = write_file(HEAD "    certificate-authority: pki/ca.crt\n"
					"users:\n- name: agent\n  user:\n"
					"    client-certificate: /etc/tapio/agent.crt\n"
					"    client-key: agent.key\n"
					"    tokenFile: token\n");
	struct kubeconfig kc;
	char err[256];
	cr_assert_eq(kubeconfig_load(p, &kc, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(kc.server, "https://10.0.0.1:6443");
	char want[160];
	snprintf(want, sizeof(want), "%s/pki/ca.crt", dir);
	cr_assert_str_eq(kc.ca_file, want);
	cr_assert_str_eq(kc.cert_file, "/etc/tapio/agent.crt");
	snprintf(want, sizeof(want), "%s/agent.key", dir);
	cr_assert_str_eq(kc.key_file, want);
	snprintf(want, sizeof(want), "%s/token", dir);
	cr_assert_str_eq(kc.token_file, want);
	kubeconfig_free(&kc);
	cleanup(p);
}

Test(kubeconfig, refuses_exec_and_inline_data)
{
	static const struct {
		const char *user, *says;
	} cases[] = {
		{"    exec:\n      command: aws\n", "exec credential plugins"},
		{"    token: abc\n", "inline"},
		{"    client-key-data: QUJD\n", "inline"},
		{"    auth-provider: {name: gcp}\n", "auth providers"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[2048];
		snprintf(text, sizeof(text), HEAD "users:\n- name: agent\n  user:\n%s",
			 cases[i].user);
		const char *p = write_file(text);
		struct kubeconfig kc;
		char err[256] = "";
		cr_assert_eq(kubeconfig_load(p, &kc, err, sizeof(err)), -EINVAL);
		cr_assert(strstr(err, cases[i].says), "case %zu: %s", i, err);
		cr_assert_null(kc.server);
		cleanup(p);
	}
}

Test(kubeconfig, missing_context_or_file)
{
	const char *p = write_file("current-context: nowhere\ncontexts: []\n");
	struct kubeconfig kc;
	char err[256];
	cr_assert_eq(kubeconfig_load(p, &kc, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "current-context"), "%s", err);
	cleanup(p);
	cr_assert_eq(kubeconfig_load("/nonexistent/kubeconfig", &kc, err, sizeof(err)), -ENOENT);
	p = write_file("a: [\n");
	cr_assert_eq(kubeconfig_load(p, &kc, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "not YAML"), "%s", err);
	cleanup(p);
}
