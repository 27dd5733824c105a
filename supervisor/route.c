// SPDX-License-Identifier: Apache-2.0
// The routing step between the link of each worker and the table of sinks: stamp, join pod
// metadata, systemd unit and top owner (meta.c), encode each format some sink wants once (the
// binary record reuses the worker's own bytes), hand the event to every sink that wants it.
// Runs once per event: no printf, no allocation but the encoders' reused buffers.
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "pbjson.h"
#include "pbwire.h"
#include "route.h"
#include "wire.h"

#define EVENT_ID_MAX (ROUTE_RUN_ID_MAX + 1 + 20) /* "-", u64, NUL in run_id's size */

void route_init(struct route *rt, struct sinks *sinks, const char *run_id, const char *node)
{
	memset(rt, 0, sizeof(*rt));
	snprintf(rt->run_id, sizeof(rt->run_id), "%s", run_id);
	rt->node = node;
	rt->sinks = sinks;
	strbuf_init(&rt->json, FRAME_MAX);
	strbuf_init(&rt->record, FRAME_MAX);
}

void route_release(struct route *rt)
{
	strbuf_release(&rt->json);
	strbuf_release(&rt->record);
	meta_free(&rt->meta);
}

/* The id of the next event: "<run id>-<n>", written without printf (this runs per event).
 * dst holds EVENT_ID_MAX bytes. Returns the length. */
static size_t next_event_id(struct route *rt, char dst[EVENT_ID_MAX])
{
	char digits[20];
	size_t nd = 0;
	uint64_t v = ++rt->next_event_id;
	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	size_t rl = strnlen(rt->run_id, sizeof(rt->run_id) - 1);
	memcpy(dst, rt->run_id, rl);
	dst[rl] = '-';
	for (size_t i = 0; i < nd; i++)
		dst[rl + 1 + i] = digits[nd - 1 - i];
	dst[rl + 1 + nd] = '\0';
	return rl + 1 + nd;
}

/* The binary record: the worker's own bytes without what only tapiod may say — id, collector,
 * node and, when tapiod filled it in, the k8s context — followed by tapiod's values. No
 * re-encoding of the rest. */
static int binary_record(struct strbuf *out, const uint8_t *bytes, size_t len,
			 const Tapio__V1__Event *ev, size_t id_len, bool enriched)
{
	uint64_t drop = PBWIRE_BIT(WIRE_EVENT_ID) | PBWIRE_BIT(WIRE_EVENT_COLLECTOR) |
			PBWIRE_BIT(WIRE_EVENT_NODE) | (enriched ? PBWIRE_BIT(WIRE_EVENT_K8S) : 0);
	int r = pbwire_copy_without(out, bytes, len, drop);
	if (r == 0)
		r = pbwire_append_len(out, WIRE_EVENT_ID, ev->id, id_len);
	if (r == 0)
		r = pbwire_append_len(out, WIRE_EVENT_COLLECTOR, ev->collector,
				      strlen(ev->collector));
	if (r == 0)
		r = pbwire_append_len(out, WIRE_EVENT_NODE, ev->node, strlen(ev->node));
	if (r == 0 && enriched)
		r = pbwire_append_message(out, WIRE_EVENT_K8S, &ev->k8s->base);
	return r;
}

struct route_tally route_event(struct route *rt, const char *collector, unsigned pod_metadata,
			       const uint8_t *bytes, size_t len, Tapio__V1__Event *ev)
{
	struct route_tally t = {0, 0};
	/* Stamp what only the supervisor may say. The decoded event lives in the caller's arena
	 * until its next reset, so pointing its fields at our strings needs no undoing. */
	char id[EVENT_ID_MAX];
	size_t id_len = next_event_id(rt, id);
	ev->id = id;
	ev->collector = (char *)collector;
	ev->node = (char *)rt->node;
	if (pod_metadata)
		meta_learn(&rt->meta, ev, pod_metadata);
	bool enriched = meta_enrich(&rt->meta, ev);

	unsigned want = sinks_formats(rt->sinks), have = 0;
	struct sink_event e = {
		.collector = collector, .type = ev->type, .id = id, .id_len = id_len};
	if (want & SINK_RECORD) {
		strbuf_reset(&rt->record);
		if (binary_record(&rt->record, bytes, len, ev, id_len, enriched) < 0) {
			t.encode_errors++;
		} else {
			have |= SINK_RECORD;
			e.record = (const uint8_t *)rt->record.data;
			e.record_len = rt->record.len;
		}
	}
	if (want & SINK_JSON) {
		strbuf_reset(&rt->json);
		if (pbjson_encode(&ev->base, &rt->json) < 0) {
			t.encode_errors++;
		} else {
			have |= SINK_JSON;
			e.json = rt->json.data;
			e.json_len = rt->json.len;
		}
	}
	for (size_t i = 0; i < rt->sinks->n; i++) {
		struct sink *s = rt->sinks->v[i];
		if (!s->formats || (s->formats & have) != s->formats)
			continue;
		if (s->ops->event(s, &e) < 0)
			t.sink_drops++;
	}
	return t;
}

void route_flush(struct route *rt)
{
	sinks_flush(rt->sinks);
}
