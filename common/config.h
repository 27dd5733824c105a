/* SPDX-License-Identifier: Apache-2.0 */
/* The tapio configuration: one YAML file, a typed section per collector, defaults for every
 * key, validation with errors that name the file, line and key. The supervisor loads the file;
 * each worker receives the same text (a sealed memfd) and loads it again with this code, so
 * supervisor and workers never disagree on a value. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_BYTES (1u << 20)   /* a config file larger than this is rejected */
#define CONFIG_MAX_LIST 64            /* entries in any list */
#define CONFIG_NAME_MAX 256           /* length of any string value (at most CONFIG_NAME_MAX - 1
				       * bytes, so it fits a char[CONFIG_NAME_MAX]) */

enum config_hooks {
	CONFIG_HOOKS_AUTO = 0,    /* best available, chosen by probing */
	CONFIG_HOOKS_TP_BTF,      /* BTF-typed tracepoints only */
	CONFIG_HOOKS_TRACEPOINT,  /* classic tracepoints only */
};

enum config_sink_format {
	CONFIG_SINK_JSON = 0,
	CONFIG_SINK_BINARY,    /* 4-byte big-endian length + tapio.v1.Event, per event */
};

/* Keys every collector section has. */
struct config_collector_common {
	bool enabled;
	uint32_t heartbeat_interval_ms;  /* default 1000, 100..60000 */
	uint32_t stats_interval_ms;      /* default 1000, 100..60000 */
	uint32_t batch_max_events;       /* default 256, 1..4096 */
	uint32_t flush_ms;               /* a batch waits at most this long, default 10, 1..1000 */
	uint32_t queue_max_kib;          /* worker → supervisor queue cap, default 4096, 64..65536 */
	bool sandbox;                    /* default true: drop privileges after setup */
	/* Supervision of this worker. */
	uint32_t restart_initial_ms;     /* first restart delay, default 250, 10..600000 */
	uint32_t restart_max_ms;         /* backoff cap, default 30000, 10..3600000 */
	uint32_t healthy_after_s;        /* up this long → backoff starts over, default 60 */
	uint32_t crash_loop_deaths;      /* this many deaths ... default 5, 1..8 */
	uint32_t crash_loop_window_s;    /* ... within this window → FAILED, default 60 */
	uint32_t memory_max_mib;         /* RSS budget, 0 = none (default), ..65536 */
	uint32_t cpu_max_percent;        /* CPU budget of one core, 0 = none (default), ..800 */
};

struct config_string_list {
	char **items;  /* owned */
	size_t n;
};

/* A list of TCP/UDP ports (1..65535), fixed size: no allocation. */
struct config_port_list {
	uint16_t items[CONFIG_MAX_LIST];
	size_t n;
};

/* Direction filter of the network collector. */
enum config_direction {
	CONFIG_DIRECTION_BOTH = 0,
	CONFIG_DIRECTION_OUTBOUND,
	CONFIG_DIRECTION_INBOUND,
};

struct config_network {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;          /* power of two, 4..1048576, default 4096 */
	enum config_hooks hooks;           /* default auto */
	struct config_port_list ports;     /* only flows with one of these ports; [] = all */
	enum config_direction direction;   /* default both */
	bool containers_only;              /* default false */
	bool state_events;                 /* tcp.state for every transition; default false */
	uint32_t retransmit_interval_ms;   /* at most one tcp.retransmit per flow per interval,
					    * default 1000, 0..3600000 (0 = every one) */
};

struct config_security {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;          /* power of two, 4..1048576, default 4096 */
	enum config_hooks hooks;           /* default auto */
	struct config_string_list namespace_exclude_comms; /* runtimes whose unshare/setns are
							   * expected (runc, crun, ...) */
	struct config_string_list capabilities; /* names (CAP_SYS_ADMIN, ...) reported by
						 * security.capability; [] = the built-in set */
	uint32_t capability_rate_per_s;    /* per process, default 10, 0..100000 (0 = off) */
	bool containers_only;              /* default false */
};

struct config_dns {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;          /* power of two, 4..1048576, default 4096 */
	struct config_port_list ports;     /* default [53] */
	uint32_t payload_max_bytes;        /* copied per packet, default 512, 64..4096 */
	uint32_t timeout_ms;               /* dns.timeout after this, default 5000, 100..600000 */
	uint32_t table_max;                /* pending queries kept, default 65536, 16..1048576 */
	bool force_fallback;               /* AF_PACKET instead of eBPF (for tests) */
	bool containers_only;              /* default false */
};

struct config_process {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;          /* power of two, 4..1048576, default 4096 */
	enum config_hooks hooks;           /* default auto */
	uint32_t argv_max_args;            /* default 32, 1..128 */
	uint32_t argv_max_bytes;           /* default 2048, 64..8192 (also a kernel copy bound) */
	bool include_threads;              /* fork events for new threads too; default false */
	bool containers_only;              /* only events from container cgroups; default false */
	struct config_string_list comm_allow;  /* if non-empty, only these comms (≤ 15 chars) */
	struct config_string_list comm_deny;   /* never these comms (≤ 15 chars) */
	bool force_fallback;               /* poll /proc instead of eBPF (DEGRADED; tests) */
	uint32_t poll_interval_ms;         /* /proc polling period, default 250, 50..60000 */
};

