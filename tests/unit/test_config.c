// SPDX-License-Identifier: Apache-2.0
// Unit tests of common/config.c: defaults, every key, every class of error with its exact
// message (file, line, key), bounds of every number, and loading from a file and a memfd.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collectors/process/process_config.h"
#include "collectors/security/security_config.h"
#include "config.h"
#include "registry.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The process collector's section of a loaded configuration. */
#define PROCESS(cfg) ((const struct config_process *)config_section((cfg), "process"))

/* The generated default configuration (kept for the whole test process). */
static const char *default_yaml(void)
{
	static char *text;

	if (!text)
		text = config_default_text();
	cr_assert_not_null(text);
	return text;
}

static struct config *load_ok(const char *text)
{
	struct config *cfg = NULL;
	char *err = NULL;
	int r = config_load_text(text, strlen(text), "tapio.yaml", &cfg, &err);

	cr_assert_eq(r, 0, "load failed (%d): %s\n--- text:\n%s", r, err ? err : "(no message)",
		     text);
	cr_assert_null(err);
	cr_assert_not_null(cfg);
	return cfg;
}

/* The message of a load that must fail with -EINVAL; caller frees. */
static char *load_err_n(const char *text, size_t len)
{
	struct config *cfg = NULL;
	char *err = NULL;
	int r = config_load_text(text, len, "tapio.yaml", &cfg, &err);

	cr_assert_eq(r, -EINVAL, "expected -EINVAL, got %d (%s)\n--- text:\n%s", r,
		     err ? err : "no message", text);
	cr_assert_null(cfg);
	cr_assert_not_null(err);
	return err;
}

static char *load_err(const char *text)
{
	return load_err_n(text, strlen(text));
}

static void assert_list_eq(const struct config_string_list *a,
			   const struct config_string_list *b)
{
	cr_assert_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		cr_assert_str_eq(a->items[i], b->items[i]);
}

/* Every value of the two configurations, field by field (not path or text). */
static void assert_config_eq(const struct config *a, const struct config *b)
{
	cr_assert_str_eq(a->node_name, b->node_name);
	cr_assert_str_eq(a->log_level, b->log_level);
	cr_assert_str_eq(a->collector_dir, b->collector_dir);
	cr_assert_eq(a->run_as_uid, b->run_as_uid);
	cr_assert_eq(a->run_as_gid, b->run_as_gid);
	cr_assert_eq(a->supervisor.heartbeat_timeout_ms, b->supervisor.heartbeat_timeout_ms);
	cr_assert_eq(a->supervisor.stop_timeout_ms, b->supervisor.stop_timeout_ms);
	cr_assert_eq(a->supervisor.stats_log_interval_s, b->supervisor.stats_log_interval_s);
	cr_assert_eq(a->sink_stdout.enabled, b->sink_stdout.enabled);
	cr_assert_eq(a->sink_stdout.format, b->sink_stdout.format);
	cr_assert_eq(a->sink_stdout.queue_max_kib, b->sink_stdout.queue_max_kib);

	const struct config_collector_common *ca = &PROCESS(a)->common, *cb = &PROCESS(b)->common;
	cr_assert_eq(ca->enabled, cb->enabled);
	cr_assert_eq(ca->heartbeat_interval_ms, cb->heartbeat_interval_ms);
	cr_assert_eq(ca->stats_interval_ms, cb->stats_interval_ms);
	cr_assert_eq(ca->batch_max_events, cb->batch_max_events);
	cr_assert_eq(ca->queue_max_kib, cb->queue_max_kib);
	cr_assert_eq(ca->sandbox, cb->sandbox);
	cr_assert_eq(PROCESS(a)->ring_buffer_kib, PROCESS(b)->ring_buffer_kib);
	cr_assert_eq(PROCESS(a)->hooks, PROCESS(b)->hooks);
	cr_assert_eq(PROCESS(a)->argv_max_args, PROCESS(b)->argv_max_args);
	cr_assert_eq(PROCESS(a)->argv_max_bytes, PROCESS(b)->argv_max_bytes);
	cr_assert_eq(PROCESS(a)->include_threads, PROCESS(b)->include_threads);
	cr_assert_eq(PROCESS(a)->containers_only, PROCESS(b)->containers_only);
	assert_list_eq(&PROCESS(a)->comm_allow, &PROCESS(b)->comm_allow);
	assert_list_eq(&PROCESS(a)->comm_deny, &PROCESS(b)->comm_deny);
}

static void assert_defaults(const struct config *cfg)
{
	char host[256] = "";

	cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);
	cr_assert_str_eq(cfg->node_name, host);
	cr_assert_str_eq(cfg->log_level, "info");
	cr_assert_str_eq(cfg->collector_dir, "");
	cr_assert_eq(cfg->run_as_uid, 61000);
	cr_assert_eq(cfg->run_as_gid, 61000);
	cr_assert_eq(cfg->supervisor.heartbeat_timeout_ms, 5000);
	cr_assert_eq(cfg->supervisor.stop_timeout_ms, 3000);
	cr_assert_eq(cfg->supervisor.stats_log_interval_s, 10);
	cr_assert_eq(cfg->sink_stdout.enabled, true);
	cr_assert_eq(cfg->sink_stdout.format, CONFIG_SINK_JSON);
	cr_assert_eq(cfg->sink_stdout.queue_max_kib, 16384);
	cr_assert_eq(PROCESS(cfg)->common.enabled, true);
	cr_assert_eq(PROCESS(cfg)->common.heartbeat_interval_ms, 1000);
	cr_assert_eq(PROCESS(cfg)->common.stats_interval_ms, 1000);
	cr_assert_eq(PROCESS(cfg)->common.batch_max_events, 256);
	cr_assert_eq(PROCESS(cfg)->common.queue_max_kib, 4096);
	cr_assert_eq(PROCESS(cfg)->common.sandbox, true);
	cr_assert_eq(PROCESS(cfg)->ring_buffer_kib, 4096);
	cr_assert_eq(PROCESS(cfg)->hooks, CONFIG_HOOKS_AUTO);
	cr_assert_eq(PROCESS(cfg)->argv_max_args, 32);
	cr_assert_eq(PROCESS(cfg)->argv_max_bytes, 2048);
	cr_assert_eq(PROCESS(cfg)->include_threads, false);
	cr_assert_eq(PROCESS(cfg)->containers_only, false);
	cr_assert_eq(PROCESS(cfg)->comm_allow.n, 0);
	cr_assert_eq(PROCESS(cfg)->comm_deny.n, 0);
}

