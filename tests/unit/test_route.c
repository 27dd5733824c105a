// SPDX-License-Identifier: Apache-2.0
// The routing step and the table of sinks, in process: route.c stamps an event, joins pod
// metadata, encodes each format some sink wants once and hands it to every sink that wants it;
// the real sinks_open() builds the table from a configuration (the file sink writes lines).
#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "supervisor/route.h"
#include "tapio/v1/event.pb-c.h"

#define CONTAINER "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A sink that keeps what it was given. */
struct test_sink {
	struct sink base;
	int calls;
	bool drop;
	char collector[32], type[64];
	char json[1024];
	uint8_t record[1024];
	size_t record_len;
};

static int test_event(struct sink *base, const struct sink_event *e)
{
	struct test_sink *t = (struct test_sink *)base;
	t->calls++;
	snprintf(t->collector, sizeof(t->collector), "%s", e->collector);
	snprintf(t->type, sizeof(t->type), "%s", e->type);
	if (base->formats & SINK_JSON) {
		cr_assert_not_null(e->json);
		cr_assert_lt(e->json_len, sizeof(t->json));
		memcpy(t->json, e->json, e->json_len);
		t->json[e->json_len] = '\0';
	}
	if (base->formats & SINK_RECORD) {
		cr_assert_not_null(e->record);
		cr_assert_leq(e->record_len, sizeof(t->record));
		memcpy(t->record, e->record, e->record_len);
		t->record_len = e->record_len;
	}
	return t->drop ? -ENOBUFS : 0;
}

static void test_nothing(struct sink *base)
{
}

static void test_drain(struct sink *base, unsigned timeout_ms)
{
}

static void test_stats(const struct sink *base, struct sink_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
}

static const struct sink_ops test_ops = {
	.event = test_event,
	.flush = test_nothing,
	.drain = test_drain,
	.close = test_nothing,
	.stats = test_stats,
};

/* An event as a worker packs it, with forged values for what only tapiod may say. */
static size_t pack(uint8_t *buf, size_t cap, uint64_t seq, bool container_event)
{
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Tapio__V1__KubernetesContext k8s = TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	Tapio__V1__ContainerEvent ce = TAPIO__V1__CONTAINER_EVENT__INIT;
	Tapio__V1__Event ev = TAPIO__V1__EVENT__INIT;
	ts.seconds = 1764650000;
	ev.time = &ts;
	ev.id = "forged-id";
	ev.collector = "forged";
	ev.node = "forged-node";
	ev.has_seq = 1;
	ev.seq = seq;
	if (container_event) {
		ev.type = "container.started";
		ce.container_id = CONTAINER;
		ce.pod_name = "web-0";
		ce.namespace_ = "shop";
		ce.container_name = "nginx";
		ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_CONTAINER;
		ev.container = &ce;
	} else {
		ev.type = "process.exec";
		k8s.container_id = CONTAINER;
		ev.k8s = &k8s;
	}
	size_t n = tapio__v1__event__get_packed_size(&ev);
	cr_assert_leq(n, cap);
	return tapio__v1__event__pack(&ev, buf);
}

static struct route_tally route_packed(struct route *rt, const char *collector, unsigned pod_meta,
				       uint64_t seq, bool container_event)
{
	uint8_t buf[1024];
	size_t n = pack(buf, sizeof(buf), seq, container_event);
	Tapio__V1__Event *ev = tapio__v1__event__unpack(NULL, n, buf);
	cr_assert_not_null(ev);
	/* route_event points the event's strings at its own: free what protobuf-c allocated
	 * through a copy of the pointers it replaces. */
	char *id = ev->id, *col = ev->collector, *node = ev->node;
	Tapio__V1__KubernetesContext *k = ev->k8s;
	char *pod = k ? k->pod_name : NULL, *ns = k ? k->namespace_ : NULL;
	char *cn = k ? k->container_name : NULL, *uid = k ? k->pod_uid : NULL;
	struct route_tally t = route_event(rt, collector, pod_meta, buf, n, ev);
	ev->id = id, ev->collector = col, ev->node = node;
	if (k)
		k->pod_name = pod, k->namespace_ = ns, k->container_name = cn, k->pod_uid = uid;
	tapio__v1__event__free_unpacked(ev, NULL);
	return t;
}

static const char *jstr(json_object *o, const char *a, const char *b)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

