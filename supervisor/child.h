/* SPDX-License-Identifier: Apache-2.0 */
/* One child per enabled collector (child.c): its worker process, the socket to it and its
 * state in the policy table. The child knows nothing above it: what it needs from the
 * supervisor comes in struct child_env, and it calls up only through struct child_hooks. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "budget.h"
#include "config.h"
#include "fdstore.h"
#include "frame.h"
#include "policy.h"
#include "registry.h"
#include "wire.h"

struct child;
struct link_env; /* link.h: what the links of all workers share */

#define CHILD_MAX_COUNTERS 16 /* a worker's own counters (worker.h WORKER_MAX_COUNTERS) */
#define CHILD_MAX_RINGS	   4  /* ring positions kept for the fd store's next worker */
#define CHILD_COUNTER_NAME 33

/* Calls from a child up to the supervisor (set by sup.c). */
struct child_hooks {
	/* A worker was spawned: read frames from fd (the child's end of its socket). */
	int (*link_open)(struct child *c, int fd);
	/* The worker is dead: read what it left in the socket (last events, a Fatal frame). */
	void (*link_drain)(struct child *c);
	void (*link_close)(struct child *c);
	/* The READY action: the worker said READY (or DEGRADED); audit its privileges. */
	void (*ready)(struct child *c);
	/* A worker is gone for good during shutdown (or once disabled). */
	void (*stopped)(struct child *c);
};

/* What every child shares, owned by the supervisor; fields are updated on reload. */
struct child_env {
	uv_loop_t *loop;
	const struct config *cfg; /* the running configuration */
	const char *collector_dir;
	int config_memfd; /* sealed copy of cfg->text for workers */
	struct budgets *budgets;
	bool stopping; /* shutdown in progress */
	const struct child_hooks *hooks;
	void *owner; /* for the hooks */
};

struct child_counters {
	uint64_t events; /* events received and forwarded */
	uint64_t frames;
	uint64_t seq_gaps; /* events missing by sequence number */
	uint64_t protocol_errors;
	uint64_t encode_errors;	     /* events the JSON encoder refused (bad timestamp, ...) */
	uint64_t sandbox_violations; /* deaths by SIGSYS */
	uint64_t over_budget;	     /* killed for using more memory than budgeted */
	uint64_t sink_queue_drops;   /* this collector's events a sink queue could not take */
	/* The worker's own cumulative counters, from its last stats frame. */
	uint64_t kernel_drops, queue_drops, decode_errors, filtered, records_read, enrich_misses;
	uint64_t worker_events_sent;
	uint64_t foreign_signals;   /* signals from a process other than tapiod (worker's report) */
	uint64_t foreign_processes; /* processes seen under this worker's uid or gid (identity.c) */
	/* Across restarts (the fd store, issue 13 point 4). */
	uint64_t resumed;	   /* workers started on stored kernel objects */
	uint64_t store_drops;	   /* stores dropped (config change, disabled, unusable) */
	uint64_t backlog_records;  /* records recorded while no worker read, read later */
	uint64_t unattended_drops; /* ring overflow while no worker read (part of kernel_drops) */
	uint64_t gap_ms;	   /* last heartbeat of a dead worker → its successor's READY */
	uint64_t gaps;		   /* such replacements */
	uint64_t degraded_transitions; /* READY → DEGRADED of a running worker (Status frames) */
	uint64_t status_frames;	       /* Status frames received */
};

/* A worker's cumulative counters from its stats frames, folded into the child's totals
 * when the next worker starts (so that they add up across restarts). */
struct child_worker_stats {
	uint64_t kernel_drops, queue_drops, decode_errors, filtered, records_read, enrich_misses;
	uint64_t events_sent, backlog_records;
};

struct child {
	struct child_env *env;			  /* borrowed */
	const struct registry_entry *reg;	  /* borrowed, static */
	const struct config_collector_common *cc; /* borrowed from env->cfg, repointed on reload */
	enum child_state state;
	pid_t pid;

