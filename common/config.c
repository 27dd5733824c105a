// SPDX-License-Identifier: Apache-2.0
// Loading and validating the tapio YAML configuration (see config.h), and printing its default.
// Every key is one row of a declarative table: the top-level rows and the common collector
// block here, each collector's own rows in collectors/<name>/ (the generated table). The YAML
// is read as a libyaml event stream, so anchors and aliases are refused before anything could
// expand, and the first problem found is reported.
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "registry.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PATH_LEN      128 /* longest dotted key path looked up; longer keys cannot be known */
#define SECTIONS_MAX  256 /* distinct mappings (supervisor, sinks.stdout, ...) in the schema */
#define SHOW_MAX      64  /* bytes of a user's text quoted in an error message */
#define SHOW_BUF      (SHOW_MAX * 4 + 8)
#define SUGGEST_MAX   64 /* longest key for which a "did you mean" is computed */
#define EMBEDDED_NAME "<embedded default>"

#define KEYS_MAX 1024 /* rows of the whole schema: top level and every collector's */

const char *const config_hooks_names[] = {"auto", "tp_btf", "tracepoint", NULL};

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"json", NULL};
static const char *const file_format_names[] = {"json", "binary", NULL};

static const char *const fsync_names[] = {"never", "segment", "always", NULL};
static const char *const spool_full_names[] = {"drop_oldest", "refuse_new", NULL};

_Static_assert(sizeof(enum config_spool_fsync) == sizeof(unsigned int), "enum stored as unsigned");
_Static_assert(sizeof(enum config_spool_full) == sizeof(unsigned int), "enum stored as unsigned");
_Static_assert(sizeof(enum config_hooks) == sizeof(unsigned int), "enum stored as unsigned int");
_Static_assert(sizeof(enum config_sink_format) == sizeof(unsigned int), "enum stored as unsigned");

