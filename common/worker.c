// SPDX-License-Identifier: Apache-2.0
// The worker lifecycle (see worker.h). One thread, one epoll loop: collector fds, a signalfd
// for SIGTERM/SIGINT, a 100 ms timerfd for heartbeats, stats and batch flushing, and the
// socket to the supervisor (non-blocking, with a bounded queue: a full queue drops whole
// batches, counts them, and leaves a gap in the sequence numbers the supervisor sees).
#include "worker.h"

#include <bpf/libbpf.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cleanup.h"
#include "exitcodes.h"
#include "fatal_report.h"
#include "frame.h"
#include "log.h"
#include "pbwire.h"
#include "privilege.h"
#include "registry.h"
#include "sandbox.h"
#include "strbuf.h"

#define TICK_MS		 100
#define CONTROL_SLACK	 (64u << 10) /* heartbeats and stats may exceed the queue cap by this */
#define BATCH_BYTES_MAX	 (FRAME_MAX - 64)
#define DRAIN_TIMEOUT_MS 1000
#define MAX_STR		 64

struct worker {
	const struct worker_collector *coll;
	void *ctx;
	struct config *cfg; /* owned */
	const struct config_collector_common *common;
	const struct registry_entry *reg;

	int sock;     /* to the supervisor, non-blocking */
	pid_t parent; /* tapiod: the only process whose stop signal is a request */
	int epfd, sigfd, timerfd;
	int flushfd; /* one-shot: armed by the first event of a batch */
	int fds[WORKER_MAX_FDS];
	int nfds;
	struct ring_watch {
		struct ring_buffer *rb; /* owned */
		int fd;			/* its epoll fd */
		void *map;		/* owned: ring_consumer, read by the BPF programs */
		size_t map_len;
	} rings[WORKER_MAX_FDS];
	int nrings;
	int pollfd; /* one-shot: the next ring poll while polling */
	bool polling;
	bool want_out;	  /* EPOLLOUT armed on sock */
	const char *step; /* the collector's setup step, for the log */

	Tapio__V1__Ready ready;
	char *hooks[MAX_STR], *missing[MAX_STR];
	char *degraded;

	struct strbuf batch; /* EventBatch body: repeated field 1 */
	uint32_t batch_events;
	struct strbuf out; /* framed bytes not yet written */
	size_t out_max;

	uint64_t seq;
	uint64_t events_sent, queue_drops;
	struct worker_counters counters;
	struct timeconv tc;
	uint64_t next_heartbeat, next_stats;
};

const struct config *worker_config(const struct worker *w)
{
	return w->cfg;
}

const struct timeconv *worker_timeconv(const struct worker *w)
{
	return &w->tc;
}

struct worker_counters *worker_counters(struct worker *w)
{
	return &w->counters;
}

void worker_set_step(struct worker *w, const char *step)
{
	w->step = step;
}

int worker_exit_code(int err)
{
	switch (err) {
	case 0:
		return EXIT_CLEAN;
	case -EINVAL:
	case -EPERM:
	case -EACCES:
		return EXIT_CONFIG;
	case -EOPNOTSUPP:
	case -ENOSYS:
		return EXIT_NO_FEATURE;
	default:
		return EXIT_TRANSIENT;
	}
}

int worker_watch(struct worker *w, int fd)
{
	if (w->nfds >= WORKER_MAX_FDS)
		return -ENOSPC;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fds[w->nfds++] = fd;
	return 0;
}

/* The `polling` word of a ring_consumer mapping (bpf/tapio_bpf.h). */
static volatile uint32_t *ring_polling(const struct ring_watch *rw)
{
	return rw->map;
}

int worker_watch_ring(struct worker *w, struct ring_buffer *rb, void *consumer_map, size_t map_len)
{
	int fd = ring_buffer__epoll_fd(rb);
	int r = worker_watch(w, fd);
	if (r < 0) {
		ring_buffer__free(rb);
		munmap(consumer_map, map_len);
		return r;
	}
	struct ring_watch *rw = &w->rings[w->nrings++];
	*rw = (struct ring_watch){rb, fd, consumer_map, map_len};
	*ring_polling(rw) = 0;
	return 0;
}

