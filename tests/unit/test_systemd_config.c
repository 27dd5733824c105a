// SPDX-License-Identifier: Apache-2.0
// The systemd collector's config section (collectors/systemd/systemd_def.c): defaults, and
// every check, reported with file, line and key.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/systemd/systemd_config.h"
#include "config.h"

Test(systemd_config, defaults)
{
	struct config *cfg = NULL;
	char *err = NULL;
	cr_assert_eq(config_load_text("", 0, "tapio.yaml", &cfg, &err), 0, "%s", err);
	const struct config_systemd *s = config_section(cfg, "systemd");
	cr_assert_not_null(s);
	cr_assert_not(s->common.enabled);
	cr_assert_eq(s->units.n, 0);
	cr_assert_eq(s->globs.n, 0);
	cr_assert_eq(s->unit_types.n, 0);
	cr_assert(s->watch_failed);
	cr_assert_str_eq(s->bus_address, "");
	cr_assert_eq(s->rpc_timeout_ms, 5000);
	cr_assert_eq(s->reconnect_initial_ms, 500);
	cr_assert_eq(s->reconnect_max_ms, 30000);
	cr_assert_eq(s->restart_loop_count, 5);
	cr_assert_eq(s->restart_loop_window_s, 300);
	cr_assert(s->journal);
	cr_assert_str_eq(s->journal_directory, "");
	cr_assert_eq(s->journal_priority, CONFIG_SYSTEMD_PRIO_WARNING);
	cr_assert_str_eq(s->cursor_file, "/var/lib/tapio/systemd-journal.cursor");
	cr_assert_eq(s->message_max, 4096);
	config_free(cfg);
}

Test(systemd_config, loads_every_key)
{
	const char *text = "collectors:\n"
			   "  systemd:\n"
			   "    enabled: true\n"
			   "    units: [kubelet, etcd.service]\n"
			   "    globs: [\"k3s-*\"]\n"
			   "    unit_types: [service, scope]\n"
			   "    watch_failed: false\n"
			   "    bus_address: \"unix:path=/run/x/bus\"\n"
			   "    journal_directory: /var/log/journal\n"
			   "    journal_priority: err\n"
			   "    cursor_file: /tmp/c\n"
			   "    restart_loop_count: 2\n";
	struct config *cfg = NULL;
	char *err = NULL;
	cr_assert_eq(config_load_text(text, strlen(text), "tapio.yaml", &cfg, &err), 0, "%s", err);
	const struct config_systemd *s = config_section(cfg, "systemd");
	cr_assert_eq(s->units.n, 2);
	cr_assert_str_eq(s->units.items[0], "kubelet");
	cr_assert_str_eq(s->globs.items[0], "k3s-*");
	cr_assert_eq(s->unit_types.n, 2);
	cr_assert_not(s->watch_failed);
	cr_assert_str_eq(s->bus_address, "unix:path=/run/x/bus");
	cr_assert_eq(s->journal_priority, CONFIG_SYSTEMD_PRIO_ERR);
	cr_assert_eq(s->restart_loop_count, 2);
	config_free(cfg);
}

struct bad_case {
	char yaml[200];
	char err[200];
};

ParameterizedTestParameters(systemd_config, rejects)
{
	static struct bad_case cases[] = {
		{"    unit_types: [service, widget]\n",
		 "tapio.yaml:3: collectors.systemd.unit_types: item 2: unknown unit type "
		 "\"widget\""},
		{"    units: [system.slice/x.service]\n",
		 "tapio.yaml:3: collectors.systemd.units: item 1: a unit name has no '/'"},
		{"    bus_address: \"tcp:host=1.2.3.4,port=1\"\n",
		 "tapio.yaml:3: collectors.systemd.bus_address: only unix: addresses "
		 "(unix:path=SOCKET)"},
		{"    journal_directory: var/log/journal\n",
		 "tapio.yaml:3: collectors.systemd.journal_directory: must be an absolute path"},
		{"    cursor_file: cursor\n",
		 "tapio.yaml:3: collectors.systemd.cursor_file: must be an absolute path"},
		{"    reconnect_initial_ms: 5000\n    reconnect_max_ms: 1000\n",
		 "tapio.yaml:3: collectors.systemd.reconnect_initial_ms: above reconnect_max_ms "
		 "(1000)"},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, systemd_config, rejects)
{
	char text[400];
	snprintf(text, sizeof(text), "collectors:\n  systemd:\n%s", c->yaml);
	struct config *cfg = NULL;
	char *err = NULL;
	cr_assert_eq(config_load_text(text, strlen(text), "tapio.yaml", &cfg, &err), -EINVAL);
	cr_assert_null(cfg);
	cr_assert_str_eq(err, c->err);
	free(err);
}

Test(systemd_config, rejects_unknown_priority)
{
	const char *text = "collectors:\n  systemd:\n    journal_priority: loud\n";
	struct config *cfg = NULL;
	char *err = NULL;
	cr_assert_eq(config_load_text(text, strlen(text), "tapio.yaml", &cfg, &err), -EINVAL);
	cr_assert_not_null(strstr(err, "collectors.systemd.journal_priority"), "%s", err);
	free(err);
}
