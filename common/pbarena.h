/* SPDX-License-Identifier: Apache-2.0 */
/* A bump allocator for protobuf-c decoding: one retained block serves the common case (an
 * event is a few hundred bytes decoded), larger needs get their own malloc, and a budget caps
 * what one message may expand to. Reset between messages: nothing is freed one by one, so a
 * decoded message needs no free_unpacked (and must not outlive the next reset). */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct pbarena_big;

struct pbarena {
	ProtobufCAllocator alloc; /* give &arena->alloc to protobuf-c */
	uint8_t *block;		  /* owned, block_size bytes */
	size_t block_size, off;
	struct pbarena_big *big; /* owned list, freed on reset */
	size_t used, budget;	 /* bytes handed out since the last reset, and the cap */
	uint64_t refused;	 /* allocations refused by the budget (cumulative) */
};

/* block_size: the retained block; budget: what one message may use in all. 0 or -ENOMEM. */
int pbarena_init(struct pbarena *a, size_t block_size, size_t budget);
void pbarena_reset(struct pbarena *a);
void pbarena_release(struct pbarena *a); /* accepts a zeroed or released arena */