static void add_str(char **arr, size_t *n, const char *s)
{
	if (*n >= MAX_STR)
		return;
	char *d = strdup(s);
	if (d)
		arr[(*n)++] = d;
}

void worker_add_hook(struct worker *w, const char *hook)
{
	add_str(w->hooks, &w->ready.n_hooks_attached, hook);
}

void worker_add_missing(struct worker *w, const char *feature)
{
	add_str(w->missing, &w->ready.n_features_missing, feature);
}

void worker_set_degraded(struct worker *w, const char *reason)
{
	free(w->degraded);
	w->degraded = strdup(reason);
}

/* ---- output queue ------------------------------------------------------------------------ */

static void arm_out(struct worker *w, bool on)
{
	if (w->want_out == on)
		return;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
				  .data.fd = w->sock };
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->sock, &ev) == 0)
		w->want_out = on;
}

/* Write as much of the queue as the socket takes. -EPIPE when the supervisor is gone. */
static int send_pending(struct worker *w)
{
	while (w->out.len > 0) {
		ssize_t n = send(w->sock, w->out.data, w->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				fatal_report_set_fd(-1);
				arm_out(w, true);
				return 0;
			}
			return -errno;
		}
		strbuf_consume(&w->out, (size_t)n);
	}
	arm_out(w, false);
	fatal_report_set_fd(w->sock); /* nothing half-sent: a Fatal frame may go out */
	return 0;
}

/* Queue one WorkerFrame whose body is field `field` (length-delimited) with `len` bytes.
 * Events respect the queue cap; control frames may use CONTROL_SLACK beyond it. */
static int queue_frame(struct worker *w, unsigned field, const void *body, size_t len,
		       bool control)
{
	uint8_t hdr[FRAME_HDR + 1 + 10];
	size_t h = FRAME_HDR;
	hdr[h++] = (uint8_t)(field << 3 | 2);
	h += pbwire_put_varint(hdr + h, len);
	size_t total = h - FRAME_HDR + len;
	if (total > FRAME_MAX)
		return -EMSGSIZE;
	frame_put_header(hdr, (uint32_t)total);
	size_t limit = w->out_max + (control ? CONTROL_SLACK : 0);
	if (w->out.len + h + len > limit)
		return -ENOBUFS;
	if (strbuf_append(&w->out, hdr, h) < 0 || strbuf_append(&w->out, body, len) < 0)
		return -ENOMEM;
	return 0;
}

static int queue_message(struct worker *w, unsigned field, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t small[512];
	uint8_t *buf = len <= sizeof(small) ? small : malloc(len);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(m, buf);
	int r = queue_frame(w, field, buf, len, true);
	if (buf != small)
		free(buf);
	return r;
}

static void flush_batch(struct worker *w)
{
	if (w->batch_events == 0)
		return;
	int r = queue_frame(w, WIRE_FRAME_BATCH, w->batch.data, w->batch.len, false);
	if (r < 0)
		w->queue_drops += w->batch_events;
	else
		w->events_sent += w->batch_events;
	strbuf_reset(&w->batch);
	w->batch_events = 0;
	send_pending(w);
}

