// SPDX-License-Identifier: Apache-2.0
// Loading and validating the tapio YAML configuration (see config.h). Every key is one row of
// a declarative table; the YAML is read as a libyaml event stream, so anchors and aliases are
// refused before anything could expand, and the first problem found is reported.
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PATH_LEN 128     /* longest dotted key path looked up; longer keys cannot be known */
#define SECTIONS_MAX 64  /* distinct mappings (supervisor, sinks.stdout, ...) in the schema */
#define SHOW_MAX 64      /* bytes of a user's text quoted in an error message */
#define SHOW_BUF (SHOW_MAX * 4 + 8)
#define SUGGEST_MAX 64   /* longest key for which a "did you mean" is computed */
#define COMM_MAX 15      /* TASK_COMM_LEN - 1 */
#define EMBEDDED_NAME "<embedded default>"

/* Kept identical to deploy/tapio.yaml (a unit test compares them). */
const char config_default_yaml[] =
	"# SPDX-License-Identifier: Apache-2.0\n"
	"# tapio configuration. Every key is shown with its default value; a key that is left\n"
	"# out takes its default. Integers are decimal, booleans are true or false. Unknown\n"
	"# keys are errors.\n"
	"\n"
	"node_name: \"\"            # default: $NODE_NAME if set (Kubernetes), else hostname\n"
	"log_level: info          # debug, info, warn, error\n"
	"collector_dir: \"\"        # default: directory of the tapiod executable\n"
	"run_as_uid: 65534        # workers switch to this user after setup\n"
	"run_as_gid: 65534\n"
	"\n"
	"supervisor:\n"
	"  heartbeat_timeout_ms: 5000   # 500..600000; a silent worker is restarted after this\n"
	"  stop_timeout_ms: 3000        # 100..60000; grace period before SIGKILL on stop\n"
	"  stats_log_interval_s: 10     # 0..3600; 0 = off\n"
	"\n"
	"sinks:\n"
	"  stdout:\n"
	"    enabled: true\n"
	"    format: json               # json\n"
	"    queue_max_kib: 16384       # 64..1048576\n"
	"  file:\n"
	"    enabled: false\n"
	"    path: /var/log/tapio/events.json\n"
	"    format: json               # json (one object per line) or binary (4-byte\n"
	"                               # big-endian length + tapio.v1.Event, per event)\n"
	"    max_mib: 100               # rotate above this size: path.1, path.2, ...\n"
	"    keep: 5                    # rotated files kept\n"
	"    queue_max_kib: 16384       # 64..1048576\n"
	"\n"
	"# tapioctl talks to tapiod here. Root and tapiod's own user may connect, and the\n"
	"# members of socket_group when it is set (the socket is then 0660 for that group).\n"
	"control:\n"
	"  enabled: true\n"
	"  socket_path: /run/tapio/tapiod.sock\n"
	"  socket_group: \"\"\n"
	"\n"
	"# Every collector has enabled, heartbeat_interval_ms (at most half of\n"
	"# supervisor.heartbeat_timeout_ms), stats_interval_ms, batch_max_events, queue_max_kib,\n"
	"# sandbox and the supervision keys shown for process, followed by its own keys.\n"
	"collectors:\n"
	"  process:\n"
	"    enabled: true\n"
	"    heartbeat_interval_ms: 1000  # 100..60000\n"
	"    stats_interval_ms: 1000      # 100..60000\n"
	"    batch_max_events: 256        # 1..4096 events per frame ...\n"
	"    flush_ms: 10                 # ... or what came within this many ms\n"
	"    queue_max_kib: 4096          # 64..65536\n"
	"    sandbox: true                # drop privileges after setup\n"
	"    restart_initial_ms: 100      # first restart delay (doubles, +-20 % jitter)\n"
	"    restart_max_ms: 30000        # backoff cap\n"
	"    healthy_after_s: 60          # up this long: the backoff starts over\n"
	"    crash_loop_deaths: 5         # this many deaths (1..8) ...\n"
	"    crash_loop_window_s: 60      # ... within this window: FAILED, not restarted\n"
	"    memory_max_mib: 0            # RSS budget (cgroup or RSS watchdog), 0 = none\n"
	"    cpu_max_percent: 0           # CPU budget (cgroup quota), 0 = none\n"
	"    ring_buffer_kib: 4096        # power of two, 4..1048576\n"
	"    hooks: auto                  # auto, tp_btf, tracepoint\n"
	"    argv_max_args: 32            # 1..128\n"
	"    argv_max_bytes: 2048         # 64..8192\n"
	"    include_threads: false       # also report new threads\n"
	"    containers_only: false       # only processes in containers\n"
	"    comm_allow: []               # if not empty, only these commands (1..15 chars each)\n"
	"    comm_deny: []                # never these commands (1..15 chars each)\n"
	"    force_fallback: false        # poll /proc instead of eBPF (DEGRADED)\n"
	"    poll_interval_ms: 250        # /proc polling period when eBPF cannot load\n";

enum key_type {
	KEY_BOOL,
	KEY_U32,
	KEY_POW2,    /* u32, power of two */
	KEY_STRING,  /* char *, owned */
	KEY_ENUM,    /* an enum field; the YAML value is one of `names` */
	KEY_LIST,    /* struct config_string_list */
	KEY_PORTS,   /* struct config_port_list; def != 0 is the one default port */
};

