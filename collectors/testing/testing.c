// SPDX-License-Identifier: Apache-2.0
// The test-only collector: a worker that behaves well (one event per tick) or misbehaves in
// one configured way, so the supervisor's policy, watchdog, protocol checks and the sandbox
// can be tested against a real process. Never enabled by default; not a data source.
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "exitcodes.h"
#include "frame.h"
#include "log.h"
#include "testing_config.h"
#include "timeconv.h"
#include "worker.h"

static char *volatile hoard;

struct testing_ctx {
	const struct config_testing *cfg;
	int timerfd;
	uint64_t ready_ns;
	bool acted;
	uint64_t ticks;
	bool back; /* flap: the source came back */
};

static int testing_setup(struct worker *w, void *ctx)
{
	struct testing_ctx *t = ctx;
	t->cfg = config_section(worker_config(w), "testing");
	worker_set_step(w, "tick timer");
	t->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->timerfd < 0)
		return -errno;
	long ns = (long)t->cfg->tick_ms * 1000000L;
	struct itimerspec its = {.it_interval = {ns / 1000000000L, ns % 1000000000L},
				 .it_value = {ns / 1000000000L, ns % 1000000000L}};
	if (timerfd_settime(t->timerfd, 0, &its, NULL) < 0)
		return -errno;
	int r = worker_watch(w, t->timerfd);
	if (r < 0)
		return r;
	worker_add_hook(w, "timerfd");
	if (t->cfg->mode == CONFIG_TESTING_DEGRADED)
		worker_set_degraded(w, "testing: degraded on purpose");
	t->ready_ns = timeconv_now_mono_ns();
	return 0;
}

static void emit_tick(struct worker *w, struct testing_ctx *t, const char *type,
		      Tapio__V1__SecurityEvent *sec)
{
	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint64_t boot = timeconv_now_boot_ns();
	int64_t wall = timeconv_wall_ns(worker_timeconv(w), boot);
	ts.seconds = wall / 1000000000;
	ts.nanos = (int32_t)(wall % 1000000000);
	ev.type = (char *)type;
	ev.time = &ts;
	ev.has_boot_ns = 1;
	ev.boot_ns = boot;
	Tapio__V1__ProcessContext pc = TAPIO__V1__PROCESS_CONTEXT__INIT;
	pc.has_pid = 1;
	pc.pid = (uint32_t)getpid();
	ev.process = &pc;
	if (sec) {
		ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_SECURITY;
		ev.security = sec;
	}
	worker_emit(w, &ev);
}

/* The misbehaviour, once after_ms have passed since setup. */
static int act(struct worker *w, struct testing_ctx *t)
{
	switch (t->cfg->mode) {
	case CONFIG_TESTING_EXIT:
		log_info("testing: exiting with %u as configured", t->cfg->exit_code);
		exit((int)t->cfg->exit_code);
	case CONFIG_TESTING_HANG:
		log_info("testing: hanging as configured");
		for (;;) {
			struct timespec ts = {3600, 0};
			nanosleep(&ts, NULL);
		}
	case CONFIG_TESTING_ALLOC: {
		size_t n = (size_t)t->cfg->alloc_mib << 20;
		char *p = malloc(n);
		if (!p) {
			log_error("testing: cannot allocate %u MiB", t->cfg->alloc_mib);
			break;
		}
		memset(p, 0x5a, n); /* touch every page: RSS, not just address space */
		hoard = p;	    /* kept: the compiler may not drop the allocation */
		log_info("testing: allocated %u MiB as configured", t->cfg->alloc_mib);
		break;
	}
	case CONFIG_TESTING_FORBIDDEN_SYSCALL:
		log_info("testing: calling socket(AF_INET) inside the sandbox");
		socket(AF_INET, SOCK_STREAM, 0);
		log_error("testing: socket() returned: the seccomp filter did not kill us");
		return -ENOTRECOVERABLE; /* any errno of the EXIT_TRANSIENT class */
	case CONFIG_TESTING_FORBIDDEN_PATH: {
		const char *path = "/etc/hostname";
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		int err = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		Tapio__V1__SecurityEvent sec = TAPIO__V1__SECURITY_EVENT__INIT;
		sec.action = "open";
		sec.filename = (char *)path;
		sec.has_result = 1;
		sec.result = -err;
		emit_tick(w, t, "testing.open", &sec);
		break;
	}
	case CONFIG_TESTING_FLAP: {
		/* a peer that comes and goes faster than anyone should be told: tapiod hears of
		 * the first change, then of the state it settled in, a second later */
		log_info("testing: the source flaps, then stays lost");
		char why[64];
		for (int i = 0; i < 1000; i++) {
			snprintf(why, sizeof(why), "testing: flapping %d", i);
			worker_set_degraded(w, why);
			worker_set_ready(w);
		}
		worker_set_degraded(w, "testing: source lost");
		break;
	}
	default:
		break;
	}
	return 0;
}

