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
	int lock_fd;		   /* flock on <socket_path>.lock while open */
	uint64_t refused;	   /* peers refused by credentials */
	uint64_t refused_unlogged; /* of those, not logged since the last line */
	uint64_t refused_logged_ns;
	uint64_t idle_timeouts; /* connections closed for not finishing their request */
	uint64_t busy;		/* connections refused for lack of a slot */
};

/* -EADDRINUSE: another tapiod holds the socket (tapiod then exits 100). */
int control_open(struct control *ctl, struct sup *sup);
void control_close(struct control *ctl);