struct key {
	const char *path;          /* dotted, from the top of the document */
	enum key_type type;
	size_t offset;             /* of the field in struct config */
	uint32_t def;              /* KEY_BOOL, KEY_U32, KEY_POW2, KEY_ENUM */
	uint32_t min, max;         /* KEY_U32, KEY_POW2: value range; KEY_LIST: item length */
	const char *def_str;       /* KEY_STRING */
	const char *const *names;  /* NULL-terminated. KEY_ENUM: names[v] means value v;
				    * KEY_STRING: the allowed values, NULL = any */
	bool collector;            /* `enabled` of a collector's common block */
};

static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };
static const char *const hooks_names[] = { "auto", "tp_btf", "tracepoint", NULL };
static const char *const format_names[] = { "json", NULL };
static const char *const file_format_names[] = { "json", "binary", NULL };
static const char *const direction_names[] = { "both", "outbound", "inbound", NULL };
static const char *const testing_mode_names[] = {
	"normal",  "exit",  "hang",		 "oversized",	   "garbage",  "early_events",
	"flood",   "alloc", "forbidden_syscall", "forbidden_path", "degraded", "forge",
	"mixed_frame", "bad_event", NULL,
};

_Static_assert(sizeof(enum config_hooks) == sizeof(unsigned int), "enum stored as unsigned int");
_Static_assert(sizeof(enum config_sink_format) == sizeof(unsigned int), "enum stored as unsigned");

/* The offset of member `m`, failing to compile unless its type is `t`. */
#define FIELD(m, t)                                                                              \
	(offsetof(struct config, m) +                                                            \
	 0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((struct config *)0)->m), t) ? 1 \
												: -1]))

#define KEY_B(p, m, d) { .path = (p), .type = KEY_BOOL, .offset = FIELD(m, bool), .def = (d) }
#define KEY_U(p, m, d, lo, hi)                                                                   \
	{ .path = (p), .type = KEY_U32, .offset = FIELD(m, uint32_t), .def = (d), .min = (lo),  \
	  .max = (hi) }
#define KEY_P2(p, m, d, lo, hi)                                                                  \
	{ .path = (p), .type = KEY_POW2, .offset = FIELD(m, uint32_t), .def = (d), .min = (lo), \
	  .max = (hi) }
#define KEY_S(p, m, d, allowed)                                                                  \
	{ .path = (p), .type = KEY_STRING, .offset = FIELD(m, char *), .def_str = (d),           \
	  .names = (allowed) }
#define KEY_E(p, m, t, d, n) { .path = (p), .type = KEY_ENUM, .offset = FIELD(m, t), .def = (d), \
			       .names = (n) }
#define KEY_L(p, m, lo, hi)                                                                      \
	{ .path = (p), .type = KEY_LIST, .offset = FIELD(m, struct config_string_list),          \
	  .min = (lo), .max = (hi) }

#define KEY_PORTS_(p, m, d)                                                                      \
	{ .path = (p), .type = KEY_PORTS, .offset = FIELD(m, struct config_port_list),           \
	  .def = (d), .min = 1, .max = 65535 }

/* The keys of collectors.<name>: `m` is the struct config member, a struct that begins with
 * struct config_collector_common. A collector adds this block and its own keys after it. */
#define COLLECTOR_COMMON(name, m) COLLECTOR_COMMON_ENABLED(name, m, true)
#define COLLECTOR_COMMON_ENABLED(name, m, on)                                                    \
	{ .path = "collectors." name ".enabled", .type = KEY_BOOL,                               \
	  .offset = FIELD(m.common.enabled, bool), .def = (on), .collector = true },            \
	KEY_U("collectors." name ".heartbeat_interval_ms", m.common.heartbeat_interval_ms, 1000, \
	      100, 60000),                                                                       \
	KEY_U("collectors." name ".stats_interval_ms", m.common.stats_interval_ms, 1000, 100,    \
	      60000),                                                                            \
	KEY_U("collectors." name ".batch_max_events", m.common.batch_max_events, 256, 1, 4096),  \
	KEY_U("collectors." name ".flush_ms", m.common.flush_ms, 10, 1, 1000),                  \
	KEY_U("collectors." name ".queue_max_kib", m.common.queue_max_kib, 4096, 64, 65536),     \
	KEY_B("collectors." name ".sandbox", m.common.sandbox, true),                            \
	KEY_U("collectors." name ".restart_initial_ms", m.common.restart_initial_ms, 100, 10,    \
	      600000),                                                                           \
	KEY_U("collectors." name ".restart_max_ms", m.common.restart_max_ms, 30000, 10,          \
	      3600000),                                                                          \
	KEY_U("collectors." name ".healthy_after_s", m.common.healthy_after_s, 60, 1, 86400),    \
	KEY_U("collectors." name ".crash_loop_deaths", m.common.crash_loop_deaths, 5, 1, 8),     \
	KEY_U("collectors." name ".crash_loop_window_s", m.common.crash_loop_window_s, 60, 1,    \
	      86400),                                                                            \
	KEY_U("collectors." name ".memory_max_mib", m.common.memory_max_mib, 0, 0, 65536),       \
	KEY_U("collectors." name ".cpu_max_percent", m.common.cpu_max_percent, 0, 0, 800)

