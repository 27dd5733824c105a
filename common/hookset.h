/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing a collector's hook set: the best the kernel offers, in the collector's order of
 * preference (tp_btf → raw or classic tracepoint), within what the config's `hooks` allows.
 * The collector supplies a table of candidate sets and a callback that loads and attaches one;
 * the worker's READY then lists the hooks attached and the features missing. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "worker.h"

struct hookset {
	const char *name; /* prefix of the hook names: "tp_btf", "raw_tp", "tracepoint" */
	bool btf;	  /* BTF-typed: the only kind `hooks: tp_btf` allows, excluded by
			   * `hooks: tracepoint` */
	/* Reported missing when this set fails and a later one is tried (hooks: auto). */
	const char *missing;
};

/* Load and attach one set: 0, or -errno having left nothing loaded. */
typedef int (*hookset_try_fn)(void *ctx, const struct hookset *set);

/* Try sets[0..n) in order, skipping those `want` excludes, until try_set succeeds; a failure
 * is logged (info) and the next set tried. The winner's hooks, "<name>/<hook>" for each of
 * hooks[0..n_hooks), are added to the worker (hooks NULL: the collector adds its own). Returns
 * the index of the set that loaded, or the last set's error, -EOPNOTSUPP when `want` excludes
 * them all. */
int hookset_select(struct worker *w, enum config_hooks want, const struct hookset *sets, size_t n,
		   const char *const *hooks, size_t n_hooks, hookset_try_fn try_set, void *ctx);