/* ---- defaults ---------------------------------------------------------------------------- */

Test(config, defaults_from_empty_text)
{
	struct config *cfg = load_ok("");

	assert_defaults(cfg);
	cr_assert_str_eq(cfg->path, "tapio.yaml");
	cr_assert_eq(cfg->text_len, 0);
	cr_assert_str_eq(cfg->text, "");
	config_free(cfg);
}

Test(config, defaults_from_default_yaml_equal_empty_text)
{
	struct config *a = load_ok(""), *b = load_ok(default_yaml());

	assert_defaults(b);
	assert_config_eq(a, b);
	config_free(a);
	config_free(b);
}

Test(config, default_yaml_has_every_key)
{
	static const char *const leaves[] = {
		"node_name:", "log_level:", "collector_dir:", "run_as_uid:", "run_as_gid:",
		"heartbeat_timeout_ms:", "stop_timeout_ms:", "stats_log_interval_s:", "format:",
		"heartbeat_interval_ms:", "stats_interval_ms:", "batch_max_events:", "sandbox:",
		"ring_buffer_kib:", "hooks:", "argv_max_args:", "argv_max_bytes:",
		"include_threads:", "containers_only:", "comm_allow:", "comm_deny:",
	};

	for (size_t i = 0; i < ARRAY_SIZE(leaves); i++)
		cr_assert_not_null(strstr(default_yaml(), leaves[i]), "%s", leaves[i]);
}

Test(config, embedded_default_has_its_own_name)
{
	struct config *cfg = NULL;

	cr_assert_eq(config_load_text(default_yaml(), strlen(default_yaml()), NULL, &cfg,
				      NULL), 0);
	cr_assert_str_eq(cfg->path, "<embedded default>");
	cr_assert_eq(cfg->text_len, strlen(default_yaml()));
	cr_assert_str_eq(cfg->text, default_yaml());
	config_free(cfg);
}

Test(config, deploy_sample_equals_embedded_default)
{
	struct config *cfg = NULL;
	char *err = NULL;

	if (access("deploy/tapio.yaml", R_OK) < 0) {
		const char *ci = getenv("CI");
		if (ci && strcmp(ci, "true") == 0)
			cr_assert_fail("deploy/tapio.yaml not found: run from the repository root");
		cr_skip_test("run from the repository root to compare deploy/tapio.yaml");
	}
	cr_assert_eq(config_load_file("deploy/tapio.yaml", &cfg, &err), 0, "%s", err);
	cr_assert_eq(cfg->text_len, strlen(default_yaml()));
	cr_assert_str_eq(cfg->text, default_yaml());
	config_free(cfg);
}

static const char *const all_defaults_texts[] = {
	"# only a comment\n\n   # and another\n",
	"\n\n\n",
	"---\n",
	"---\n...\n",
	"~\n",
	"{}\n",
	"supervisor:\n",
	"supervisor: {}\nsinks:\n  stdout: {}\ncollectors:\n  process:\n",
	"collectors:\n  process:\n    comm_allow:\n    comm_deny: ~\n",
	"node_name: ~\n",
	"node_name:\n",
};

ParameterizedTestParameters(config, all_defaults)
{
	static size_t idx[ARRAY_SIZE(all_defaults_texts)];

	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_SIZE(idx));
}

ParameterizedTest(size_t *i, config, all_defaults)
{
	struct config *cfg = load_ok(all_defaults_texts[*i]);

	assert_defaults(cfg);
	config_free(cfg);
}

/* ---- every key --------------------------------------------------------------------------- */

static const char every_key_yaml[] = "node_name: node-7\n"
				     "log_level: debug\n"
				     "collector_dir: /opt/tapio/libexec\n"
				     "run_as_uid: 1000\n"
				     "run_as_gid: 2000\n"
				     "supervisor:\n"
				     "  heartbeat_timeout_ms: 9000\n"
				     "  stop_timeout_ms: 250\n"
				     "  stats_log_interval_s: 0\n"
				     "sinks:\n"
				     "  stdout:\n"
				     "    enabled: false\n"
				     "    format: json\n"
				     "    queue_max_kib: 64\n"
				     "collectors:\n"
				     "  process:\n"
				     "    enabled: False\n"
				     "    heartbeat_interval_ms: 4500\n"
				     "    stats_interval_ms: 60000\n"
				     "    batch_max_events: 4096\n"
				     "    queue_max_kib: 65536\n"
				     "    sandbox: FALSE\n"
				     "    ring_buffer_kib: 1048576\n"
				     "    hooks: tracepoint\n"
				     "    argv_max_args: 128\n"
				     "    argv_max_bytes: 64\n"
				     "    include_threads: true\n"
				     "    containers_only: True\n"
				     "    comm_allow: [bash, \"sshd\"]\n"
				     "    comm_deny:\n"
				     "      - cron\n"
				     "      - systemd-journal\n";

