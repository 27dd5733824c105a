/* SPDX-License-Identifier: Apache-2.0 */
/* The tapio configuration: one YAML file, a typed section per collector, defaults for every
 * key, validation with errors that name the file, line and key. The supervisor loads the file;
 * each worker receives the same text (a sealed memfd) and loads it again with this code, so
 * supervisor and workers never disagree on a value. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_BYTES (1u << 20) /* a config file larger than this is rejected */
#define CONFIG_MAX_LIST	 64	    /* entries in any list */
/* The default first uid and gid of the workers' range, one id per collector: below systemd's
 * DynamicUser range (61184..65519), above systemd-homed's (60001..60513) and the ids
 * systemd-nspawn maps (60514..60577), far from 65534 `nobody`. */
#define CONFIG_WORKER_ID_FIRST 61000
/* The highest first id: the range ends below (uid_t)-1 with room for CONFIG_MAX_LIST
 * collectors. 0 (root) is below every range. */
#define CONFIG_WORKER_ID_MAX (UINT32_MAX - 1 - CONFIG_MAX_LIST)
#define CONFIG_NAME_MAX                                                                            \
	256 /* length of any string value (at most CONFIG_NAME_MAX - 1                             \
	     * bytes, so it fits a char[CONFIG_NAME_MAX]) */

enum config_hooks {
	CONFIG_HOOKS_AUTO = 0,	 /* best available, chosen by probing */
	CONFIG_HOOKS_TP_BTF,	 /* BTF-typed tracepoints only */
	CONFIG_HOOKS_TRACEPOINT, /* classic tracepoints only */
};

enum config_sink_format {
	CONFIG_SINK_JSON = 0,
	CONFIG_SINK_BINARY, /* 4-byte big-endian length + tapio.v1.Event, per event */
};

enum config_spool_fsync {
	CONFIG_FSYNC_NEVER = 0,
	CONFIG_FSYNC_SEGMENT, /* when a spool segment is closed */
	CONFIG_FSYNC_ALWAYS,  /* at every write (once per loop wakeup) */
};

enum config_spool_full {
	CONFIG_SPOOL_DROP_OLDEST = 0, /* delete the oldest segment, counted */
	CONFIG_SPOOL_REFUSE_NEW,      /* refuse new events, counted */
};

/* Keys every collector section has (collectors.<name>.*); each collector's section struct
 * begins with this block. Defaults and ranges: the key table in config.c, or
 * `tapiod --print-default-config`. */
struct config_collector_common {
	bool enabled;
	uint32_t heartbeat_interval_ms;
	uint32_t stats_interval_ms;
	uint32_t batch_max_events;
	uint32_t flush_ms;	/* a batch waits at most this long */
	uint32_t queue_max_kib; /* worker → supervisor queue cap */
	bool sandbox;		/* drop privileges after setup */
	/* Supervision of this worker. */
	uint32_t restart_initial_ms;  /* first restart delay */
	uint32_t restart_max_ms;      /* backoff cap */
	uint32_t healthy_after_s;     /* up this long → backoff starts over */
	uint32_t crash_loop_deaths;   /* this many deaths ... */
	uint32_t crash_loop_window_s; /* ... within this window → FAILED */
	uint32_t memory_max_mib;      /* RSS budget, 0 = none */
	uint32_t cpu_max_percent;     /* CPU budget of one core, 0 = none */
};

struct config_string_list {
	char **items; /* owned */
	size_t n;
};

/* A list of TCP/UDP ports (1..65535), fixed size: no allocation. */
struct config_port_list {
	uint16_t items[CONFIG_MAX_LIST];
	size_t n;
};

/* The names of enum config_hooks, for a collector's `hooks` key. */
extern const char *const config_hooks_names[];

/* ---- key tables ---------------------------------------------------------------------------
 * Every key is one row: its name, type, field, default, range and a one-line comment. The
 * top-level rows are in config.c; each collector's rows are in collectors/<name>/ (see
 * registry.h), with names relative to collectors.<name>. */
enum config_key_type {
	CONFIG_KEY_BOOL,
	CONFIG_KEY_U32,
	CONFIG_KEY_POW2,   /* u32, power of two */
	CONFIG_KEY_STRING, /* char *, owned */
	CONFIG_KEY_ENUM,   /* an enum field; the YAML value is one of `names` */
	CONFIG_KEY_LIST,   /* struct config_string_list */
	CONFIG_KEY_PORTS,  /* struct config_port_list; def != 0 is the one default port */
};

