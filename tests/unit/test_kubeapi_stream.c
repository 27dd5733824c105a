// SPDX-License-Identifier: Apache-2.0
// The kubeapi collector's body framing: watch events and list items split at every possible
// chunk boundary, oversized objects skipped and counted, cut streams, non-JSON framing.
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/kubeapi/kubeapi_stream.c"

struct got {
	char *items[16];
	size_t n;
};

static int collect(void *arg, const char *json, size_t len)
{
	struct got *g = arg;
	cr_assert_eq(strlen(json), len);
	if (g->n < 16)
		g->items[g->n++] = strdup(json);
	return 0;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->items[i]);
	g->n = 0;
}

static const char watch_body[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a}\\\"{\","
	"\"labels\":{\"x\":\"[\"}}}}\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":"
	"\"12\"}}}\n"
	"  {\"type\":\"DELETED\",\"object\":{\"a\":[1,2,{\"b\":[]}]}}\r\n";

Test(kstream, watch_events_at_every_split)
{
	for (size_t cut = 0; cut <= sizeof(watch_body) - 1; cut++) {
		struct got g = {0};
		struct kstream s;
		kstream_init(&s, KSTREAM_WATCH, 4096, collect, &g);
		cr_assert_eq(kstream_feed(&s, watch_body, cut), 0);
		cr_assert_eq(kstream_feed(&s, watch_body + cut, sizeof(watch_body) - 1 - cut), 0);
		cr_assert_eq(kstream_finish(&s), 0);
		cr_assert_eq(g.n, 3, "cut %zu: %zu objects", cut, g.n);
		cr_assert_str_eq(g.items[0],
				 "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
				 "{\"name\":\"a}\\\"{\",\"labels\":{\"x\":\"[\"}}}}");
		cr_assert_str_eq(g.items[2],
				 "{\"type\":\"DELETED\",\"object\":{\"a\":[1,2,{\"b\":[]}]}}");
		got_free(&g);
		kstream_release(&s);
	}
}

Test(kstream, watch_byte_by_byte)
{
	struct got g = {0};
	struct kstream s;
	kstream_init(&s, KSTREAM_WATCH, 4096, collect, &g);
	for (size_t i = 0; i < sizeof(watch_body) - 1; i++)
		cr_assert_eq(kstream_feed(&s, watch_body + i, 1), 0);
	cr_assert_eq(kstream_finish(&s), 0);
	cr_assert_eq(g.n, 3);
	cr_assert_str_eq(g.items[1],
			 "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
			 "{\"resourceVersion\":\"12\"}}}");
	got_free(&g);
	kstream_release(&s);
}

static const char list_body[] =
	"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"77\","
	"\"continue\":\"tok\"},\"items\":[{\"metadata\":{\"name\":\"p1\",\"x\":[\"items\"]}},\n"
	" {\"metadata\":{\"name\":\"p2\"}} ]}\n";

Test(kstream, list_items_and_shell_at_every_split)
{
	for (size_t cut = 0; cut <= sizeof(list_body) - 1; cut++) {
		struct got g = {0};
		struct kstream s;
		kstream_init(&s, KSTREAM_LIST, 4096, collect, &g);
		cr_assert_eq(kstream_feed(&s, list_body, cut), 0);
		cr_assert_eq(kstream_feed(&s, list_body + cut, sizeof(list_body) - 1 - cut), 0);
		cr_assert_eq(kstream_finish(&s), 0);
		cr_assert_eq(g.n, 2);
		cr_assert_str_eq(g.items[0], "{\"metadata\":{\"name\":\"p1\",\"x\":[\"items\"]}}");
		cr_assert_str_eq(g.items[1], "{\"metadata\":{\"name\":\"p2\"}}");
		size_t n;
		const char *shell = kstream_shell(&s, &n);
		cr_assert_not_null(shell);
		cr_assert_str_eq(
			shell,
			"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{"
			"\"resourceVersion\":\"77\",\"continue\":\"tok\"},\"items\":[\n  ]}");
		got_free(&g);
		kstream_release(&s);
	}
}

