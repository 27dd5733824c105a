// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the kubeapi collector's body framing and object decoding: the input is
// split into chunks at boundaries taken from its first bytes, fed to a watch and a list
// framer, and every framed object is parsed with json-c, decoded into a store record and
// turned into an event. Nothing may crash or leak; framed objects must be within the bound
// and NUL-terminated; the store's counts must match its lists.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/kubeapi/kubeapi_store.c"
#include "collectors/kubeapi/kubeapi_stream.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OBJ 4096

static struct kstore st;
static bool st_ready;

static void drop(struct kobj *o, void *arg)
{
	(void)arg;
	free(o);
}

static int on_obj(void *arg, const char *json, size_t len)
{
	enum kres res = (enum kres)((uintptr_t)arg % KRES_COUNT);
	if (len > MAX_OBJ || json[len] != '\0') /* NUL bytes inside are the parser's to reject */
		abort();
	json_tokener *tok = json_tokener_new_ex(64);
	json_object *root = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (!root)
		return 0;
	json_object *obj = root, *inner;
	if (json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "object", &inner))
		obj = inner;
	static const char *const ann[] = {"a", NULL};
	struct kdecode_opts opts = {.annotations = ann};
	struct kobj *o = NULL;
	if (kobj_from_json(res, obj, &opts, &o) == 0) {
		if (o->len > KOBJ_BYTES_MAX + 1)
			abort();
		struct kobj *old = NULL;
		kstore_put(&st, o, &old);
		if (old) {
			(void)kobj_diff(old, o);
			free(old);
		}
		struct karena a = {0};
		Tapio__V1__K8sObjectEvent ev;
		if (kobj_event(&st, o, "ADDED", 1u << KF_LABEL, &a, &ev) == 0) {
			size_t n = tapio__v1__k8s_object_event__get_packed_size(&ev);
			uint8_t *buf = malloc(n);
			tapio__v1__k8s_object_event__pack(&ev, buf);
			free(buf);
		}
		karena_free(&a);
	}
	json_object_put(root);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!st_ready) {
		if (kstore_init(&st) < 0)
			return 0;
		st_ready = true;
	}
	if (size < 2)
		return 0;
	size_t step = (size_t)data[0] % 64 + 1;
	uintptr_t res = data[1];
	data += 2;
	size -= 2;
	for (int mode = 0; mode < 2; mode++) {
		struct kstream s;
		kstream_init(&s, mode ? KSTREAM_LIST : KSTREAM_WATCH, MAX_OBJ, on_obj, (void *)res);
		for (size_t off = 0; off < size; off += step) {
			size_t n = size - off < step ? size - off : step;
			if (kstream_feed(&s, (const char *)data + off, n) < 0)
				break;
		}
		if (kstream_finish(&s) == 0 && mode == 1) {
			size_t n;
			const char *shell = kstream_shell(&s, &n);
			if (!shell || n > KSTREAM_SHELL_MAX || shell[n] != '\0')
				abort();
		}
		kstream_release(&s);
	}
	size_t total = 0;
	for (int r = 0; r < KRES_COUNT; r++) {
		size_t c = 0;
		for (struct kobj *o = st.res_head[r]; o; o = o->next_res)
			c++;
		if (c != st.count[r])
			abort();
		total += c;
	}
	if (total != st.total)
		abort();
	if (st.total > 256) /* keep the store small: sweep everything */
		for (int r = 0; r < KRES_COUNT; r++)
			kstore_sweep(&st, (enum kres)r, NULL, UINT32_MAX, drop, NULL);
	return 0;
}
