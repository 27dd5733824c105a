// SPDX-License-Identifier: Apache-2.0
// The supervision policy, every (state, event) pair against a written expectation: the rows
// below are the specification (docs and tests/integration/test_supervision.c describe the same
// behaviour), checked against the real policy.c. A pair not listed must be "ignored": the
// state stays and nothing is done.
#include <criterion/criterion.h>

#include "supervisor/policy.h"

struct expect {
	enum child_state state;
	enum child_event event;
	enum child_state next;
	enum child_action action;
};

#define E(st, ev, nx, act)                                                                         \
	{                                                                                          \
		CHILD_##st, CEV_##ev, CHILD_##nx, CACT_##act                                       \
	}

static const struct expect expected[] = {
	/* STOPPED: only a start (or the by-hand and shutdown events) does anything. */
	E(STOPPED, START, STARTING, SPAWN),
	E(STOPPED, RESTART_IDLE, STARTING, RESET_SPAWN),
	E(STOPPED, RESTART_LIVE, STOPPED, TERM_RESTART),
	E(STOPPED, EXIT_FOR_RESTART, BACKOFF, RESTART_NOW),
	E(STOPPED, EXIT_STOPPING, STOPPED, GONE),

	/* STARTING: spawned, waiting for READY (a Status frame before it is a protocol error,
	 * raised by link.c: the status events do not apply here, nor once the worker is gone). */
	E(STARTING, SPAWN_FAILED, BACKOFF, BACKOFF),
	E(STARTING, SPAWN_BUSY, BACKOFF, SPAWN_RETRY),
	E(STARTING, READY, READY, MARK_READY),
	E(STARTING, DEGRADED, DEGRADED, MARK_READY),
	E(STARTING, EXIT_CLEAN, BACKOFF, BACKOFF),
	E(STARTING, EXIT_CONFIG, FAILED, FAIL),
	E(STARTING, EXIT_TRANSIENT, BACKOFF, BACKOFF),
	E(STARTING, EXIT_NO_FEATURE, FAILED, FAIL),
	E(STARTING, KILLED, BACKOFF, BACKOFF),
	E(STARTING, PROTOCOL_ERROR, STARTING, KILL),
	E(STARTING, HEARTBEAT_MISSED, STARTING, ABORT),
	E(STARTING, OVER_BUDGET, STARTING, KILL),
	E(STARTING, STOP_REQUESTED, STARTING, TERM),
	E(STARTING, RESTART_IDLE, STARTING, RESET_SPAWN),
	E(STARTING, RESTART_LIVE, STARTING, TERM_RESTART),
	E(STARTING, EXIT_FOR_RESTART, BACKOFF, RESTART_NOW),
	E(STARTING, EXIT_STOPPING, STOPPED, GONE),

	/* READY and DEGRADED: running. */
	/* exit 0 that tapiod did not ask for (a foreign SIGTERM): a failure, restarted */
	E(READY, EXIT_CLEAN, BACKOFF, BACKOFF),
	E(READY, EXIT_CONFIG, FAILED, FAIL),
	E(READY, EXIT_TRANSIENT, BACKOFF, BACKOFF),
	E(READY, EXIT_NO_FEATURE, FAILED, FAIL),
	E(READY, KILLED, BACKOFF, BACKOFF),
	E(READY, PROTOCOL_ERROR, READY, KILL),
	E(READY, HEARTBEAT_MISSED, READY, ABORT),
	E(READY, OVER_BUDGET, READY, KILL),
	E(READY, STOP_REQUESTED, READY, TERM),
	/* a Status frame after READY: degraded; "ready" while READY changes nothing */
	E(READY, STATUS_DEGRADED, DEGRADED, STATUS),
	E(READY, RESTART_IDLE, STARTING, RESET_SPAWN),
	E(READY, RESTART_LIVE, READY, TERM_RESTART),
	E(READY, EXIT_FOR_RESTART, BACKOFF, RESTART_NOW),
	E(READY, EXIT_STOPPING, STOPPED, GONE),

	E(DEGRADED, EXIT_CLEAN, BACKOFF, BACKOFF),
	E(DEGRADED, EXIT_CONFIG, FAILED, FAIL),
	E(DEGRADED, EXIT_TRANSIENT, BACKOFF, BACKOFF),
	E(DEGRADED, EXIT_NO_FEATURE, FAILED, FAIL),
	E(DEGRADED, KILLED, BACKOFF, BACKOFF),
	E(DEGRADED, PROTOCOL_ERROR, DEGRADED, KILL),
	E(DEGRADED, HEARTBEAT_MISSED, DEGRADED, ABORT),
	E(DEGRADED, OVER_BUDGET, DEGRADED, KILL),
	E(DEGRADED, STOP_REQUESTED, DEGRADED, TERM),
	/* degraded with a new reason; READY again */
	E(DEGRADED, STATUS_DEGRADED, DEGRADED, STATUS),
	E(DEGRADED, STATUS_READY, READY, STATUS),
	E(DEGRADED, RESTART_IDLE, STARTING, RESET_SPAWN),
	E(DEGRADED, RESTART_LIVE, DEGRADED, TERM_RESTART),
	E(DEGRADED, EXIT_FOR_RESTART, BACKOFF, RESTART_NOW),
	E(DEGRADED, EXIT_STOPPING, STOPPED, GONE),

	/* BACKOFF: waiting to restart; a crash loop ends it in FAILED. */
	E(BACKOFF, BACKOFF_DONE, STARTING, SPAWN),
	E(BACKOFF, START, STARTING, SPAWN),
	E(BACKOFF, STOP_REQUESTED, STOPPED, STOPPED),
	E(BACKOFF, CRASH_LOOP, FAILED, FAIL_LOOPING),
	E(BACKOFF, RESTART_IDLE, STARTING, RESET_SPAWN),
	E(BACKOFF, RESTART_LIVE, BACKOFF, TERM_RESTART),
	E(BACKOFF, EXIT_FOR_RESTART, BACKOFF, RESTART_NOW),
	E(BACKOFF, EXIT_STOPPING, STOPPED, GONE),

	/* FAILED: a crash loop is retried when its restart_max_ms timer fires (backoff-done);
	 * otherwise it stays until started by hand; shutdown keeps it FAILED. */
	E(FAILED, START, STARTING, SPAWN),
	E(FAILED, BACKOFF_DONE, STARTING, SPAWN),
	E(FAILED, STOP_REQUESTED, FAILED, STOPPED),
	E(FAILED, RESTART_IDLE, STARTING, RESET_SPAWN),
	E(FAILED, RESTART_LIVE, FAILED, TERM_RESTART),
	E(FAILED, EXIT_FOR_RESTART, BACKOFF, RESTART_NOW),
	E(FAILED, EXIT_STOPPING, FAILED, GONE),
};

