/* SPDX-License-Identifier: Apache-2.0 */
/* The exit-code contract between a worker and the supervisor (STYLE.md, DESIGN.md). Collectors
 * do not return these: their callbacks return -errno, which worker_exit_code (worker.h) maps. */
#pragma once

enum {
	EXIT_CLEAN = 0,	       /* stopped on request; do not restart */
	EXIT_CONFIG = 100,     /* configuration or usage error; restarting will not help */
	EXIT_TRANSIENT = 111,  /* something outside failed; restart with backoff */
	EXIT_NO_FEATURE = 125, /* the kernel lacks a feature this collector needs; report */
};