static void assert_every_key(const struct config *cfg)
{
	cr_assert_str_eq(cfg->node_name, "node-7");
	cr_assert_str_eq(cfg->log_level, "debug");
	cr_assert_str_eq(cfg->collector_dir, "/opt/tapio/libexec");
	cr_assert_eq(cfg->run_as_uid, 1000);
	cr_assert_eq(cfg->run_as_gid, 2000);
	cr_assert_eq(cfg->supervisor.heartbeat_timeout_ms, 9000);
	cr_assert_eq(cfg->supervisor.stop_timeout_ms, 250);
	cr_assert_eq(cfg->supervisor.stats_log_interval_s, 0);
	cr_assert_eq(cfg->sink_stdout.enabled, false);
	cr_assert_eq(cfg->sink_stdout.format, CONFIG_SINK_JSON);
	cr_assert_eq(cfg->sink_stdout.queue_max_kib, 64);
	cr_assert_eq(PROCESS(cfg)->common.enabled, false);
	cr_assert_eq(PROCESS(cfg)->common.heartbeat_interval_ms, 4500);
	cr_assert_eq(PROCESS(cfg)->common.stats_interval_ms, 60000);
	cr_assert_eq(PROCESS(cfg)->common.batch_max_events, 4096);
	cr_assert_eq(PROCESS(cfg)->common.queue_max_kib, 65536);
	cr_assert_eq(PROCESS(cfg)->common.sandbox, false);
	cr_assert_eq(PROCESS(cfg)->ring_buffer_kib, 1048576);
	cr_assert_eq(PROCESS(cfg)->hooks, CONFIG_HOOKS_TRACEPOINT);
	cr_assert_eq(PROCESS(cfg)->argv_max_args, 128);
	cr_assert_eq(PROCESS(cfg)->argv_max_bytes, 64);
	cr_assert_eq(PROCESS(cfg)->include_threads, true);
	cr_assert_eq(PROCESS(cfg)->containers_only, true);
	cr_assert_eq(PROCESS(cfg)->comm_allow.n, 2);
	cr_assert_str_eq(PROCESS(cfg)->comm_allow.items[0], "bash");
	cr_assert_str_eq(PROCESS(cfg)->comm_allow.items[1], "sshd");
	cr_assert_eq(PROCESS(cfg)->comm_deny.n, 2);
	cr_assert_str_eq(PROCESS(cfg)->comm_deny.items[0], "cron");
	cr_assert_str_eq(PROCESS(cfg)->comm_deny.items[1], "systemd-journal");
}

Test(config, every_key_parsed)
{
	struct config *cfg = load_ok(every_key_yaml);

	assert_every_key(cfg);
	cr_assert_eq(cfg->text_len, strlen(every_key_yaml));
	cr_assert_str_eq(cfg->text, every_key_yaml);
	config_free(cfg);
}

Test(config, flow_style_document)
{
	struct config *cfg = load_ok("{supervisor: {stop_timeout_ms: 100}, collectors: "
				     "{process: {hooks: tp_btf, comm_deny: [a, b, c]}}}");

	cr_assert_eq(cfg->supervisor.stop_timeout_ms, 100);
	cr_assert_eq(PROCESS(cfg)->hooks, CONFIG_HOOKS_TP_BTF);
	cr_assert_eq(PROCESS(cfg)->comm_deny.n, 3);
	cr_assert_str_eq(PROCESS(cfg)->comm_deny.items[2], "c");
	config_free(cfg);
}

Test(config, enum_names_map_to_values)
{
	static const struct {
		const char *name;
		enum config_hooks value;
	} hooks[] = {
		{ "auto", CONFIG_HOOKS_AUTO },
		{ "tp_btf", CONFIG_HOOKS_TP_BTF },
		{ "tracepoint", CONFIG_HOOKS_TRACEPOINT },
	};
	char text[128];

	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++) {
		snprintf(text, sizeof(text), "collectors:\n  process:\n    hooks: '%s'\n",
			 hooks[i].name);
		struct config *cfg = load_ok(text);
		cr_assert_eq(PROCESS(cfg)->hooks, hooks[i].value, "%s", hooks[i].name);
		config_free(cfg);
	}
}

Test(config, log_levels)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	char text[64];

	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		snprintf(text, sizeof(text), "log_level: %s\n", levels[i]);
		struct config *cfg = load_ok(text);
		cr_assert_str_eq(cfg->log_level, levels[i]);
		config_free(cfg);
	}
}

Test(config, quoted_scalars_are_values)
{
	struct config *cfg = load_ok("run_as_uid: \"7\"\nsinks:\n  stdout:\n    enabled: 'false'\n"
				     "node_name: \"\"\ncollector_dir: 'a b'\n");

	cr_assert_eq(cfg->run_as_uid, 7);
	cr_assert_eq(cfg->sink_stdout.enabled, false);
	cr_assert_str_eq(cfg->collector_dir, "a b");
	cr_assert_gt(strlen(cfg->node_name), 0);
	config_free(cfg);
}

Test(config, node_name_default_is_hostname)
{
	char host[256] = "";
	struct config *cfg = load_ok("node_name: \"\"\n");

	cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);
	cr_assert_str_eq(cfg->node_name, host);
	config_free(cfg);
}

Test(config, collector_lookup)
{
	struct config *cfg = load_ok("");

	cr_assert_eq(config_collector(cfg, "process"), &PROCESS(cfg)->common);
	cr_assert_null(config_collector(cfg, "proc"));
	cr_assert_null(config_collector(cfg, "processx"));
	cr_assert_null(config_collector(cfg, "nosuch"));
	cr_assert_null(config_collector(cfg, ""));
	cr_assert_null(config_collector(cfg, NULL));
	cr_assert_null(config_collector(NULL, "process"));
	config_free(cfg);
}

/* A worker's ids belong to its collector for good: a slot per collector, each used once and
 * inside the reserved block, and the ids of the collectors that shipped first never move
 * (their workers' files and audit rules name them). */
Test(config, worker_ids_are_fixed_per_collector)
{
	bool used[REGISTRY_ID_SLOTS] = {false};
	for (size_t i = 0; i < registry_count; i++) {
		const struct registry_entry *e = registry_entries[i];
		cr_assert_lt(e->id_slot, REGISTRY_ID_SLOTS, "%s: slot %u", e->name, e->id_slot);
		cr_assert_not(used[e->id_slot], "%s: slot %u used twice", e->name, e->id_slot);
		used[e->id_slot] = true;
		cr_assert_eq(registry_find_slot(e->id_slot), e);
	}
	static const struct {
		const char *name;
		uint32_t slot;
	} shipped[] = {{"process", 9}, {"network", 8}, {"security", 10}, {"dns", 3}, {"cri", 2},
		       {"etcd", 4},    {"kubeapi", 6},  {"kubelet", 7},    {"cni", 1}, {"systemd", 11}};
	struct config *cfg = load_ok("run_as_uid: 70000\nrun_as_gid: 80000\n");
	for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		uint32_t uid, gid;
		cr_assert_eq(config_worker_ids(cfg, shipped[i].name, &uid, &gid), 0);
		cr_assert_eq(uid, 70000 + shipped[i].slot, "%s", shipped[i].name);
		cr_assert_eq(gid, 80000 + shipped[i].slot, "%s", shipped[i].name);
	}
	uint32_t uid, gid;
	cr_assert_eq(config_worker_ids(cfg, "nosuch", &uid, &gid), -ENOENT);
	config_free(cfg);
}

