// SPDX-License-Identifier: Apache-2.0
// The wire-level protobuf walker and the decode arena, checked against protobuf-c's own
// encoder and decoder: what tapiod's hot path passes through must decode as what was sent.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbarena.h"
#include "pbwire.h"
#include "tapio/v1/event.pb-c.h"

/* An event as a worker packs it, with values for the fields only tapiod may set. */
static size_t pack_event(uint8_t *buf, size_t cap, bool with_k8s)
{
	static Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	static Tapio__V1__ProcessContext pc = TAPIO__V1__PROCESS_CONTEXT__INIT;
	static Tapio__V1__KubernetesContext k8s = TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	static Tapio__V1__ProcessExit ex = TAPIO__V1__PROCESS_EXIT__INIT;
	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	ts.seconds = 1764650000;
	ts.nanos = 123456789;
	pc.has_pid = pc.has_uid = 1;
	pc.pid = 4242;
	pc.uid = 0;
	pc.comm = "sh";
	k8s.container_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	k8s.cgroup_path = "/kubepods/pod-x/0123";
	ex.has_exit_code = 1;
	ex.exit_code = 7;
	ev.id = "forged-id";
	ev.collector = "forged-collector";
	ev.node = "forged-node";
	ev.type = "process.exit";
	ev.time = &ts;
	ev.has_seq = 1;
	ev.seq = 300; /* a two-byte varint */
	ev.process = &pc;
	ev.k8s = with_k8s ? &k8s : NULL;
	ev.has_boot_ns = 1;
	ev.boot_ns = UINT64_MAX; /* a ten-byte varint */
	ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_PROCESS_EXIT;
	ev.process_exit = &ex;
	size_t n = protobuf_c_message_get_packed_size(&ev.base);
	cr_assert_leq(n, cap);
	return protobuf_c_message_pack(&ev.base, buf);
}

Test(pbwire, walks_every_field_protobuf_c_packed)
{
	uint8_t buf[512];
	size_t n = pack_event(buf, sizeof(buf), true);
	struct pbwire_iter it;
	struct pbwire_field f;
	pbwire_iter_init(&it, buf, n);
	uint32_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 21};
	size_t i = 0, covered = 0;
	int r;
	while ((r = pbwire_next(&it, &f)) > 0) {
		cr_assert_lt(i, sizeof(want) / sizeof(want[0]));
		cr_assert_eq(f.number, want[i], "field %zu is %u", i, f.number);
		cr_assert_eq(f.start, buf + covered, "fields are contiguous");
		covered += f.size;
		if (f.number == 3) {
			cr_assert_eq(f.type, PBWIRE_LEN);
			cr_assert_eq(f.value_len, strlen("process.exit"));
			cr_assert_arr_eq(f.value, "process.exit", f.value_len);
		}
		if (f.number == 6) {
			cr_assert_eq(f.type, PBWIRE_VARINT);
			cr_assert_eq(f.varint, 300);
			cr_assert_eq(f.value_len, 2);
		}
		if (f.number == 9) {
			cr_assert_eq(f.varint, UINT64_MAX);
			cr_assert_eq(f.value_len, 10);
		}
		i++;
	}
	cr_assert_eq(r, 0);
	cr_assert_eq(i, sizeof(want) / sizeof(want[0]));
	cr_assert_eq(covered, n, "the fields cover the message exactly");
}

Test(pbwire, fixed_width_fields)
{
	/* field 1 fixed64, field 2 fixed32, then field 3 varint 1 */
	uint8_t m[] = {1 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8, 2 << 3 | 5, 9, 9, 9, 9, 3 << 3, 1};
	struct pbwire_iter it;
	struct pbwire_field f;
	pbwire_iter_init(&it, m, sizeof(m));
	cr_assert_eq(pbwire_next(&it, &f), 1);
	cr_assert(f.number == 1 && f.type == PBWIRE_I64 && f.value_len == 8 && f.size == 9);
	cr_assert_eq(pbwire_next(&it, &f), 1);
	cr_assert(f.number == 2 && f.type == PBWIRE_I32 && f.value_len == 4 && f.size == 5);
	cr_assert_eq(pbwire_next(&it, &f), 1);
	cr_assert(f.number == 3 && f.varint == 1);
	cr_assert_eq(pbwire_next(&it, &f), 0);
}

/* Inline bytes and names, no pointers: Criterion may run a test in a freshly exec'd process. */
struct bad_case {
	char what[40];
	uint8_t bytes[16];
	size_t len;
	bool pbc_accepts; /* protobuf-c 1.4 takes it (as an unknown field); pbwire follows the spec
			   */
};