int worker_emit(struct worker *w, Tapio__V1__Event *ev)
{
	ev->has_seq = 1;
	ev->seq = ++w->seq;
	ev->collector = (char *)w->coll->name;

	size_t len = protobuf_c_message_get_packed_size(&ev->base);
	if (len + 11 > BATCH_BYTES_MAX) {
		w->queue_drops++;
		return -EMSGSIZE;
	}
	if (w->batch.len + len + 11 > BATCH_BYTES_MAX)
		flush_batch(w);
	uint8_t pre[11];
	size_t p = 0;
	pre[p++] = (1 << 3) | 2; /* EventBatch.events */
	p += pbwire_put_varint(pre + p, len);
	if (strbuf_reserve(&w->batch, p + len) < 0) {
		w->queue_drops++;
		return -ENOBUFS;
	}
	memcpy(w->batch.data + w->batch.len, pre, p);
	protobuf_c_message_pack(&ev->base, (uint8_t *)w->batch.data + w->batch.len + p);
	w->batch.len += p + len;
	if (w->batch_events++ == 0) {
		/* the batch waits flush_ms at most: many events per frame under load, bounded
		 * latency when quiet */
		long ns = (long)w->common->flush_ms * 1000000L;
		struct itimerspec its = { .it_value = { ns / 1000000000L, ns % 1000000000L } };
		timerfd_settime(w->flushfd, 0, &its, NULL);
	}
	if (w->batch_events >= w->common->batch_max_events)
		flush_batch(w);
	return 0;
}

/* ---- frames ------------------------------------------------------------------------------ */

static int send_ready(struct worker *w, const struct sandbox_result *sb)
{
	Tapio__V1__PrivilegeReport pr = TAPIO__V1__PRIVILEGE_REPORT__INIT;
	struct privilege_status st;
	if (privilege_status_read(0, &st) == 0)
		privilege_report_fill(&pr, &st);
	pr.landlock = (char *)(sb ? sb->landlock : "off (sandbox disabled)");
	pr.has_dumpable = 1;
	pr.dumpable = sb ? (uint32_t)sb->dumpable : 1;

	w->ready.collector = (char *)w->coll->name;
	w->ready.has_protocol_version = 1;
	w->ready.protocol_version = WIRE_PROTOCOL_VERSION;
	w->ready.hooks_attached = w->hooks;
	w->ready.features_missing = w->missing;
	w->ready.degraded_reason = w->degraded;
	w->ready.privileges = &pr;
	int r = queue_message(w, WIRE_FRAME_READY, &w->ready.base);
	w->ready.privileges = NULL;
	if (r == 0)
		r = send_pending(w);
	return r;
}

static void send_heartbeat(struct worker *w, uint64_t now)
{
	Tapio__V1__Heartbeat hb = TAPIO__V1__HEARTBEAT__INIT;
	hb.has_mono_ns = 1;
	hb.mono_ns = now;
	queue_message(w, WIRE_FRAME_HEARTBEAT, &hb.base);
}

static void send_stats(struct worker *w)
{
	Tapio__V1__Stats st = TAPIO__V1__STATS__INIT;
	if (w->coll->fill_stats)
		w->coll->fill_stats(w, w->ctx, &st);
	st.has_events_sent = st.has_queue_drops = st.has_decode_errors = 1;
	st.has_filtered = st.has_records_read = st.has_enrich_misses = st.has_kernel_drops = 1;
	st.events_sent = w->events_sent;
	st.queue_drops = w->queue_drops;
	st.decode_errors = w->counters.decode_errors;
	st.filtered = w->counters.filtered;
	st.records_read = w->counters.records_read;
	st.enrich_misses = w->counters.enrich_misses;
	queue_message(w, WIRE_FRAME_STATS, &st.base);
}

/* ---- setup ------------------------------------------------------------------------------- */

