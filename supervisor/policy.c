// SPDX-License-Identifier: Apache-2.0
// The supervision policy as one table: (state, event) → (next state, action). Every decision
// about a worker's life is here; child.c turns facts into events and carries the actions out.
#include "policy.h"

/* clang-format off */
#define S(next, act) { CHILD_##next, CACT_##act }
/* clang-format on */
/* Any state: the same step whatever the child is doing. */
#define ALL_STATES(ev, step)                                                                       \
	[CHILD_STOPPED][ev] = step, [CHILD_STARTING][ev] = step, [CHILD_READY][ev] = step,         \
	[CHILD_DEGRADED][ev] = step, [CHILD_BACKOFF][ev] = step, [CHILD_FAILED][ev] = step
/* Any state: the state stays, the action is carried out. */
#define ALL_STAY(ev, act)                                                                          \
	[CHILD_STOPPED][ev] = S(STOPPED, act), [CHILD_STARTING][ev] = S(STARTING, act),            \
	[CHILD_READY][ev] = S(READY, act), [CHILD_DEGRADED][ev] = S(DEGRADED, act),                \
	[CHILD_BACKOFF][ev] = S(BACKOFF, act), [CHILD_FAILED][ev] = S(FAILED, act)

/* Cells not listed are {same state, CACT_NONE}: the event does not apply in that state. */
static const struct policy_step table[CHILD_STATE_MAX][CEV_MAX] = {
	[CHILD_STOPPED][CEV_START] = S(STARTING, SPAWN),

	[CHILD_STARTING][CEV_SPAWN_FAILED] = S(BACKOFF, BACKOFF),
	[CHILD_STARTING][CEV_SPAWN_BUSY] = S(BACKOFF, SPAWN_RETRY),
	[CHILD_STARTING][CEV_READY] = S(READY, MARK_READY),
	[CHILD_STARTING][CEV_DEGRADED] = S(DEGRADED, MARK_READY),
	[CHILD_STARTING][CEV_EXIT_CLEAN] = S(BACKOFF, BACKOFF), /* exiting before READY fails */
	[CHILD_STARTING][CEV_EXIT_CONFIG] = S(FAILED, FAIL),
	[CHILD_STARTING][CEV_EXIT_TRANSIENT] = S(BACKOFF, BACKOFF),
	[CHILD_STARTING][CEV_EXIT_NO_FEATURE] = S(FAILED, FAIL),
	[CHILD_STARTING][CEV_KILLED] = S(BACKOFF, BACKOFF),
	[CHILD_STARTING][CEV_PROTOCOL_ERROR] = S(STARTING, KILL), /* the exit event follows */
	[CHILD_STARTING][CEV_HEARTBEAT_MISSED] = S(STARTING, ABORT),
	[CHILD_STARTING][CEV_OVER_BUDGET] = S(STARTING, KILL),
	[CHILD_STARTING][CEV_STOP_REQUESTED] = S(STARTING, TERM),

	/* Nobody asked a running worker to stop (a stop by tapiod is CEV_EXIT_STOPPING or
	 * CEV_EXIT_FOR_RESTART): exit 0 is a failure, whoever sent the SIGTERM. */
	[CHILD_READY][CEV_EXIT_CLEAN] = S(BACKOFF, BACKOFF),
	[CHILD_READY][CEV_EXIT_CONFIG] = S(FAILED, FAIL),
	[CHILD_READY][CEV_EXIT_TRANSIENT] = S(BACKOFF, BACKOFF),
	[CHILD_READY][CEV_EXIT_NO_FEATURE] = S(FAILED, FAIL),
	[CHILD_READY][CEV_KILLED] = S(BACKOFF, BACKOFF),
	[CHILD_READY][CEV_PROTOCOL_ERROR] = S(READY, KILL),
	[CHILD_READY][CEV_HEARTBEAT_MISSED] = S(READY, ABORT),
	[CHILD_READY][CEV_OVER_BUDGET] = S(READY, KILL),
	[CHILD_READY][CEV_STOP_REQUESTED] = S(READY, TERM),
	/* a running worker's source went away (or came back): its Status frame */
	[CHILD_READY][CEV_STATUS_DEGRADED] = S(DEGRADED, STATUS),

	[CHILD_DEGRADED][CEV_EXIT_CLEAN] = S(BACKOFF, BACKOFF),
	[CHILD_DEGRADED][CEV_EXIT_CONFIG] = S(FAILED, FAIL),
	[CHILD_DEGRADED][CEV_EXIT_TRANSIENT] = S(BACKOFF, BACKOFF),
	[CHILD_DEGRADED][CEV_EXIT_NO_FEATURE] = S(FAILED, FAIL),
	[CHILD_DEGRADED][CEV_KILLED] = S(BACKOFF, BACKOFF),
	[CHILD_DEGRADED][CEV_PROTOCOL_ERROR] = S(DEGRADED, KILL),
	[CHILD_DEGRADED][CEV_HEARTBEAT_MISSED] = S(DEGRADED, ABORT),
	[CHILD_DEGRADED][CEV_OVER_BUDGET] = S(DEGRADED, KILL),
	[CHILD_DEGRADED][CEV_STOP_REQUESTED] = S(DEGRADED, TERM),
	[CHILD_DEGRADED][CEV_STATUS_DEGRADED] = S(DEGRADED, STATUS), /* a new reason */
	[CHILD_DEGRADED][CEV_STATUS_READY] = S(READY, STATUS),

	[CHILD_BACKOFF][CEV_BACKOFF_DONE] = S(STARTING, SPAWN),
	[CHILD_BACKOFF][CEV_STOP_REQUESTED] = S(STOPPED, STOPPED),
	[CHILD_BACKOFF][CEV_START] = S(STARTING, SPAWN),
	[CHILD_BACKOFF][CEV_CRASH_LOOP] = S(FAILED, FAIL_LOOPING),

	[CHILD_FAILED][CEV_START] = S(STARTING, SPAWN),
	/* A crash loop is retried every restart_max_ms (FAIL_LOOPING arms the timer); a FAILED
	 * of exit 100 or 125 arms none: only a reload or a restart by hand starts it again. */
	[CHILD_FAILED][CEV_BACKOFF_DONE] = S(STARTING, SPAWN),
	[CHILD_FAILED][CEV_STOP_REQUESTED] = S(FAILED, STOPPED),

	/* A restart by hand of a running worker: once it is gone, start it again at once (through
	 * BACKOFF with no delay, after the old worker's handles have closed). */
	ALL_STAY(CEV_RESTART_LIVE, TERM_RESTART),
	ALL_STATES(CEV_EXIT_FOR_RESTART, S(BACKOFF, RESTART_NOW)),
	ALL_STATES(CEV_RESTART_IDLE, S(STARTING, RESET_SPAWN)),
	/* During shutdown, or once disabled by a reload, a worker that is gone stays gone,
	 * whatever its exit code; FAILED stays FAILED. */
	[CHILD_STOPPED][CEV_EXIT_STOPPING] = S(STOPPED, GONE),
	[CHILD_STARTING][CEV_EXIT_STOPPING] = S(STOPPED, GONE),
	[CHILD_READY][CEV_EXIT_STOPPING] = S(STOPPED, GONE),
	[CHILD_DEGRADED][CEV_EXIT_STOPPING] = S(STOPPED, GONE),
	[CHILD_BACKOFF][CEV_EXIT_STOPPING] = S(STOPPED, GONE),
	[CHILD_FAILED][CEV_EXIT_STOPPING] = S(FAILED, GONE),
};
#undef ALL_STAY
#undef ALL_STATES
#undef S