Test(config, free_null_is_noop)
{
	config_free(NULL);
}

/* ---- errors ------------------------------------------------------------------------------ */

struct err_case {
	const char *yaml;
	const char *msg;
};

static const struct err_case err_cases[] = {
	/* unknown keys */
	{ "supervisor:\n  stop_timeout_ms: 100\n  heartbeat_timout_ms: 1\n",
	  "tapio.yaml:3: supervisor.heartbeat_timout_ms: unknown key "
	  "(did you mean heartbeat_timeout_ms?)" },
	{ "run_as_uid: 1\nfoo: 1\n", "tapio.yaml:2: foo: unknown key" },
	{ "colectors: {}\n", "tapio.yaml:1: colectors: unknown key (did you mean collectors?)" },
	{ "collectors:\n  nosuch:\n    enabled: true\n",
	  "tapio.yaml:2: collectors.nosuch: unknown key" },
	{ "supervisor.stop_timeout_ms: 100\n",
	  "tapio.yaml:1: \"supervisor.stop_timeout_ms\": unknown key" },
	{ "\"\": 1\n", "tapio.yaml:1: \"\": unknown key" },
	{ "\"run_as\\0uid\": 1\n",
	  "tapio.yaml:1: \"run_as\\x00uid\": unknown key (did you mean run_as_uid?)" },
	{ "? [a]\n: 1\n", "tapio.yaml:1: expected a key name, got a sequence" },
	/* booleans */
	{ "collectors:\n  process:\n    sandbox: true\n\n    enabled: yes please\n",
	  "tapio.yaml:5: collectors.process.enabled: expected true or false, got \"yes please\"" },
	{ "sinks:\n  stdout:\n    enabled: yes\n",
	  "tapio.yaml:3: sinks.stdout.enabled: expected true or false, got \"yes\"" },
	{ "sinks:\n  stdout:\n    enabled: 1\n",
	  "tapio.yaml:3: sinks.stdout.enabled: expected true or false, got \"1\"" },
	{ "sinks:\n  stdout:\n    enabled:\n",
	  "tapio.yaml:3: sinks.stdout.enabled: expected true or false, got \"\"" },
	{ "sinks:\n  stdout:\n    enabled: \"true\\0\"\n",
	  "tapio.yaml:3: sinks.stdout.enabled: expected true or false, got \"true\\x00\"" },
	{ "sinks:\n  stdout:\n    enabled: [true]\n",
	  "tapio.yaml:3: sinks.stdout.enabled: expected true or false, got a sequence" },
	/* integers */
	{ "collectors:\n  process:\n    ring_buffer_kib: 1000\n",
	  "tapio.yaml:3: collectors.process.ring_buffer_kib: 1000 is not a power of two "
	  "(4..1048576)" },
	{ "collectors:\n  process:\n    ring_buffer_kib: 2\n",
	  "tapio.yaml:3: collectors.process.ring_buffer_kib: 2 is out of range (4..1048576)" },
	{ "collectors:\n  process:\n    ring_buffer_kib: 0\n",
	  "tapio.yaml:3: collectors.process.ring_buffer_kib: 0 is out of range (4..1048576)" },
	{ "collectors:\n  process:\n    ring_buffer_kib: 2097152\n",
	  "tapio.yaml:3: collectors.process.ring_buffer_kib: 2097152 is out of range "
	  "(4..1048576)" },
	{ "supervisor:\n  stop_timeout_ms: 99\n",
	  "tapio.yaml:2: supervisor.stop_timeout_ms: 99 is out of range (100..60000)" },
	{ "supervisor:\n  stop_timeout_ms: -1\n",
	  "tapio.yaml:2: supervisor.stop_timeout_ms: -1 is out of range (100..60000)" },
	{ "supervisor:\n  stats_log_interval_s: -0\n",
	  "tapio.yaml:2: supervisor.stats_log_interval_s: -0 is out of range (0..3600)" },
	{ "run_as_uid: 4294967296\n",
	  "tapio.yaml:1: run_as_uid: 4294967296 is out of range (1..4294967230)" },
	{ "run_as_uid: 99999999999999999999999999\n",
	  "tapio.yaml:1: run_as_uid: 99999999999999999999999999 is out of range (1..4294967230)" },
	{ "run_as_gid: 12abc\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer (1..4294967230), got \"12abc\"" },
	{ "run_as_gid: 0x10\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer (1..4294967230), got \"0x10\"" },
	{ "run_as_gid: 1.5\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer (1..4294967230), got \"1.5\"" },
	{ "run_as_gid: +5\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer (1..4294967230), got \"+5\"" },
	{ "run_as_gid: 1_000\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer (1..4294967230), got \"1_000\"" },
	{ "run_as_gid: \"-\"\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer (1..4294967230), got \"-\"" },
	{ "run_as_gid:\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer (1..4294967230), got \"\"" },
	{ "run_as_gid: \" 5\"\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer (1..4294967230), got \" 5\"" },
	{ "run_as_gid: 0100\n",
	  "tapio.yaml:1: run_as_gid: expected a decimal integer without leading zeros, "
	  "got \"0100\"" },
	{ "run_as_uid:\n  a: 1\n",
	  "tapio.yaml:2: run_as_uid: expected a decimal integer (1..4294967230), got a mapping" },
	/* strings and enums */
	{ "log_level: verbose\n",
	  "tapio.yaml:1: log_level: expected one of debug, info, warn, error, got \"verbose\"" },
	{ "log_level: INFO\n",
	  "tapio.yaml:1: log_level: expected one of debug, info, warn, error, got \"INFO\"" },
	{ "log_level:\n", "tapio.yaml:1: log_level: expected one of debug, info, warn, error, "
			  "got \"\"" },
	{ "collectors:\n  process:\n    hooks: kprobe\n",
	  "tapio.yaml:3: collectors.process.hooks: expected one of auto, tp_btf, tracepoint, "
	  "got \"kprobe\"" },
	{ "collectors:\n  process:\n    hooks: {a: b}\n",
	  "tapio.yaml:3: collectors.process.hooks: expected one of auto, tp_btf, tracepoint, "
	  "got a mapping" },
	{ "sinks:\n  stdout:\n    format: text\n",
	  "tapio.yaml:3: sinks.stdout.format: expected one of json, got \"text\"" },
	{ "node_name: [a]\n", "tapio.yaml:1: node_name: expected a string, got a sequence" },
	{ "node_name: \"a\\tb\"\n",
	  "tapio.yaml:1: node_name: \"a\\x09b\" contains a control character" },
	{ "collector_dir: \"/a\\0b\"\n",
	  "tapio.yaml:1: collector_dir: \"/a\\x00b\" contains a control character" },
	/* lists */
	{ "collectors:\n  process:\n    comm_allow: bash\n",
	  "tapio.yaml:3: collectors.process.comm_allow: expected a sequence, got \"bash\"" },
	{ "collectors:\n  process:\n    comm_allow: {a: 1}\n",
	  "tapio.yaml:3: collectors.process.comm_allow: expected a sequence, got a mapping" },
	{ "collectors:\n  process:\n    comm_allow:\n      - bash\n      - abcdefghijklmnop\n",
	  "tapio.yaml:5: collectors.process.comm_allow: item 2: \"abcdefghijklmnop\" is longer "
	  "than 15 characters" },
	{ "collectors:\n  process:\n    comm_deny: [\"\", x]\n",
	  "tapio.yaml:3: collectors.process.comm_deny: item 1: empty value" },
	{ "collectors:\n  process:\n    comm_deny: [x, [a]]\n",
	  "tapio.yaml:3: collectors.process.comm_deny: item 2: expected a string, got a sequence" },
	{ "collectors:\n  process:\n    comm_deny: [\"a\\nb\"]\n",
	  "tapio.yaml:3: collectors.process.comm_deny: item 1: \"a\\x0ab\" contains a control "
	  "character" },
	/* node kinds */
	{ "supervisor: [1, 2]\n", "tapio.yaml:1: supervisor: expected a mapping, got a sequence" },
	{ "supervisor: 5\n", "tapio.yaml:1: supervisor: expected a mapping, got \"5\"" },
	{ "sinks:\n  stdout:\n    - enabled\n",
	  "tapio.yaml:3: sinks.stdout: expected a mapping, got a sequence" },
	{ "- a\n- b\n", "tapio.yaml:1: the top level must be a mapping, got a sequence" },
	{ "\n\nhello\n", "tapio.yaml:3: the top level must be a mapping, got \"hello\"" },
	/* duplicates */
	{ "run_as_uid: 1\nrun_as_gid: 1\nrun_as_uid: 2\n",
	  "tapio.yaml:3: run_as_uid: duplicate key (first at line 1)" },
	{ "supervisor: {}\nsinks: {}\nsupervisor:\n  stop_timeout_ms: 100\n",
	  "tapio.yaml:3: supervisor: duplicate key (first at line 1)" },
	{ "collectors:\n  process:\n    enabled: true\n  process:\n    enabled: false\n",
	  "tapio.yaml:4: collectors.process: duplicate key (first at line 2)" },
	{ "collectors: {process: {comm_allow: [], comm_allow: []}}\n",
	  "tapio.yaml:1: collectors.process.comm_allow: duplicate key (first at line 1)" },
	/* anchors, aliases, tags */
	{ "supervisor: &base\n  stop_timeout_ms: 100\n",
	  "tapio.yaml:1: supervisor: YAML anchors (&base) are not supported" },
	{ "run_as_uid: &u 5\nrun_as_gid: *u\n",
	  "tapio.yaml:1: run_as_uid: YAML anchors (&u) are not supported" },
	{ "run_as_gid: *u\n", "tapio.yaml:1: run_as_gid: YAML aliases (*u) are not supported" },
	{ "supervisor:\n  <<: *base\n",
	  "tapio.yaml:2: supervisor.\"<<\": unknown key" },
	{ "collectors:\n  process:\n    comm_allow: [*x]\n",
	  "tapio.yaml:3: collectors.process.comm_allow: YAML aliases (*x) are not supported" },
	{ "run_as_uid: !!int 5\n",
	  "tapio.yaml:1: run_as_uid: YAML tags (tag:yaml.org,2002:int) are not supported" },
	{ "!!map\nrun_as_uid: 5\n",
	  "tapio.yaml:1: YAML tags (tag:yaml.org,2002:map) are not supported" },
	/* YAML syntax */
	{ "supervisor:\n  stats_log_interval_s: 1\n  stop_timeout_ms: 100: c\n",
	  "tapio.yaml:3: invalid YAML: mapping values are not allowed in this context" },
	{ "collectors:\n  process:\n    comm_allow: [a, b\n",
	  "tapio.yaml:4: invalid YAML: did not find expected ',' or ']' while parsing a flow "
	  "sequence" },
	{ "supervisor:\n\tstop_timeout_ms: 100\n",
	  "tapio.yaml:2: invalid YAML: found character that cannot start any token while "
	  "scanning for the next token" },
	{ "node_name: \"abc\n", "tapio.yaml:2: invalid YAML: found unexpected end of stream "
			       "while scanning a quoted scalar" },
	{ "node_name: \"\xff\"\n",
	  "tapio.yaml:1: invalid YAML: invalid leading UTF-8 octet (0xff)" },
	{ "run_as_uid: 1\n---\nrun_as_uid: 2\n",
	  "tapio.yaml:2: only one YAML document is allowed" },
	/* values that only make sense together */
	{ "collectors:\n  process:\n    heartbeat_interval_ms: 2501\n",
	  "tapio.yaml:3: collectors.process.heartbeat_interval_ms: 2501 is more than half of "
	  "supervisor.heartbeat_timeout_ms (5000)" },
	{ "supervisor:\n  heartbeat_timeout_ms: 1999\n",
	  "tapio.yaml:2: supervisor.heartbeat_timeout_ms: 1999 is less than twice "
	  "collectors.process.heartbeat_interval_ms (1000)" },
	/* the workers' ids: never root, never the ids `nobody` and others share */
	{ "run_as_uid: 0\n", "tapio.yaml:1: run_as_uid: 0 is out of range (1..4294967230)" },
	{ "run_as_gid: 0\n", "tapio.yaml:1: run_as_gid: 0 is out of range (1..4294967230)" },
	{ "run_as_uid: 65471\n",
	  "tapio.yaml:1: run_as_uid: 65471..65534 (the workers' 64 ids) includes 65534/65535, "
	  "the ids `nobody` and others share" },
	{ "run_as_gid: 65534\n",
	  "tapio.yaml:1: run_as_gid: 65534..65597 (the workers' 64 ids) includes 65534/65535, "
	  "the ids `nobody` and others share" },
	/* a socket path libuv would cut: 108 bytes do not fit sun_path (107 and a NUL) */
	{ "control:\n  socket_path: /run/"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	  "tapio.yaml:2: control.socket_path: 108 bytes long; a Unix socket path has at most 107" },
	/* a CRI call must time out before the watchdog kills the silent worker */
	{ "collectors:\n  cri:\n    enabled: true\n    rpc_timeout_ms: 5000\n",
	  "tapio.yaml:4: collectors.cri.rpc_timeout_ms: 5000 plus heartbeat_interval_ms (1000) is "
	  "not shorter than supervisor.heartbeat_timeout_ms (5000): a stalled runtime would get "
	  "the worker killed instead of its call timed out" },
	{ "supervisor:\n  heartbeat_timeout_ms: 3000\ncollectors:\n  cri:\n    enabled: true\n",
	  "tapio.yaml: collectors.cri.rpc_timeout_ms: 2000 plus heartbeat_interval_ms (1000) is "
	  "not shorter than supervisor.heartbeat_timeout_ms (3000): a stalled runtime would get "
	  "the worker killed instead of its call timed out" },
};

