/* SPDX-License-Identifier: Apache-2.0 */
/* The control socket (control.c): tapioctl's requests against the supervisor. The top of
 * tapiod's modules: it reads struct sup, nothing below calls it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "sup.h"

struct control_client;

struct control {
	struct sup *sup;
	uv_pipe_t server;
	bool open;
	gid_t gid;
	bool gid_set;
	struct control_client *clients; /* owned list */
	unsigned n_clients;
	uint64_t refused;
};

int control_open(struct control *ctl, struct sup *sup);
void control_close(struct control *ctl);