#define C struct config
static const struct config_key top_keys[] = {
	CONFIG_STRING(C, "node_name", node_name, "", NULL,
		      "\"\" = $NODE_NAME if set (Kubernetes), else the hostname"),
	CONFIG_STRING(C, "log_level", log_level, "info", level_names, NULL),
	CONFIG_STRING(C, "collector_dir", collector_dir, "", NULL,
		      "\"\" = the directory of the tapiod executable"),
	CONFIG_U32(C, "run_as_uid", run_as_uid, CONFIG_WORKER_ID_FIRST, 1, CONFIG_WORKER_ID_MAX,
		   "the first of 64 ids; each collector's worker has a fixed one: uid "
		   "run_as_uid+slot"),
	CONFIG_U32(C, "run_as_gid", run_as_gid, CONFIG_WORKER_ID_FIRST, 1, CONFIG_WORKER_ID_MAX,
		   "... and gid run_as_gid+slot; ids no other process may use"),

	CONFIG_U32(C, "supervisor.heartbeat_timeout_ms", supervisor.heartbeat_timeout_ms, 5000, 500,
		   600000, "a silent worker is restarted after this"),
	CONFIG_U32(C, "supervisor.stop_timeout_ms", supervisor.stop_timeout_ms, 3000, 100, 60000,
		   "grace period before SIGKILL on stop"),
	CONFIG_U32(C, "supervisor.stats_log_interval_s", supervisor.stats_log_interval_s, 10, 0,
		   3600, "0 = off"),
	CONFIG_BOOL(C, "supervisor.fd_store", supervisor.fd_store, true,
		    "keep eBPF workers' kernel objects across their restarts"),

	CONFIG_BOOL(C, "sinks.stdout.enabled", sink_stdout.enabled, true, NULL),
	CONFIG_ENUM(C, "sinks.stdout.format", sink_stdout.format, enum config_sink_format,
		    CONFIG_SINK_JSON, format_names, "one JSON object per line"),
	CONFIG_U32(C, "sinks.stdout.queue_max_kib", sink_stdout.queue_max_kib, 16384, 64, 1048576,
		   NULL),
	CONFIG_BOOL(C, "sinks.file.enabled", sink_file.enabled, false, NULL),
	CONFIG_STRING(C, "sinks.file.path", sink_file.path, "/var/log/tapio/events.json", NULL,
		      NULL),
	CONFIG_ENUM(C, "sinks.file.format", sink_file.format, enum config_sink_format,
		    CONFIG_SINK_JSON, file_format_names,
		    "binary = 4-byte big-endian length + tapio.v1.Event"),
	CONFIG_U32(C, "sinks.file.max_mib", sink_file.max_mib, 100, 1, 65536,
		   "rotate above this size: path.1, path.2, ..."),
	CONFIG_U32(C, "sinks.file.keep", sink_file.keep, 5, 0, 100, "rotated files kept"),
	CONFIG_U32(C, "sinks.file.queue_max_kib", sink_file.queue_max_kib, 16384, 64, 1048576,
		   NULL),

	CONFIG_BOOL(C, "sinks.nats.enabled", sink_nats.enabled, false, NULL),
	CONFIG_LIST(C, "sinks.nats.servers", sink_nats.servers, 1, 255,
		    "nats:// or tls:// URLs, tried in turn; [] = nats://127.0.0.1:4222"),
	CONFIG_STRING(C, "sinks.nats.subject_prefix", sink_nats.subject_prefix, "tapio", NULL,
		      "subjects: <prefix>.<node>.<collector>.<type>"),
	CONFIG_ENUM(C, "sinks.nats.format", sink_nats.format, enum config_sink_format,
		    CONFIG_SINK_JSON, file_format_names, "binary = the encoded tapio.v1.Event"),
	CONFIG_STRING(C, "sinks.nats.stream", sink_nats.stream, "", NULL,
		      "create this JetStream stream for <prefix>.> if missing; \"\" = do not"),
	CONFIG_U32(C, "sinks.nats.window", sink_nats.window, 4096, 1, 65536,
		   "publishes awaiting their ack; the rest waits in the spool"),
	CONFIG_U32(C, "sinks.nats.ack_timeout_ms", sink_nats.ack_timeout_ms, 5000, 100, 600000,
		   "no ack within this: sent again from the spool"),
	CONFIG_U32(C, "sinks.nats.reconnect_wait_ms", sink_nats.reconnect_wait_ms, 1000, 10, 600000,
		   NULL),
	CONFIG_STRING(C, "sinks.nats.credentials_file", sink_nats.credentials_file, "", NULL,
		      "NATS .creds file (JWT and nkey seed)"),
	CONFIG_STRING(C, "sinks.nats.nkey", sink_nats.nkey, "", NULL,
		      "public nkey (U...), signed with nkey_seed_file"),
	CONFIG_STRING(C, "sinks.nats.nkey_seed_file", sink_nats.nkey_seed_file, "", NULL, NULL),
	CONFIG_STRING(C, "sinks.nats.token_file", sink_nats.token_file, "", NULL,
		      "a file holding the auth token"),
	CONFIG_BOOL(C, "sinks.nats.tls.enabled", sink_nats.tls, false,
		    "required for tls:// URLs; implied by the files below"),
	CONFIG_STRING(C, "sinks.nats.tls.ca_file", sink_nats.tls_ca_file, "", NULL,
		      "\"\" = the system's trusted CAs"),
	CONFIG_STRING(C, "sinks.nats.tls.cert_file", sink_nats.tls_cert_file, "", NULL,
		      "client certificate (mutual TLS), with key_file"),
	CONFIG_STRING(C, "sinks.nats.tls.key_file", sink_nats.tls_key_file, "", NULL, NULL),
	CONFIG_STRING(C, "sinks.nats.spool.dir", sink_nats.spool_dir, "/var/lib/tapio/spool/nats",
		      NULL, "events wait here until JetStream acknowledged them"),
	CONFIG_U32(C, "sinks.nats.spool.max_mib", sink_nats.spool_max_mib, 1024, 1, 1048576,
		   "the spool's size cap"),
	CONFIG_U32(C, "sinks.nats.spool.segment_mib", sink_nats.spool_segment_mib, 16, 1, 1024,
		   "segment file size; at most max_mib / 2"),
	CONFIG_ENUM(C, "sinks.nats.spool.fsync", sink_nats.spool_fsync, enum config_spool_fsync,
		    CONFIG_FSYNC_SEGMENT, fsync_names,
		    "never = the page cache: survives a crash of tapiod, not of the node"),
	CONFIG_ENUM(C, "sinks.nats.spool.when_full", sink_nats.spool_when_full,
		    enum config_spool_full, CONFIG_SPOOL_DROP_OLDEST, spool_full_names,
		    "what a full spool does; both count what they lose"),

	CONFIG_BOOL(C, "http.enabled", http.enabled, true, "/metrics, /healthz, /readyz"),
	CONFIG_STRING(C, "http.address", http.address, "127.0.0.1", NULL,
		      "numeric IPv4 or IPv6 address; 0.0.0.0 for a Service or a remote scraper"),
	CONFIG_U32(C, "http.port", http.port, 9464, 1, 65535, NULL),

	CONFIG_BOOL(C, "control.enabled", control.enabled, true, NULL),
	CONFIG_STRING(C, "control.socket_path", control.socket_path, "/run/tapio/tapiod.sock", NULL,
		      NULL),
	CONFIG_STRING(C, "control.socket_group", control.socket_group, "", NULL,
		      "\"\" = root and tapiod's own user only"),
};
#undef C

