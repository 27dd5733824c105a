/* SPDX-License-Identifier: Apache-2.0 */
/* The worker ↔ tapiod wire by name: the protocol version and the protobuf field numbers that
 * code writes or walks at the wire level (proto/tapio/v1/worker.proto, event.proto) instead of
 * through protobuf-c. A unit test checks every number against the generated descriptors. */
#pragma once

#define WIRE_PROTOCOL_VERSION 2 /* 2: Status frames, EventBatch.resume_token */

/* tapio.v1.WorkerFrame: a oneof `body`, exactly one per frame. */
enum wire_frame_field {
	WIRE_FRAME_READY = 1,
	WIRE_FRAME_BATCH = 2,
	WIRE_FRAME_HEARTBEAT = 3,
	WIRE_FRAME_STATS = 4,
	WIRE_FRAME_FATAL = 5,
	WIRE_FRAME_SIGNALED = 6,
	WIRE_FRAME_FD_STORE = 7, /* carries fds (SCM_RIGHTS) */
	WIRE_FRAME_FD_STORE_DROP = 8,
	WIRE_FRAME_STATUS = 9, /* READY <-> DEGRADED after READY */
};

/* tapio.v1.Status: the reason's bound in bytes (a longer one is a protocol violation; the
 * worker library cuts at a UTF-8 boundary below it), and the flood limit tapiod enforces: a
 * burst of WIRE_STATUS_BURST frames, then one per WIRE_STATUS_MIN_INTERVAL_MS (the library
 * sends at most one per interval). */
#define WIRE_STATUS_REASON_MAX	    256
#define WIRE_STATUS_MIN_INTERVAL_MS 1000
#define WIRE_STATUS_BURST	    4

/* tapio.v1.EventBatch */
#define WIRE_BATCH_EVENTS	1
#define WIRE_BATCH_RING_POS	2 /* varint, one per ring */
#define WIRE_BATCH_RESUME_TOKEN 3 /* bytes, 1..WIRE_RESUME_TOKEN_MAX */
#define WIRE_RESUME_TOKEN_MAX	512
/* tapio.v1.Fatal */
#define WIRE_FATAL_SYSCALL 1

/* tapio.v1.Event: the envelope fields only tapiod may set. */
enum wire_event_field {
	WIRE_EVENT_ID = 1,
	WIRE_EVENT_COLLECTOR = 2,
	WIRE_EVENT_NODE = 5,
	WIRE_EVENT_K8S = 8,
};
