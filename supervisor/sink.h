/* SPDX-License-Identifier: Apache-2.0 */
/* The sinks: where stamped events go. Each sink is one file implementing struct sink_ops and
 * one entry of sink_types[] (sinks.c); tapiod keeps the open ones in a struct sinks table, and
 * the routing step (route.c) encodes each format some sink wants once per event and hands the
 * event to every sink of the table. Nothing above this header names a sink but by its entry. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "strbuf.h"

#include "config.h"

#define SINK_WRITE_AT (256u << 10) /* queued bytes that trigger a write within a wakeup */

/* Queued bytes at which a sink writes within a wakeup: SINK_WRITE_AT, or half the queue's cap
 * when that is smaller, so the write comes before the cap drops anything. */
static inline size_t sink_write_at(size_t cap)
{
	return cap / 2 < SINK_WRITE_AT ? cap / 2 : SINK_WRITE_AT;
}

/* The encodings of an event a sink may ask for (struct sink.formats). */
enum sink_format {
	SINK_JSON = 1u << 0,   /* protobuf canonical JSON, one line without its newline */
	SINK_RECORD = 1u << 1, /* the encoded tapio.v1.Event (no length prefix) */
};

/* One stamped event, encoded in the formats some sink of the table wants (the others NULL).
 * Everything is borrowed for the call. */
struct sink_event {
	const char *collector, *type;
	const char *id; /* the event id, unique per event and stable: a network sink's dedup key */
	size_t id_len;
	const char *json;
	size_t json_len;
	const uint8_t *record;
	size_t record_len;
};

struct sink_stats {
	uint64_t written, dropped, write_errors, rotations;
	uint64_t queued_bytes; /* waiting in memory */
	/* A sink with a disk spool (NATS): bytes not yet acknowledged, wall-clock ns of the oldest
	 * spooled event (0 = none), events its destination acknowledged. */
	uint64_t spool_bytes;
	int64_t spool_oldest_ns;
	uint64_t acked;
	bool spooled; /* the three above apply */
	bool failing; /* cannot deliver now (e.g. not connected) */
};

struct sink;

struct sink_ops {
	/* Queue one event. -ENOBUFS when dropped; that drop counts against the event's
	 * collector (a sink whose drops are its own, like the subscribers, returns 0). */
	int (*event)(struct sink *s, const struct sink_event *e);
	/* Write what is queued as far as the destination takes it now (end of a wakeup). */
	void (*flush)(struct sink *s);
	/* At shutdown: write what is queued, blocking up to timeout_ms. */
	void (*drain)(struct sink *s, unsigned timeout_ms);
	/* Release everything and free the sink. */
	void (*close)(struct sink *s);
	void (*stats)(const struct sink *s, struct sink_stats *ret);
	/* A reload's new configuration (NULL: the sink keeps its settings until a restart). */
	void (*reconfigure)(struct sink *s, const struct config *cfg);
};

struct sink {
	const struct sink_ops *ops;
	const char *name;
	unsigned formats; /* enum sink_format bits it wants now; 0 = takes no events now */
};

/* What opening a sink may use. */
struct sink_env {
	uv_loop_t *loop;
	const struct config *cfg;
	int stdout_fd;
};

/* An entry of the sink table: open returns 0 with *ret NULL when the configuration does not
 * enable the sink, -errno when it cannot be opened (tapiod does not start). */
struct sink_type {
	const char *name;
	int (*open)(const struct sink_env *env, struct sink **ret);
};

extern const struct sink_type sink_types[];
extern const size_t sink_type_count;

#define SINKS_MAX 8

struct sinks {
	struct sink *v[SINKS_MAX];
	size_t n;
};

/* Open every sink_types[] entry the configuration enables, in table order. */
int sinks_open(struct sinks *t, const struct sink_env *env);
/* The union of the formats the sinks want now. */
unsigned sinks_formats(const struct sinks *t);
void sinks_flush(struct sinks *t);
void sinks_drain(struct sinks *t, unsigned timeout_ms);
void sinks_reconfigure(struct sinks *t, const struct config *cfg);
void sinks_close(struct sinks *t);
struct sink *sinks_find(struct sinks *t, const char *name);

/* ---- the sink types (one file each) ------------------------------------------------------- */

int sink_stdout_open(const struct sink_env *env, struct sink **ret);	  /* sink_stdout.c */
int sink_file_open(const struct sink_env *env, struct sink **ret);	  /* sink_file.c */
int sink_subscribers_open(const struct sink_env *env, struct sink **ret); /* sink_subscribers.c */
int sink_nats_open(const struct sink_env *env, struct sink **ret);	  /* sink_nats.c */

/* All subscribers together hold at most this many bytes not yet written to their sockets;
 * one whose backlog passes its share (the budget over the number of subscribers, at least
 * SUBSCRIBER_SHARE_MIN) is cut off and counted. */
#define SUBSCRIBERS_BUDGET   (4u << 20)
#define SUBSCRIBER_SHARE_MIN (64u << 10)

/* `tapioctl events` clients of the control socket, embedded in its connection. */
struct subscriber {
	uv_stream_t *stream;
	const char *want_collector, *want_type; /* filters, NULL = all; borrowed */
	/* Called once when the subscriber is cut off for falling behind: the owner closes the
	 * connection (which unsubscribes it). */
	void (*on_cut)(struct subscriber *sub);
	/* The rest is the sink's: events wait in `pending` while one batched write is in
	 * flight (`inflight`, owned); the embedded request lives as long as the connection. */
	struct strbuf pending;
	uv_write_t req;
	uv_buf_t inflight;
	size_t inflight_alloc; /* the allocation behind inflight (what the budget counts) */
	bool writing, cut;
	void *sink; /* the subscribers sink while subscribed, NULL after */
	struct subscriber *next;
};

/* Start and stop delivering events to a subscriber (s is the "subscribers" sink). */
void sink_subscribe(struct sink *s, struct subscriber *sub); /* no-op on another sink */
void sink_unsubscribe(struct sink *s, struct subscriber *sub);
/* Subscribers cut off for falling behind, and bytes held for all of them now. */
uint64_t sink_subscribers_cut(const struct sink *s);
size_t sink_subscribers_held(const struct sink *s);