/* The block every collector section begins with; `enabled` takes its default from the
 * collector's registry entry. */
#define C struct config_collector_common
static const struct config_key common_keys[] = {
	CONFIG_BOOL(C, "enabled", enabled, false, NULL),
	CONFIG_U32(C, "heartbeat_interval_ms", heartbeat_interval_ms, 1000, 100, 60000,
		   "at most half of supervisor.heartbeat_timeout_ms"),
	CONFIG_U32(C, "stats_interval_ms", stats_interval_ms, 1000, 100, 60000, NULL),
	CONFIG_U32(C, "batch_max_events", batch_max_events, 256, 1, 4096, "events per frame ..."),
	CONFIG_U32(C, "flush_ms", flush_ms, 10, 1, 1000, "... or what came within this many ms"),
	CONFIG_U32(C, "queue_max_kib", queue_max_kib, 4096, 64, 65536,
		   "worker -> tapiod queue cap"),
	CONFIG_BOOL(C, "sandbox", sandbox, true, "drop privileges after setup"),
	CONFIG_U32(C, "restart_initial_ms", restart_initial_ms, 100, 10, 600000,
		   "first restart delay (doubles, +-20 % jitter)"),
	CONFIG_U32(C, "restart_max_ms", restart_max_ms, 30000, 10, 3600000, "backoff cap"),
	CONFIG_U32(C, "healthy_after_s", healthy_after_s, 60, 1, 86400,
		   "up this long: the backoff starts over"),
	CONFIG_U32(C, "crash_loop_deaths", crash_loop_deaths, 5, 1, 8, "this many deaths ..."),
	CONFIG_U32(C, "crash_loop_window_s", crash_loop_window_s, 60, 1, 86400,
		   "... within this window: FAILED, not restarted"),
	CONFIG_U32(C, "memory_max_mib", memory_max_mib, 0, 0, 65536,
		   "RSS budget (cgroup or RSS watchdog), 0 = none"),
	CONFIG_U32(C, "cpu_max_percent", cpu_max_percent, 0, 0, 800,
		   "CPU budget of one core (cgroup quota), 0 = none"),
};
#undef C