struct config_key {
	const char *name; /* dotted path below the table's base */
	enum config_key_type type;
	size_t offset;		  /* of the field in the table's struct */
	uint32_t def;		  /* BOOL, U32, POW2, ENUM, PORTS */
	uint32_t min, max;	  /* U32, POW2, PORTS: value range; LIST: item length */
	const char *def_str;	  /* STRING */
	const char *const *names; /* NULL-terminated. ENUM: names[v] means value v;
				   * STRING: the allowed values, NULL = any */
	const char *comment;	  /* one line for the default configuration, or NULL */
};

/* The offset of member `m` of struct type `T`, failing to compile unless its type is `t`. */
#define CONFIG_FIELD(T, m, t)                                                                      \
	(offsetof(T, m) +                                                                          \
	 0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((T *)0)->m), t) ? 1 : -1]))

#define CONFIG_BOOL(T, n, m, d, c)                                                                 \
	{                                                                                          \
		.name = (n), .type = CONFIG_KEY_BOOL, .offset = CONFIG_FIELD(T, m, bool),          \
		.def = (d), .comment = (c)                                                         \
	}
#define CONFIG_U32(T, n, m, d, lo, hi, c)                                                          \
	{                                                                                          \
		.name = (n), .type = CONFIG_KEY_U32, .offset = CONFIG_FIELD(T, m, uint32_t),       \
		.def = (d), .min = (lo), .max = (hi), .comment = (c)                               \
	}
#define CONFIG_POW2(T, n, m, d, lo, hi, c)                                                         \
	{                                                                                          \
		.name = (n), .type = CONFIG_KEY_POW2, .offset = CONFIG_FIELD(T, m, uint32_t),      \
		.def = (d), .min = (lo), .max = (hi), .comment = (c)                               \
	}
#define CONFIG_STRING(T, n, m, d, allowed, c)                                                      \
	{                                                                                          \
		.name = (n), .type = CONFIG_KEY_STRING, .offset = CONFIG_FIELD(T, m, char *),      \
		.def_str = (d), .names = (allowed), .comment = (c)                                 \
	}
/* `et` is the enum type of the field, stored as an unsigned int (checked). */
#define CONFIG_ENUM(T, n, m, et, d, allowed, c)                                                    \
	{                                                                                          \
		.name = (n), .type = CONFIG_KEY_ENUM,                                              \
		.offset = CONFIG_FIELD(T, m, et) +                                                 \
			  0 * sizeof(char[sizeof(et) == sizeof(unsigned int) ? 1 : -1]),           \
		.def = (d), .names = (allowed), .comment = (c)                                     \
	}
/* Each item is lo..hi characters long. */
#define CONFIG_LIST(T, n, m, lo, hi, c)                                                            \
	{                                                                                          \
		.name = (n), .type = CONFIG_KEY_LIST,                                              \
		.offset = CONFIG_FIELD(T, m, struct config_string_list), .min = (lo), .max = (hi), \
		.comment = (c)                                                                     \
	}
/* d: the one default port, 0 = none. */
#define CONFIG_PORTS(T, n, m, d, c)                                                                \
	{                                                                                          \
		.name = (n), .type = CONFIG_KEY_PORTS,                                             \
		.offset = CONFIG_FIELD(T, m, struct config_port_list), .def = (d), .min = 1,       \
		.max = 65535, .comment = (c)                                                       \
	}

struct config {
	char *path; /* owned; "<embedded default>" when not from a file */
	char *text; /* owned; the YAML text this was loaded from */
	size_t text_len;

	char *node_name;     /* owned; "" in the file = $NODE_NAME or gethostname() */
	char *log_level;     /* owned; debug, info, warn, error */
	char *collector_dir; /* owned; "" = the directory of tapiod's executable */
	uint32_t run_as_uid; /* first of the workers' uids: read through config_worker_ids() */
	uint32_t run_as_gid;

	struct {
		uint32_t heartbeat_timeout_ms;
		uint32_t stop_timeout_ms;
		uint32_t stats_log_interval_s; /* 0 = off */
		bool fd_store; /* keep eBPF workers' kernel objects across restarts */
	} supervisor;