	uv_process_t proc; /* embedded; closed in on_exit */
	bool proc_open;
	uv_timer_t timer; /* backoff, kill grace */
	bool kill_pending;
	bool restart_pending;  /* tapioctl restart of a running worker */
	bool killed_by_us;     /* protocol error or watchdog: keep that reason */
	int violation_syscall; /* from a Fatal frame, -1 = none */
	struct budget_slot budget;

	/* The socket to the worker, read by link.c. */
	struct link_env *link;
	uv_poll_t poll;
	int fd;
	bool poll_open;
	struct frame_reader reader;
	uint64_t last_seq;

	/* The fd store: the kernel objects of this collector's workers, kept across restarts
	 * (owned), and fds received on the socket whose FdStore frame is not read yet. */
	struct fdstore store;
	struct fdstore pending;
	bool resumed;		   /* this worker was given the store */
	bool store_stats_seen;	   /* its first stats frame since (un)resuming is counted */
	uint64_t store_raw_kernel; /* raw kernel drop counter last reported on the store */
	/* Per stored ring: the read position after the last batch tapiod received whole; the
	 * next worker skips to it (what was delivered but not yet released to the kernel). */
	uint64_t ring_delivered[CHILD_MAX_RINGS];
	unsigned n_ring_delivered;
	struct child_worker_stats base, cur; /* dead workers' sum; this worker's last frame */
	/* The collector's resume token (EventBatch.resume_token, opaque, e.g. the journal's
	 * cursor) from the last batch received whole: the next worker gets it at spawn. */
	uint8_t resume_token[WIRE_RESUME_TOKEN_MAX];
	size_t resume_token_len;
	/* Status frames: a token bucket (WIRE_STATUS_BURST, one per interval) against a flood. */
	double status_tokens;
	uint64_t status_refill_ns;
	uint64_t gap_from_ns; /* the dead predecessor's last heartbeat (0: none pending) */
	/* The collector's own counters (Stats.counters), summed across its workers. */
	struct child_named {
		char name[CHILD_COUNTER_NAME];
		uint64_t base, cur;
	} named[CHILD_MAX_COUNTERS];
	unsigned n_named;

	uint64_t start_mono_ns, last_heartbeat_ns;
	uint64_t deaths[8]; /* mono ns of recent deaths (crash-loop window) */
	unsigned restarts;
	unsigned backoff_ms;
	char last_exit[160];
	char looping[256];	 /* why a crash-looping child is FAILED, "" otherwise */
	char foreign_signal[96]; /* "SIGTERM from pid P uid U", reported by the worker */
	char *degraded_reason;	 /* owned */
	char *hooks;		 /* owned: the last READY's hooks_attached, ", "-joined */
	struct child_counters cnt;
	uint64_t events_at_last_log;
	uint64_t events_at_last_tick;
	double events_per_s; /* over the last tick */
	/* What the worker said of its privileges in READY (checked against /proc later). */
	struct {
		bool valid;
		uint32_t uid, gid, no_new_privs, seccomp, dumpable;
		bool has_dumpable;
		uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
		char landlock[64];
	} reported;
};

int child_init(struct child *c, struct child_env *env, const struct registry_entry *reg);
/* Feed an event to the policy table and carry out its action. */
void child_handle(struct child *c, enum child_event ev, const char *why);
void child_check_watchdog(struct child *c, uint64_t now_ns);
/* Restart by hand (tapioctl restart, reload): a FAILED or BACKOFF child starts now, a running
 * one is stopped and started again. */
void child_restart(struct child *c);
/* Drop the fd store (config changed, collector disabled, tapiod exits, objects unusable): the
 * next worker loads and attaches afresh. why: for the log, NULL to drop quietly. */
void child_store_drop(struct child *c, const char *why);
/* Release what is not a libuv handle; the handles are closed by the supervisor. */
void child_release(struct child *c);