ParameterizedTestParameters(config, rejects)
{
	static size_t idx[ARRAY_SIZE(err_cases)];

	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_SIZE(idx));
}

ParameterizedTest(size_t *i, config, rejects)
{
	const struct err_case *c = &err_cases[*i];
	char *err = load_err(c->yaml);

	bool same = !strcmp(err, c->msg);
	if (!same)
		cr_log_error("case %zu:\n%s\n got: %s\nwant: %s", *i, c->yaml, err, c->msg);
	free(err);
	cr_assert(same);
}

Test(config, rejects_nul_byte_in_stream)
{
	static const char text[] = "run_as_uid: 1\nrun_as_gid: 2\0\n";
	char *err = load_err_n(text, sizeof(text) - 1);

	cr_assert_str_eq(err, "tapio.yaml:2: invalid YAML: control characters are not allowed "
			      "(0x00)");
	free(err);
}

Test(config, rejects_long_strings)
{
	char text[600], *err;
	struct config *cfg;

	snprintf(text, sizeof(text), "node_name: %0255d\n", 7);
	cfg = load_ok(text);
	cr_assert_eq(strlen(cfg->node_name), CONFIG_NAME_MAX - 1);
	config_free(cfg);

	snprintf(text, sizeof(text), "node_name: %0256d\n", 7);
	err = load_err(text);
	cr_assert_str_eq(err, "tapio.yaml:1: node_name: \"00000000000000000000000000000000000000"
			      "00000000000000000000000000...\" is longer than 255 characters");
	free(err);
}

