/* SPDX-License-Identifier: Apache-2.0 */
/* tapiod internals shared by the supervisor's files: the supervisor, its children (one per
 * enabled collector), the policy table and the sinks. All of it runs on the one libuv loop. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "frame.h"
#include "pbarena.h"
#include "registry.h"
#include "strbuf.h"
#include "tapio/v1/worker.pb-c.h"

/* ---- policy: state × event → action (policy.c) -------------------------------------------- */

enum child_state {
	CHILD_STOPPED = 0,
	CHILD_STARTING,   /* spawned, no READY yet */
	CHILD_READY,
	CHILD_DEGRADED,   /* READY with a degraded reason */
	CHILD_BACKOFF,    /* waiting to restart */
	CHILD_FAILED,     /* not restarted until asked */
	CHILD_STATE_MAX,
};

enum child_event {
	CEV_START = 0,        /* start requested (boot, restart by hand) */
	CEV_SPAWN_FAILED,
	CEV_READY,
	CEV_DEGRADED,
	CEV_EXIT_CLEAN,       /* exit 0 */
	CEV_EXIT_CONFIG,      /* exit 100 */
	CEV_EXIT_TRANSIENT,   /* exit 111 or any other code */
	CEV_EXIT_NO_FEATURE,  /* exit 125 */
	CEV_KILLED,           /* died by a signal */
	CEV_PROTOCOL_ERROR,   /* bad frame: the supervisor kills it */
	CEV_HEARTBEAT_MISSED,
	CEV_OVER_BUDGET,      /* RSS over the memory budget */
	CEV_STOP_REQUESTED,
	CEV_BACKOFF_DONE,
	CEV_MAX,
};

enum child_action {
	CACT_NONE = 0,
	CACT_SPAWN,           /* start the worker */
	CACT_MARK_READY,
	CACT_KILL,            /* SIGKILL now (protocol error) */
	CACT_ABORT,           /* SIGABRT, SIGKILL after a grace period (watchdog) */
	CACT_TERM,            /* SIGTERM, SIGKILL after the stop timeout */
	CACT_BACKOFF,         /* schedule a restart, or FAILED when crash-looping */
	CACT_FAIL,            /* no restart: report */
	CACT_STOPPED,
};

struct policy_step {
	enum child_state next;
	enum child_action action;
};

struct policy_step policy_lookup(enum child_state state, enum child_event event);
const char *policy_state_name(enum child_state state);
const char *policy_event_name(enum child_event event);

/* ---- children (child.c) --------------------------------------------------------------------- */

struct sup;

struct child_counters {
	uint64_t events;            /* events received and forwarded */
	uint64_t frames;
	uint64_t seq_gaps;          /* events missing by sequence number */
	uint64_t protocol_errors;
	uint64_t encode_errors;     /* events the JSON encoder refused (bad timestamp, ...) */
	uint64_t sandbox_violations; /* deaths by SIGSYS */
	uint64_t over_budget;       /* killed for using more memory than budgeted */
	uint64_t sink_queue_drops;  /* this collector's events the stdout queue could not take */
	/* The worker's own cumulative counters, from its last stats frame. */
	uint64_t kernel_drops, queue_drops, decode_errors, filtered, records_read, enrich_misses;
	uint64_t worker_events_sent;
};

struct child {
	struct sup *sup;                       /* borrowed */
	const struct registry_entry *reg;      /* borrowed, static */
	const struct config_collector_common *cc; /* borrowed from sup->cfg, repointed on reload */
	enum child_state state;
	pid_t pid;

	uv_process_t proc;                     /* embedded; closed in on_exit */
	bool proc_open;
	uv_poll_t poll;                        /* the socket to the worker */
	int fd;
	bool poll_open;
	struct frame_reader reader;
	uv_timer_t timer;                      /* backoff, kill grace */
	bool kill_pending;
	bool restart_pending;                  /* tapioctl restart of a running worker */
	bool killed_by_us;                     /* protocol error or watchdog: keep that reason */
	int violation_syscall;                 /* from a Fatal frame, -1 = none */
	bool budget_cgroup;                    /* the worker runs in its own budget cgroup */
	uint64_t oom_kills_seen;               /* that cgroup's oom_kill counter */