static const struct key keys[] = {
	KEY_S("node_name", node_name, "", NULL),
	KEY_S("log_level", log_level, "info", level_names),
	KEY_S("collector_dir", collector_dir, "", NULL),
	KEY_U("run_as_uid", run_as_uid, 65534, 0, UINT32_MAX - 1),
	KEY_U("run_as_gid", run_as_gid, 65534, 0, UINT32_MAX - 1),

	KEY_U("supervisor.heartbeat_timeout_ms", supervisor.heartbeat_timeout_ms, 5000, 500, 600000),
	KEY_U("supervisor.stop_timeout_ms", supervisor.stop_timeout_ms, 3000, 100, 60000),
	KEY_U("supervisor.stats_log_interval_s", supervisor.stats_log_interval_s, 10, 0, 3600),

	KEY_B("sinks.stdout.enabled", sink_stdout.enabled, true),
	KEY_E("sinks.stdout.format", sink_stdout.format, enum config_sink_format, CONFIG_SINK_JSON,
	      format_names),
	KEY_U("sinks.stdout.queue_max_kib", sink_stdout.queue_max_kib, 16384, 64, 1048576),
	KEY_B("sinks.file.enabled", sink_file.enabled, false),
	KEY_S("sinks.file.path", sink_file.path, "/var/log/tapio/events.json", NULL),
	KEY_E("sinks.file.format", sink_file.format, enum config_sink_format, CONFIG_SINK_JSON,
	      file_format_names),
	KEY_U("sinks.file.max_mib", sink_file.max_mib, 100, 1, 65536),
	KEY_U("sinks.file.keep", sink_file.keep, 5, 0, 100),
	KEY_U("sinks.file.queue_max_kib", sink_file.queue_max_kib, 16384, 64, 1048576),

	KEY_B("control.enabled", control.enabled, true),
	KEY_S("control.socket_path", control.socket_path, "/run/tapio/tapiod.sock", NULL),
	KEY_S("control.socket_group", control.socket_group, "", NULL),

	COLLECTOR_COMMON("process", process),
	KEY_P2("collectors.process.ring_buffer_kib", process.ring_buffer_kib, 4096, 4, 1048576),
	KEY_E("collectors.process.hooks", process.hooks, enum config_hooks, CONFIG_HOOKS_AUTO,
	      hooks_names),
	KEY_U("collectors.process.argv_max_args", process.argv_max_args, 32, 1, 128),
	KEY_U("collectors.process.argv_max_bytes", process.argv_max_bytes, 2048, 64, 8192),
	KEY_B("collectors.process.include_threads", process.include_threads, false),
	KEY_B("collectors.process.containers_only", process.containers_only, false),
	KEY_L("collectors.process.comm_allow", process.comm_allow, 1, COMM_MAX),
	KEY_L("collectors.process.comm_deny", process.comm_deny, 1, COMM_MAX),
	KEY_B("collectors.process.force_fallback", process.force_fallback, false),
	KEY_U("collectors.process.poll_interval_ms", process.poll_interval_ms, 250, 50, 60000),

	COLLECTOR_COMMON_ENABLED("network", network, false),
	KEY_P2("collectors.network.ring_buffer_kib", network.ring_buffer_kib, 4096, 4, 1048576),
	KEY_E("collectors.network.hooks", network.hooks, enum config_hooks, CONFIG_HOOKS_AUTO,
	      hooks_names),
	KEY_PORTS_("collectors.network.ports", network.ports, 0),
	KEY_E("collectors.network.direction", network.direction, enum config_direction,
	      CONFIG_DIRECTION_BOTH, direction_names),
	KEY_B("collectors.network.containers_only", network.containers_only, false),
	KEY_B("collectors.network.state_events", network.state_events, false),
	KEY_U("collectors.network.retransmit_interval_ms", network.retransmit_interval_ms, 1000, 0,
	      3600000),

	COLLECTOR_COMMON_ENABLED("security", security, false),
	KEY_P2("collectors.security.ring_buffer_kib", security.ring_buffer_kib, 4096, 4, 1048576),
	KEY_E("collectors.security.hooks", security.hooks, enum config_hooks, CONFIG_HOOKS_AUTO,
	      hooks_names),
	KEY_L("collectors.security.namespace_exclude_comms", security.namespace_exclude_comms, 1,
	      COMM_MAX),
	KEY_L("collectors.security.capabilities", security.capabilities, 1, 32),
	KEY_U("collectors.security.capability_rate_per_s", security.capability_rate_per_s, 10, 0,
	      100000),
	KEY_B("collectors.security.containers_only", security.containers_only, false),

	COLLECTOR_COMMON_ENABLED("dns", dns, false),
	KEY_P2("collectors.dns.ring_buffer_kib", dns.ring_buffer_kib, 4096, 4, 1048576),
	KEY_PORTS_("collectors.dns.ports", dns.ports, 53),
	KEY_U("collectors.dns.payload_max_bytes", dns.payload_max_bytes, 512, 64, 4096),
	KEY_U("collectors.dns.timeout_ms", dns.timeout_ms, 5000, 100, 600000),
	KEY_U("collectors.dns.table_max", dns.table_max, 65536, 16, 1048576),
	KEY_B("collectors.dns.force_fallback", dns.force_fallback, false),
	KEY_B("collectors.dns.containers_only", dns.containers_only, false),

	COLLECTOR_COMMON_ENABLED("cri", cri, false),
	KEY_S("collectors.cri.socket_path", cri.socket_path, "", NULL),
	KEY_U("collectors.cri.poll_interval_ms", cri.poll_interval_ms, 2000, 100, 600000),
	KEY_U("collectors.cri.rpc_timeout_ms", cri.rpc_timeout_ms, 5000, 100, 60000),
	KEY_P2("collectors.cri.ring_buffer_kib", cri.ring_buffer_kib, 1024, 4, 1048576),
	KEY_B("collectors.cri.force_degraded", cri.force_degraded, false),
	KEY_B("collectors.cri.inventory", cri.inventory, true),

	COLLECTOR_COMMON_ENABLED("bench", bench, false),
	KEY_P2("collectors.bench.ring_buffer_kib", bench.ring_buffer_kib, 16384, 4, 1048576),
	KEY_U("collectors.bench.pid", bench.pid, 0, 0, 4194304),

	COLLECTOR_COMMON_ENABLED("testing", testing, false),
	KEY_E("collectors.testing.mode", testing.mode, enum config_testing_mode,
	      CONFIG_TESTING_NORMAL, testing_mode_names),
	KEY_U("collectors.testing.tick_ms", testing.tick_ms, 100, 1, 60000),
	KEY_U("collectors.testing.exit_code", testing.exit_code, 111, 0, 255),
	KEY_U("collectors.testing.after_ms", testing.after_ms, 0, 0, 600000),
	KEY_U("collectors.testing.alloc_mib", testing.alloc_mib, 64, 1, 4096),
};