Test(route, stamps_encodes_once_per_format_and_tallies_drops)
{
	struct test_sink js = {.base = {&test_ops, "json", SINK_JSON}};
	struct test_sink rec = {.base = {&test_ops, "record", SINK_RECORD}};
	struct test_sink idle = {.base = {&test_ops, "idle", 0}};
	struct test_sink full = {.base = {&test_ops, "full", SINK_JSON}, .drop = true};
	struct sinks t = {.v = {&js.base, &rec.base, &idle.base, &full.base}, .n = 4};
	struct route rt;
	route_init(&rt, &t, "00000000000000ab", "node-1");

	struct route_tally tally = route_packed(&rt, "testing", false, 7, false);
	cr_assert_eq(tally.encode_errors, 0);
	cr_assert_eq(tally.sink_drops, 1, "the full sink's drop counts against the collector");
	cr_assert_eq(js.calls, 1);
	cr_assert_eq(rec.calls, 1);
	cr_assert_eq(idle.calls, 0, "a sink that wants no format gets no event");
	cr_assert_eq(full.calls, 1);
	cr_assert_str_eq(js.collector, "testing");
	cr_assert_str_eq(js.type, "process.exec");

	json_object *o = json_tokener_parse(js.json);
	cr_assert_not_null(o, "not JSON: %s", js.json);
	cr_assert_str_eq(jstr(o, "id", NULL), "00000000000000ab-1");
	cr_assert_str_eq(jstr(o, "collector", NULL), "testing");
	cr_assert_str_eq(jstr(o, "node", NULL), "node-1");
	cr_assert_str_eq(jstr(o, "type", NULL), "process.exec");
	cr_assert_null(jstr(o, "k8s", "podName"), "nothing learned yet: %s", js.json);
	json_object_put(o);

	Tapio__V1__Event *r = tapio__v1__event__unpack(NULL, rec.record_len, rec.record);
	cr_assert_not_null(r, "the record is not a tapio.v1.Event");
	cr_assert_str_eq(r->id, "00000000000000ab-1");
	cr_assert_str_eq(r->collector, "testing");
	cr_assert_str_eq(r->node, "node-1");
	cr_assert_eq(r->seq, 7);
	tapio__v1__event__free_unpacked(r, NULL);

	/* The next event gets the next id. */
	route_packed(&rt, "testing", false, 8, false);
	o = json_tokener_parse(js.json);
	cr_assert_str_eq(jstr(o, "id", NULL), "00000000000000ab-2");
	json_object_put(o);
	route_release(&rt);
}

Test(route, joins_pod_metadata_into_both_formats)
{
	struct test_sink js = {.base = {&test_ops, "json", SINK_JSON}};
	struct test_sink rec = {.base = {&test_ops, "record", SINK_RECORD}};
	struct sinks t = {.v = {&js.base, &rec.base}, .n = 2};
	struct route rt;
	route_init(&rt, &t, "00000000000000ab", "node-1");

	/* A container event teaches only when its collector carries pod metadata. */
	route_packed(&rt, "cri", false, 1, true);
	route_packed(&rt, "process", false, 1, false);
	cr_assert_eq(rt.meta.n, 0);
	route_packed(&rt, "cri", true, 2, true);
	cr_assert_eq(rt.meta.n, 1);
	route_packed(&rt, "process", false, 2, false);

	json_object *o = json_tokener_parse(js.json);
	cr_assert_str_eq(jstr(o, "k8s", "podName"), "web-0", "%s", js.json);
	cr_assert_str_eq(jstr(o, "k8s", "namespace"), "shop", "%s", js.json);
	json_object_put(o);
	Tapio__V1__Event *r = tapio__v1__event__unpack(NULL, rec.record_len, rec.record);
	cr_assert_not_null(r);
	cr_assert_not_null(r->k8s);
	cr_assert_str_eq(r->k8s->pod_name, "web-0");
	cr_assert_str_eq(r->k8s->container_name, "nginx");
	cr_assert_str_eq(r->k8s->container_id, CONTAINER);
	cr_assert_str_eq(r->collector, "process");
	tapio__v1__event__free_unpacked(r, NULL);
	route_release(&rt);
}

/* The real table from a configuration: stdout off, the file sink on; the file gets the JSON
 * line, the table's counters say so, and only "file"'s drops... are none. */