Test(kstream, status_body_is_the_shell)
{
	static const char body[] =
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
		"\"reason\":\"Expired\",\"code\":410}";
	struct got g = {0};
	struct kstream s;
	kstream_init(&s, KSTREAM_LIST, 4096, collect, &g);
	cr_assert_eq(kstream_feed(&s, body, sizeof(body) - 1), 0);
	cr_assert_eq(kstream_finish(&s), 0);
	cr_assert_eq(g.n, 0);
	size_t n;
	cr_assert_str_eq(kstream_shell(&s, &n), body);
	kstream_release(&s);
}

Test(kstream, oversized_object_skipped_and_counted)
{
	struct got g = {0};
	struct kstream s;
	kstream_init(&s, KSTREAM_WATCH, 64, collect, &g);
	char big[4096];
	int n = snprintf(big, sizeof(big), "{\"type\":\"ADDED\",\"object\":{\"data\":\"");
	memset(big + n, 'x', 3000);
	n += 3000;
	n += snprintf(big + n, sizeof(big) - (size_t)n, "{[\"}}\n{\"type\":\"DELETED\"}\n");
	for (int i = 0; i < n; i += 100)
		cr_assert_eq(kstream_feed(&s, big + i, (size_t)(n - i < 100 ? n - i : 100)), 0);
	cr_assert_eq(kstream_finish(&s), 0);
	cr_assert_eq(s.oversized_objects, 1);
	cr_assert_eq(g.n, 1);
	cr_assert_str_eq(g.items[0], "{\"type\":\"DELETED\"}");
	got_free(&g);
	kstream_release(&s);
}

Test(kstream, cut_mid_object_is_epipe)
{
	struct got g = {0};
	struct kstream s;
	kstream_init(&s, KSTREAM_WATCH, 4096, collect, &g);
	cr_assert_eq(kstream_feed(&s, watch_body, 40), 0);
	cr_assert_eq(kstream_finish(&s), -EPIPE);
	kstream_reset(&s, KSTREAM_WATCH);
	cr_assert_eq(kstream_feed(&s, "{\"type\":\"ADDED\"}", 16), 0);
	cr_assert_eq(kstream_finish(&s), 0);
	cr_assert_eq(g.n, 1);
	got_free(&g);
	kstream_release(&s);
}

Test(kstream, rejects_what_is_not_framing)
{
	static const char *const bad_watch[] = {"x", "[1]", "\"s\"", "{}}", "{} 5", "}"};
	static const char *const bad_list[] = {"{\"items\":[1]}", "{\"items\":[\"a\"]}", "{}{}",
					       "{\"items\":[[]]}", "]"};
	for (size_t i = 0; i < sizeof(bad_watch) / sizeof(bad_watch[0]); i++) {
		struct got g = {0};
		struct kstream s;
		kstream_init(&s, KSTREAM_WATCH, 4096, collect, &g);
		cr_assert_eq(kstream_feed(&s, bad_watch[i], strlen(bad_watch[i])), -EPROTO, "%s",
			     bad_watch[i]);
		cr_assert_eq(kstream_feed(&s, "{}", 2), -EPROTO);
		got_free(&g);
		kstream_release(&s);
	}
	for (size_t i = 0; i < sizeof(bad_list) / sizeof(bad_list[0]); i++) {
		struct got g = {0};
		struct kstream s;
		kstream_init(&s, KSTREAM_LIST, 4096, collect, &g);
		cr_assert_eq(kstream_feed(&s, bad_list[i], strlen(bad_list[i])), -EPROTO, "%s",
			     bad_list[i]);
		got_free(&g);
		kstream_release(&s);
	}
}

Test(kstream, nesting_is_bounded)
{
	struct got g = {0};
	struct kstream s;
	kstream_init(&s, KSTREAM_WATCH, 1 << 20, collect, &g);
	char deep[600];
	memset(deep, '[', sizeof(deep));
	deep[0] = '{';
	cr_assert_eq(kstream_feed(&s, deep, sizeof(deep)), -EPROTO);
	kstream_release(&s);
}
