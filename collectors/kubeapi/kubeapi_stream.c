// SPDX-License-Identifier: Apache-2.0
// Incremental framing of watch streams and list bodies into bounded per-object buffers
// (see kubeapi_stream.h). Bytes are copied in runs, not one by one.
#include "kubeapi_stream.h"

#include <errno.h>
#include <string.h>

enum dest { D_NONE, D_OBJ, D_SHELL };

void kstream_init(struct kstream *s, enum kstream_mode mode, size_t max_object,
		  kstream_object_fn on_object, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->max_object = max_object;
	s->on_object = on_object;
	s->arg = arg;
	strbuf_init(&s->obj, max_object + 1);
	strbuf_init(&s->shell, KSTREAM_SHELL_MAX);
	kstream_reset(s, mode);
}

void kstream_reset(struct kstream *s, enum kstream_mode mode)
{
	s->mode = mode;
	strbuf_reset(&s->obj);
	strbuf_reset(&s->shell);
	s->depth = s->obj_depth = 0;
	s->in_str = s->esc = s->oversized = s->in_items = s->done = s->failed = false;
	s->key_len = 0;
	s->key_long = s->str_at_1 = false;
	/* a big object's buffer is not kept for the next response */
	if (s->obj.alloc > (256u << 10))
		strbuf_release(&s->obj);
}

void kstream_release(struct kstream *s)
{
	strbuf_release(&s->obj);
	strbuf_release(&s->shell);
}

/* Append a run of bytes to where they belong. */
static int put(struct kstream *s, enum dest d, const char *p, size_t n)
{
	if (n == 0 || d == D_NONE)
		return 0;
	if (d == D_SHELL)
		return strbuf_append(&s->shell, p, n) < 0 ? -EPROTO : 0;
	if (s->oversized)
		return 0;
	int r = strbuf_append(&s->obj, p, n);
	if (r == -ENOBUFS) {
		s->oversized = true;
		strbuf_release(&s->obj);
		return 0;
	}
	return r;
}

/* The object that began at obj_depth is complete (its closing byte already put). */
static int deliver(struct kstream *s)
{
	s->obj_depth = 0;
	if (s->oversized) {
		s->oversized = false;
		s->oversized_objects++;
		strbuf_reset(&s->obj);
		return 0;
	}
	s->objects++;
	int r = s->on_object(s->arg, s->obj.data, s->obj.len);
	strbuf_reset(&s->obj);
	return r;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

int kstream_feed(struct kstream *s, const char *data, size_t len)
{
	if (s->failed)
		return -EPROTO;
	s->bytes += len;
	enum dest run = D_NONE;
	size_t run_start = 0;
	int r = 0;

/* end the current run before byte i and start a run of `d` at byte i */
#define SWITCH(d)                                                                                  \
	do {                                                                                       \
		if ((r = put(s, run, data + run_start, i - run_start)) < 0)                        \
			goto fail;                                                                 \
		run = (d);                                                                         \
		run_start = i;                                                                     \
	} while (0)
/* the byte i is the last of the run */
#define CLOSE_RUN()                                                                                \
	do {                                                                                       \
		if ((r = put(s, run, data + run_start, i + 1 - run_start)) < 0)                    \
			goto fail;                                                                 \
		run = D_NONE;                                                                      \
		run_start = i + 1;                                                                 \
	} while (0)

	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		enum dest here =
			s->obj_depth ? D_OBJ
				     : (s->mode == KSTREAM_LIST && s->depth > 0 ? D_SHELL : D_NONE);
		if (s->in_str) {
			if (s->esc)
				s->esc = false;
			else if (c == '\\')
				s->esc = true;
			else if (c == '"')
				s->in_str = false;
			else if (s->str_at_1) {
				if (s->key_len < sizeof(s->key))
					s->key[s->key_len++] = c;
				else
					s->key_long = true;
			}
			if (run != here)
				SWITCH(here);
			continue;
		}
		if (is_ws(c)) {
			if (run != here)
				SWITCH(here);
			continue;
		}
		bool items_level = s->mode == KSTREAM_LIST && s->in_items && s->depth == 2;
		switch (c) {
		case '"':
			if (s->depth == 0 || items_level)
				goto proto;
			s->in_str = true;
			s->str_at_1 = s->mode == KSTREAM_LIST && s->depth == 1;
			if (s->str_at_1) {
				s->key_len = 0;
				s->key_long = false;
			}
			if (run != here)
				SWITCH(here);
			break;
		case '{':
		case '[':
			if (s->depth >= KSTREAM_DEPTH_MAX)
				goto proto;
			if (s->depth == 0) {
				if (c != '{' || (s->mode == KSTREAM_LIST && s->done))
					goto proto;
				s->depth = 1;
				if (s->mode == KSTREAM_WATCH) {
					s->obj_depth = 1;
					SWITCH(D_OBJ);
				} else {
					SWITCH(D_SHELL);
				}
				break;
			}
			if (items_level) {
				if (c != '{')
					goto proto;
				s->depth = 3;
				s->obj_depth = 3;
				SWITCH(D_OBJ);
				break;
			}
			if (s->mode == KSTREAM_LIST && s->depth == 1 && c == '[' && !s->key_long &&
			    s->key_len == 5 && memcmp(s->key, "items", 5) == 0)
				s->in_items = true;
			s->depth++;
			if (run != here)
				SWITCH(here);
			break;
		case '}':
		case ']':
			if (s->depth == 0)
				goto proto;
			if (run != here)
				SWITCH(here);
			s->depth--;
			if (s->obj_depth && s->depth == s->obj_depth - 1) {
				CLOSE_RUN();
				if ((r = deliver(s)) < 0)
					goto fail;
				break;
			}
			if (s->mode == KSTREAM_LIST && s->in_items && s->depth == 1)
				s->in_items = false;
			if (s->mode == KSTREAM_LIST && s->depth == 0) {
				CLOSE_RUN();
				s->done = true;
			}
			break;
		case ',':
			if (s->depth == 0)
				goto proto;
			if (items_level) {
				if (run != D_NONE)
					SWITCH(D_NONE);
				break;
			}
			if (run != here)
				SWITCH(here);
			break;
		default:
			if (s->depth == 0 || items_level)
				goto proto;
			if (run != here)
				SWITCH(here);
			break;
		}
	}
	if ((r = put(s, run, data + run_start, len - run_start)) < 0)
		goto fail;
	return 0;
proto:
	r = -EPROTO;
fail:
	s->failed = true;
	return r;
#undef SWITCH
#undef CLOSE_RUN
}

int kstream_finish(struct kstream *s)
{
	if (s->failed)
		return -EPROTO;
	if (s->mode == KSTREAM_WATCH)
		return s->depth == 0 ? 0 : -EPIPE;
	return s->done ? 0 : -EPIPE;
}

const char *kstream_shell(const struct kstream *s, size_t *ret_len)
{
	if (!s->done)
		return NULL;
	*ret_len = s->shell.len;
	return s->shell.data;
}