/* One parse. Errors stop it: the first problem is the one reported. */
struct parser {
	yaml_parser_t yaml;
	yaml_event_t ev;        /* the current event, valid when have_ev */
	bool have_ev;
	struct config *cfg;     /* borrowed; filled in place */
	const char *file;       /* borrowed; the name used in messages */
	char *err;              /* owned; the message, once there is one */
	size_t key_line[ARRAY_SIZE(keys)];  /* where each key was set, 0 = not in the file */
	struct {
		char path[PATH_LEN];
		size_t line;
	} sections[SECTIONS_MAX];
	size_t n_sections;
	char path[PATH_LEN];    /* dotted path of the key being read, "" at the top */
};

static void *field(const struct config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

static int find_key(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* Whether `path` is a mapping of the schema (a proper prefix of some key). */
static bool is_section(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strncmp(keys[i].path, path, n) == 0 && keys[i].path[n] == '.')
			return true;
	return false;
}

/* s[0..n) for a message: printable ASCII as is, the rest escaped, cut at SHOW_MAX bytes. */
static const char *show(char buf[SHOW_BUF], const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && i < SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			o += (size_t)sprintf(buf + o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)sprintf(buf + o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	if (n > SHOW_MAX)
		strcpy(buf + o, "...");
	return buf;
}

static void join_names(char *buf, size_t size, const char *const *names)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; names[i] && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);
}

__attribute__((format(printf, 4, 0))) static int failv(struct parser *p, size_t line,
							const char *path, const char *fmt,
							va_list ap)
{
	char *what = NULL, *msg = NULL;

	assert(!p->err);
	if (vasprintf(&what, fmt, ap) < 0)
		return -ENOMEM;
	int n;
	if (line && path && *path)
		n = asprintf(&msg, "%s:%zu: %s: %s", p->file, line, path, what);
	else if (line)
		n = asprintf(&msg, "%s:%zu: %s", p->file, line, what);
	else if (path && *path)
		n = asprintf(&msg, "%s: %s: %s", p->file, path, what);
	else
		n = asprintf(&msg, "%s: %s", p->file, what);
	free(what);
	if (n < 0)
		return -ENOMEM;
	p->err = msg;
	return -EINVAL;
}

/* Report a problem at `line` (1-based) with key `path` ("" for none). Returns -EINVAL. */
__attribute__((format(printf, 4, 5))) static int fail_at(struct parser *p, size_t line,
							   const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = failv(p, line, path, fmt, ap);
	va_end(ap);
	return r;
}

/* Report a problem with the current event, under the current key path. */
__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = failv(p, p->ev.start_mark.line + 1, p->path, fmt, ap);
	va_end(ap);
	return r;
}

/* Whether s[0..n) is exactly lit (a value with a NUL byte inside never is). */
static bool eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(s, lit, n);
}

static int find_name(const char *const *names, const char *s, size_t n)
{
	for (int i = 0; names[i]; i++)
		if (eq(s, n, names[i]))
			return i;
	return -1;
}

static bool is_null(const yaml_event_t *ev)
{
	if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)ev->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* What the current event is, for "expected X, got Y". */
static const char *describe(const struct parser *p, char buf[SHOW_BUF + 2])
{
	const yaml_event_t *ev = &p->ev;

	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_SCALAR_EVENT: {
		char s[SHOW_BUF];
		snprintf(buf, SHOW_BUF + 2, "\"%s\"",
			 show(s, (const char *)ev->data.scalar.value, ev->data.scalar.length));
		return buf;
	}
	default:
		return "nothing";
	}
}

static int syntax_error(struct parser *p, const char *text)
{
	const yaml_parser_t *y = &p->yaml;
	size_t line = y->problem_mark.line + 1;

	if (y->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (y->error == YAML_READER_ERROR) {
		/* reader errors carry a byte offset, not a mark */
		line = 1;
		for (size_t i = 0; i < y->problem_offset && i < p->cfg->text_len; i++)
			line += text[i] == '\n';
		if (y->problem_value != -1)
			return fail_at(p, line, "", "invalid YAML: %s (0x%02x)",
				       y->problem ? y->problem : "error", (unsigned)y->problem_value);
	}
	return fail_at(p, line, "", "invalid YAML: %s%s%s", y->problem ? y->problem : "error",
		       y->context ? " " : "", y->context ? y->context : "");
}

/* Anchors, aliases and tags are valid YAML but have no place in this file: refusing them
 * keeps a small file small (no alias expansion) and keeps values plain. */
static int check_node(struct parser *p)
{
	const yaml_event_t *ev = &p->ev;
	const yaml_char_t *anchor = NULL, *tag = NULL;
	char s[SHOW_BUF];

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		anchor = ev->data.alias.anchor;
		return fail(p, "YAML aliases (*%s) are not supported",
			    show(s, (const char *)anchor, strlen((const char *)anchor)));
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return 0;
	}
	if (anchor)
		return fail(p, "YAML anchors (&%s) are not supported",
			    show(s, (const char *)anchor, strlen((const char *)anchor)));
	if (tag)
		return fail(p, "YAML tags (%s) are not supported",
			    show(s, (const char *)tag, strlen((const char *)tag)));
	return 0;
}