ParameterizedTestParameters(pbwire, rejects_malformed)
{
	static struct bad_case cases[] = {
		{"tag varint cut short", {0x80}, 1, false},
		{"field number 0", {0 << 3 | 0, 1}, 2, false},
		{"wire type 3 (start group)", {1 << 3 | 3}, 1, false},
		{"wire type 4 (end group)", {1 << 3 | 4}, 1, false},
		{"wire type 6", {1 << 3 | 6, 0}, 2, false},
		{"wire type 7", {1 << 3 | 7, 0}, 2, false},
		{"varint value cut short", {1 << 3 | 0, 0x80, 0x80}, 3, false},
		{"varint of 11 bytes",
		 {1 << 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		 12,
		 false},
		{"varint over 64 bits",
		 {1 << 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		 11,
		 false},
		{"length past the end", {1 << 3 | 2, 5, 'a', 'b'}, 4, false},
		{"length of 2^63",
		 {1 << 3 | 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		 11,
		 false},
		{"fixed64 cut short", {1 << 3 | 1, 1, 2, 3}, 4, false},
		{"fixed32 cut short", {1 << 3 | 5, 1, 2, 3}, 4, false},
		{"field number over 2^29-1", {0xf8, 0xff, 0xff, 0xff, 0x7f, 0}, 6, true},
		{"good field, then garbage", {1 << 3, 1, 0xff}, 3, false},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, pbwire, rejects_malformed)
{
	struct pbwire_iter it;
	struct pbwire_field f;
	int r;
	pbwire_iter_init(&it, c->bytes, c->len);
	while ((r = pbwire_next(&it, &f)) > 0)
		;
	cr_assert_eq(r, -EBADMSG, "%s: got %d", c->what, r);
	/* protobuf-c agrees (but for a field number the spec does not allow) */
	Tapio__V1__Event *ev = tapio__v1__event__unpack(NULL, c->len, c->bytes);
	cr_assert_eq(ev != NULL, c->pbc_accepts, "%s", c->what);
	if (ev)
		tapio__v1__event__free_unpacked(ev, NULL);
}

Test(pbwire, varint_sizes_at_the_boundaries)
{
	uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t b[PBWIRE_VARINT_MAX + 1] = {1 << 3};
		size_t n = pbwire_put_varint(b + 1, vals[i]);
		cr_assert_eq(n, pbwire_varint_size(vals[i]));
		struct pbwire_iter it;
		struct pbwire_field f;
		pbwire_iter_init(&it, b, n + 1);
		cr_assert_eq(pbwire_next(&it, &f), 1);
		cr_assert_eq(f.varint, vals[i]);
	}
}

/* What tapiod does for the binary sink: the worker's bytes minus id, collector, node (and the
 * k8s context it enriched), then its own values. */
static void restamp(struct strbuf *out, const uint8_t *buf, size_t n, bool drop_k8s)
{
	uint64_t drop =
		PBWIRE_BIT(1) | PBWIRE_BIT(2) | PBWIRE_BIT(5) | (drop_k8s ? PBWIRE_BIT(8) : 0);
	cr_assert_eq(pbwire_copy_without(out, buf, n, drop), 0);
	cr_assert_eq(pbwire_append_len(out, 1, "run-1", 5), 0);
	cr_assert_eq(pbwire_append_len(out, 2, "process", 7), 0);
	cr_assert_eq(pbwire_append_len(out, 5, "node-a", 6), 0);
}

Test(pbwire, restamped_event_decodes_with_the_new_values_only)
{
	uint8_t buf[512];
	size_t n = pack_event(buf, sizeof(buf), true);
	struct strbuf out;
	strbuf_init(&out, 4096);
	restamp(&out, buf, n, false);
	cr_assert_null(memmem(out.data, out.len, "forged", 6), "no forged value is left");

	Tapio__V1__Event *a = tapio__v1__event__unpack(NULL, n, buf);
	Tapio__V1__Event *b = tapio__v1__event__unpack(NULL, out.len, (uint8_t *)out.data);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_str_eq(b->id, "run-1");
	cr_assert_str_eq(b->collector, "process");
	cr_assert_str_eq(b->node, "node-a");
	/* everything else is the worker's: equal once the stamped fields are equal */
	char *a_id = a->id, *a_collector = a->collector, *a_node = a->node;
	a->id = b->id;
	a->collector = b->collector;
	a->node = b->node;
	uint8_t pa[512], pb[512];
	size_t la = protobuf_c_message_pack(&a->base, pa);
	size_t lb = protobuf_c_message_pack(&b->base, pb);
	cr_assert_eq(la, lb);
	cr_assert_arr_eq(pa, pb, la);
	a->id = a_id; /* give a its own strings back before it is freed */
	a->collector = a_collector;
	a->node = a_node;
	tapio__v1__event__free_unpacked(a, NULL);
	tapio__v1__event__free_unpacked(b, NULL);
	strbuf_release(&out);
}

Test(pbwire, restamp_can_replace_a_nested_message)
{
	uint8_t buf[512];
	size_t n = pack_event(buf, sizeof(buf), true);
	struct strbuf out;
	strbuf_init(&out, 4096);
	restamp(&out, buf, n, true);
	Tapio__V1__KubernetesContext k = TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	k.container_id = "abc";
	k.pod_name = "web-0";
	cr_assert_eq(pbwire_append_message(&out, 8, &k.base), 0);
	Tapio__V1__Event *b = tapio__v1__event__unpack(NULL, out.len, (uint8_t *)out.data);
	cr_assert_not_null(b);
	cr_assert_str_eq(b->k8s->pod_name, "web-0");
	cr_assert_str_eq(b->k8s->container_id, "abc");
	cr_assert_null(b->k8s->cgroup_path, "the worker's k8s context was replaced, not merged");
	tapio__v1__event__free_unpacked(b, NULL);
	strbuf_release(&out);
}

Test(pbwire, copy_of_malformed_bytes_leaves_the_buffer_as_it_was)
{
	struct strbuf out;
	strbuf_init(&out, 4096);
	strbuf_append(&out, "keep", 4);
	uint8_t bad[] = {3 << 3 | 2, 1, 'x', 1 << 3 | 2, 9, 'y'};
	cr_assert_eq(pbwire_copy_without(&out, bad, sizeof(bad), 0), -EBADMSG);
	cr_assert_eq(out.len, 4);
	cr_assert_str_eq(out.data, "keep");
	strbuf_release(&out);
}

Test(pbwire, copy_respects_the_buffer_cap)
{
	uint8_t buf[512];
	size_t n = pack_event(buf, sizeof(buf), true);
	struct strbuf out;
	strbuf_init(&out, n / 2);
	cr_assert_eq(pbwire_copy_without(&out, buf, n, 0), -ENOBUFS);
	cr_assert_eq(out.len, 0);
	strbuf_release(&out);
}

/* ---- the decode arena -------------------------------------------------------------------- */

Test(pbarena, aligned_and_reused_after_reset)
{
	struct pbarena a;
	cr_assert_eq(pbarena_init(&a, 4096, 1 << 20), 0);
	void *first = a.alloc.alloc(a.alloc.allocator_data, 3);
	void *second = a.alloc.alloc(a.alloc.allocator_data, 5);
	cr_assert_not_null(first);
	cr_assert_eq((uintptr_t)first % alignof(max_align_t), 0);
	cr_assert_eq((uintptr_t)second % alignof(max_align_t), 0);
	cr_assert_neq(first, second);
	pbarena_reset(&a);
	cr_assert_eq(a.alloc.alloc(a.alloc.allocator_data, 3), first, "the block is reused");
	pbarena_release(&a);
}

Test(pbarena, large_allocations_and_the_budget)
{
	struct pbarena a;
	cr_assert_eq(pbarena_init(&a, 1024, 64 << 10), 0);
	void *big = a.alloc.alloc(a.alloc.allocator_data, 32 << 10);
	cr_assert_not_null(big, "larger than the block: its own allocation");
	memset(big, 0xab, 32 << 10);
	cr_assert_null(a.alloc.alloc(a.alloc.allocator_data, 40 << 10), "over the budget");
	cr_assert_eq(a.refused, 1);
	pbarena_reset(&a);
	cr_assert_not_null(a.alloc.alloc(a.alloc.allocator_data, 40 << 10), "budget is per reset");
	pbarena_release(&a);
	pbarena_release(&a); /* twice is harmless */
}

Test(pbarena, decodes_an_event_and_refuses_one_over_budget)
{
	uint8_t buf[512];
	size_t n = pack_event(buf, sizeof(buf), true);
	struct pbarena a;
	cr_assert_eq(pbarena_init(&a, 64 << 10, 32 << 20), 0);
	Tapio__V1__Event *ev = tapio__v1__event__unpack(&a.alloc, n, buf);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->process->pid, 4242);
	cr_assert_eq(ev->process_exit->exit_code, 7);
	cr_assert_str_eq(ev->k8s->cgroup_path, "/kubepods/pod-x/0123");
	pbarena_release(&a);

	cr_assert_eq(pbarena_init(&a, 64, 64), 0);
	cr_assert_null(tapio__v1__event__unpack(&a.alloc, n, buf), "64 bytes cannot hold it");
	cr_assert_gt(a.refused, 0);
	pbarena_release(&a);
}
