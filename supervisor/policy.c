// SPDX-License-Identifier: Apache-2.0
// The supervision policy as one table: (state, event) → (next state, action). Every decision
// about a worker's life is here; child.c only carries the actions out.
#include "supervisor.h"

#define S(next, act) { CHILD_##next, CACT_##act }
/* Rows not listed are {same state, CACT_NONE}: the event does not apply in that state. */
static const struct policy_step table[CHILD_STATE_MAX][CEV_MAX] = {
	[CHILD_STOPPED] = {
		[CEV_START] = S(STARTING, SPAWN),
	},
	[CHILD_STARTING] = {
		[CEV_SPAWN_FAILED] = S(BACKOFF, BACKOFF),
		[CEV_READY] = S(READY, MARK_READY),
		[CEV_DEGRADED] = S(DEGRADED, MARK_READY),
		[CEV_EXIT_CLEAN] = S(BACKOFF, BACKOFF),      /* exiting before READY is a failure */
		[CEV_EXIT_CONFIG] = S(FAILED, FAIL),
		[CEV_EXIT_TRANSIENT] = S(BACKOFF, BACKOFF),
		[CEV_EXIT_NO_FEATURE] = S(FAILED, FAIL),
		[CEV_KILLED] = S(BACKOFF, BACKOFF),
		[CEV_PROTOCOL_ERROR] = S(STARTING, KILL),    /* the exit event follows */
		[CEV_HEARTBEAT_MISSED] = S(STARTING, ABORT),
		[CEV_OVER_BUDGET] = S(STARTING, KILL),
		[CEV_STOP_REQUESTED] = S(STARTING, TERM),
	},
	[CHILD_READY] = {
		[CEV_EXIT_CLEAN] = S(STOPPED, STOPPED),
		[CEV_EXIT_CONFIG] = S(FAILED, FAIL),
		[CEV_EXIT_TRANSIENT] = S(BACKOFF, BACKOFF),
		[CEV_EXIT_NO_FEATURE] = S(FAILED, FAIL),
		[CEV_KILLED] = S(BACKOFF, BACKOFF),
		[CEV_PROTOCOL_ERROR] = S(READY, KILL),
		[CEV_HEARTBEAT_MISSED] = S(READY, ABORT),
		[CEV_OVER_BUDGET] = S(READY, KILL),
		[CEV_STOP_REQUESTED] = S(READY, TERM),
	},
	[CHILD_DEGRADED] = {
		[CEV_EXIT_CLEAN] = S(STOPPED, STOPPED),
		[CEV_EXIT_CONFIG] = S(FAILED, FAIL),
		[CEV_EXIT_TRANSIENT] = S(BACKOFF, BACKOFF),
		[CEV_EXIT_NO_FEATURE] = S(FAILED, FAIL),
		[CEV_KILLED] = S(BACKOFF, BACKOFF),
		[CEV_PROTOCOL_ERROR] = S(DEGRADED, KILL),
		[CEV_HEARTBEAT_MISSED] = S(DEGRADED, ABORT),
		[CEV_OVER_BUDGET] = S(DEGRADED, KILL),
		[CEV_STOP_REQUESTED] = S(DEGRADED, TERM),
	},
	[CHILD_BACKOFF] = {
		[CEV_BACKOFF_DONE] = S(STARTING, SPAWN),
		[CEV_STOP_REQUESTED] = S(STOPPED, STOPPED),
		[CEV_START] = S(STARTING, SPAWN),
	},
	[CHILD_FAILED] = {
		[CEV_START] = S(STARTING, SPAWN),
		[CEV_STOP_REQUESTED] = S(FAILED, STOPPED),
	},
};
#undef S

struct policy_step policy_lookup(enum child_state state, enum child_event event)
{
	struct policy_step none = { state, CACT_NONE };
	if ((unsigned)state >= CHILD_STATE_MAX || (unsigned)event >= CEV_MAX)
		return none;
	struct policy_step s = table[state][event];
	if (s.action == CACT_NONE && s.next == CHILD_STOPPED && state != CHILD_STOPPED)
		return none; /* an empty cell */
	return s;
}

const char *policy_state_name(enum child_state state)
{
	static const char *const names[] = { "STOPPED", "STARTING", "READY",
					     "DEGRADED", "BACKOFF", "FAILED" };
	return (unsigned)state < CHILD_STATE_MAX ? names[state] : "?";
}

const char *policy_event_name(enum child_event event)
{
	static const char *const names[] = {
		"start",       "spawn-failed", "ready",     "degraded",         "exit(0)",
		"exit(100)",   "exit(111)",    "exit(125)", "killed",           "protocol-error",
		"heartbeat-missed", "over-budget", "stop-requested", "backoff-done",
	};
	return (unsigned)event < CEV_MAX ? names[event] : "?";
}
