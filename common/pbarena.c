// SPDX-License-Identifier: Apache-2.0
// Bump allocator for protobuf-c decoding (see pbarena.h).
#include "pbarena.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN alignof(max_align_t)

struct pbarena_big {
	struct pbarena_big *next;
	alignas(max_align_t) uint8_t data[];
};

static void *arena_alloc(void *data, size_t size)
{
	struct pbarena *a = data;
	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - ALIGN)
		return NULL;
	size_t need = (size + ALIGN - 1) & ~(ALIGN - 1);
	if (need > a->budget - a->used) {
		a->refused++;
		return NULL;
	}
	if (need <= a->block_size - a->off) {
		void *p = a->block + a->off;
		a->off += need;
		a->used += need;
		return p;
	}
	struct pbarena_big *b = malloc(sizeof(*b) + need);
	if (!b)
		return NULL;
	b->next = a->big;
	a->big = b;
	a->used += need;
	return b->data;
}

static void arena_free(void *data, void *p)
{
	/* everything goes at the next reset */
}

int pbarena_init(struct pbarena *a, size_t block_size, size_t budget)
{
	memset(a, 0, sizeof(*a));
	a->alloc = (ProtobufCAllocator){arena_alloc, arena_free, a};
	a->block_size = block_size & ~(ALIGN - 1);
	a->budget = budget;
	a->block = aligned_alloc(ALIGN, a->block_size ? a->block_size : ALIGN);
	return a->block ? 0 : -ENOMEM;
}

void pbarena_reset(struct pbarena *a)
{
	while (a->big) {
		struct pbarena_big *b = a->big;
		a->big = b->next;
		free(b);
	}
	a->off = a->used = 0;
}

void pbarena_release(struct pbarena *a)
{
	if (!a)
		return;
	pbarena_reset(a);
	free(a->block);
	a->block = NULL;
	a->block_size = 0;
}
