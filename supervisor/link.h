/* SPDX-License-Identifier: Apache-2.0 */
/* The framed link from each worker (link.c): read, split into frames, decode under a memory
 * budget and enforce the protocol (READY first, sequence numbers only go up); decoded events
 * go to the routing step, protocol facts to the child's policy. */
#pragma once
#include <uv.h>

#include "child.h"
#include "pbarena.h"
#include "route.h"

#define DECODE_BUDGET (32u << 20) /* heap one decoded frame or event may expand to */
#define DECODE_BLOCK  (64u << 10) /* the decode arena's retained block */

/* What the links of all workers share. */
struct link_env {
	uv_loop_t *loop;
	struct route *route;
	struct pbarena arena; /* the frame or event being decoded */
};

int link_env_init(struct link_env *le, uv_loop_t *loop, struct route *route);
void link_env_release(struct link_env *le);
int link_open(struct link_env *le, struct child *c, int fd);
void link_close(struct child *c);
/* Read what a dead worker left in the socket (its last events, a Fatal frame). */
void link_drain(struct child *c);