	uint64_t last_seq;
	uint64_t start_mono_ns, last_heartbeat_ns;
	uint64_t deaths[8];                    /* mono ns of recent deaths (crash-loop window) */
	unsigned restarts;
	unsigned backoff_ms;
	char last_exit[160];
	char *degraded_reason;                 /* owned */
	struct child_counters cnt;
	uint64_t events_at_last_log;
	uint64_t events_at_last_tick;
	double events_per_s;                   /* over the last tick */
	/* What the worker said of its privileges in READY (checked against /proc later). */
	struct {
		bool valid;
		uint32_t uid, gid, no_new_privs, seccomp;
		uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
		char landlock[64];
	} reported;
};

int child_init(struct child *c, struct sup *sup, const struct registry_entry *reg);
void child_handle(struct child *c, enum child_event ev, const char *why);
void child_check_watchdog(struct child *c, uint64_t now_ns);
/* Restart by hand (tapioctl restart): a FAILED or BACKOFF child starts now, a running one
 * is stopped and started again. */
void child_restart(struct child *c);
/* Release what is not a libuv handle; handles are closed by sup_close_handles. */
void child_release(struct child *c);

/* ---- frames from a worker (link.c) ---------------------------------------------------------- */

int link_open(struct child *c, int fd);
void link_close(struct child *c);
/* Read what a dead worker left in the socket (its last events, a Fatal frame). */
void link_drain(struct child *c);

/* ---- sinks (sink.c) ------------------------------------------------------------------------- */

#define SINK_WRITE_AT (256u << 10)   /* queued bytes that trigger a write within a wakeup */
#define DECODE_BUDGET (32u << 20)    /* heap one decoded frame or event may expand to */
#define DECODE_BLOCK (64u << 10)     /* the decode arena's retained block */

/* Queued bytes at which a sink writes within a wakeup: SINK_WRITE_AT, or half the queue's cap
 * when that is smaller, so the write comes before the cap drops anything. */
static inline size_t sink_write_at(size_t cap)
{
	return cap / 2 < SINK_WRITE_AT ? cap / 2 : SINK_WRITE_AT;
}

struct sink_stdout {
	int fd;
	bool nonblocking;                      /* pipe/socket: polled; files/ttys: blocking */
	uv_poll_t poll;
	bool poll_open, poll_active;
	struct strbuf buf;                     /* JSON lines not yet written */
	size_t max, write_at;
	uint64_t written, dropped, encode_errors, write_errors;
};

int sink_init(struct sink_stdout *s, uv_loop_t *loop, int fd, size_t max_bytes);
/* Queue one JSON line (without its newline); a queue past its write_at is written out at
 * once, so only an fd that does not take it (a full pipe) makes the queue fill up and drop.
 * -ENOBUFS when dropped (counted). */
int sink_line(struct sink_stdout *s, const char *json, size_t len);
/* Write what is queued as far as the fd takes it now. */
void sink_flush(struct sink_stdout *s);
/* Blocking drain at shutdown, up to timeout_ms. */
void sink_drain(struct sink_stdout *s, unsigned timeout_ms);
void sink_close(struct sink_stdout *s);

/* ---- resource budgets (budget.c) ---------------------------------------------------------- */

struct budgets {
	char v2[2048];         /* tapiod's cgroup v2 dir with memory+cpu for children, or "" */
	char v1_memory[2048];  /* tapiod's cgroup in the v1 memory hierarchy, or "" */
	char v1_cpu[2048];     /* ... in the v1 cpu hierarchy, or "" */
};