static int next(struct parser *p)
{
	if (p->have_ev)
		yaml_event_delete(&p->ev);
	p->have_ev = false;
	if (!yaml_parser_parse(&p->yaml, &p->ev))
		return syntax_error(p, p->cfg->text);
	p->have_ev = true;
	return check_node(p);
}

/* ---- values ------------------------------------------------------------------------------ */

static int set_bool(struct parser *p, const char *s, size_t n, bool *ret)
{
	static const char *const names[] = { "false", "true", "False", "True", "FALSE", "TRUE",
					     NULL };
	char buf[SHOW_BUF + 2];
	int i = find_name(names, s, n);

	if (i < 0)
		return fail(p, "expected true or false, got %s", describe(p, buf));
	*ret = i % 2;
	return 0;
}

static int set_u32(struct parser *p, const struct key *k, const char *s, size_t n, uint32_t *ret)
{
	char buf[SHOW_BUF + 2];
	bool minus = n && *s == '-', overflow = false;
	const char *d = s + minus;
	size_t digits = strspn(d, "0123456789");
	uint64_t v = 0;

	if (!digits || minus + digits != n)
		return fail(p, "expected a decimal integer (%u..%u), got %s", k->min, k->max,
			    describe(p, buf));
	if (*d == '0' && digits > 1)
		return fail(p, "expected a decimal integer without leading zeros, got %s",
			    describe(p, buf));
	for (; *d; d++) {
		if (v > (UINT64_MAX - 9) / 10)
			overflow = true;
		else
			v = v * 10 + (uint64_t)(*d - '0');
	}
	if (minus || overflow || v < k->min || v > k->max)
		return fail(p, "%s is out of range (%u..%u)", show(buf, s, n), k->min, k->max);
	if (k->type == KEY_POW2 && (v & (v - 1)))
		return fail(p, "%s is not a power of two (%u..%u)", s, k->min, k->max);
	*ret = (uint32_t)v;
	return 0;
}

/* A plain name or path: bounded, no control characters. `what` prefixes the problem. */
static int check_text(struct parser *p, const char *what, const char *s, size_t n, size_t min,
		      size_t max)
{
	char buf[SHOW_BUF];

	if (n < min)
		return fail(p, "%sempty value", what);
	if (n > max)
		return fail(p, "%s\"%s\" is longer than %zu characters", what, show(buf, s, n), max);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return fail(p, "%s\"%s\" contains a control character", what,
				    show(buf, s, n));
	return 0;
}

static int set_string(struct parser *p, const struct key *k, const char *s, size_t n, char **ret)
{
	char buf[SHOW_BUF + 2], names[128];

	if (is_null(&p->ev)) {
		s = "";
		n = 0;
	}
	int r = check_text(p, "", s, n, 0, CONFIG_NAME_MAX - 1);
	if (r < 0)
		return r;
	if (k->names && find_name(k->names, s, n) < 0) {
		join_names(names, sizeof(names), k->names);
		return fail(p, "expected one of %s, got %s", names, describe(p, buf));
	}
	char *copy = strndup(s, n);
	if (!copy)
		return -ENOMEM;
	free(*ret);
	*ret = copy;
	return 0;
}

static int set_enum(struct parser *p, const struct key *k, const char *s, size_t n, void *ret)
{
	char buf[SHOW_BUF + 2], names[128];
	int i = find_name(k->names, s, n);

	if (i < 0) {
		join_names(names, sizeof(names), k->names);
		return fail(p, "expected one of %s, got %s", names, describe(p, buf));
	}
	memcpy(ret, &(unsigned int){ (unsigned int)i }, sizeof(unsigned int));
	return 0;
}

