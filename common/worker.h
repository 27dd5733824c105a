/* SPDX-License-Identifier: Apache-2.0 */
/* The worker lifecycle of DESIGN.md in one library: arguments and config section → the
 * collector's setup (probe, load, attach) → sandbox → READY → loop (collector fds, heartbeat,
 * stats, batched events) → SIGTERM drain. A collector supplies only the callbacks below. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "fdstore.h"
#include "ringread.h"
#include "tapio/v1/worker.pb-c.h"
#include "timeconv.h"
#include "wire.h"

#define WORKER_MAX_FDS 16

struct worker;

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
	/* Release what setup acquired (called on every exit path after setup started). */
	void (*teardown)(struct worker *w, void *ctx);
	/* Optional: events up to `seq` have now been written to the supervisor's socket in full
	 * (see worker_sent_seq()). Called from inside worker_emit() and the loop; it must not
	 * emit. */
	void (*on_sent)(struct worker *w, void *ctx, uint64_t seq);
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
/* Drain the ring buffer map ring_fd (ringread.h: its records go to fn(ctx, ...)), with
 * adaptive wakeups: the worker owns the draining policy. consumer_map: the mmapped
 * `ring_consumer` map of bpf/tapio_bpf.h, whose first word, `polling`, is the kernel's view of
 * the consumer. While records keep coming the worker sets it and drains the ring every flush_ms
 * without being woken; after a round that found nothing it clears it and sleeps until a record
 * wakes it. A record that raced the switch to sleep waits at most one 100 ms tick. Before
 * teardown and on SIGTERM the worker drains once more. A record is released to the kernel
 * only once the events made of it are written to tapiod's socket, so records a killed worker
 * read but never sent are read again by the next one (with the fd store). The mapping is the
 * worker's from here on (unmapped before teardown, also on failure); ring_fd stays the
 * caller's. Collectors call kevent_add_ring (kevent.h) rather than this. 0 or -errno. */
int worker_watch_ring(struct worker *w, int ring_fd, ringread_fn fn, void *ctx, void *consumer_map,
		      size_t map_len);
/* Release ring records as soon as they are read (libbpf's way) instead of once their batch is
 * in the socket: the ring keeps all its room under a burst, and a kill loses the in-flight
 * batch (uncounted). For a pipeline benchmark, not for a collector whose events matter. Call
 * in setup. */
void worker_release_on_read(struct worker *w);

/* The fd store. In setup: a worker started with stored objects (tapiod passed them at spawn)
 * finds them with worker_stored(); it skips loading and attaching and reads the stored rings
 * (kevent.h has the helpers). A worker that loaded afresh names the fds tapiod should keep with
 * worker_store_add (links, ring buffers, stateful maps; the fds stay the caller's); the worker
 * hands them to tapiod after setup, before the sandbox. A stored worker whose setup fails
 * tells tapiod to drop the store: its successor loads afresh. */
const struct fdstore *worker_stored(const struct worker *w); /* NULL when started fresh */
int worker_store_add(struct worker *w, const char *name, int fd);

/* For setup(): sandbox rules that depend on the config. A path (file or directory) the worker
 * keeps reading after the sandbox, beyond the registry's read_paths (e.g. a token file's
 * directory); a TCP port it keeps connecting to (Landlock ABI 4+ forbids every other). At most
 * WORKER_MAX_FDS of each; 0, -ENOSPC, -ENOMEM. */
int worker_add_read_path(struct worker *w, const char *path);
int worker_allow_connect(struct worker *w, uint16_t port);
void worker_add_hook(struct worker *w, const char *hook);
void worker_add_missing(struct worker *w, const char *feature);
/* The worker's state as tapiod shows it. In setup: READY's degraded reason. After READY: a
 * Status frame (DEGRADED with the reason, or READY again) when the state or the reason
 * changes, at most one per WIRE_STATUS_MIN_INTERVAL_MS: a change within the interval is sent
 * at its end, and changes that cancel out meanwhile are not sent at all (counted as
 * status_changes_merged). Calling them on every poll is fine: nothing goes out without a
 * change. The reason is cut to WIRE_STATUS_REASON_MAX - 1 bytes at a UTF-8 boundary.
 * 0, -EINVAL (no reason), -ENOMEM. */
int worker_set_degraded(struct worker *w, const char *reason);
int worker_set_ready(struct worker *w);
bool worker_is_degraded(const struct worker *w);