static int testing_on_readable(struct worker *w, void *ctx, int fd)
{
	struct testing_ctx *t = ctx;
	uint64_t exp;
	if (read(fd, &exp, sizeof(exp)) != sizeof(exp))
		return 0;
	if (!t->acted && timeconv_now_mono_ns() - t->ready_ns >= t->cfg->after_ms * 1000000ull) {
		t->acted = true;
		int r = act(w, t);
		if (r)
			return r;
	}
	if (t->cfg->mode == CONFIG_TESTING_FLAP && t->acted && !t->back &&
	    timeconv_now_mono_ns() - t->ready_ns >= 2 * t->cfg->after_ms * 1000000ull) {
		t->back = true;
		log_info("testing: the source is back");
		worker_set_ready(w);
	}
	t->ticks++;
	emit_tick(w, t, "testing.tick", NULL);
	return 0;
}

static const struct worker_collector testing_collector = {
	.name = "testing",
	.setup = testing_setup,
	.on_readable = testing_on_readable,
};

/* ---- raw modes: break the protocol below the worker library ------------------------------- */

static void send_frame(int fd, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(FRAME_HDR + len);
	if (!buf)
		exit(EXIT_TRANSIENT);
	frame_put_header(buf, (uint32_t)len);
	protobuf_c_message_pack(m, buf + FRAME_HDR);
	if (frame_write_all(fd, buf, FRAME_HDR + len) < 0)
		exit(EXIT_TRANSIENT);
	free(buf);
}

static void send_bytes(int fd, const uint8_t *body, size_t len)
{
	uint8_t hdr[FRAME_HDR];
	frame_put_header(hdr, (uint32_t)len);
	if (frame_write_all(fd, hdr, sizeof(hdr)) < 0 || frame_write_all(fd, body, len) < 0)
		exit(EXIT_TRANSIENT);
}

/* forge: set what only tapiod may say (id, collector, node) to values it must replace */
static void send_batch_as(int fd, uint64_t first_seq, size_t n, bool forge)
{
	Tapio__V1__Event evs[64];
	Tapio__V1__Event *ptrs[64];
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = time(NULL);
	for (size_t i = 0; i < n && i < 64; i++) {
		evs[i] = (Tapio__V1__Event)TAPIO__V1__EVENT__INIT;
		evs[i].type = "testing.flood";
		evs[i].time = &ts;
		evs[i].has_seq = 1;
		evs[i].seq = first_seq + i;
		if (forge) {
			evs[i].id = "forged-id";
			evs[i].collector = "forged-collector";
			evs[i].node = "forged-node";
		}
		ptrs[i] = &evs[i];
	}
	Tapio__V1__EventBatch b = TAPIO__V1__EVENT_BATCH__INIT;
	b.n_events = n < 64 ? n : 64;
	b.events = ptrs;
	Tapio__V1__WorkerFrame f = TAPIO__V1__WORKER_FRAME__INIT;
	f.body_case = TAPIO__V1__WORKER_FRAME__BODY_BATCH;
	f.batch = &b;
	send_frame(fd, &f.base);
}

static void send_batch(int fd, uint64_t first_seq, size_t n)
{
	send_batch_as(fd, first_seq, n, false);
}

static void send_status(int fd, bool degraded, const char *reason)
{
	Tapio__V1__Status st = TAPIO__V1__STATUS__INIT;
	st.has_degraded = 1;
	st.degraded = degraded;
	st.reason = (char *)reason;
	Tapio__V1__WorkerFrame f = TAPIO__V1__WORKER_FRAME__INIT;
	f.body_case = TAPIO__V1__WORKER_FRAME__BODY_STATUS;
	f.status = &st;
	send_frame(fd, &f.base);
}