static void list_clear(struct config_string_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int list_add(struct parser *p, const struct key *k, struct config_string_list *l)
{
	char buf[SHOW_BUF + 2], what[32];

	snprintf(what, sizeof(what), "item %zu: ", l->n + 1);
	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, "%sexpected a string, got %s", what, describe(p, buf));
	if (l->n == CONFIG_MAX_LIST)
		return fail(p, "more than %d items", CONFIG_MAX_LIST);
	const char *s = (const char *)p->ev.data.scalar.value;
	size_t n = p->ev.data.scalar.length;
	int r = check_text(p, what, s, n, k->min, k->max);
	if (r < 0)
		return r;
	if (!l->items) {
		l->items = calloc(CONFIG_MAX_LIST, sizeof(*l->items));
		if (!l->items)
			return -ENOMEM;
	}
	l->items[l->n] = strndup(s, n);
	if (!l->items[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static int set_ports(struct parser *p, const struct key *k, struct config_port_list *l)
{
	char buf[SHOW_BUF + 2];

	l->n = 0;
	if (is_null(&p->ev))
		return 0;
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(p, "expected a sequence of ports, got %s", describe(p, buf));
	for (;;) {
		int r = next(p);
		if (r < 0)
			return r;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (p->ev.type != YAML_SCALAR_EVENT)
			return fail(p, "item %zu: expected a port, got %s", l->n + 1,
				    describe(p, buf));
		if (l->n == CONFIG_MAX_LIST)
			return fail(p, "more than %d ports", CONFIG_MAX_LIST);
		uint32_t v;
		r = set_u32(p, k, (const char *)p->ev.data.scalar.value, p->ev.data.scalar.length,
			    &v);
		if (r < 0)
			return r;
		l->items[l->n++] = (uint16_t)v;
	}
}

static int set_list(struct parser *p, const struct key *k, struct config_string_list *l)
{
	char buf[SHOW_BUF + 2];

	list_clear(l);
	if (is_null(&p->ev))
		return 0;
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(p, "expected a sequence, got %s", describe(p, buf));
	for (;;) {
		int r = next(p);
		if (r < 0)
			return r;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		r = list_add(p, k, l);
		if (r < 0)
			return r;
	}
}

/* The current event is the value of key k. */
static int set_value(struct parser *p, const struct key *k)
{
	void *f = field(p->cfg, k);
	char buf[SHOW_BUF + 2], names[128];

	if (k->type == KEY_LIST)
		return set_list(p, k, f);
	if (k->type == KEY_PORTS)
		return set_ports(p, k, f);
	if (p->ev.type != YAML_SCALAR_EVENT) {
		switch (k->type) {
		case KEY_BOOL:
			return fail(p, "expected true or false, got %s", describe(p, buf));
		case KEY_ENUM:
			join_names(names, sizeof(names), k->names);
			return fail(p, "expected one of %s, got %s", names, describe(p, buf));
		case KEY_STRING:
			return fail(p, "expected a string, got %s", describe(p, buf));
		default:
			return fail(p, "expected a decimal integer (%u..%u), got %s", k->min,
				    k->max, describe(p, buf));
		}
	}

	const char *s = (const char *)p->ev.data.scalar.value;
	size_t n = p->ev.data.scalar.length;
	switch (k->type) {
	case KEY_BOOL:
		return set_bool(p, s, n, f);
	case KEY_U32:
	case KEY_POW2:
		return set_u32(p, k, s, n, f);
	case KEY_STRING:
		return set_string(p, k, s, n, f);
	case KEY_ENUM:
		return set_enum(p, k, s, n, f);
	default:
		assert(0);
		return -EINVAL;
	}
}

/* ---- mappings ---------------------------------------------------------------------------- */

static size_t distance(const char *a, size_t na, const char *b, size_t nb)
{
	size_t row[SUGGEST_MAX + 1];

	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}

/* The known key under `prefix` closest to the unknown `name`, if it is a likely typo. */
static void suggest(const char *prefix, const char *name, size_t n, char *buf, size_t size)
{
	size_t plen = strlen(prefix), best = 3;

	buf[0] = '\0';
	if (n > SUGGEST_MAX)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *c = keys[i].path;
		if (plen) {
			if (strncmp(c, prefix, plen) || c[plen] != '.')
				continue;
			c += plen + 1;
		}
		size_t clen = strcspn(c, ".");
		if (clen > SUGGEST_MAX)
			continue;
		size_t d = distance(name, n, c, clen);
		if (d < best && d < clen) {
			best = d;
			snprintf(buf, size, " (did you mean %.*s?)", (int)clen, c);
		}
	}
}

static int unknown_key(struct parser *p, size_t plen, const char *name, size_t n)
{
	char buf[SHOW_BUF], path[PATH_LEN + SHOW_BUF + 4], hint[SUGGEST_MAX + 32];
	bool plain = n && strspn(name, "abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;

	p->path[plen] = '\0';
	suggest(p->path, name, n, hint, sizeof(hint));
	snprintf(path, sizeof(path), plain ? "%s%s%s" : "%s%s\"%s\"", p->path, plen ? "." : "",
		 show(buf, name, n));
	return fail_at(p, p->ev.start_mark.line + 1, path, "unknown key%s", hint);
}

/* Appends the current key event to p->path; a key that cannot be in the schema is an error. */
static int push_key(struct parser *p)
{
	char buf[SHOW_BUF + 2];
	size_t plen = strlen(p->path);

	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, "expected a key name, got %s", describe(p, buf));
	const char *name = (const char *)p->ev.data.scalar.value;
	size_t n = p->ev.data.scalar.length;
	if (!n || strlen(name) != n || memchr(name, '.', n) || plen + 1 + n >= PATH_LEN)
		return unknown_key(p, plen, name, n);
	snprintf(p->path + plen, PATH_LEN - plen, "%s%s", plen ? "." : "", name);
	if (find_key(p->path) < 0 && !is_section(p->path))
		return unknown_key(p, plen, name, n);
	return 0;
}

static int enter_section(struct parser *p, size_t line)
{
	for (size_t i = 0; i < p->n_sections; i++)
		if (!strcmp(p->sections[i].path, p->path))
			return fail_at(p, line, p->path, "duplicate key (first at line %zu)",
				       p->sections[i].line);
	assert(p->n_sections < SECTIONS_MAX);
	strcpy(p->sections[p->n_sections].path, p->path);
	p->sections[p->n_sections++].line = line;
	return 0;
}

static int parse_mapping(struct parser *p);

/* The current event is a key of the mapping at p->path; reads its value. */
static int parse_entry(struct parser *p)
{
	char buf[SHOW_BUF + 2];
	size_t plen = strlen(p->path), line = p->ev.start_mark.line + 1;
	int r = push_key(p);
	if (r < 0)
		return r;

	int i = find_key(p->path);
	if (i >= 0 && p->key_line[i])
		return fail_at(p, line, p->path, "duplicate key (first at line %zu)",
			       p->key_line[i]);
	if (i >= 0)
		p->key_line[i] = line;
	else if ((r = enter_section(p, line)) < 0)
		return r;

	r = next(p);
	if (r < 0)
		return r;
	if (i >= 0)
		r = set_value(p, &keys[i]);
	else if (p->ev.type == YAML_MAPPING_START_EVENT)
		r = parse_mapping(p);
	else if (!is_null(&p->ev)) /* a section with every key commented out */
		r = fail(p, "expected a mapping, got %s", describe(p, buf));
	p->path[plen] = '\0';
	return r;
}

/* After a MAPPING-START: reads up to and including its MAPPING-END. */
static int parse_mapping(struct parser *p)
{
	for (;;) {
		int r = next(p);
		if (r < 0)
			return r;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		r = parse_entry(p);
		if (r < 0)
			return r;
	}
}

static int expect(struct parser *p, yaml_event_type_t type, const char *what)
{
	int r = next(p);
	if (r < 0)
		return r;
	if (p->ev.type != type)
		return fail(p, "expected %s", what);
	return 0;
}

/* A stream of zero documents (empty, or only comments) or one document. */
static int parse_stream(struct parser *p)
{
	char buf[SHOW_BUF + 2];
	int r = expect(p, YAML_STREAM_START_EVENT, "the start of the stream");
	if (r < 0)
		return r;
	if ((r = next(p)) < 0)
		return r;
	if (p->ev.type == YAML_STREAM_END_EVENT)
		return 0;
	if ((r = next(p)) < 0)
		return r;
	if (p->ev.type == YAML_MAPPING_START_EVENT)
		r = parse_mapping(p);
	else if (!is_null(&p->ev))
		r = fail(p, "the top level must be a mapping, got %s", describe(p, buf));
	if (r < 0)
		return r;
	if ((r = expect(p, YAML_DOCUMENT_END_EVENT, "the end of the document")) < 0)
		return r;
	if ((r = next(p)) < 0)
		return r;
	if (p->ev.type != YAML_STREAM_END_EVENT)
		return fail(p, "only one YAML document is allowed");
	return 0;
}

/* A collector must beat well within the supervisor's watchdog. */
static int check_heartbeats(struct parser *p)
{
	int t = find_key("supervisor.heartbeat_timeout_ms");
	uint32_t timeout = p->cfg->supervisor.heartbeat_timeout_ms;
	char path[PATH_LEN];

	assert(t >= 0);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (!keys[i].collector || !*(const bool *)field(p->cfg, &keys[i]))
			continue; /* only enabled collectors beat */
		size_t n = strlen(keys[i].path) - strlen("enabled");
		snprintf(path, sizeof(path), "%.*sheartbeat_interval_ms", (int)n, keys[i].path);
		int h = find_key(path);
		assert(h >= 0);
		uint32_t interval = *(const uint32_t *)field(p->cfg, &keys[h]);
		if (interval <= timeout / 2)
			continue;
		if (p->key_line[h])
			return fail_at(p, p->key_line[h], path,
				       "%u is more than half of supervisor.heartbeat_timeout_ms (%u)",
				       interval, timeout);
		return fail_at(p, p->key_line[t], keys[t].path,
			       "%u is less than twice %s (%u)", timeout, path, interval);
	}
	return 0;
}

static int parse(struct config *cfg, char **ret_err)
{
	struct parser *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (!yaml_parser_initialize(&p->yaml)) {
		free(p);
		return -ENOMEM;
	}
	p->cfg = cfg;
	p->file = cfg->path;
	yaml_parser_set_input_string(&p->yaml, (const unsigned char *)cfg->text, cfg->text_len);

	int r = parse_stream(p);
	if (r >= 0)
		r = check_heartbeats(p);
	if (p->have_ev)
		yaml_event_delete(&p->ev);
	yaml_parser_delete(&p->yaml);
	*ret_err = p->err;
	free(p);
	return r;
}

/* ---- loading ----------------------------------------------------------------------------- */

static int set_defaults(struct config *cfg)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		void *f = field(cfg, k);

		switch (k->type) {
		case KEY_BOOL:
			*(bool *)f = k->def;
			break;
		case KEY_U32:
		case KEY_POW2:
			*(uint32_t *)f = k->def;
			break;
		case KEY_ENUM:
			memcpy(f, &(unsigned int){ k->def }, sizeof(unsigned int));
			break;
		case KEY_STRING:
			*(char **)f = strdup(k->def_str);
			if (!*(char **)f)
				return -ENOMEM;
			break;
		case KEY_LIST:
			break;
		case KEY_PORTS: {
			struct config_port_list *l = f;
			l->n = 0;
			if (k->def)
				l->items[l->n++] = (uint16_t)k->def;
			break;
		}
		}
	}
	return 0;
}