/* Comments above the mappings of the default configuration. */
static const struct {
	const char *path;
	const char *comment;
} section_comments[] = {
	{"control", "tapioctl talks to tapiod here. Root and tapiod's own user may connect, and "
		    "the\nmembers of socket_group when it is set (the socket is then 0660 for "
		    "that group)."},
	{"collectors", "Every collector section begins with the same keys (enabled ... "
		       "cpu_max_percent),\nfollowed by its own. The worker of collector NAME is "
		       "tapio-collector-NAME\nin collector_dir."},
};

/* One row of the whole schema: a row of a key table with its full dotted path. */
struct key {
	char path[PATH_LEN];
	enum config_key_type type;
	size_t offset; /* in struct config, or in the section */
	int section;   /* -1: a field of struct config; else cfg->sections[section] */
	uint32_t def;
	uint32_t min, max;
	const char *def_str;
	const char *const *names;
	const char *comment;
	bool collector; /* `enabled` of a collector's common block */
};

static struct key keys[KEYS_MAX];
static size_t n_keys;
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void add_key(const char *prefix, const struct config_key *k, int section)
{
	struct key *r = &keys[n_keys++];
	int n = snprintf(r->path, sizeof(r->path), "%s%s", prefix, k->name);

	assert(n_keys <= KEYS_MAX && n > 0 && (size_t)n < sizeof(r->path));
	r->type = k->type;
	r->offset = k->offset;
	r->section = section;
	r->def = k->def;
	r->min = k->min;
	r->max = k->max;
	r->def_str = k->def_str;
	r->names = k->names;
	r->comment = k->comment;
}

static void build_keys(void)
{
	char prefix[PATH_LEN];

	for (size_t i = 0; i < ARRAY_SIZE(top_keys); i++)
		add_key("", &top_keys[i], -1);
	for (size_t s = 0; s < registry_count; s++) {
		const struct registry_entry *e = registry_entries[s];
		assert(e->config_size >= sizeof(struct config_collector_common));
		snprintf(prefix, sizeof(prefix), "collectors.%s.", e->name);
		for (size_t i = 0; i < ARRAY_SIZE(common_keys); i++) {
			add_key(prefix, &common_keys[i], (int)s);
			if (common_keys[i].offset ==
			    offsetof(struct config_collector_common, enabled)) {
				keys[n_keys - 1].collector = true;
				keys[n_keys - 1].def = e->enabled;
			}
		}
		for (size_t i = 0; i < e->n_keys; i++) {
			assert(e->keys[i].offset >= sizeof(struct config_collector_common) &&
			       e->keys[i].offset < e->config_size);
			add_key(prefix, &e->keys[i], (int)s);
		}
	}
}

static void init_keys(void)
{
	pthread_once(&keys_once, build_keys);
}

/* One parse. Errors stop it: the first problem is the one reported. */
struct parser {
	yaml_parser_t yaml;
	yaml_event_t ev; /* the current event, valid when have_ev */
	bool have_ev;
	struct config *cfg;	   /* borrowed; filled in place */
	const char *file;	   /* borrowed; the name used in messages */
	char *err;		   /* owned; the message, once there is one */
	size_t key_line[KEYS_MAX]; /* where each key was set, 0 = not in the file */
	struct {
		char path[PATH_LEN];
		size_t line;
	} sections[SECTIONS_MAX];
	size_t n_sections;
	char path[PATH_LEN]; /* dotted path of the key being read, "" at the top */
};

static void *field(const struct config *cfg, const struct key *k)
{
	if (k->section < 0)
		return (char *)cfg + k->offset;
	return (char *)cfg->sections[k->section] + k->offset;
}

