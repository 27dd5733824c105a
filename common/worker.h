/* SPDX-License-Identifier: Apache-2.0 */
/* The worker lifecycle of DESIGN.md in one library: arguments and config section → the
 * collector's setup (probe, load, attach) → sandbox → READY → loop (collector fds, heartbeat,
 * stats, batched events) → SIGTERM drain. A collector supplies only the callbacks below. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "tapio/v1/worker.pb-c.h"
#include "timeconv.h"
#include "wire.h"

#define WORKER_MAX_FDS 16

struct worker;
struct ring_buffer;

/* The callbacks return 0 or -errno. worker_main alone turns an error into the exit code of
 * exitcodes.h (worker_exit_code), and logs it once, with the setup step that failed. A collector
 * logs only what the errno cannot say (which hook, what the kernel needs). */
struct worker_collector {
	const char *name;
	/* Probe, load and attach; open everything needed later; register fds with worker_watch and
	 * rings with worker_watch_ring. Runs with the setup capabilities. Name each step with
	 * worker_set_step. 0 or -errno. */
	int (*setup)(struct worker *w, void *ctx);
	/* A watched fd (not a ring: the worker drains those) is readable: consume and
	 * worker_emit(). 0, or -errno to stop. May be NULL when the collector has only rings. */
	int (*on_readable)(struct worker *w, void *ctx, int fd);
	/* Add collector counters (kernel drops, decode errors, ...) to the stats frame. */
	void (*fill_stats)(struct worker *w, void *ctx, Tapio__V1__Stats *stats);
	/* Optional: events up to `seq` have now been written to the supervisor's socket in full
	 * (see worker_sent_seq()). Called from inside worker_emit() and the loop; it must not
	 * emit. */
	void (*on_sent)(struct worker *w, void *ctx, uint64_t seq);
	/* Release what setup acquired (called on every exit path after setup started). */
	void (*teardown)(struct worker *w, void *ctx);
};

/* Run the whole lifecycle; returns the process exit code. argv: --fd N (socket to the
 * supervisor), --config-fd N (sealed memfd with the YAML text), optional --log-level L. */
int worker_main(int argc, char **argv, const struct worker_collector *c, void *ctx);

/* The exit-code contract for a callback's error: -EINVAL, -EPERM, -EACCES → EXIT_CONFIG
 * (restarting will not help); -EOPNOTSUPP, -ENOSYS → EXIT_NO_FEATURE; any other → EXIT_TRANSIENT.
 * A collector picks its errno accordingly (e.g. -EOPNOTSUPP when no hook set loads). */
int worker_exit_code(int err);

/* For setup(): */
const struct config *worker_config(const struct worker *w);
/* Name the setup step now running ("load BPF", "attach hooks"), for the log line when setup
 * fails: "setup failed at 'attach hooks': Operation not permitted (exit 100)". step: a
 * string that lives as long as the process (a literal). */
void worker_set_step(struct worker *w, const char *step);
int worker_watch(struct worker *w, int fd);
/* Drain a libbpf ring buffer (its sample callbacks emit), with adaptive wakeups: the worker
 * owns the draining policy. consumer_map: the mmapped `ring_consumer` map of bpf/tapio_bpf.h,
 * whose first word, `polling`, is the kernel's view of the consumer. While records keep coming
 * the worker sets it and drains the ring every flush_ms without being woken; after a round
 * that found nothing it clears it and sleeps until a record wakes it. A record that raced the
 * switch to sleep waits at most one 100 ms tick. Before teardown and on SIGTERM the worker
 * drains once more. rb and the mapping are the worker's from here on (freed before teardown,
 * also on failure). Collectors call kevent_add_ring (kevent.h) rather than this. 0 or -errno. */
int worker_watch_ring(struct worker *w, struct ring_buffer *rb, void *consumer_map, size_t map_len);
void worker_add_hook(struct worker *w, const char *hook);
void worker_add_missing(struct worker *w, const char *feature);
void worker_set_degraded(struct worker *w, const char *reason);

/* Boot-time ns → wall clock, kept current by the worker loop. */
const struct timeconv *worker_timeconv(const struct worker *w);

/* Queue one event: the worker sets collector, seq; the event is packed immediately, so the
 * caller may reuse or free it after the call. Events are sent in batches. Returns 0, or
 * -ENOBUFS when the outgoing queue is full (the event is dropped and counted). */
int worker_emit(struct worker *w, Tapio__V1__Event *ev);

/* Queue the events emitted so far as one batch now and write what the socket takes, instead
 * of waiting for flush_ms or a full batch (then worker_sent_seq() says what left). */
void worker_flush(struct worker *w);

/* Counters the collector adds to (filtered by config, decode errors). */
struct worker_counters {
	uint64_t records_read;
	uint64_t decode_errors;
	uint64_t filtered;
	uint64_t enrich_misses;
};
struct worker_counters *worker_counters(struct worker *w);

/* The seq of the newest event written to the supervisor's socket in full (0 = none yet):
 * what a collector that must not lose or repeat its input (the systemd journal's cursor)
 * may consider handed over. Events of a batch dropped by a full queue never count, but a
 * later batch written moves this past them. */
uint64_t worker_sent_seq(const struct worker *w);
/* The queue to the supervisor is more than half full: a producer that can wait (reading a
 * journal) should, instead of having its events dropped. */
bool worker_congested(const struct worker *w);
