// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: tapiod's batch path. Whatever bytes a worker sends as an EventBatch are
// walked by pbwire without reading out of bounds; every event protobuf-c decodes (into the
// arena, under a budget) restamps — the worker's bytes minus id, collector, node and k8s, plus
// tapiod's values — into a record that decodes to the same event with tapiod's values.
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbarena.h"
#include "pbwire.h"
#include "strbuf.h"
#include "tapio/v1/event.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static struct pbarena arena;

static void check_event(const uint8_t *ev_bytes, size_t len)
{
	pbarena_reset(&arena);
	Tapio__V1__Event *ev = tapio__v1__event__unpack(&arena.alloc, len, ev_bytes);
	if (!ev)
		return;
	struct strbuf rec;
	strbuf_init(&rec, 4u << 20);
	uint64_t drop = PBWIRE_BIT(1) | PBWIRE_BIT(2) | PBWIRE_BIT(5) | PBWIRE_BIT(8);
	if (pbwire_copy_without(&rec, ev_bytes, len, drop) < 0) {
		/* stricter than protobuf-c only for field numbers above 2^29-1 */
		strbuf_release(&rec);
		return;
	}
	Tapio__V1__KubernetesContext k8s = TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	k8s.container_id = "c0ffee";
	k8s.pod_name = "pod-a";
	CHECK(pbwire_append_len(&rec, 1, "run-7", 5) == 0);
	CHECK(pbwire_append_len(&rec, 2, "testing", 7) == 0);
	CHECK(pbwire_append_len(&rec, 5, "node", 4) == 0);
	CHECK(pbwire_append_message(&rec, 8, &k8s.base) == 0);

	Tapio__V1__Event *st = tapio__v1__event__unpack(NULL, rec.len, (uint8_t *)rec.data);
	CHECK(st);
	CHECK(st->id && !strcmp(st->id, "run-7"));
	CHECK(st->collector && !strcmp(st->collector, "testing"));
	CHECK(st->node && !strcmp(st->node, "node"));
	CHECK(st->k8s && st->k8s->pod_name && !strcmp(st->k8s->pod_name, "pod-a"));
	CHECK(st->k8s->cgroup_path == NULL);
	/* the rest is the worker's: equal encodings once the stamped fields agree */
	ev->id = st->id;
	ev->collector = st->collector;
	ev->node = st->node;
	ev->k8s = st->k8s;
	size_t la = protobuf_c_message_get_packed_size(&ev->base);
	size_t lb = protobuf_c_message_get_packed_size(&st->base);
	CHECK(la == lb);
	uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
	CHECK(pa && pb);
	CHECK(protobuf_c_message_pack(&ev->base, pa) == la);
	CHECK(protobuf_c_message_pack(&st->base, pb) == lb);
	CHECK(memcmp(pa, pb, la) == 0);
	free(pa);
	free(pb);
	tapio__v1__event__free_unpacked(st, NULL);
	strbuf_release(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!arena.block && pbarena_init(&arena, 64u << 10, 32u << 20) < 0)
		abort();
	struct pbwire_iter it;
	struct pbwire_field f;
	int r;
	size_t covered = 0;
	pbwire_iter_init(&it, data, size);
	while ((r = pbwire_next(&it, &f)) > 0) {
		CHECK(f.start == data + covered && f.size > 0 && covered + f.size <= size);
		CHECK(f.number > 0 && f.number <= PBWIRE_FIELD_MAX);
		if (f.type == PBWIRE_LEN)
			CHECK(f.value >= f.start && f.value + f.value_len == f.start + f.size);
		covered += f.size;
		if (f.number == 1 && f.type == PBWIRE_LEN)
			check_event(f.value, f.value_len);
	}
	CHECK(r == 0 ? covered == size : r == -EBADMSG);
	/* the whole input as one event, too */
	check_event(data, size);
	return 0;
}