struct policy_step policy_lookup(enum child_state state, enum child_event event)
{
	struct policy_step none = {state, CACT_NONE};
	if ((unsigned)state >= CHILD_STATE_MAX || (unsigned)event >= CEV_MAX)
		return none;
	struct policy_step s = table[state][event];
	if (s.action == CACT_NONE)
		return none; /* an empty cell */
	return s;
}

const char *policy_state_name(enum child_state state)
{
	static const char *const names[] = {"STOPPED",	"STARTING", "READY",
					    "DEGRADED", "BACKOFF",  "FAILED"};
	return (unsigned)state < CHILD_STATE_MAX ? names[state] : "?";
}

const char *policy_event_name(enum child_event event)
{
	static const char *const names[CEV_MAX] = {
		[CEV_START] = "start",
		[CEV_SPAWN_FAILED] = "spawn-failed",
		[CEV_READY] = "ready",
		[CEV_DEGRADED] = "degraded",
		[CEV_EXIT_CLEAN] = "exit(0)",
		[CEV_EXIT_CONFIG] = "exit(100)",
		[CEV_EXIT_TRANSIENT] = "exit(111)",
		[CEV_EXIT_NO_FEATURE] = "exit(125)",
		[CEV_KILLED] = "killed",
		[CEV_PROTOCOL_ERROR] = "protocol-error",
		[CEV_HEARTBEAT_MISSED] = "heartbeat-missed",
		[CEV_OVER_BUDGET] = "over-budget",
		[CEV_STOP_REQUESTED] = "stop-requested",
		[CEV_BACKOFF_DONE] = "backoff-done",
		[CEV_EXIT_FOR_RESTART] = "exit-for-restart",
		[CEV_EXIT_STOPPING] = "exit-stopping",
		[CEV_SPAWN_BUSY] = "spawn-busy",
		[CEV_CRASH_LOOP] = "crash-loop",
		[CEV_RESTART_LIVE] = "restart-live",
		[CEV_RESTART_IDLE] = "restart-idle",
		[CEV_STATUS_DEGRADED] = "status-degraded",
		[CEV_STATUS_READY] = "status-ready",
	};
	return (unsigned)event < CEV_MAX && names[event] ? names[event] : "?";
}

const char *policy_action_name(enum child_action action)
{
	static const char *const names[CACT_MAX] = {
		[CACT_NONE] = "none",
		[CACT_SPAWN] = "spawn",
		[CACT_MARK_READY] = "mark-ready",
		[CACT_KILL] = "kill",
		[CACT_ABORT] = "abort",
		[CACT_TERM] = "term",
		[CACT_BACKOFF] = "backoff",
		[CACT_FAIL] = "fail",
		[CACT_STOPPED] = "stopped",
		[CACT_RESTART_NOW] = "restart-now",
		[CACT_GONE] = "gone",
		[CACT_SPAWN_RETRY] = "spawn-retry",
		[CACT_FAIL_LOOPING] = "fail-looping",
		[CACT_TERM_RESTART] = "term-restart",
		[CACT_RESET_SPAWN] = "reset-spawn",
		[CACT_STATUS] = "status",
	};
	return (unsigned)action < CACT_MAX && names[action] ? names[action] : "?";
}