struct config_cri {
	struct config_collector_common common;  /* enabled defaults to false */
	char *socket_path;                 /* owned; "" = auto-detect (containerd, CRI-O, k3s) */
	uint32_t poll_interval_ms;         /* default 2000, 100..600000 */
	uint32_t rpc_timeout_ms;           /* per-RPC deadline, default 5000, 100..60000 */
	uint32_t ring_buffer_kib;          /* power of two, default 1024 */
	bool force_degraded;               /* CRI polling only, no eBPF (for tests) */
	bool inventory;                    /* one inventory event at start, default true */
};

/* The benchmark collector (bench/ only): one event per getppid() of one pid. */
struct config_bench {
	struct config_collector_common common;  /* enabled defaults to false */
	uint32_t ring_buffer_kib;               /* power of two, default 16384 */
	uint32_t pid;                           /* the generator's pid (tgid); 0 = none */
};

/* What the test-only collector does (tests/ of the supervisor; never enabled by default). */
enum config_testing_mode {
	CONFIG_TESTING_NORMAL = 0,        /* READY, then one event every tick_ms */
	CONFIG_TESTING_EXIT,              /* exit with exit_code after after_ms */
	CONFIG_TESTING_HANG,              /* stop heartbeating after after_ms (spins in place) */
	CONFIG_TESTING_OVERSIZED,         /* send a frame header above the maximum */
	CONFIG_TESTING_GARBAGE,           /* send bytes that are no frame */
	CONFIG_TESTING_EARLY_EVENTS,      /* send an event batch before READY */
	CONFIG_TESTING_FLOOD,             /* send events as fast as possible, never read */
	CONFIG_TESTING_ALLOC,             /* allocate alloc_mib MiB after after_ms */
	CONFIG_TESTING_FORBIDDEN_SYSCALL, /* after the sandbox: socket(AF_INET) */
	CONFIG_TESTING_FORBIDDEN_PATH,    /* after the sandbox: open a file outside its paths */
	CONFIG_TESTING_DEGRADED,          /* READY with a degraded reason, then ticks */
	CONFIG_TESTING_FORGE,             /* valid events that set id, collector and node */
	CONFIG_TESTING_MIXED_FRAME,       /* a frame holding a batch and a heartbeat */
	CONFIG_TESTING_BAD_EVENT,         /* a batch whose event does not decode */
};

struct config_testing {
	struct config_collector_common common;  /* enabled defaults to false */
	enum config_testing_mode mode;
	uint32_t tick_ms;                       /* default 100, 1..60000 */
	uint32_t exit_code;                     /* default 111, 0..255 */
	uint32_t after_ms;                      /* default 0, ..600000 */
	uint32_t alloc_mib;                     /* default 64, 1..4096 */
};

struct config {
	char *path;               /* owned; "<embedded default>" when not from a file */
	char *text;               /* owned; the YAML text this was loaded from */
	size_t text_len;

	char *node_name;          /* owned; default: gethostname() */
	char *log_level;          /* owned; debug, info, warn, error; default info */
	char *collector_dir;      /* owned; default "" = the directory of tapiod's executable */
	uint32_t run_as_uid;      /* default 65534 */
	uint32_t run_as_gid;      /* default 65534 */

	struct {
		uint32_t heartbeat_timeout_ms;   /* default 5000, 500..600000 */
		uint32_t stop_timeout_ms;        /* default 3000, 100..60000 */
		uint32_t stats_log_interval_s;   /* default 10, 0 = off, ..3600 */
	} supervisor;

	struct {
		bool enabled;                    /* default true */
		enum config_sink_format format;  /* default json */
		uint32_t queue_max_kib;          /* default 16384, 64..1048576 */
	} sink_stdout;

	struct {
		bool enabled;                    /* default false */
		char *path;                      /* owned; default /var/log/tapio/events.json */
		enum config_sink_format format;  /* json (lines) or binary (length-prefixed) */
		uint32_t max_mib;                /* rotate above this size, default 100, 1..65536 */
		uint32_t keep;                   /* rotated files kept, default 5, 0..100 */
		uint32_t queue_max_kib;          /* default 16384, 64..1048576 */
	} sink_file;

	struct {
		bool enabled;                    /* default true */
		char *socket_path;               /* owned; default /run/tapio/tapiod.sock */
		char *socket_group;              /* owned; "" = root and tapiod's uid only */
	} control;

	struct config_process process;
	struct config_network network;
	struct config_security security;
	struct config_dns dns;
	struct config_cri cri;
	struct config_testing testing;
	struct config_bench bench;
};

/* The configuration used when tapiod runs without --config. */
extern const char config_default_yaml[];

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

/* True when every key whose dotted path starts with `prefix` (e.g. "collectors.process.",
 * "run_as_") has the same value in a and b. */
bool config_equal_under(const struct config *a, const struct config *b, const char *prefix);

/* The common section of collector `name`, or NULL if no such collector is known. */
const struct config_collector_common *config_collector(const struct config *cfg, const char *name);
