// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the etcd collector's key parser and value decoder: any bytes must parse
// or be rejected with a known error, and every string that comes out must be NUL-terminated,
// within its bound and printable ASCII.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/etcd/etcd_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
}

#define CHECK(f) check((f), sizeof(f))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct etcd_key k;
	static struct etcd_value v;
	int r = etcd_key_parse(data, size, "/registry/", &k);
	if (r != 0 && r != -ENOENT && r != -EINVAL && r != -ENAMETOOLONG)
		abort();
	CHECK(k.group);
	CHECK(k.resource);
	CHECK(k.kind);
	CHECK(k.namespace);
	CHECK(k.name);
	if (size >= 17 && memcmp(data, "/registry/secrets", 17) == 0 &&
	    (size == 17 || data[17] == '/') && !k.secret)
		abort(); /* a Secret is never missed */

	r = etcd_value_decode(data, size, &v);
	if (r != 0 && r != -EBADMSG && r != -ENOMEM)
		abort();
	if (v.n_labels > ETCD_LABELS_MAX || v.n_owners > ETCD_OWNERS_MAX)
		abort();
	CHECK(v.enc_provider);
	CHECK(v.enc_key);
	CHECK(v.api_version);
	CHECK(v.kind);
	CHECK(v.name);
	CHECK(v.namespace);
	CHECK(v.uid);
	CHECK(v.resource_version);
	for (unsigned i = 0; i < v.n_labels; i++) {
		CHECK(v.labels[i].key);
		CHECK(v.labels[i].value);
	}
	for (unsigned i = 0; i < v.n_owners; i++) {
		CHECK(v.owners[i].api_version);
		CHECK(v.owners[i].kind);
		CHECK(v.owners[i].name);
		CHECK(v.owners[i].uid);
	}
	return 0;
}
