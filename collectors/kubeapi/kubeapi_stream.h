/* SPDX-License-Identifier: Apache-2.0 */
/* Framing of kube-apiserver response bodies into one JSON object at a time, incrementally,
 * with chunk boundaries anywhere and a hard bound per object. No JSON is parsed here: a small
 * scanner follows strings, escapes and nesting depth and hands each complete object to a
 * callback as one NUL-terminated buffer (the caller parses it with json-c).
 *   KSTREAM_WATCH: the body of a watch, a sequence of top-level objects ({"type":…,"object":…}),
 *                  whatever whitespace between them.
 *   KSTREAM_LIST:  one top-level object; each element of its top-level "items" array is an
 *                  object of its own, and everything else (kind, apiVersion, metadata with
 *                  resourceVersion and continue) is kept as the "shell" with "items":[] —
 *                  also how a Status body (an error) arrives. A list is never held whole.
 * An object larger than max_object is skipped to its end without being stored and counted;
 * anything that is not JSON framing (a stray byte between objects, unbalanced brackets, a
 * second top-level value in a list) is -EPROTO, after which the stream is unusable. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

enum kstream_mode {
	KSTREAM_WATCH,
	KSTREAM_LIST,
};

#define KSTREAM_SHELL_MAX (64u << 10) /* a list's envelope / a Status body */
#define KSTREAM_DEPTH_MAX 256	      /* deeper nesting is -EPROTO (json-c stops at 64 anyway) */

/* One complete object: json is NUL-terminated, len bytes. Return 0, or -errno to stop
 * kstream_feed (which returns it). */
typedef int (*kstream_object_fn)(void *arg, const char *json, size_t len);

struct kstream {
	enum kstream_mode mode;
	size_t max_object;
	kstream_object_fn on_object;
	void *arg;

	struct strbuf obj;   /* the object being framed (bounded by max_object) */
	struct strbuf shell; /* LIST: the envelope (bounded by KSTREAM_SHELL_MAX) */
	uint32_t depth;
	uint32_t obj_depth; /* depth at which the current object started (0 = none) */
	bool in_str, esc;
	bool oversized; /* the current object passed max_object: skipping to its end */
	bool in_items;	/* LIST: inside the top-level "items" array */
	bool done;	/* LIST: the top-level object is complete */
	bool failed;
	char key[8]; /* LIST: the last string at depth 1, if short ("items") */
	uint8_t key_len;
	bool key_long;
	bool str_at_1;

	uint64_t objects; /* handed to on_object */
	uint64_t oversized_objects;
	uint64_t bytes;
};

void kstream_init(struct kstream *s, enum kstream_mode mode, size_t max_object,
		  kstream_object_fn on_object, void *arg);
/* Forget any partial object (a new response begins); counters are kept. */
void kstream_reset(struct kstream *s, enum kstream_mode mode);
void kstream_release(struct kstream *s);
/* Feed len bytes. 0, -EPROTO (not JSON framing; the stream is done), -ENOMEM, or the
 * callback's error. */
int kstream_feed(struct kstream *s, const char *data, size_t len);
/* The body ended. 0 when it ended between objects (WATCH) or after the whole list (LIST);
 * -EPIPE when it ended inside an object (a cut stream: the partial object is dropped). */
int kstream_finish(struct kstream *s);
/* LIST: the envelope with "items":[] (NUL-terminated), once kstream_finish returned 0. */
const char *kstream_shell(const struct kstream *s, size_t *ret_len);