static const struct expect *find(enum child_state s, enum child_event e)
{
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		if (expected[i].state == s && expected[i].event == e)
			return &expected[i];
	return NULL;
}

Test(policy, every_state_event_pair)
{
	unsigned acting = 0;
	for (int s = 0; s < CHILD_STATE_MAX; s++) {
		for (int e = 0; e < CEV_MAX; e++) {
			const struct expect *x = find(s, e);
			struct policy_step got = policy_lookup(s, e);
			enum child_state want_next = x ? x->next : (enum child_state)s;
			enum child_action want_act = x ? x->action : CACT_NONE;
			cr_expect(got.next == want_next && got.action == want_act,
				  "(%s, %s): got %s/%s, expected %s/%s", policy_state_name(s),
				  policy_event_name(e), policy_state_name(got.next),
				  policy_action_name(got.action), policy_state_name(want_next),
				  policy_action_name(want_act));
			acting += got.action != CACT_NONE;
		}
	}
	cr_assert_eq(acting, sizeof(expected) / sizeof(expected[0]),
		     "the table acts on %u pairs, the expectation lists %zu", acting,
		     sizeof(expected) / sizeof(expected[0]));
}

Test(policy, expectation_rows_are_unique)
{
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		cr_assert_eq(find(expected[i].state, expected[i].event), &expected[i],
			     "row %zu (%s, %s) listed twice", i,
			     policy_state_name(expected[i].state),
			     policy_event_name(expected[i].event));
}

Test(policy, out_of_range_is_ignored)
{
	struct policy_step got = policy_lookup(CHILD_STATE_MAX, CEV_START);
	cr_assert_eq(got.action, CACT_NONE);
	got = policy_lookup(CHILD_READY, CEV_MAX);
	cr_assert_eq(got.next, CHILD_READY);
	cr_assert_eq(got.action, CACT_NONE);
}

Test(policy, every_name_is_set)
{
	for (int s = 0; s < CHILD_STATE_MAX; s++)
		cr_assert_str_neq(policy_state_name(s), "?");
	for (int e = 0; e < CEV_MAX; e++)
		cr_assert_str_neq(policy_event_name(e), "?", "event %d has no name", e);
	for (int a = 0; a < CACT_MAX; a++)
		cr_assert_str_neq(policy_action_name(a), "?", "action %d has no name", a);
}