static int set_node_name(struct config *cfg)
{
	char host[HOST_NAME_MAX + 1] = "";

	if (*cfg->node_name)
		return 0;
	/* Kubernetes passes the node's name through the downward API; a pod's hostname is the
	 * pod's name, not the node's. */
	const char *env = getenv("NODE_NAME");
	if (env && *env && strlen(env) <= HOST_NAME_MAX && !strpbrk(env, "\n\r\t "))
		snprintf(host, sizeof(host), "%s", env);
	else if (gethostname(host, sizeof(host)) < 0 || !*host)
		strcpy(host, "localhost");
	host[HOST_NAME_MAX] = '\0';
	char *copy = strdup(host);
	if (!copy)
		return -ENOMEM;
	free(cfg->node_name);
	cfg->node_name = copy;
	return 0;
}

static void set_err(char **ret_err, char *msg, const char *file, int r)
{
	if (!msg && asprintf(&msg, "%s: %s", file, strerror(-r)) < 0)
		msg = NULL;
	if (ret_err)
		*ret_err = msg;
	else
		free(msg);
}

/* Takes ownership of text (malloc'd, NUL at text[len]) in every case. */
static int load(char *text, size_t len, const char *display, struct config **ret_cfg,
		char **ret_err)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char *msg = NULL;
	int r = -ENOMEM;

	if (!cfg) {
		free(text);
		goto fail;
	}
	cfg->text = text;
	cfg->text_len = len;
	cfg->path = strdup(display);
	if (!cfg->path || (r = set_defaults(cfg)) < 0)
		goto fail;
	if ((r = parse(cfg, &msg)) < 0 || (r = set_node_name(cfg)) < 0)
		goto fail;
	*ret_cfg = cfg;
	return 0;
