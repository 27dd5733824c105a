// SPDX-License-Identifier: Apache-2.0
// BPF ring buffer reader with a separate commit (see ringread.h). The layout is the kernel's
// (kernel/bpf/ringbuf.c): page 0 the consumer position (read-write), page 1 the producer
// position, then the data area mapped twice so that a record never wraps; each record starts
// with an 8-byte header whose length word carries the busy and discard bits.
#include "ringread.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HDR_SZ 8u

static uint64_t load_acquire(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}

int ringread_open(struct ringread *r, int map_fd, ringread_fn fn, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->cons = r->prod = MAP_FAILED;
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info);
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len) < 0)
		return -errno;
	if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0 ||
	    (info.max_entries & (info.max_entries - 1)))
		return -EINVAL;
	r->map_fd = map_fd;
	r->fn = fn;
	r->ctx = ctx;
	r->page = (size_t)sysconf(_SC_PAGESIZE);
	r->size = info.max_entries;
	r->cons = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (r->cons == MAP_FAILED)
		return -errno;
	r->prod = mmap(NULL, r->page + 2 * r->size, PROT_READ, MAP_SHARED, map_fd, (off_t)r->page);
	if (r->prod == MAP_FAILED) {
		int e = -errno;
		munmap(r->cons, r->page);
		r->cons = MAP_FAILED;
		return e;
	}
	r->read_pos = load_acquire(r->cons);
	r->backlog_end = load_acquire(r->prod);
	return 0;
}

void ringread_close(struct ringread *r)
{
	if (r->cons != MAP_FAILED && r->cons)
		munmap(r->cons, r->page);
	if (r->prod != MAP_FAILED && r->prod)
		munmap(r->prod, r->page + 2 * r->size);
	r->cons = r->prod = NULL;
}

int64_t ringread_consume(struct ringread *r, uint64_t max_bytes)
{
	const uint8_t *data = (const uint8_t *)r->prod + r->page;
	uint64_t mask = r->size - 1;
	uint64_t start = r->read_pos;
	int64_t n = 0;
	while (r->read_pos - start < max_bytes) {
		uint64_t prod = load_acquire(r->prod);
		if (r->read_pos >= prod)
			break;
		while (r->read_pos < prod && r->read_pos - start < max_bytes) {
			const uint8_t *hdr = data + (r->read_pos & mask);
			uint32_t word = __atomic_load_n((const uint32_t *)hdr, __ATOMIC_ACQUIRE);
			if (word & BPF_RINGBUF_BUSY_BIT)
				goto out; /* reserved, not yet committed by the producer */
			uint32_t len = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			uint64_t pos = r->read_pos;
			r->rec_pos = pos;
			/* advanced first: an event the callback emits belongs to a batch that may
			 * be flushed (and its position committed) from inside the callback */
			r->read_pos += ((uint64_t)len + HDR_SZ + 7) & ~7ull;
			if (word & BPF_RINGBUF_DISCARD_BIT)
				continue;
			if (len > r->size - HDR_SZ) {
				/* a corrupt length: nothing after it can be trusted */
				r->read_pos = prod;
				break;
			}
			if (pos < r->backlog_end)
				r->backlog_records++;
			r->fn(r->ctx, (void *)(hdr + HDR_SZ), len);
			if (r->commit_each)
				ringread_commit(r);
			n++;
		}
	}
out:
	if (r->commit_each)
		ringread_commit(r); /* discarded records at the end too */
	return n;
}

uint64_t ringread_skip_to(struct ringread *r, uint64_t pos)
{
	uint64_t prod = load_acquire(r->prod);
	if (pos <= r->read_pos || pos > prod || (pos & 7))
		return 0;
	uint64_t skipped = pos - r->read_pos;
	r->read_pos = pos;
	if (r->backlog_end < pos)
		r->backlog_end = pos;
	ringread_commit(r);
	return skipped;
}

void ringread_commit(struct ringread *r)
{
	__atomic_store_n((uint64_t *)r->cons, r->read_pos, __ATOMIC_RELEASE);
}

uint64_t ringread_pending(const struct ringread *r)
{
	return load_acquire(r->prod) - load_acquire(r->cons);
}