Test(config, rejects_long_unknown_key)
{
	char text[400], *err;

	snprintf(text, sizeof(text), "supervisor:\n  %0200d: 1\n", 0);
	err = load_err(text);
	cr_assert(strncmp(err, "tapio.yaml:2: supervisor.0000", 29) == 0, "%s", err);
	cr_assert_not_null(strstr(err, "...: unknown key"), "%s", err);
	cr_assert_lt(strlen(err), 200);
	free(err);
}

static char *list_yaml(size_t n, const char *item)
{
	size_t size = 64 + n * (strlen(item) + 10);
	char *text = malloc(size);
	size_t o = (size_t)snprintf(text, size, "collectors:\n  process:\n    comm_deny:\n");

	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(text + o, size - o, "      - %s\n", item);
	return text;
}

Test(config, list_bounds)
{
	char *text = list_yaml(CONFIG_MAX_LIST, "abcdefghijklmno");
	struct config *cfg = load_ok(text);

	cr_assert_eq(PROCESS(cfg)->comm_deny.n, CONFIG_MAX_LIST);
	cr_assert_str_eq(PROCESS(cfg)->comm_deny.items[CONFIG_MAX_LIST - 1], "abcdefghijklmno");
	config_free(cfg);
	free(text);

	text = list_yaml(CONFIG_MAX_LIST + 1, "x");
	char *err = load_err(text);
	cr_assert_str_eq(err, "tapio.yaml:68: collectors.process.comm_deny: more than 64 items");
	free(err);
	free(text);
}

/* ---- bounds of every number -------------------------------------------------------------- */

struct bound_case {
	const char *path;   /* dotted */
	uint32_t min, max;
	bool pow2;
	const char *extra;  /* other sections needed for the value to be consistent */
};

static const struct bound_case bound_cases[] = {
	{ "run_as_uid", 1, 4294967230u, false, NULL },
	{ "run_as_gid", 1, 4294967230u, false, NULL },
	{ "supervisor.heartbeat_timeout_ms", 500, 600000, false,
	  "collectors:\n  process:\n    heartbeat_interval_ms: 100\n" },
	{ "supervisor.stop_timeout_ms", 100, 60000, false, NULL },
	{ "supervisor.stats_log_interval_s", 0, 3600, false, NULL },
	{ "sinks.stdout.queue_max_kib", 64, 1048576, false, NULL },
	{ "collectors.process.heartbeat_interval_ms", 100, 60000, false,
	  "supervisor:\n  heartbeat_timeout_ms: 600000\n" },
	{ "collectors.process.stats_interval_ms", 100, 60000, false, NULL },
	{ "collectors.process.batch_max_events", 1, 4096, false, NULL },
	{ "collectors.process.queue_max_kib", 64, 65536, false, NULL },
	{ "collectors.process.ring_buffer_kib", 4, 1048576, true, NULL },
	{ "collectors.process.argv_max_args", 1, 128, false, NULL },
	{ "collectors.process.argv_max_bytes", 64, 8192, false, NULL },
};

/* A document setting the dotted `path` to `value`, nested as mappings; line 1 + depth. */
static void bound_yaml(char *buf, size_t size, const struct bound_case *c, const char *value)
{
	const char *path = c->path;
	size_t o = 0, depth = 0;

	for (const char *dot; (dot = strchr(path, '.')); path = dot + 1, depth++)
		o += (size_t)snprintf(buf + o, size - o, "%*s%.*s:\n", (int)(2 * depth), "",
				      (int)(dot - path), path);
	o += (size_t)snprintf(buf + o, size - o, "%*s%s: %s\n", (int)(2 * depth), "", path,
			      value);
	snprintf(buf + o, size - o, "%s", c->extra ? c->extra : "");
}