fail:
	config_free(cfg);
	set_err(ret_err, msg, display, r);
	return r;
}

static int too_big(const char *display, char **ret_err)
{
	char *msg = NULL;

	if (asprintf(&msg, "%s: larger than %u bytes", display, CONFIG_MAX_BYTES) < 0)
		msg = NULL;
	set_err(ret_err, msg, display, -EINVAL);
	return -EINVAL;
}

int config_load_text(const char *text, size_t len, const char *display, struct config **ret_cfg,
		     char **ret_err)
{
	if (!display)
		display = EMBEDDED_NAME;
	if (len > CONFIG_MAX_BYTES)
		return too_big(display, ret_err);
	char *copy = malloc(len + 1);
	if (!copy) {
		set_err(ret_err, NULL, display, -ENOMEM);
		return -ENOMEM;
	}
	if (len)
		memcpy(copy, text, len);
	copy[len] = '\0';
	return load(copy, len, display, ret_cfg, ret_err);
}

/* Reads all of fd from offset 0, at most CONFIG_MAX_BYTES + 1 bytes. */
static int read_all(int fd, char **ret_buf, size_t *ret_len)
{
	size_t len = 0, alloc = 0, limit = CONFIG_MAX_BYTES + 1;
	char *buf = NULL;

	for (;;) {
		if (len + 1 >= alloc && alloc < limit + 1) {
			size_t n = alloc ? alloc * 2 : 4096;
			n = n > limit + 1 ? limit + 1 : n;
			char *b = realloc(buf, n);
			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
			alloc = n;
		}
		if (len == limit)
			break;
		ssize_t n = pread(fd, buf + len, alloc - 1 - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int config_load_fd(int fd, const char *display, struct config **ret_cfg, char **ret_err)
{
	char *text = NULL, *msg = NULL;
	size_t len = 0;

	if (!display)
		display = "<fd>";
	int r = read_all(fd, &text, &len);
	if (r < 0) {
		if (asprintf(&msg, "%s: cannot read: %s", display, strerror(-r)) < 0)
			msg = NULL;
		set_err(ret_err, msg, display, r);
		return r;
	}
	if (len > CONFIG_MAX_BYTES) {
		free(text);
		return too_big(display, ret_err);
	}
	return load(text, len, display, ret_cfg, ret_err);
}

int config_load_file(const char *path, struct config **ret_cfg, char **ret_err)
{
	char *msg = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		int r = -errno;
		if (asprintf(&msg, "%s: cannot open: %s", path, strerror(-r)) < 0)
			msg = NULL;
		set_err(ret_err, msg, path, r);
		return r;
	}
	int r = config_load_fd(fd, path, ret_cfg, ret_err);
	close(fd);
	return r;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (keys[i].type == KEY_STRING)
			free(*(char **)field(cfg, &keys[i]));
		else if (keys[i].type == KEY_LIST)
			list_clear(field(cfg, &keys[i]));
	}
	free(cfg->path);
	free(cfg->text);
	free(cfg);
}

const struct config_collector_common *config_collector(const struct config *cfg, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!cfg || !n)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *path = keys[i].path;
		if (keys[i].collector && !strncmp(path + strlen("collectors."), name, n) &&
		    !strcmp(path + strlen("collectors.") + n, ".enabled"))
			return (const void *)((const char *)cfg + keys[i].offset -
					      offsetof(struct config_collector_common, enabled));
	}
	return NULL;
}

/* Two values of key k equal? */
static bool key_equal(const struct config *a, const struct config *b, const struct key *k)
{
	const void *fa = field(a, k), *fb = field(b, k);
	switch (k->type) {
	case KEY_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case KEY_U32:
	case KEY_POW2:
		return *(const uint32_t *)fa == *(const uint32_t *)fb;
	case KEY_ENUM:
		return memcmp(fa, fb, sizeof(unsigned int)) == 0;
	case KEY_STRING:
		return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
	case KEY_LIST: {
		const struct config_string_list *la = fa, *lb = fb;
		if (la->n != lb->n)
			return false;
		for (size_t i = 0; i < la->n; i++)
			if (strcmp(la->items[i], lb->items[i]) != 0)
				return false;
		return true;
	}
	case KEY_PORTS: {
		const struct config_port_list *la = fa, *lb = fb;
		return la->n == lb->n && memcmp(la->items, lb->items, la->n * sizeof(la->items[0])) == 0;
	}
	}
	return false;
}

bool config_equal_under(const struct config *a, const struct config *b, const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strncmp(keys[i].path, prefix, n) == 0 && !key_equal(a, b, &keys[i]))
			return false;
	return true;
}
