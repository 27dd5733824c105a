// SPDX-License-Identifier: Apache-2.0
// The table of sinks. A new sink is one file implementing struct sink_ops with an open
// function (declared in sink.h) and one entry below; route.c, sup.c and control.c only walk
// the table.
#include <errno.h>
#include <string.h>

#include "sink.h"

const struct sink_type sink_types[] = {
	{"stdout", sink_stdout_open},
	{"file", sink_file_open},
	{"subscribers", sink_subscribers_open},
	{"nats", sink_nats_open},
};
const size_t sink_type_count = sizeof(sink_types) / sizeof(sink_types[0]);

int sinks_open(struct sinks *t, const struct sink_env *env)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < sink_type_count; i++) {
		struct sink *s = NULL;
		int r = sink_types[i].open(env, &s);
		if (r < 0)
			return r;
		if (!s)
			continue;
		if (t->n == SINKS_MAX) {
			s->ops->close(s);
			return -E2BIG;
		}
		s->name = sink_types[i].name;
		t->v[t->n++] = s;
	}
	return 0;
}

unsigned sinks_formats(const struct sinks *t)
{
	unsigned f = 0;
	for (size_t i = 0; i < t->n; i++)
		f |= t->v[i]->formats;
	return f;
}

void sinks_flush(struct sinks *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->v[i]->ops->flush(t->v[i]);
}

void sinks_drain(struct sinks *t, unsigned timeout_ms)
{
	for (size_t i = 0; i < t->n; i++)
		t->v[i]->ops->drain(t->v[i], timeout_ms);
}

void sinks_reconfigure(struct sinks *t, const struct config *cfg)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->ops->reconfigure)
			t->v[i]->ops->reconfigure(t->v[i], cfg);
}

void sinks_close(struct sinks *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->v[i]->ops->close(t->v[i]);
	t->n = 0;
}

struct sink *sinks_find(struct sinks *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i]->name, name) == 0)
			return t->v[i];
	return NULL;
}
