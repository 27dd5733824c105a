// SPDX-License-Identifier: Apache-2.0
// The subscribers sink: `tapioctl events` clients of the control socket get each event's JSON
// line in a framed ControlResponse. Every client has a bounded write queue; what a slow client
// cannot take is dropped and counted here (not against the collector), never buffered without
// limit. control.c owns the connections and (un)subscribes them.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "sink.h"
#include "tapio/v1/control.pb-c.h"

#define CLIENT_QUEUE_MAX (4u << 20)

struct sink_subscribers {
	struct sink base; /* first */
	struct subscriber *list;
	unsigned n;
	uint64_t written, dropped;
};

struct write_req {
	uv_write_t req;
	uv_buf_t buf;
};

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	free(w->buf.base);
	free(w);
}

static int send_json(uv_stream_t *stream, const char *json, size_t len)
{
	Tapio__V1__ControlResponse resp = TAPIO__V1__CONTROL_RESPONSE__INIT;
	resp.response_case = TAPIO__V1__CONTROL_RESPONSE__RESPONSE_EVENT_JSON;
	char *line = strndup(json, len);
	if (!line)
		return -ENOMEM;
	resp.event_json = line;
	size_t size = tapio__v1__control_response__get_packed_size(&resp);
	struct write_req *w = NULL;
	uint8_t *buf = NULL;
	int r = -EMSGSIZE;
	if (size == 0 || size > FRAME_MAX)
		goto out;
	r = -ENOMEM;
	w = malloc(sizeof(*w));
	buf = malloc(FRAME_HDR + size);
	if (!w || !buf)
		goto out;
	frame_put_header(buf, (uint32_t)size);
	tapio__v1__control_response__pack(&resp, buf + FRAME_HDR);
	w->buf = uv_buf_init((char *)buf, (unsigned)(FRAME_HDR + size));
	r = uv_write(&w->req, stream, &w->buf, 1, on_written);
	if (r == 0)
		w = NULL, buf = NULL; /* freed by on_written */
out:
	free(w);
	free(buf);
	free(line);
	return r;
}

static bool wants(const struct subscriber *sub, const char *collector, const char *type)
{
	if (sub->want_collector && strcmp(sub->want_collector, collector) != 0)
		return false;
	if (sub->want_type) {
		size_t n = strlen(sub->want_type);
		if (n && sub->want_type[n - 1] == '.')
			return strncmp(type, sub->want_type, n) == 0;
		return strcmp(type, sub->want_type) == 0;
	}
	return true;
}

static int subscribers_event(struct sink *base, const struct sink_event *e)
{
	struct sink_subscribers *s = (struct sink_subscribers *)base;
	for (struct subscriber *sub = s->list; sub; sub = sub->next) {
		if (!wants(sub, e->collector, e->type))
			continue;
		if (uv_stream_get_write_queue_size(sub->stream) > CLIENT_QUEUE_MAX ||
		    send_json(sub->stream, e->json, e->json_len) < 0)
			s->dropped++;
		else
			s->written++;
	}
	return 0; /* a slow client's drops are the subscribers', not the collector's */
}

/* libuv writes the queues from the loop. */
static void subscribers_flush(struct sink *base)
{
}

static void subscribers_drain(struct sink *base, unsigned timeout_ms)
{
}

static void subscribers_close(struct sink *base)
{
	free(base); /* the subscribers belong to their connections */
}

static void subscribers_stats(const struct sink *base, struct sink_stats *ret)
{
	const struct sink_subscribers *s = (const struct sink_subscribers *)base;
	*ret = (struct sink_stats){.written = s->written, .dropped = s->dropped};
}

static const struct sink_ops subscribers_ops = {
	.event = subscribers_event,
	.flush = subscribers_flush,
	.drain = subscribers_drain,
	.close = subscribers_close,
	.stats = subscribers_stats,
};

/* Always open: it takes events (wants JSON) while someone subscribes. */
int sink_subscribers_open(const struct sink_env *env, struct sink **ret)
{
	struct sink_subscribers *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &subscribers_ops;
	*ret = &s->base;
	return 0;
}

void sink_subscribe(struct sink *base, struct subscriber *sub)
{
	if (base->ops != &subscribers_ops)
		return;
	struct sink_subscribers *s = (struct sink_subscribers *)base;
	sub->next = s->list;
	s->list = sub;
	s->n++;
	s->base.formats = SINK_JSON;
}

void sink_unsubscribe(struct sink *base, struct subscriber *sub)
{
	if (base->ops != &subscribers_ops)
		return;
	struct sink_subscribers *s = (struct sink_subscribers *)base;
	for (struct subscriber **p = &s->list; *p; p = &(*p)->next) {
		if (*p == sub) {
			*p = sub->next;
			s->n--;
			break;
		}
	}
	s->base.formats = s->n ? SINK_JSON : 0;
}