static uint32_t value_at(const struct config *cfg, const char *path)
{
	static const struct {
		const char *path;
		const char *section; /* NULL: a field of struct config */
		size_t offset;
	} fields[] = {
#define F(p, m) { p, NULL, offsetof(struct config, m) }
#define P(p, m) { p, "process", offsetof(struct config_process, m) }
		F("run_as_uid", run_as_uid),
		F("run_as_gid", run_as_gid),
		F("supervisor.heartbeat_timeout_ms", supervisor.heartbeat_timeout_ms),
		F("supervisor.stop_timeout_ms", supervisor.stop_timeout_ms),
		F("supervisor.stats_log_interval_s", supervisor.stats_log_interval_s),
		F("sinks.stdout.queue_max_kib", sink_stdout.queue_max_kib),
		P("collectors.process.heartbeat_interval_ms", common.heartbeat_interval_ms),
		P("collectors.process.stats_interval_ms", common.stats_interval_ms),
		P("collectors.process.batch_max_events", common.batch_max_events),
		P("collectors.process.queue_max_kib", common.queue_max_kib),
		P("collectors.process.ring_buffer_kib", ring_buffer_kib),
		P("collectors.process.argv_max_args", argv_max_args),
		P("collectors.process.argv_max_bytes", argv_max_bytes),
#undef P
#undef F
	};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		if (strcmp(fields[i].path, path))
			continue;
		const char *base = fields[i].section ? config_section(cfg, fields[i].section)
						     : (const void *)cfg;
		cr_assert_not_null(base);
		return *(const uint32_t *)(base + fields[i].offset);
	}
	cr_assert_fail("no field for %s", path);
	return 0;
}

static void check_accepts(const struct bound_case *c, uint64_t v)
{
	char text[512], value[32];

	snprintf(value, sizeof(value), "%llu", (unsigned long long)v);
	bound_yaml(text, sizeof(text), c, value);
	struct config *cfg = load_ok(text);
	cr_assert_eq(value_at(cfg, c->path), v, "%s", c->path);
	config_free(cfg);
}

static void check_rejects(const struct bound_case *c, const char *value)
{
	char text[512], want[256];
	size_t line = 1;

	bound_yaml(text, sizeof(text), c, value);
	for (const char *s = c->path; (s = strchr(s, '.')); s++)
		line++;
	snprintf(want, sizeof(want), "tapio.yaml:%zu: %s: %s is out of range (%u..%u)", line,
		 c->path, value, c->min, c->max);
	char *err = load_err(text);
	cr_assert_str_eq(err, want);
	free(err);
}

ParameterizedTestParameters(config, bounds)
{
	static size_t idx[ARRAY_SIZE(bound_cases)];

	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, ARRAY_SIZE(idx));
}

ParameterizedTest(size_t *i, config, bounds)
{
	const struct bound_case *c = &bound_cases[*i];
	char below[32], above[32];

	check_accepts(c, c->min);
	check_accepts(c, c->max);
	if (c->min > 0) {
		snprintf(below, sizeof(below), "%u", c->pow2 ? c->min / 2 : c->min - 1);
		check_rejects(c, below);
	} else {
		check_rejects(c, "-1");
	}
	snprintf(above, sizeof(above), "%llu",
		 (unsigned long long)c->max * (c->pow2 ? 2 : 1) + !c->pow2);
	check_rejects(c, above);
}

/* ---- files and descriptors --------------------------------------------------------------- */

