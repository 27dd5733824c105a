/* SPDX-License-Identifier: Apache-2.0 */
/* The supervision policy: (state, event) → (next state, action), one table (policy.c).
 *
 * tapiod's modules, lowest first; a module includes only headers of modules before it, and a
 * lower module reaches a higher one only through a callback struct it is given
 * (scripts/check-layers.sh checks this order in `make check`):
 *
 *   policy, budget, meta, spool, sink, route, child, link, audit, identity, sup, control,
 *   http, main
 *
 *   policy.h ← budget.h ← child.h ← link.h → route.h → sink.h (sinks.c, sink_*.c) → spool.h
 *                          child.h ← audit.h        meta.h ← route.h
 *                          child.h ← identity.h (worker ids, trusted binaries)
 *   sup.h (child, link, route, sinks, audit) ← control.h, http.h ← main.c
 *
 * child.c carries out the policy's actions and calls up through struct child_hooks (open and
 * drain the worker's link, the READY audit, "stopped"); link.c decodes and enforces the
 * protocol and hands events to route.c; route.c stamps, joins pod metadata, encodes each
 * needed format once and gives the event to the table of sinks (sinks.c). */
#pragma once

enum child_state {
	CHILD_STOPPED = 0,
	CHILD_STARTING, /* spawned, no READY yet */
	CHILD_READY,
	CHILD_DEGRADED, /* READY with a degraded reason */
	CHILD_BACKOFF,	/* waiting to restart */
	CHILD_FAILED,	/* exit 100/125: not restarted until asked; crash loop: retried every
			 * restart_max_ms */
	CHILD_STATE_MAX,
};

/* The events. child.c derives some from facts before the lookup: an exit (any of
 * CEV_EXIT_* and CEV_KILLED, CEV_SPAWN_FAILED) becomes CEV_EXIT_FOR_RESTART when a restart by
 * hand is pending, else CEV_EXIT_STOPPING during shutdown or once disabled by a reload; a
 * restart by hand is CEV_RESTART_LIVE or CEV_RESTART_IDLE by whether a worker process
 * exists; CEV_SPAWN_BUSY and CEV_CRASH_LOOP are raised by the SPAWN and BACKOFF actions. */
enum child_event {
	CEV_START = 0, /* start requested (boot, enabled by a reload) */
	CEV_SPAWN_FAILED,
	CEV_READY,
	CEV_DEGRADED,
	CEV_EXIT_CLEAN,	     /* exit 0 nobody asked for */
	CEV_EXIT_CONFIG,     /* exit 100 */
	CEV_EXIT_TRANSIENT,  /* exit 111 or any other code */
	CEV_EXIT_NO_FEATURE, /* exit 125 */
	CEV_KILLED,	     /* died by a signal */
	CEV_PROTOCOL_ERROR,  /* bad frame: the supervisor kills it */
	CEV_HEARTBEAT_MISSED,
	CEV_OVER_BUDGET, /* RSS over the memory budget */
	CEV_STOP_REQUESTED,
	CEV_BACKOFF_DONE,
	CEV_EXIT_FOR_RESTART, /* gone (any exit) while a restart by hand is pending */
	CEV_EXIT_STOPPING,    /* gone (any exit) during shutdown or once disabled */
	CEV_SPAWN_BUSY,	      /* the previous worker's handles are still closing */
	CEV_CRASH_LOOP,	      /* this death makes crash_loop_deaths within the window */
	CEV_RESTART_LIVE,     /* restart by hand (tapioctl, reload) with a worker process */
	CEV_RESTART_IDLE,     /* restart by hand with no worker process */
	CEV_STATUS_DEGRADED,  /* after READY: a Status frame, degraded (or a new reason) */
	CEV_STATUS_READY,     /* after READY: a Status frame, READY again */
	CEV_MAX,
};

enum child_action {
	CACT_NONE = 0,
	CACT_SPAWN,	 /* start the worker */
	CACT_MARK_READY, /* heartbeat clock, log, the privilege audit */
	CACT_KILL,	 /* SIGKILL now (protocol error) */
	CACT_ABORT,	 /* SIGABRT, SIGKILL after a grace period (watchdog) */
	CACT_TERM,	 /* SIGTERM, SIGKILL after the stop timeout */
	CACT_BACKOFF,	 /* record the death, schedule a restart (CEV_CRASH_LOOP when looping) */
	CACT_FAIL,	 /* no restart: report */
	CACT_STOPPED,
	CACT_RESTART_NOW,  /* restart by hand of a worker that is gone: clear deaths, restart */
	CACT_GONE,	   /* a worker gone for good: report, tell the supervisor */
	CACT_SPAWN_RETRY,  /* try the spawn again in a moment */
	CACT_FAIL_LOOPING, /* crash loop: report, retry after restart_max_ms */
	CACT_TERM_RESTART, /* mark the restart pending, SIGTERM (CEV_EXIT_FOR_RESTART follows) */
	CACT_RESET_SPAWN,  /* clear deaths and backoff, start the worker */
	CACT_STATUS,	   /* READY <-> DEGRADED of a running worker: keep the reason, log */
	CACT_MAX,
};

struct policy_step {
	enum child_state next;
	enum child_action action;
};

/* An event that does not apply in a state gives {state, CACT_NONE}. */
struct policy_step policy_lookup(enum child_state state, enum child_event event);
const char *policy_state_name(enum child_state state);
const char *policy_event_name(enum child_event event);
const char *policy_action_name(enum child_action action);
