// SPDX-License-Identifier: Apache-2.0
// The subscribers sink against real sockets: a reader gets every event in framed
// ControlResponses written in batches; one that never reads is cut off once its backlog passes
// its share of the budget, counted, and nothing stays held after it leaves.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "frame.h"
#include "supervisor/sink.h"
#include "tapio/v1/control.pb-c.h"

struct conn {
	uv_pipe_t pipe;
	struct subscriber sub;
	int peer; /* the client's end */
	bool cut;
};

static void on_cut(struct subscriber *sub)
{
	struct conn *c = (struct conn *)((char *)sub - offsetof(struct conn, sub));
	c->cut = true;
}

static void conn_open(uv_loop_t *loop, struct conn *c, struct sink *s)
{
	int sv[2];
	memset(c, 0, sizeof(*c));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	cr_assert_eq(uv_pipe_init(loop, &c->pipe, 0), 0);
	cr_assert_eq(uv_pipe_open(&c->pipe, sv[0]), 0);
	c->peer = sv[1];
	c->sub = (struct subscriber){.stream = (uv_stream_t *)&c->pipe, .on_cut = on_cut};
	sink_subscribe(s, &c->sub);
}

static const char json[] =
	"{\"collector\":\"testing\",\"type\":\"testing.tick\",\"pad\":"
	"\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";

static void feed(struct sink *s, int n)
{
	struct sink_event e = {.collector = "testing",
			       .type = "testing.tick",
			       .json = json,
			       .json_len = sizeof(json) - 1};
	for (int i = 0; i < n; i++)
		s->ops->event(s, &e);
}

/* Read and decode every frame available on fd; the number of events. */
static int drain_peer(int fd)
{
	static uint8_t buf[1 << 20];
	static size_t have;
	int events = 0;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	size_t off = 0;
	while (have - off >= FRAME_HDR) {
		uint32_t len = (uint32_t)buf[off] << 24 | (uint32_t)buf[off + 1] << 16 |
			       (uint32_t)buf[off + 2] << 8 | buf[off + 3];
		if (have - off < FRAME_HDR + len)
			break;
		Tapio__V1__ControlResponse *r =
			tapio__v1__control_response__unpack(NULL, len, buf + off + FRAME_HDR);
		cr_assert_not_null(r);
		cr_assert_str_eq(r->event_json, json);
		tapio__v1__control_response__free_unpacked(r, NULL);
		events++;
		off += FRAME_HDR + len;
	}
	memmove(buf, buf + off, have - off);
	have -= off;
	return events;
}

Test(sink_subscribers, reader_gets_every_event_and_a_stalled_one_is_cut)
{
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	struct sink_env env = {.loop = &loop};
	struct sink *s = NULL;
	cr_assert_eq(sink_subscribers_open(&env, &s), 0);
	struct conn reader, stalled;
	conn_open(&loop, &reader, s);
	conn_open(&loop, &stalled, s);

	int got = 0, sent = 0;
	while (!stalled.cut && sent < 200000) {
		feed(s, 100);
		sent += 100;
		uv_run(&loop, UV_RUN_NOWAIT);
		got += drain_peer(reader.peer);
		cr_assert_leq(sink_subscribers_held(s), SUBSCRIBERS_BUDGET + SUBSCRIBER_SHARE_MIN);
	}
	cr_assert(stalled.cut, "a subscriber that never reads was not cut off");
	cr_assert(!reader.cut, "the reading subscriber was cut off");
	cr_assert_eq(sink_subscribers_cut(s), 1);
	sink_unsubscribe(s, &stalled.sub);
	/* the reader still gets everything (it reads as fast as the sink writes) */
	for (int i = 0; i < 100 && sink_subscribers_held(s) > 0; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		got += drain_peer(reader.peer);
	}
	got += drain_peer(reader.peer);
	cr_assert_eq(got, sent, "reader got %d of %d events", got, sent);
	struct sink_stats st;
	s->ops->stats(s, &st);
	cr_assert_geq(st.dropped, 1);
	sink_unsubscribe(s, &reader.sub);
	cr_assert_eq(sink_subscribers_held(s), 0);
	uv_close((uv_handle_t *)&reader.pipe, NULL);
	uv_close((uv_handle_t *)&stalled.pipe, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	close(reader.peer);
	close(stalled.peer);
	s->ops->close(s);
	uv_loop_close(&loop);
}