static int parse_args(struct worker *w, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fd", required_argument, NULL, 'f' },
		{ "config-fd", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	int cfd = -1, opt;
	w->sock = -1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		long v;
		switch (opt) {
		case 'f':
		case 'c':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 3 || v > 65535) {
				log_error("--%s: not a file descriptor: %s",
					  opt == 'f' ? "fd" : "config-fd", optarg);
				return -EINVAL;
			}
			if (opt == 'f')
				w->sock = (int)v;
			else
				cfd = (int)v;
			break;
		case 'l': {
			enum log_level lv;
			if (log_level_parse(optarg, &lv) < 0) {
				log_error("--log-level: unknown level %s", optarg);
				return -EINVAL;
			}
			log_set_level(lv);
			break;
		}
		default:
			return -EINVAL;
		}
	}
	if (w->sock < 0 || cfd < 0) {
		log_error("usage: %s --fd N --config-fd N [--log-level L] (started by tapiod)",
			  argv[0]);
		return -EINVAL;
	}
	char *err = NULL;
	int r = config_load_fd(cfd, "<config from tapiod>", &w->cfg, &err);
	close(cfd);
	if (r < 0) {
		log_error("config: %s", err ? err : strerror(-r));
		free(err);
		return r;
	}
	enum log_level lv;
	if (log_get_level() == LOG_LEVEL_INFO && log_level_parse(w->cfg->log_level, &lv) == 0)
		log_set_level(lv);
	w->common = config_collector(w->cfg, w->coll->name);
	w->reg = registry_find(w->coll->name);
	if (!w->common || !w->reg) {
		log_error("collector %s is not in the registry", w->coll->name);
		return -EINVAL;
	}
	return 0;
}

/* The signals whose default action ends the process and that another process may send: all
 * go to the signalfd, so that the worker learns who sent one (and tells tapiod) before it
 * drains and exits. The fault signals (SEGV, BUS, ILL, FPE, TRAP, SYS) and SIGABRT (abort(),
 * tapiod's watchdog) keep their default action; SIGKILL and SIGSTOP cannot be caught. */
static const int stop_signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,	 SIGVTALRM,
				   SIGPROF, SIGIO,  SIGPWR,  SIGXCPU, SIGXFSZ, SIGSTKFLT};

static int init_loop(struct worker *w)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(&set, stop_signals[i]);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaddset(&set, s);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	w->flushfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	w->pollfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (w->epfd < 0 || w->sigfd < 0 || w->timerfd < 0 || w->flushfd < 0 || w->pollfd < 0)
		return -errno;
	struct itimerspec its = { .it_interval = { 0, TICK_MS * 1000000L },
				  .it_value = { 0, TICK_MS * 1000000L } };
	if (timerfd_settime(w->timerfd, 0, &its, NULL) < 0)
		return -errno;
	fcntl(w->sock, F_SETFD, FD_CLOEXEC);
	int fl = fcntl(w->sock, F_GETFL);
	if (fl < 0 || fcntl(w->sock, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = w->sigfd };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->sigfd, &ev) < 0)
		return -errno;
	ev.data.fd = w->timerfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->timerfd, &ev) < 0)
		return -errno;
	ev.data.fd = w->flushfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->flushfd, &ev) < 0)
		return -errno;
	ev.data.fd = w->pollfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->pollfd, &ev) < 0)
		return -errno;
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.fd = w->sock;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->sock, &ev) < 0)
		return -errno;
	return 0;
}

static int apply_sandbox(struct worker *w, struct sandbox_result *ret)
{
	uint32_t uid, gid;
	int r = config_worker_ids(w->cfg, w->coll->name, &uid, &gid);
	if (r < 0)
		return r;
	struct sandbox_spec spec = {
		.uid = uid,
		.gid = gid,
		.parent = w->parent,
		.read_paths = w->reg->read_paths,
		.extra_syscalls = w->reg->extra_syscalls,
		.allow_bpf_map_read = w->reg->bpf_map_read,
		.landlock = true,
	};
	return sandbox_apply(&spec, ret);
}

/* ---- loop -------------------------------------------------------------------------------- */

static void set_polling(struct worker *w, bool on)
{
	for (int i = 0; i < w->nrings; i++)
		*ring_polling(&w->rings[i]) = on;
	w->polling = on;
	long ns = on ? (long)w->common->flush_ms * 1000000L : 0;
	struct itimerspec its = { .it_value = { ns / 1000000000L, ns % 1000000000L } };
	timerfd_settime(w->pollfd, 0, &its, NULL);
}

