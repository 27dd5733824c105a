/* SPDX-License-Identifier: Apache-2.0 */
/* The routing step (route.c): every decoded event passes here once. It stamps what only
 * tapiod may say (id, collector, node), joins pod metadata, systemd unit and top owner
 * (meta.c), encodes each format some sink of the table wants exactly once and hands the event
 * to the sinks. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "sink.h"
#include "strbuf.h"

#define ROUTE_RUN_ID_MAX 17

struct route {
	char run_id[ROUTE_RUN_ID_MAX]; /* 16 hex digits: event ids are "<run id>-<n>" */
	uint64_t next_event_id;
	const char *node;    /* borrowed from the running config (sup updates it on reload) */
	struct sinks *sinks; /* borrowed */
	struct meta meta;
	struct strbuf json, record; /* one event's encodings */
};

/* What one event cost its collector: failed encodings and drops by sinks. */
struct route_tally {
	unsigned encode_errors, sink_drops;
};

void route_init(struct route *rt, struct sinks *sinks, const char *run_id, const char *node);
void route_release(struct route *rt);
/* One decoded event from collector `collector`: bytes/len are the worker's encoding of it
 * (validated by the decode), ev the decoded event in the caller's arena (stamped in place,
 * its strings may be pointed at the route's and the metadata tables'). `pod_metadata`: what
 * the collector's events teach the metadata tables (its registry entry's
 * REGISTRY_POD_METADATA_* bits: container events, k8s.object owner chains). */
struct route_tally route_event(struct route *rt, const char *collector, unsigned pod_metadata,
			       const uint8_t *bytes, size_t len, Tapio__V1__Event *ev);
/* End of a wakeup: the sinks write what they queued. */
void route_flush(struct route *rt);