/* A resume token: the collector's own position in its input (the journal's cursor), opaque to
 * tapiod, 1..WIRE_RESUME_TOKEN_MAX bytes. After emitting the events of an input record, set
 * the token that resumes after it: the batch that carries those events carries the token,
 * tapiod keeps the last one it received whole and gives it to the collector's next worker,
 * which finds it with worker_resume_token() in setup (NULL when none): what was delivered is
 * not read again, what was not is. A token set with no event waiting goes in a batch of its
 * own within flush_ms. A collector using tokens has full batches sent before its next event
 * rather than after its last. 0 or -EINVAL. */
int worker_set_resume_token(struct worker *w, const void *token, size_t len);
const uint8_t *worker_resume_token(const struct worker *w, size_t *ret_len);

/* ---- per-fd callbacks and one-shot timers (for clients driven by the loop, e.g. httpc) ----
 * Both run on the worker's loop thread, between other events; a callback returns 0, or -errno
 * to end the worker (as on_readable does). */
#define WORKER_IO_MAX	64 /* fds with a callback, timers included */
#define WORKER_IO_READ	1u
#define WORKER_IO_WRITE 2u
typedef int (*worker_io_fn)(struct worker *w, int fd, unsigned events, void *data);
/* Call fn(w, fd, ready, data) when fd is ready for `events` (WORKER_IO_READ|WORKER_IO_WRITE;
 * hang-ups and errors are reported as READ|WRITE). Watching an fd already watched replaces
 * its events and callback; events 0 = stop watching. The fd stays the caller's. 0, -ENOSPC
 * past WORKER_IO_MAX, or -errno from epoll_ctl. */
int worker_io_watch(struct worker *w, int fd, unsigned events, worker_io_fn fn, void *data);
/* Stop watching fd (before closing it). Unknown fds are ignored. */
void worker_io_unwatch(struct worker *w, int fd);

struct worker_timer;
typedef int (*worker_timer_fn)(struct worker *w, void *data);
/* A one-shot timer (a timerfd) calling fn when it fires; created disarmed. 0 or -errno. */
int worker_timer_new(struct worker *w, worker_timer_fn fn, void *data,
		     struct worker_timer **ret_timer);
/* Fire once after delay_ms (0 = on the next loop round); re-arming replaces the deadline. */
int worker_timer_arm(struct worker_timer *t, uint64_t delay_ms);
void worker_timer_disarm(struct worker_timer *t);
/* Disarm, unwatch and free; NULL is fine. */
void worker_timer_free(struct worker_timer *t);

/* A bare loop for tests and tools: the worker's epoll loop with only the fds and timers above
 * (no supervisor, no collector, no sandbox). run_once waits up to timeout_ms (-1 = forever)
 * and dispatches what is ready: the number of events handled, or the -errno a callback
 * returned. */
int worker_loop_new(struct worker **ret_w);
int worker_loop_run_once(struct worker *w, int timeout_ms);
void worker_loop_free(struct worker *w);

/* Boot-time ns → wall clock, kept current by the worker loop. */
const struct timeconv *worker_timeconv(const struct worker *w);

/* Queue one event: the worker sets collector, seq; the event is packed immediately, so the
 * caller may reuse or free it after the call. Events are sent in batches. Returns 0, or
 * -ENOBUFS when the outgoing queue is full (the event is dropped and counted). */
int worker_emit(struct worker *w, Tapio__V1__Event *ev);

/* Queue the events emitted so far as one batch now and write what the socket takes, instead
 * of waiting for flush_ms or a full batch (then worker_sent_seq() says what left). */
void worker_flush(struct worker *w);

/* The seq of the newest event written to the supervisor's socket in full (0 = none yet):
 * what a collector that must not lose or repeat its input (the systemd journal's cursor)
 * may consider handed over. The same marks that release ring records (worker_watch_ring)
 * move it. */
uint64_t worker_sent_seq(const struct worker *w);
/* The queue to the supervisor is more than half full: a producer that can wait (reading a
 * journal) should, instead of having its events dropped. */
bool worker_congested(const struct worker *w);

/* A counter of the collector's own (cumulative since the worker started) for the stats frame:
 * call from fill_stats. name: [a-z0-9_]{1,32}, a literal; at most WORKER_MAX_COUNTERS. tapiod
 * sums them across the collector's workers and shows them in `tapioctl status`. */
#define WORKER_MAX_COUNTERS 16
void worker_set_counter(struct worker *w, const char *name, uint64_t value);

/* Counters the collector adds to (filtered by config, decode errors). */
struct worker_counters {
	uint64_t records_read;
	uint64_t decode_errors;
	uint64_t filtered;
	uint64_t enrich_misses;
	/* a stored counters map's values when this worker took it over (kevent_resume_ring):
	 * fill_stats reports the filtered count since, the worker the drops since */
	uint64_t kernel_drops_at_start, kernel_filtered_at_start;
};
struct worker_counters *worker_counters(struct worker *w);