static bool is_ring(const struct worker *w, int fd)
{
	for (int i = 0; i < w->nrings; i++)
		if (w->rings[i].fd == fd)
			return true;
	return false;
}

/* The exit code for a collector's error while running, logged once. */
static int fail_running(struct worker *w, const char *what, int err)
{
	int code = worker_exit_code(err);
	log_error("%s failed: %s (exit %d)", what, strerror(-err), code);
	return code;
}

/* Drain every ring (the sample callbacks emit and count records_read); the number of records
 * read, or -errno when libbpf reports a failure. */
static int64_t drain_rings(struct worker *w)
{
	uint64_t before = w->counters.records_read;
	for (int i = 0; i < w->nrings; i++) {
		int r = ring_buffer__consume(w->rings[i].rb);
		if (r < 0 && r != -EINTR)
			return r;
	}
	return (int64_t)(w->counters.records_read - before);
}

/* Drain the rings and choose: records came → poll (timer re-armed); none while polling →
 * sleep, after one more drain for records committed without a wakeup while the kernel still
 * saw the flag set. Returns an exit code, or -1 to go on. */
static int ring_round(struct worker *w)
{
	int64_t n = drain_rings(w);
	if (n == 0 && w->polling) {
		set_polling(w, false);
		n = drain_rings(w);
	}
	if (n < 0)
		return fail_running(w, "draining the ring buffer", (int)n);
	if (n > 0)
		set_polling(w, true);
	return -1;
}

static int poll_round(struct worker *w)
{
	uint64_t exp;
	while (read(w->pollfd, &exp, sizeof(exp)) > 0)
		;
	int r = ring_round(w);
	flush_batch(w);
	return r;
}

static int on_tick(struct worker *w)
{
	uint64_t exp;
	while (read(w->timerfd, &exp, sizeof(exp)) > 0)
		;
	uint64_t now = timeconv_now_mono_ns();
	/* asleep: the one record that may have raced the switch to sleep (see ring_round) */
	int r = w->polling ? -1 : ring_round(w);
	if (r >= 0)
		return r;
	flush_batch(w);
	if (now >= w->next_heartbeat) {
		send_heartbeat(w, now);
		w->next_heartbeat = now + (uint64_t)w->common->heartbeat_interval_ms * 1000000ull;
	}
	if (now >= w->next_stats) {
		timeconv_update(&w->tc);
		send_stats(w);
		w->next_stats = now + (uint64_t)w->common->stats_interval_ms * 1000000ull;
	}
	send_pending(w);
	return -1;
}

/* A stop tapiod did not ask for: say who sent it, ahead of the last batch. */
static void report_signal(struct worker *w, const struct signalfd_siginfo *si)
{
	Tapio__V1__Signaled m = TAPIO__V1__SIGNALED__INIT;
	m.has_signo = m.has_sender_pid = m.has_sender_uid = m.has_code = 1;
	m.signo = (int32_t)si->ssi_signo;
	m.sender_pid = si->ssi_pid;
	m.sender_uid = si->ssi_uid;
	m.code = si->ssi_code;
	log_warn("signal %u from pid %u uid %u (code %d), not from tapiod (pid %d): exiting",
		 si->ssi_signo, si->ssi_pid, si->ssi_uid, si->ssi_code, (int)w->parent);
	queue_message(w, WIRE_FRAME_SIGNALED, &m.base);
	send_pending(w);
}

