/* SPDX-License-Identifier: Apache-2.0 */
/* The worker ↔ tapiod wire by name: the protocol version and the protobuf field numbers that
 * code writes or walks at the wire level (proto/tapio/v1/worker.proto, event.proto) instead of
 * through protobuf-c. A unit test checks every number against the generated descriptors. */
#pragma once

#define WIRE_PROTOCOL_VERSION 1

/* tapio.v1.WorkerFrame: a oneof `body`, exactly one per frame. */
enum wire_frame_field {
	WIRE_FRAME_READY = 1,
	WIRE_FRAME_BATCH = 2,
	WIRE_FRAME_HEARTBEAT = 3,
	WIRE_FRAME_STATS = 4,
	WIRE_FRAME_FATAL = 5,
	WIRE_FRAME_SIGNALED = 6,
};

/* tapio.v1.EventBatch */
#define WIRE_BATCH_EVENTS 1
/* tapio.v1.Fatal */
#define WIRE_FATAL_SYSCALL 1

/* tapio.v1.Event: the envelope fields only tapiod may set. */
enum wire_event_field {
	WIRE_EVENT_ID = 1,
	WIRE_EVENT_COLLECTOR = 2,
	WIRE_EVENT_NODE = 5,
	WIRE_EVENT_K8S = 8,
};