static void send_ready(int fd)
{
	Tapio__V1__Ready r = TAPIO__V1__READY__INIT;
	r.collector = "testing";
	r.has_protocol_version = 1;
	r.protocol_version = WIRE_PROTOCOL_VERSION;
	Tapio__V1__WorkerFrame f = TAPIO__V1__WORKER_FRAME__INIT;
	f.body_case = TAPIO__V1__WORKER_FRAME__BODY_READY;
	f.ready = &r;
	send_frame(fd, &f.base);
}

/* A frame of `len` bytes sent with fds attached (SCM_RIGHTS). */
static void send_with_fds(int fd, const ProtobufCMessage *m, const int *fds, size_t nfds)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t buf[FRAME_HDR + 256];
	if (len > 256)
		exit(EXIT_TRANSIENT);
	frame_put_header(buf, (uint32_t)len);
	protobuf_c_message_pack(m, buf + FRAME_HDR);
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = {.iov_base = buf, .iov_len = FRAME_HDR + len};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.b,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * nfds)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)(FRAME_HDR + len))
		exit(EXIT_TRANSIENT);
}

/* Heartbeats every 200 ms, forever: a worker that stays up after what it sent. */
static void keep_beating(int fd)
{
	Tapio__V1__Heartbeat hb = TAPIO__V1__HEARTBEAT__INIT;
	Tapio__V1__WorkerFrame f = TAPIO__V1__WORKER_FRAME__INIT;
	f.body_case = TAPIO__V1__WORKER_FRAME__BODY_HEARTBEAT;
	f.heartbeat = &hb;
	for (;;) {
		send_frame(fd, &f.base);
		struct timespec ts = {0, 200000000L};
		nanosleep(&ts, NULL);
	}
}

static int run_raw(int fd, const struct config_testing *cfg)
{
	switch (cfg->mode) {
	case CONFIG_TESTING_SEQ_GAP:
		send_ready(fd);
		send_batch(fd, 1, 4);
		send_batch(fd, 10, 3);
		keep_beating(fd);
		break;
	case CONFIG_TESTING_SEQ_BACKWARDS:
		send_ready(fd);
		send_batch(fd, 1, 4);
		send_batch(fd, 3, 1);
		break;
	case CONFIG_TESTING_FD_STORE_FORGED: {
		/* names a BPF ring buffer, sends /dev/null: tapiod must look at the fd */
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		char *names[] = {"map:events"};
		Tapio__V1__FdStore fs = TAPIO__V1__FD_STORE__INIT;
		fs.names = names;
		fs.n_names = 1;
		Tapio__V1__WorkerFrame f = TAPIO__V1__WORKER_FRAME__INIT;
		f.body_case = TAPIO__V1__WORKER_FRAME__BODY_FD_STORE;
		f.fd_store = &fs;
		send_with_fds(fd, &f.base, &null, 1);
		break;
	}
	case CONFIG_TESTING_FD_STORE_UNNAMED: {
		/* fds riding on a heartbeat, no FdStore frame: refused at READY */
		int fds[2] = {open("/dev/null", O_RDONLY | O_CLOEXEC), fd};
		Tapio__V1__Heartbeat hb = TAPIO__V1__HEARTBEAT__INIT;
		Tapio__V1__WorkerFrame f = TAPIO__V1__WORKER_FRAME__INIT;
		f.body_case = TAPIO__V1__WORKER_FRAME__BODY_HEARTBEAT;
		f.heartbeat = &hb;
		send_with_fds(fd, &f.base, fds, 2);
		send_ready(fd);
		break;
	}
	case CONFIG_TESTING_OVERSIZED: {
		send_ready(fd);
		uint8_t hdr[FRAME_HDR];
		frame_put_header(hdr, FRAME_MAX + 1);
		frame_write_all(fd, hdr, sizeof(hdr));
		break;
	}
	case CONFIG_TESTING_GARBAGE: {
		send_ready(fd);
		/* a plausible length, then bytes that are no WorkerFrame */
		uint8_t junk[64 + FRAME_HDR];
		frame_put_header(junk, 64);
		memset(junk + FRAME_HDR, 0xff, 64);
		frame_write_all(fd, junk, sizeof(junk));
		break;
	}
	case CONFIG_TESTING_EARLY_EVENTS:
		send_batch(fd, 1, 4);
		break;
	case CONFIG_TESTING_STATUS_EARLY:
		send_status(fd, true, "too early");
		break;
	case CONFIG_TESTING_STATUS_FLOOD:
		send_ready(fd);
		for (int i = 0; i < 64; i++)
			send_status(fd, i % 2 == 0, i % 2 == 0 ? "flood" : NULL);
		break;
	case CONFIG_TESTING_STATUS_LONG: {
		send_ready(fd);
		char big[WIRE_STATUS_REASON_MAX + 2];
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		send_status(fd, true, big);
		break;
	}
	case CONFIG_TESTING_STATUS_BYTES:
		send_ready(fd);
		/* an invalid byte, a control character, a backslash and a valid é */
		send_status(fd, true, "bytes \xff\x01\\ caf\xc3\xa9");
		keep_beating(fd);
		break;
	case CONFIG_TESTING_FORGE:
		send_ready(fd);
		send_batch_as(fd, 1, 8, true);
		break;
	case CONFIG_TESTING_MIXED_FRAME: {
		send_ready(fd);
		/* WorkerFrame{batch: {events: [{type: "t", seq: 1}]}, heartbeat: {}}: protobuf
		 * would decode a heartbeat and drop the batch; the protocol is one body a frame */
		static const uint8_t f[] = {2 << 3 | 2, 7, 1 << 3 | 2, 5, 3 << 3 | 2, 1, 't',
					    6 << 3,	1, 3 << 3 | 2, 0};
		send_bytes(fd, f, sizeof(f));
		break;
	}
	case CONFIG_TESTING_BAD_EVENT: {
		send_ready(fd);
		/* a well-formed batch whose one event is a string field sent as a varint, then
		 * a cut-off tag */
		static const uint8_t f[] = {2 << 3 | 2, 5, 1 << 3 | 2, 3, 1 << 3, 1, 0xff};
		send_bytes(fd, f, sizeof(f));
		break;
	}
	case CONFIG_TESTING_FLOOD: {
		send_ready(fd);
		Tapio__V1__Heartbeat hb = TAPIO__V1__HEARTBEAT__INIT;
		Tapio__V1__WorkerFrame f = TAPIO__V1__WORKER_FRAME__INIT;
		f.body_case = TAPIO__V1__WORKER_FRAME__BODY_HEARTBEAT;
		f.heartbeat = &hb;
		for (uint64_t seq = 1;; seq += 64) {
			send_batch(fd, seq, 64); /* blocks when tapiod does not keep up */
			if ((seq / 64) % 256 == 0)
				send_frame(fd, &f.base);
		}
	}
	default:
		break;
	}
	/* Wait to be killed; never read the socket. */
	for (;;)
		pause();
	return EXIT_TRANSIENT;
}

