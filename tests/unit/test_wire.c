// SPDX-License-Identifier: Apache-2.0
// common/wire.h names the field numbers that worker.c, link.c and the SIGSYS handler write or
// walk by hand: each must be the number protoc-c generated for that field.
#include <criterion/criterion.h>
#include <protobuf-c/protobuf-c.h>

#include "tapio/v1/event.pb-c.h"
#include "tapio/v1/worker.pb-c.h"
#include "wire.h"

static void assert_field(const ProtobufCMessageDescriptor *d, const char *name, unsigned number,
			 ProtobufCType type)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
	cr_assert_not_null(f, "%s has no field %s", d->name, name);
	cr_assert_eq(f->id, number, "%s.%s is field %u, wire.h says %u", d->name, name, f->id,
		     number);
	cr_assert_eq(f->type, type, "%s.%s has another type", d->name, name);
}

Test(wire, frame_bodies_match_the_schema)
{
	const ProtobufCMessageDescriptor *d = &tapio__v1__worker_frame__descriptor;
	assert_field(d, "ready", WIRE_FRAME_READY, PROTOBUF_C_TYPE_MESSAGE);
	assert_field(d, "batch", WIRE_FRAME_BATCH, PROTOBUF_C_TYPE_MESSAGE);
	assert_field(d, "heartbeat", WIRE_FRAME_HEARTBEAT, PROTOBUF_C_TYPE_MESSAGE);
	assert_field(d, "stats", WIRE_FRAME_STATS, PROTOBUF_C_TYPE_MESSAGE);
	assert_field(d, "fatal", WIRE_FRAME_FATAL, PROTOBUF_C_TYPE_MESSAGE);
	assert_field(d, "signaled", WIRE_FRAME_SIGNALED, PROTOBUF_C_TYPE_MESSAGE);
	assert_field(d, "fd_store", WIRE_FRAME_FD_STORE, PROTOBUF_C_TYPE_MESSAGE);
	assert_field(d, "fd_store_drop", WIRE_FRAME_FD_STORE_DROP, PROTOBUF_C_TYPE_MESSAGE);
	assert_field(d, "status", WIRE_FRAME_STATUS, PROTOBUF_C_TYPE_MESSAGE);
	/* Every body has a name here: a new one must be added to wire.h too. */
	cr_assert_eq(d->n_fields, 9, "WorkerFrame grew a body wire.h does not name");
}

Test(wire, batch_and_fatal_match_the_schema)
{
	assert_field(&tapio__v1__event_batch__descriptor, "ring_pos", WIRE_BATCH_RING_POS,
		     PROTOBUF_C_TYPE_UINT64);
	assert_field(&tapio__v1__event_batch__descriptor, "events", WIRE_BATCH_EVENTS,
		     PROTOBUF_C_TYPE_MESSAGE);
	assert_field(&tapio__v1__event_batch__descriptor, "resume_token", WIRE_BATCH_RESUME_TOKEN,
		     PROTOBUF_C_TYPE_BYTES);
	cr_assert_eq(tapio__v1__event_batch__descriptor.n_fields, 3,
		     "EventBatch grew a field link.c does not walk");
	assert_field(&tapio__v1__fatal__descriptor, "syscall", WIRE_FATAL_SYSCALL,
		     PROTOBUF_C_TYPE_INT32);
}

Test(wire, envelope_fields_match_the_schema)
{
	const ProtobufCMessageDescriptor *d = &tapio__v1__event__descriptor;
	assert_field(d, "id", WIRE_EVENT_ID, PROTOBUF_C_TYPE_STRING);
	assert_field(d, "collector", WIRE_EVENT_COLLECTOR, PROTOBUF_C_TYPE_STRING);
	assert_field(d, "node", WIRE_EVENT_NODE, PROTOBUF_C_TYPE_STRING);
	assert_field(d, "k8s", WIRE_EVENT_K8S, PROTOBUF_C_TYPE_MESSAGE);
}

Test(wire, status_matches_the_schema)
{
	const ProtobufCMessageDescriptor *d = &tapio__v1__status__descriptor;
	assert_field(d, "degraded", 1, PROTOBUF_C_TYPE_BOOL);
	assert_field(d, "reason", 2, PROTOBUF_C_TYPE_STRING);
	/* a reason at its bound fits one frame with room to spare; the flood limit lets the
	 * library's pace (one per interval) through */
	cr_assert_lt(WIRE_STATUS_REASON_MAX, 4096);
	cr_assert_geq(WIRE_STATUS_BURST, 2);
}

Test(wire, ready_carries_a_protocol_version)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		&tapio__v1__ready__descriptor, "protocol_version");
	cr_assert_not_null(f);
	cr_assert_eq(f->type, PROTOBUF_C_TYPE_UINT32);
	cr_assert_gt(WIRE_PROTOCOL_VERSION, 0);
}
