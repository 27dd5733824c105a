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
	/* Every body has a name here: a new one must be added to wire.h too. */
	cr_assert_eq(d->n_fields, 6, "WorkerFrame grew a body wire.h does not name");
}

Test(wire, batch_and_fatal_match_the_schema)
{
	assert_field(&tapio__v1__event_batch__descriptor, "events", WIRE_BATCH_EVENTS,
		     PROTOBUF_C_TYPE_MESSAGE);
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

Test(wire, ready_carries_a_protocol_version)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		&tapio__v1__ready__descriptor, "protocol_version");
	cr_assert_not_null(f);
	cr_assert_eq(f->type, PROTOBUF_C_TYPE_UINT32);
	cr_assert_gt(WIRE_PROTOCOL_VERSION, 0);
}