/* Returns an exit code when the loop should end, -1 to keep going. */
static int dispatch(struct worker *w, const struct epoll_event *ev)
{
	int fd = ev->data.fd;
	if (fd == w->sigfd) {
		struct signalfd_siginfo si;
		if (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			/* only tapiod's SIGTERM is a request; a terminal's ^C (the kernel's SIGINT
			 * to the foreground group) reaches tapiod too, which stops everything */
			bool requested = si.ssi_signo == SIGTERM && si.ssi_code == SI_USER &&
					 (pid_t)si.ssi_pid == w->parent;
			bool tty = si.ssi_code == SI_KERNEL &&
				   (si.ssi_signo == SIGINT || si.ssi_signo == SIGQUIT);
			if (!requested && !tty)
				report_signal(w, &si);
			log_debug("signal %u from pid %u: draining", si.ssi_signo, si.ssi_pid);
			return EXIT_CLEAN;
		}
		return -1;
	}
	if (fd == w->timerfd)
		return on_tick(w);
	if (fd == w->pollfd)
		return poll_round(w);
	if (fd == w->flushfd) {
		uint64_t exp;
		while (read(w->flushfd, &exp, sizeof(exp)) > 0)
			;
		flush_batch(w);
		return -1;
	}
	if (fd == w->sock) {
		if (ev->events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
			log_warn("supervisor closed the socket: exiting");
			return EXIT_TRANSIENT;
		}
		if (ev->events & EPOLLOUT && send_pending(w) < 0) {
			log_warn("socket to supervisor failed: exiting");
			return EXIT_TRANSIENT;
		}
		return -1;
	}
	if (is_ring(w, fd)) {
		/* woken by a record: drain, and poll from now on, while they come */
		int64_t n = drain_rings(w);
		if (n < 0)
			return fail_running(w, "draining the ring buffer", (int)n);
		if (!w->polling)
			set_polling(w, true);
		return -1;
	}
	int r = w->coll->on_readable ? w->coll->on_readable(w, w->ctx, fd) : 0;
	assert(r <= 0);
	if (r < 0)
		return fail_running(w, "reading events", r);
	return -1; /* the batch goes out when full, when flushfd fires or after a poll round */
}

static void drain(struct worker *w)
{
	drain_rings(w); /* what the kernel handed over before the stop; nothing new after */
	flush_batch(w);
	send_stats(w);
	uint64_t deadline = timeconv_now_mono_ns() + DRAIN_TIMEOUT_MS * 1000000ull;
	while (w->out.len > 0 && timeconv_now_mono_ns() < deadline) {
		if (send_pending(w) < 0)
			break;
		if (w->out.len == 0)
			break;
		struct epoll_event ev;
		epoll_wait(w->epfd, &ev, 1, 50);
	}
}

static int run_loop(struct worker *w)
{
	struct epoll_event evs[16];
	for (;;) {
		int n = epoll_wait(w->epfd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return EXIT_TRANSIENT;
		}
		for (int i = 0; i < n; i++) {
			int r = dispatch(w, &evs[i]);
			if (r >= 0)
				return r;
		}
	}
}

/* The declared setup capabilities this process was not granted (a container or unit without
 * them), as "CAP_NET_ADMIN, CAP_NET_RAW" into buf; "" when it has them all. A setup step that
 * needs one only sees EPERM, so a failed setup names them. */
DEFINE_POINTER_CLEANUP(cap_t, cap_free)

static void missing_caps(uint64_t declared, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	_cleanup_(cap_freep) cap_t caps = cap_get_proc();
	if (!caps)
		return;
	for (cap_value_t v = 0; v < 64 && o + 1 < len; v++) {
		cap_flag_value_t set = CAP_CLEAR;
		if (!(declared & (1ull << v)) ||
		    (cap_get_flag(caps, v, CAP_PERMITTED, &set) == 0 && set == CAP_SET))
			continue;
		char *name = cap_to_name(v);
		o += (size_t)snprintf(buf + o, len - o, "%s", o ? ", " : "");
		for (char *p = name; p && *p && o + 1 < len; p++)
			buf[o++] = (char)toupper((unsigned char)*p);
		buf[o < len ? o : len - 1] = '\0';
		cap_free(name);
	}
}