void budget_init(struct budgets *b);
/* Put a just-spawned worker into its budget cgroup (if it has budgets and cgroups exist). */
void budget_apply(struct budgets *b, struct child *c);
uint64_t budget_oom_kills(struct budgets *b, const struct child *c);
uint64_t budget_rss_kib(pid_t pid);
/* The RSS watchdog: true (and why) when the worker is over its memory budget. */
bool budget_over(struct budgets *b, struct child *c, char *why, size_t len);
bool budget_was_oom_killed(struct budgets *b, struct child *c);
void budget_cleanup(struct budgets *b, const struct child *c);

/* ---- pod metadata join (meta.c) ------------------------------------------------------------ */

struct meta_entry {
	bool used;
	char *container_id, *pod_name, *namespace_, *pod_uid, *container_name; /* owned */
};

struct meta {
	struct meta_entry *slots;   /* owned; open addressing, cap a power of two */
	size_t cap, n;
	uint64_t dropped;           /* containers not learned: table full */
};

/* Learn from a CRI container event (container id → pod metadata; removed → forget). */
void meta_learn(struct meta *m, const Tapio__V1__Event *ev);
/* Fill pod name, namespace, container name (and pod uid if missing) into an event whose k8s
 * context has a container id but no pod name. The strings are borrowed from the table (the
 * event must not be freed field by field: tapiod's events live in its decode arena). True
 * when something was filled in. */
bool meta_enrich(struct meta *m, Tapio__V1__Event *ev);
void meta_free(struct meta *m);

/* ---- control socket (control.c) ----------------------------------------------------------- */

struct control_client;

struct control {
	struct sup *sup;
	uv_pipe_t server;
	bool open;
	gid_t gid;
	bool gid_set;
	struct control_client *clients;        /* owned list */
	unsigned n_clients, subscribers;
	uint64_t subscriber_drops, refused;
};

int control_open(struct control *ctl, struct sup *sup);
/* Audit a worker that just became READY: /proc/PID/status against the sandbox it must be in
 * and against its own report; every problem is a warning in the log. */
void control_audit_on_ready(struct sup *sup, struct child *c);
void control_close(struct control *ctl);
/* Hand one event's JSON line (no newline) to `tapioctl events` subscribers. */
void control_publish(struct control *ctl, const char *collector, const char *type,
		     const char *json, size_t len);

/* ---- the file sink (sink_file.c) ---------------------------------------------------------- */

struct sink_file {
	bool open, binary;
	int fd;
	char path[1024];
	uint64_t size, max_size;
	unsigned keep;
	struct strbuf buf;                     /* bytes not yet written */
	size_t max, write_at;
	uint64_t written, dropped, write_errors, rotations;
};

int sink_file_open(struct sink_file *f, const struct config *cfg);
/* Queue one stamped event: its encoded tapio.v1.Event (binary; the sink adds the length) or
 * its JSON line without the newline. -ENOBUFS when dropped (counted). */
int sink_file_event(struct sink_file *f, const void *data, size_t len);
void sink_file_flush(struct sink_file *f);
void sink_file_close(struct sink_file *f);

/* ---- the supervisor (main.c) ---------------------------------------------------------------- */

struct sup {
	uv_loop_t *loop;
	struct config *cfg;                    /* owned; replaced on reload */
	const char *config_path;               /* borrowed (argv); NULL = embedded default */
	uint64_t bounding_at_start;            /* CapBnd before tapiod limited it */
	int config_memfd;                      /* sealed copy of cfg->text for workers */
	char collector_dir[4096];
	char run_id[17];
	uint64_t next_event_id;
	struct child *children;                /* owned array */
	size_t n_children;
	struct sink_stdout sink;
	struct sink_file file;
	struct control ctl;
	struct budgets budgets;
	struct meta meta;
	struct strbuf scratch;                 /* one event's JSON or binary record */
	struct pbarena arena;                  /* the frame or event being decoded */
	uint64_t start_mono_ns;
	uv_signal_t sig_term, sig_int, sig_hup, sig_pipe;
	uv_timer_t tick;
	uint64_t last_log_ns;
	bool stopping;
	int exit_code;
};

/* Called by a child when it reached a final state during shutdown. */
void sup_child_stopped(struct sup *sup);