static char *write_temp(const char *data, size_t len)
{
	char *path = strdup("/tmp/test_config.XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

Test(config, file_round_trip)
{
	char *path = write_temp(every_key_yaml, strlen(every_key_yaml));
	struct config *from_file = NULL, *from_text = load_ok(every_key_yaml);
	char *err = NULL;

	cr_assert_eq(config_load_file(path, &from_file, &err), 0, "%s", err);
	assert_every_key(from_file);
	assert_config_eq(from_file, from_text);
	cr_assert_str_eq(from_file->path, path);
	cr_assert_eq(from_file->text_len, strlen(every_key_yaml));
	cr_assert_str_eq(from_file->text, every_key_yaml);

	/* the text a worker receives loads to the same values */
	struct config *again = load_ok(from_file->text);
	assert_config_eq(again, from_file);
	config_free(again);
	config_free(from_file);
	config_free(from_text);
	unlink(path);
	free(path);
}

Test(config, file_errors_name_the_file)
{
	char *path = write_temp("run_as_uid: x\n", 14), *err = NULL, want[128];
	struct config *cfg = NULL;

	cr_assert_eq(config_load_file(path, &cfg, &err), -EINVAL);
	cr_assert_null(cfg);
	snprintf(want, sizeof(want),
		 "%s:1: run_as_uid: expected a decimal integer (1..4294967230), got \"x\"", path);
	cr_assert_str_eq(err, want);
	free(err);
	unlink(path);
	free(path);
}

Test(config, missing_file)
{
	struct config *cfg = NULL;
	char *err = NULL;

	cr_assert_eq(config_load_file("/nonexistent/tapio.yaml", &cfg, &err), -ENOENT);
	cr_assert_null(cfg);
	cr_assert_str_eq(err, "/nonexistent/tapio.yaml: cannot open: No such file or directory");
	free(err);
}

Test(config, directory_is_unreadable)
{
	struct config *cfg = NULL;
	char *err = NULL;

	cr_assert_eq(config_load_file("/tmp", &cfg, &err), -EISDIR);
	cr_assert_str_eq(err, "/tmp: cannot read: Is a directory");
	free(err);
}

Test(config, error_without_ret_err)
{
	struct config *cfg = NULL;

	cr_assert_eq(config_load_text("foo: 1", 6, "x", &cfg, NULL), -EINVAL);
	cr_assert_eq(config_load_file("/nonexistent/tapio.yaml", &cfg, NULL), -ENOENT);
	cr_assert_null(cfg);
}

static char *comment_text(size_t len)
{
	char *text = malloc(len + 1);

	memset(text, '#', len);
	for (size_t i = 79; i < len; i += 80)
		text[i] = '\n';
	text[len] = '\0';
	return text;
}

Test(config, size_limit)
{
	char *text = comment_text(CONFIG_MAX_BYTES), *err = NULL;
	struct config *cfg = NULL;

	cr_assert_eq(config_load_text(text, CONFIG_MAX_BYTES, "big.yaml", &cfg, &err), 0, "%s",
		     err);
	assert_defaults(cfg);
	config_free(cfg);
	cfg = NULL;

	cr_assert_eq(config_load_text(text, CONFIG_MAX_BYTES + 1, "big.yaml", &cfg, &err),
		     -EINVAL);
	cr_assert_null(cfg);
	cr_assert_str_eq(err, "big.yaml: larger than 1048576 bytes");
	free(err);
	free(text);
}

Test(config, file_size_limit)
{
	char *text = comment_text(CONFIG_MAX_BYTES + 1), *err = NULL, want[128];
	char *path = write_temp(text, CONFIG_MAX_BYTES + 1);
	struct config *cfg = NULL;

	cr_assert_eq(config_load_file(path, &cfg, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
	cr_assert_str_eq(err, want);
	free(err);

	cr_assert_eq(truncate(path, CONFIG_MAX_BYTES), 0);
	cr_assert_eq(config_load_file(path, &cfg, &err), 0);
	cr_assert_eq(cfg->text_len, CONFIG_MAX_BYTES);
	config_free(cfg);
	unlink(path);
	free(path);
	free(text);
}

Test(config, memfd_from_offset_zero)
{
	int fd = memfd_create("tapio-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t len = strlen(every_key_yaml);
	struct config *cfg = NULL;
	char *err = NULL;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, every_key_yaml, len), (ssize_t)len);
	cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
	/* the offset is at the end, as the supervisor leaves it */
	cr_assert_eq(config_load_fd(fd, "tapio.yaml", &cfg, &err), 0, "%s", err);
	assert_every_key(cfg);
	cr_assert_str_eq(cfg->path, "tapio.yaml");
	cr_assert_str_eq(cfg->text, every_key_yaml);
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), (off_t)len);
	config_free(cfg);

	cfg = NULL;
	cr_assert_eq(config_load_fd(fd, "again", &cfg, &err), 0, "%s", err);
	assert_every_key(cfg);
	config_free(cfg);
	close(fd);
}

Test(config, memfd_errors_use_display_name)
{
	int fd = memfd_create("tapio-config", MFD_CLOEXEC);
	struct config *cfg = NULL;
	char *err = NULL;

	cr_assert_eq(write(fd, "x: 1\n", 5), 5);
	cr_assert_eq(config_load_fd(fd, "/etc/tapio/tapio.yaml", &cfg, &err), -EINVAL);
	cr_assert_str_eq(err, "/etc/tapio/tapio.yaml:1: x: unknown key");
	free(err);
	close(fd);
}

Test(config, bad_fd)
{
	struct config *cfg = NULL;
	char *err = NULL;

	cr_assert_eq(config_load_fd(-1, "memfd", &cfg, &err), -EBADF);
	cr_assert_str_eq(err, "memfd: cannot read: Bad file descriptor");
	free(err);
}

/* ---- the collector table ----------------------------------------------------------------- */

Test(config, every_collector_has_its_section)
{
	struct config *cfg = load_ok("");

	cr_assert_gt(registry_count, 0);
	for (size_t i = 0; i < registry_count; i++) {
		const char *name = registry_entries[i]->name;
		const void *s = config_section(cfg, name);
		cr_assert_not_null(s, "%s", name);
		cr_assert_eq(config_collector(cfg, name), s, "%s", name);
		cr_assert_eq(registry_find(name), registry_entries[i], "%s", name);
		cr_assert_eq(config_collector(cfg, name)->enabled, registry_entries[i]->enabled, "%s",
			     name);
		if (i)
			cr_assert_lt(strcmp(registry_entries[i - 1]->name, name), 0, "sorted by name");
	}
	cr_assert_null(config_section(cfg, "nosuch"));
	cr_assert_null(registry_find("nosuch"));
	config_free(cfg);
}

/* The generated text sets every key of the whole schema to its default. */
Test(config, default_text_equals_defaults_everywhere)
{
	struct config *a = load_ok(""), *b = load_ok(default_yaml());

	cr_assert(config_equal_under(a, b, ""));
	config_free(a);
	config_free(b);
	for (size_t i = 0; i < registry_count; i++) {
		const struct registry_entry *e = registry_entries[i];
		char want[160];
		snprintf(want, sizeof(want), "\n  %s:\n    enabled: %s", e->name,
			 e->enabled ? "true" : "false");
		cr_assert_not_null(strstr(default_yaml(), want), "%s", want);
		for (size_t k = 0; k < e->n_keys; k++) {
			snprintf(want, sizeof(want), "\n    %s: ", e->keys[k].name);
			cr_assert_not_null(strstr(default_yaml(), want), "%s.%s", e->name, want);
		}
	}
}

Test(config, equal_under_a_collector_section)
{
	struct config *a = load_ok(""),
		      *b = load_ok("collectors:\n  security:\n    capability_rate_per_s: 5\n");

	cr_assert_not(config_equal_under(a, b, "collectors.security."));
	cr_assert(config_equal_under(a, b, "collectors.process."));
	cr_assert(config_equal_under(a, b, "supervisor."));
	cr_assert_eq(((const struct config_security *)config_section(b, "security"))
			     ->capability_rate_per_s,
		     5);
	config_free(a);
	config_free(b);
}

/* A collector's own check runs at load time, reported like any other error. */
Test(config, collector_check_names_file_line_and_key)
{
	char *err = load_err("collectors:\n"
			     "  security:\n"
			     "    capabilities: [CAP_NET_RAW, CAP_NOPE]\n");

	cr_assert_str_eq(err, "tapio.yaml:3: collectors.security.capabilities: item 2: unknown "
			      "capability \"CAP_NOPE\"");
	free(err);

	struct config *cfg = load_ok("collectors:\n  security:\n    capabilities: [cap_net_raw, "
				     "SYS_ADMIN]\n");
	const struct config_security *s = config_section(cfg, "security");
	cr_assert_eq(s->capabilities.n, 2);
	config_free(cfg);
}