int worker_main(int argc, char **argv, const struct worker_collector *c, void *ctx)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return EXIT_TRANSIENT;
	char ident[48];
	snprintf(ident, sizeof(ident), "tapio-%s", c->name);
	log_init(ident, LOG_LEVEL_INFO);
	w->coll = c;
	w->ctx = ctx;
	/* tapiod exec'd us: when it dies, so do we (the uid switch clears this: the sandbox
	 * re-arms it). If it died already, getppid() is someone else's. */
	w->parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != w->parent) {
		free(w);
		return EXIT_TRANSIENT;
	}
	/* First of all: keep only the capabilities this collector's setup declared. */
	const struct registry_entry *reg = registry_find(c->name);
	if (reg && geteuid() == 0) {
		int r = sandbox_limit_caps(registry_setup_caps(reg), registry_setup_caps(reg));
		if (r < 0) {
			log_error("cannot limit capabilities to the declared set: %s", strerror(-r));
			free(w);
			return EXIT_CONFIG;
		}
	}
	w->epfd = w->sigfd = w->timerfd = w->flushfd = w->pollfd = -1;
	w->ready = (Tapio__V1__Ready)TAPIO__V1__READY__INIT;
	strbuf_init(&w->batch, FRAME_MAX);
	int code = EXIT_CONFIG;
	bool setup_done = false;

	if (parse_args(w, argc, argv) < 0)
		goto out;
	w->out_max = (size_t)w->common->queue_max_kib << 10;
	strbuf_init(&w->out, w->out_max + CONTROL_SLACK + FRAME_MAX);
	timeconv_update(&w->tc);
	code = EXIT_TRANSIENT;
	if (init_loop(w) < 0) {
		log_error("event loop setup: %s", strerror(errno));
		goto out;
	}
	setup_done = true;
	int r = c->setup(w, ctx);
	assert(r <= 0); /* 0 or -errno: an exit code here would read as success */
	if (r < 0) {
		code = worker_exit_code(r);
		char missing[256] = "";
		if ((r == -EPERM || r == -EACCES) && reg)
			missing_caps(registry_setup_caps(reg), missing, sizeof(missing));
		log_error("setup failed%s%s%s: %s (exit %d)%s%s", w->step ? " at '" : "",
			  w->step ? w->step : "", w->step ? "'" : "", strerror(-r), code,
			  *missing ? "; capabilities declared but not granted: " : "", missing);
		goto out;
	}
	/* Loading BPF parses the kernel's BTF (megabytes) and frees it: give that back. */
	malloc_trim(0);

	struct sandbox_result sb = {0};
	bool sandboxed = w->common->sandbox;
	if (sandboxed) {
		r = apply_sandbox(w, &sb);
		if (r < 0) {
			log_error(
				"sandbox: %s (set collectors.%s.sandbox: false to run without it)",
				strerror(-r), c->name);
			code = EXIT_CONFIG;
			goto out;
		}
	}
	if (send_ready(w, sandboxed ? &sb : NULL) < 0) {
		log_error("cannot send READY: supervisor gone");
		goto out;
	}
	uint64_t now = timeconv_now_mono_ns();
	w->next_heartbeat = now + (uint64_t)w->common->heartbeat_interval_ms * 1000000ull;
	w->next_stats = now + (uint64_t)w->common->stats_interval_ms * 1000000ull;
	code = run_loop(w);
	if (code == EXIT_CLEAN)
		drain(w);
out:
	for (int i = 0; i < w->nrings; i++)
		ring_buffer__free(w->rings[i].rb); /* before teardown destroys the maps */
	if (setup_done && c->teardown)
		c->teardown(w, ctx);
	for (size_t i = 0; i < w->ready.n_hooks_attached; i++)
		free(w->hooks[i]);
	for (size_t i = 0; i < w->ready.n_features_missing; i++)
		free(w->missing[i]);
	free(w->degraded);
	for (int i = 0; i < w->nrings; i++)
		munmap(w->rings[i].map, w->rings[i].map_len);
	strbuf_release(&w->batch);
	strbuf_release(&w->out);
	config_free(w->cfg);
	free(w);
	return code;
}
