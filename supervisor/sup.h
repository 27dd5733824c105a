/* SPDX-License-Identifier: Apache-2.0 */
/* The supervisor (sup.c): the configuration, the children, the event path (links → route →
 * sinks), signals, reload and the periodic stats. Everything runs on the one libuv loop. Above
 * it only the control socket (control.c) and main.c. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "budget.h"
#include "child.h"
#include "config.h"
#include "link.h"
#include "route.h"
#include "sink.h"

struct sup {
	uv_loop_t *loop;
	struct config *cfg;	    /* owned; replaced on reload */
	const char *config_path;    /* borrowed (argv); NULL = embedded default */
	uint64_t bounding_at_start; /* CapBnd before tapiod limited it */
	int config_memfd;	    /* sealed copy of cfg->text for workers */
	char collector_dir[4096];
	char run_id[ROUTE_RUN_ID_MAX];
	struct child_env env;	/* what the children share; env.stopping: shutting down */
	struct child *children; /* owned array */
	size_t n_children;
	struct sinks sinks;
	struct route route;
	struct link_env links;
	struct budgets budgets;
	uint64_t start_mono_ns;
	uv_signal_t sig_term, sig_int, sig_hup, sig_pipe;
	uv_timer_t tick;
	uint64_t last_log_ns;
	/* Called when tapiod closes its handles at the end of a shutdown (main.c: the control
	 * socket). */
	void (*on_close)(void *ctx);
	void *on_close_ctx;
};

/* Everything but the control socket; then sup_start starts the workers. */
int sup_setup(struct sup *sup);
void sup_start(struct sup *sup);
/* After the loop ended. */
void sup_release(struct sup *sup);