	struct {
		bool enabled;
		enum config_sink_format format;
		uint32_t queue_max_kib;
	} sink_stdout;

	struct {
		bool enabled;
		char *path;			/* owned */
		enum config_sink_format format; /* json (lines) or binary (length-prefixed) */
		uint32_t max_mib;		/* rotate above this size */
		uint32_t keep;			/* rotated files kept */
		uint32_t queue_max_kib;
	} sink_file;

	struct {
		bool enabled;
		struct config_string_list servers; /* empty = nats://127.0.0.1:4222 */
		char *subject_prefix; /* owned; subjects <prefix>.<node>.<collector>.<type> */
		enum config_sink_format format; /* json or binary (the encoded tapio.v1.Event) */
		char *stream;			/* owned; "" = do not create a stream */
		uint32_t window;		/* publishes awaiting their ack */
		uint32_t ack_timeout_ms;
		uint32_t reconnect_wait_ms;
		char *credentials_file; /* owned; .creds (JWT + nkey seed), "" = none */
		char *nkey;		/* owned; public nkey, with nkey_seed_file */
		char *nkey_seed_file;	/* owned */
		char *token_file;	/* owned */
		bool tls;
		char *tls_ca_file, *tls_cert_file, *tls_key_file; /* owned */
		char *spool_dir;				  /* owned */
		uint32_t spool_max_mib, spool_segment_mib;
		enum config_spool_fsync spool_fsync;
		enum config_spool_full spool_when_full;
	} sink_nats;

	struct {
		bool enabled;
		char *address; /* owned; numeric IPv4 or IPv6 */
		uint32_t port;
	} http;

	struct {
		bool enabled;
		char *socket_path;  /* owned */
		char *socket_group; /* owned; "" = root and tapiod's uid only */
	} control;

	/* owned; one section per registry entry, in registry order: collectors.<name>, a
	 * struct config_<name> of collectors/<name>/ that begins with the common block. Reach
	 * one with config_section(). */
	void **sections;
};

/* The default configuration, generated from the key tables (top-level and every
 * collector's) with each key's comment and range, in table order. malloc'd; NULL if out of
 * memory. tapiod uses it without --config; --print-default-config prints it;
 * deploy/tapio.yaml is a copy. */
char *config_default_text(void);

/* Parse YAML text. On failure returns -EINVAL (or -ENOMEM) and, if ret_err is not NULL, sets
 * *ret_err to a malloc'd message "FILE:LINE: KEY: what is wrong" (caller frees). `display` is
 * the file name used in messages and stored in cfg->path. Unknown keys are errors. */
int config_load_text(const char *text, size_t len, const char *display, struct config **ret_cfg,
		     char **ret_err);
/* Read and parse a file (at most CONFIG_MAX_BYTES). A file that cannot be opened or read
 * returns -errno, with the message "FILE: cannot open: <strerror>" (or "cannot read"). */
int config_load_file(const char *path, struct config **ret_cfg, char **ret_err);
/* Read and parse from a file descriptor (a memfd from the supervisor), from offset 0 with
 * pread(2): the file offset is neither used nor moved. */
int config_load_fd(int fd, const char *display, struct config **ret_cfg, char **ret_err);
void config_free(struct config *cfg);

/* True when every key whose dotted path starts with `prefix` (e.g. "collectors.NAME.",
 * "run_as_") has the same value in a and b. */
bool config_equal_under(const struct config *a, const struct config *b, const char *prefix);

/* The uid and gid the worker of collector `name` runs as: run_as_uid + id_slot and
 * run_as_gid + id_slot, the collector's fixed slot (registry.h). Used by that worker only: tapiod
 * checks that no other process holds them. -ENOENT for an unknown name. */
int config_worker_ids(const struct config *cfg, const char *name, uint32_t *ret_uid,
		      uint32_t *ret_gid);

/* The section collectors.<name> (a struct config_<name>), or NULL if no such collector is
 * known. */
const void *config_section(const struct config *cfg, const char *name);
/* The common block of collector `name`, or NULL if no such collector is known. */
const struct config_collector_common *config_collector(const struct config *cfg, const char *name);