static int find_key(const char *path)
{
	for (size_t i = 0; i < n_keys; i++)
		if (strcmp(keys[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* Whether `path` is a mapping of the schema (a proper prefix of some key). */
static bool is_section(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < n_keys; i++)
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

__attribute__((format(printf, 4, 0))) static int
failv(struct parser *p, size_t line, const char *path, const char *fmt, va_list ap)
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
				       y->problem ? y->problem : "error",
				       (unsigned)y->problem_value);
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
	static const char *const names[] = {"false", "true", "False", "True",
					    "FALSE", "TRUE", NULL};
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
	if (k->type == CONFIG_KEY_POW2 && (v & (v - 1)))
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
		return fail(p, "%s\"%s\" is longer than %zu characters", what, show(buf, s, n),
			    max);
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
	memcpy(ret, &(unsigned int){(unsigned int)i}, sizeof(unsigned int));
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

	if (k->type == CONFIG_KEY_LIST)
		return set_list(p, k, f);
	if (k->type == CONFIG_KEY_PORTS)
		return set_ports(p, k, f);
	if (p->ev.type != YAML_SCALAR_EVENT) {
		switch (k->type) {
		case CONFIG_KEY_BOOL:
			return fail(p, "expected true or false, got %s", describe(p, buf));
		case CONFIG_KEY_ENUM:
			join_names(names, sizeof(names), k->names);
			return fail(p, "expected one of %s, got %s", names, describe(p, buf));
		case CONFIG_KEY_STRING:
			return fail(p, "expected a string, got %s", describe(p, buf));
		default:
			return fail(p, "expected a decimal integer (%u..%u), got %s", k->min,
				    k->max, describe(p, buf));
		}
	}

	const char *s = (const char *)p->ev.data.scalar.value;
	size_t n = p->ev.data.scalar.length;
	switch (k->type) {
	case CONFIG_KEY_BOOL:
		return set_bool(p, s, n, f);
	case CONFIG_KEY_U32:
	case CONFIG_KEY_POW2:
		return set_u32(p, k, s, n, f);
	case CONFIG_KEY_STRING:
		return set_string(p, k, s, n, f);
	case CONFIG_KEY_ENUM:
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
	for (size_t i = 0; i < n_keys; i++) {
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
	for (size_t i = 0; i < n_keys; i++) {
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
			return fail_at(
				p, p->key_line[h], path,
				"%u is more than half of supervisor.heartbeat_timeout_ms (%u)",
				interval, timeout);
		return fail_at(p, p->key_line[t], keys[t].path, "%u is less than twice %s (%u)",
			       timeout, path, interval);
	}
	return 0;
}

/* The workers' uid and gid ranges: [first, first + REGISTRY_ID_SLOTS). Never root (the key's
 * range starts at 1), never the
 * overflow ids (65534 `nobody`, 65535) that other processes share, never (uid_t)-1. */
static int check_worker_ids(struct parser *p)
{
	static const char *const names[] = {"run_as_uid", "run_as_gid"};
	const uint32_t first[] = {p->cfg->run_as_uid, p->cfg->run_as_gid};

	for (int i = 0; i < 2; i++) {
		int k = find_key(names[i]);
		assert(k >= 0);
		uint64_t last = (uint64_t)first[i] + REGISTRY_ID_SLOTS - 1;
		if (last >= UINT32_MAX)
			return fail_at(p, p->key_line[k], names[i],
				       "%u..%llu (the workers' %u ids) does not fit below %u",
				       first[i], (unsigned long long)last, REGISTRY_ID_SLOTS,
				       UINT32_MAX);
		if (first[i] <= 65535 && last >= 65534)
			return fail_at(p, p->key_line[k], names[i],
				       "%u..%llu (the workers' %u ids) includes 65534/65535, "
				       "the ids `nobody` and others share",
				       first[i], (unsigned long long)last, REGISTRY_ID_SLOTS);
	}
	return 0;
}

/* A Unix socket path must fit sun_path with its NUL; libuv would silently cut it. */
static int check_socket_path(struct parser *p)
{
	struct sockaddr_un sa;
	size_t n = strlen(p->cfg->control.socket_path);

	if (!p->cfg->control.enabled || n < sizeof(sa.sun_path))
		return 0;
	int k = find_key("control.socket_path");
	assert(k >= 0);
	return fail_at(p, p->key_line[k], keys[k].path,
		       "%zu bytes long; a Unix socket path has at most %zu", n,
		       sizeof(sa.sun_path) - 1);
}

int config_worker_ids(const struct config *cfg, const char *name, uint32_t *ret_uid,
		      uint32_t *ret_gid)
{
	for (size_t i = 0; i < registry_count; i++) {
		if (strcmp(registry_entries[i]->name, name) != 0)
			continue;
		*ret_uid = cfg->run_as_uid + registry_entries[i]->id_slot;
		*ret_gid = cfg->run_as_gid + registry_entries[i]->id_slot;
		return 0;
	}
	return -ENOENT;
}

/* Each collector's own checks of its section, in table order; the first problem is reported
 * at the line of the key it names. */
static int check_sections(struct parser *p)
{
	char path[PATH_LEN], msg[256];

	for (size_t s = 0; s < registry_count; s++) {
		const struct registry_entry *e = registry_entries[s];
		const char *key = NULL;

		if (!e->check)
			continue;
		msg[0] = '\0';
		int r = e->check(p->cfg, p->cfg->sections[s], &key, msg, sizeof(msg));
		if (r >= 0)
			continue;
		if (r != -EINVAL)
			return r;
		snprintf(path, sizeof(path), "collectors.%s.%s", e->name, key ? key : "");
		int i = key ? find_key(path) : -1;
		if (i < 0)
			snprintf(path, sizeof(path), "collectors.%s", e->name);
		return fail_at(p, i >= 0 ? p->key_line[i] : 0, path, "%s",
			       msg[0] ? msg : "invalid value");
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
	if (r >= 0)
		r = check_worker_ids(p);
	if (r >= 0)
		r = check_socket_path(p);
	if (r >= 0)
		r = check_sections(p);
	if (p->have_ev)
		yaml_event_delete(&p->ev);
	yaml_parser_delete(&p->yaml);
	*ret_err = p->err;
	free(p);
	return r;
}

/* ---- the default configuration ---------------------------------------------------------- */

#define COMMENT_COLUMN 36 /* where a key's comment starts, when the key leaves room */

static void print_comment_lines(FILE *f, int depth, const char *text)
{
	while (*text) {
		size_t n = strcspn(text, "\n");
		fprintf(f, "%*s# %.*s\n", 2 * depth, "", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

/* A string value as YAML: plain when that reads back the same, else double-quoted. */
static void print_string(FILE *f, const char *s)
{
	if (*s &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-") ==
		    strlen(s) &&
	    !strchr("-.", s[0])) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++)
		fprintf(f, (*s == '"' || *s == '\\') ? "\\%c" : "%c", *s);
	fputc('"', f);
}

/* The range of key k in words, "" when it has none worth saying. */
static void describe_range(const struct key *k, char *buf, size_t size)
{
	char names[256];

	buf[0] = '\0';
	switch (k->type) {
	case CONFIG_KEY_U32:
		snprintf(buf, size, "%u..%u", k->min, k->max);
		break;
	case CONFIG_KEY_POW2:
		snprintf(buf, size, "power of two, %u..%u", k->min, k->max);
		break;
	case CONFIG_KEY_ENUM:
		join_names(names, sizeof(names), k->names);
		snprintf(buf, size, "%s", names);
		break;
	case CONFIG_KEY_STRING:
		if (k->names) {
			join_names(names, sizeof(names), k->names);
			snprintf(buf, size, "%s", names);
		}
		break;
	case CONFIG_KEY_LIST:
		snprintf(buf, size, "items of %u..%u chars", k->min, k->max);
		break;
	case CONFIG_KEY_PORTS:
		snprintf(buf, size, "ports");
		break;
	case CONFIG_KEY_BOOL:
		break;
	}
}

static void print_key(FILE *f, int depth, const char *name, const struct key *k)
{
	char range[320];
	long start = ftell(f);

	fprintf(f, "%*s%s: ", 2 * depth, "", name);
	switch (k->type) {
	case CONFIG_KEY_BOOL:
		fputs(k->def ? "true" : "false", f);
		break;
	case CONFIG_KEY_U32:
	case CONFIG_KEY_POW2:
		fprintf(f, "%u", k->def);
		break;
	case CONFIG_KEY_ENUM:
		fputs(k->names[k->def], f);
		break;
	case CONFIG_KEY_STRING:
		print_string(f, k->def_str);
		break;
	case CONFIG_KEY_LIST:
		fputs("[]", f);
		break;
	case CONFIG_KEY_PORTS:
		if (k->def)
			fprintf(f, "[%u]", k->def);
		else
			fputs("[]", f);
		break;
	}
	describe_range(k, range, sizeof(range));
	if (range[0] || k->comment) {
		long used = ftell(f) - start;
		fprintf(f, "%*s# %s%s%s", used < COMMENT_COLUMN ? (int)(COMMENT_COLUMN - used) : 1,
			"", range, range[0] && k->comment ? "; " : "",
			k->comment ? k->comment : "");
	}
	fputc('\n', f);
}

static const char *section_comment(const char *path, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(section_comments); i++)
		if (strlen(section_comments[i].path) == n &&
		    !strncmp(section_comments[i].path, path, n))
			return section_comments[i].comment;
	if (n > strlen("collectors.") && !strncmp(path, "collectors.", strlen("collectors."))) {
		for (size_t s = 0; s < registry_count; s++) {
			const struct registry_entry *e = registry_entries[s];
			if (strlen(e->name) == n - strlen("collectors.") &&
			    !strncmp(e->name, path + strlen("collectors."), strlen(e->name)))
				return e->comment;
		}
	}
	return NULL;
}

/* Every key in table order; a mapping opens where a key's path leaves the previous one's. */
static void print_default(FILE *f)
{
	const char *prev = "";

	fputs("# SPDX-License-Identifier: Apache-2.0\n"
	      "# tapio configuration: every key with its default value, as printed by\n"
	      "# `tapiod --print-default-config` (generated from the key tables; do not edit by\n"
	      "# hand). A key that is left out takes its default. Integers are decimal, booleans\n"
	      "# are true or false. Unknown keys are errors.\n",
	      f);
	for (size_t i = 0; i < n_keys; i++) {
		const char *path = keys[i].path;
		/* the mappings path shares with prev */
		size_t same = 0;
		int depth = 0;
		for (size_t j = 0; path[j] && path[j] == prev[j]; j++)
			if (path[j] == '.') {
				same = j + 1;
				depth++;
			}
		if (i == 0 || (depth == 0 && strchr(path, '.')) ||
		    (same == strlen("collectors.") && !strncmp(path, "collectors.", same)))
			fputc('\n', f);
		for (const char *dot; (dot = strchr(path + same, '.'));
		     same = (size_t)(dot - path) + 1) {
			const char *c = section_comment(path, (size_t)(dot - path));
			if (c)
				print_comment_lines(f, depth, c);
			fprintf(f, "%*s%.*s:\n", 2 * depth, "", (int)(dot - path - (long)same),
				path + same);
			depth++;
		}
		print_key(f, depth, path + same, &keys[i]);
		prev = path;
	}
}

char *config_default_text(void)
{
	char *buf = NULL;
	size_t len = 0;

	init_keys();
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	print_default(f);
	if (ferror(f) || fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- loading ----------------------------------------------------------------------------- */

static int set_defaults(struct config *cfg)
{
	for (size_t i = 0; i < n_keys; i++) {
		const struct key *k = &keys[i];
		void *f = field(cfg, k);

		switch (k->type) {
		case CONFIG_KEY_BOOL:
			*(bool *)f = k->def;
			break;
		case CONFIG_KEY_U32:
		case CONFIG_KEY_POW2:
			*(uint32_t *)f = k->def;
			break;
		case CONFIG_KEY_ENUM:
			memcpy(f, &(unsigned int){k->def}, sizeof(unsigned int));
			break;
		case CONFIG_KEY_STRING:
			*(char **)f = strdup(k->def_str);
			if (!*(char **)f)
				return -ENOMEM;
			break;
		case CONFIG_KEY_LIST:
			break;
		case CONFIG_KEY_PORTS: {
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

static int alloc_sections(struct config *cfg)
{
	cfg->sections = calloc(registry_count ? registry_count : 1, sizeof(*cfg->sections));
	if (!cfg->sections)
		return -ENOMEM;
	for (size_t s = 0; s < registry_count; s++) {
		cfg->sections[s] = calloc(1, registry_entries[s]->config_size);
		if (!cfg->sections[s])
			return -ENOMEM;
	}
	return 0;
}

/* Takes ownership of text (malloc'd, NUL at text[len]) in every case. */
static int load(char *text, size_t len, const char *display, struct config **ret_cfg,
		char **ret_err)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char *msg = NULL;
	int r = -ENOMEM;

	init_keys();
	if (!cfg) {
		free(text);
		goto fail;
	}
	cfg->text = text;
	cfg->text_len = len;
	cfg->path = strdup(display);
	if (!cfg->path || (r = alloc_sections(cfg)) < 0 || (r = set_defaults(cfg)) < 0)
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
	for (size_t i = 0; i < n_keys; i++) {
		if (keys[i].section >= 0 && (!cfg->sections || !cfg->sections[keys[i].section]))
			continue; /* a load that failed before every section was allocated */
		if (keys[i].type == CONFIG_KEY_STRING)
			free(*(char **)field(cfg, &keys[i]));
		else if (keys[i].type == CONFIG_KEY_LIST)
			list_clear(field(cfg, &keys[i]));
	}
	for (size_t s = 0; cfg->sections && s < registry_count; s++)
		free(cfg->sections[s]);
	free(cfg->sections);
	free(cfg->path);
	free(cfg->text);
	free(cfg);
}

const void *config_section(const struct config *cfg, const char *name)
{
	if (!cfg || !name || !cfg->sections)
		return NULL;
	for (size_t s = 0; s < registry_count; s++)
		if (!strcmp(registry_entries[s]->name, name))
			return cfg->sections[s];
	return NULL;
}

const struct config_collector_common *config_collector(const struct config *cfg, const char *name)
{
	return config_section(cfg, name);
}

/* Two values of key k equal? */
static bool key_equal(const struct config *a, const struct config *b, const struct key *k)
{
	const void *fa = field(a, k), *fb = field(b, k);
	switch (k->type) {
	case CONFIG_KEY_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CONFIG_KEY_U32:
	case CONFIG_KEY_POW2:
		return *(const uint32_t *)fa == *(const uint32_t *)fb;
	case CONFIG_KEY_ENUM:
		return memcmp(fa, fb, sizeof(unsigned int)) == 0;
	case CONFIG_KEY_STRING:
		return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
	case CONFIG_KEY_LIST: {
		const struct config_string_list *la = fa, *lb = fb;
		if (la->n != lb->n)
			return false;
		for (size_t i = 0; i < la->n; i++)
			if (strcmp(la->items[i], lb->items[i]) != 0)
				return false;
		return true;
	}
	case CONFIG_KEY_PORTS: {
		const struct config_port_list *la = fa, *lb = fb;
		return la->n == lb->n &&
		       memcmp(la->items, lb->items, la->n * sizeof(la->items[0])) == 0;
	}
	}
	return false;
}

bool config_equal_under(const struct config *a, const struct config *b, const char *prefix)
{
	size_t n = strlen(prefix);

	init_keys();
	for (size_t i = 0; i < n_keys; i++)
		if (strncmp(keys[i].path, prefix, n) == 0 && !key_equal(a, b, &keys[i]))
			return false;
	return true;
}