Test(route, the_sink_table_from_a_config_writes_the_file)
{
	char dir[] = "/tmp/tapio-route-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128], yaml[512];
	snprintf(path, sizeof(path), "%s/events.json", dir);
	snprintf(yaml, sizeof(yaml),
		 "sinks:\n  stdout:\n    enabled: false\n  file:\n    enabled: true\n"
		 "    path: %s\n",
		 path);
	struct config *cfg = NULL;
	char *err = NULL;
	cr_assert_eq(config_load_text(yaml, strlen(yaml), "test", &cfg, &err), 0, "%s",
		     err ? err : "");
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sink_env env = {.loop = &loop, .cfg = cfg, .stdout_fd = fds[1]};
	struct sinks t;
	cr_assert_eq(sinks_open(&t, &env), 0);
	cr_assert_eq(t.n, 3, "stdout (off but open for a reload), file, subscribers");
	cr_assert_str_eq(t.v[0]->name, "stdout");
	cr_assert_eq(t.v[0]->formats, 0, "stdout is disabled");
	struct sink *file = sinks_find(&t, "file");
	cr_assert_not_null(file);
	cr_assert_eq(file->formats, SINK_JSON);
	cr_assert_eq(sinks_formats(&t), SINK_JSON);

	struct route rt;
	route_init(&rt, &t, "00000000000000cd", cfg->node_name);
	struct route_tally tally = route_packed(&rt, "testing", false, 1, false);
	cr_assert_eq(tally.sink_drops, 0);
	sinks_drain(&t, 100);

	struct sink_stats st;
	file->ops->stats(file, &st);
	cr_assert_eq(st.written, 1);
	cr_assert_eq(st.dropped, 0);
	t.v[0]->ops->stats(t.v[0], &st);
	cr_assert_eq(st.written, 0, "a disabled stdout sink takes nothing");

	char line[2048] = "";
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	fclose(f);
	json_object *o = json_tokener_parse(line);
	cr_assert_not_null(o, "not a JSON line: %s", line);
	cr_assert_str_eq(jstr(o, "id", NULL), "00000000000000cd-1");
	cr_assert_str_eq(jstr(o, "collector", NULL), "testing");
	json_object_put(o);

	/* A reload that enables stdout makes the table want JSON for it too. */
	struct config *next = NULL;
	const char *on = "sinks:\n  stdout:\n    enabled: true\n";
	cr_assert_eq(config_load_text(on, strlen(on), "test", &next, &err), 0);
	sinks_reconfigure(&t, next);
	cr_assert_eq(t.v[0]->formats, SINK_JSON);
	route_packed(&rt, "testing", false, 2, false);
	sinks_drain(&t, 100);
	t.v[0]->ops->stats(t.v[0], &st);
	cr_assert_eq(st.written, 1);
	char out[2048];
	ssize_t n = read(fds[0], out, sizeof(out) - 1);
	cr_assert_gt(n, 0);
	out[n] = '\0';
	cr_assert(strstr(out, "00000000000000cd-2"), "stdout got: %s", out);

	route_release(&rt);
	sinks_close(&t);
	uv_run(&loop, UV_RUN_DEFAULT); /* the stdout sink's poll handle closes */
	cr_assert_eq(uv_loop_close(&loop), 0);
	config_free(cfg);
	config_free(next);
	close(fds[0]);
	close(fds[1]);
	unlink(path);
	rmdir(dir);
}

/* Issue 14: what the file sink cannot write at shutdown is counted, record by record (a file
 * on /dev/full takes nothing): dropped, no longer written. */
Test(route, file_sink_counts_what_it_could_not_write_at_shutdown)
{
	const char *yaml = "sinks:\n  stdout:\n    enabled: false\n  file:\n    enabled: true\n"
			   "    path: /dev/full\n";
	struct config *cfg = NULL;
	char *err = NULL;
	cr_assert_eq(config_load_text(yaml, strlen(yaml), "test", &cfg, &err), 0, "%s",
		     err ? err : "");
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sink_env env = {.loop = &loop, .cfg = cfg, .stdout_fd = fds[1]};
	struct sinks t;
	cr_assert_eq(sinks_open(&t, &env), 0);
	struct sink *file = sinks_find(&t, "file");
	cr_assert_not_null(file);
	struct route rt;
	route_init(&rt, &t, "00000000000000ce", cfg->node_name);
	for (uint64_t seq = 1; seq <= 3; seq++)
		route_packed(&rt, "testing", false, seq, false);
	sinks_drain(&t, 100);
	struct sink_stats st;
	file->ops->stats(file, &st);
	cr_assert_eq(st.dropped, 3, "events lost at shutdown are counted (%llu)",
		     (unsigned long long)st.dropped);
	cr_assert_eq(st.written, 0, "and not as written (%llu)", (unsigned long long)st.written);
	route_release(&rt);
	sinks_close(&t);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	config_free(cfg);
	close(fds[0]);
	close(fds[1]);
}