static bool raw_mode(enum config_testing_mode m)
{
	return m == CONFIG_TESTING_OVERSIZED || m == CONFIG_TESTING_GARBAGE ||
	       m == CONFIG_TESTING_EARLY_EVENTS || m == CONFIG_TESTING_FLOOD ||
	       m == CONFIG_TESTING_FORGE || m == CONFIG_TESTING_MIXED_FRAME ||
	       m == CONFIG_TESTING_BAD_EVENT || m == CONFIG_TESTING_SEQ_GAP ||
	       m == CONFIG_TESTING_SEQ_BACKWARDS || m == CONFIG_TESTING_FD_STORE_FORGED ||
	       m == CONFIG_TESTING_FD_STORE_UNNAMED || m == CONFIG_TESTING_STATUS_EARLY ||
	       m == CONFIG_TESTING_STATUS_FLOOD || m == CONFIG_TESTING_STATUS_LONG ||
	       m == CONFIG_TESTING_STATUS_BYTES;
}

int main(int argc, char **argv)
{
	int sock = -1, cfd = -1;
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--fd") == 0)
			sock = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--config-fd") == 0)
			cfd = atoi(argv[i + 1]);
	}
	struct config *cfg = NULL;
	const struct config_testing *tc = NULL;
	if (cfd >= 3 && config_load_fd(cfd, "<config from tapiod>", &cfg, NULL) == 0)
		tc = config_section(cfg, "testing");
	if (tc && raw_mode(tc->mode) && sock >= 3) {
		log_init("tapio-testing", LOG_LEVEL_INFO);
		return run_raw(sock, tc);
	}
	config_free(cfg);
	static struct testing_ctx ctx;
	return worker_main(argc, argv, &testing_collector, &ctx);
}
