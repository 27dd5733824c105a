// SPDX-License-Identifier: Apache-2.0
// The subscribers sink: `tapioctl events` clients of the control socket get each event's JSON
// line in a framed ControlResponse. Events are framed once and appended to each subscriber's
// pending bytes; one write per subscriber is in flight at a time and carries everything that
// came meanwhile (a batch, not an allocation per event). All subscribers share one memory
// budget: a subscriber whose backlog passes its share is cut off and counted, so a client that
// never reads costs tapiod a bounded amount of memory, and nothing after it leaves. The budget
// counts the buffers' allocations, not the bytes in them: a buffer that grows by doubling
// holds up to twice what it carries, and that is what the heap pays.
// control.c owns the connections and (un)subscribes them.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"
#include "sink.h"
#include "tapio/v1/control.pb-c.h"

struct sink_subscribers {
	struct sink base; /* first */
	struct subscriber *list;
	unsigned n;
	uint64_t written, dropped, cut;
	size_t held;	     /* bytes allocated for pending and in-flight writes, all subscribers */
	struct strbuf frame; /* the current event, framed once */
};

static void start_write(struct subscriber *sub);

static void on_written(uv_write_t *req, int status)
{
	struct subscriber *sub = req->data;
	struct sink_subscribers *s = sub->sink;
	free(sub->inflight.base);
	if (s)
		s->held -= sub->inflight_alloc;
	sub->inflight = uv_buf_init(NULL, 0);
	sub->inflight_alloc = 0;
	sub->writing = false;
	if (s && status == 0)
		start_write(sub);
}

/* Hand what is pending to libuv as one write. */
static void start_write(struct subscriber *sub)
{
	if (sub->writing || sub->pending.len == 0)
		return;
	sub->inflight = uv_buf_init(sub->pending.data, (unsigned)sub->pending.len);
	sub->inflight_alloc = sub->pending.alloc; /* moves from pending: held is unchanged */
	size_t max = sub->pending.max;
	sub->pending = (struct strbuf)STRBUF_INIT;
	strbuf_init(&sub->pending, max);
	sub->req.data = sub;
	sub->writing = true;
	if (uv_write(&sub->req, sub->stream, &sub->inflight, 1, on_written) < 0) {
		struct sink_subscribers *s = sub->sink;
		s->held -= sub->inflight_alloc;
		free(sub->inflight.base);
		sub->inflight = uv_buf_init(NULL, 0);
		sub->inflight_alloc = 0;
		sub->writing = false;
	}
}

static int frame_event(struct sink_subscribers *s, const char *json, size_t len)
{
	Tapio__V1__ControlResponse resp = TAPIO__V1__CONTROL_RESPONSE__INIT;
	resp.response_case = TAPIO__V1__CONTROL_RESPONSE__RESPONSE_EVENT_JSON;
	char *line = strndup(json, len);
	if (!line)
		return -ENOMEM;
	resp.event_json = line;
	size_t size = tapio__v1__control_response__get_packed_size(&resp);
	int r = -EMSGSIZE;
	strbuf_reset(&s->frame);
	if (size > 0 && size <= FRAME_MAX &&
	    (r = strbuf_reserve(&s->frame, FRAME_HDR + size)) == 0) {
		frame_put_header((uint8_t *)s->frame.data, (uint32_t)size);
		tapio__v1__control_response__pack(&resp, (uint8_t *)s->frame.data + FRAME_HDR);
		s->frame.len = FRAME_HDR + size;
	}
	free(line);
	return r;
}

static size_t share(const struct sink_subscribers *s)
{
	size_t per = SUBSCRIBERS_BUDGET / (s->n ? s->n : 1);
	return per < SUBSCRIBER_SHARE_MIN ? SUBSCRIBER_SHARE_MIN : per;
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
	bool framed = false;
	struct subscriber *next;
	for (struct subscriber *sub = s->list; sub; sub = next) {
		next = sub->next; /* a cut subscriber leaves the list */
		if (sub->cut || !wants(sub, e->collector, e->type))
			continue;
		if (!framed && frame_event(s, e->json, e->json_len) < 0) {
			s->dropped++;
			continue;
		}
		framed = true;
		/* what appending the event would allocate (0: past the buffer's cap) */
		size_t grown = strbuf_alloc_for(&sub->pending, s->frame.len);
		size_t growth = grown ? grown - sub->pending.alloc : 0;
		if (!grown || grown + sub->inflight_alloc > share(s) ||
		    s->held + growth > SUBSCRIBERS_BUDGET + SUBSCRIBER_SHARE_MIN) {
			s->dropped++;
			s->cut++;
			sub->cut = true;
			log_warn("control: subscriber cut off: %zu bytes unread in %zu allocated "
				 "(its "
				 "share of the %u-byte budget is %zu); %llu cut so far",
				 sub->pending.len + sub->inflight.len,
				 sub->pending.alloc + sub->inflight_alloc, SUBSCRIBERS_BUDGET,
				 share(s), (unsigned long long)s->cut);
			if (sub->on_cut)
				sub->on_cut(sub);
			continue;
		}
		if (strbuf_append(&sub->pending, s->frame.data, s->frame.len) < 0) {
			s->dropped++;
			continue;
		}
		s->held += growth;
		s->written++;
		start_write(sub);
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
	struct sink_subscribers *s = (struct sink_subscribers *)base;
	strbuf_release(&s->frame);
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
	strbuf_init(&s->frame, FRAME_HDR + FRAME_MAX);
	*ret = &s->base;
	return 0;
}

void sink_subscribe(struct sink *base, struct subscriber *sub)
{
	if (base->ops != &subscribers_ops)
		return;
	struct sink_subscribers *s = (struct sink_subscribers *)base;
	strbuf_init(&sub->pending, SUBSCRIBERS_BUDGET + FRAME_HDR + FRAME_MAX);
	sub->inflight = uv_buf_init(NULL, 0);
	sub->inflight_alloc = 0;
	sub->writing = sub->cut = false;
	sub->sink = s;
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
			/* an in-flight write ends (cancelled) before the connection is freed: its
			 * callback frees the buffer; its bytes stop counting now */
			s->held -= sub->pending.alloc + sub->inflight_alloc;
			strbuf_release(&sub->pending);
			sub->sink = NULL;
			break;
		}
	}
	s->base.formats = s->n ? SINK_JSON : 0;
}

uint64_t sink_subscribers_cut(const struct sink *base)
{
	if (!base || base->ops != &subscribers_ops)
		return 0;
	return ((const struct sink_subscribers *)base)->cut;
}

size_t sink_subscribers_held(const struct sink *base)
{
	if (!base || base->ops != &subscribers_ops)
		return 0;
	return ((const struct sink_subscribers *)base)->held;
}
