// SPDX-License-Identifier: Apache-2.0
// Choosing a collector's hook set (see hookset.h).
#include "hookset.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static bool allowed(enum config_hooks want, const struct hookset *set)
{
	switch (want) {
	case CONFIG_HOOKS_TP_BTF:
		return set->btf;
	case CONFIG_HOOKS_TRACEPOINT:
		return !set->btf;
	default:
		return true;
	}
}

int hookset_select(struct worker *w, enum config_hooks want, const struct hookset *sets, size_t n,
		   const char *const *hooks, size_t n_hooks, hookset_try_fn try_set, void *ctx)
{
	int r = -EOPNOTSUPP;
	const struct hookset *failed = NULL; /* the last set that failed, not yet reported */
	for (size_t i = 0; i < n; i++) {
		if (!allowed(want, &sets[i]))
			continue;
		if (failed && failed->missing)
			worker_add_missing(w, failed->missing); /* a later set is tried */
		r = try_set(ctx, &sets[i]);
		if (r < 0) {
			log_info("%s hooks unavailable: %s", sets[i].name, strerror(-r));
			failed = &sets[i];
			continue;
		}
		for (size_t h = 0; hooks && h < n_hooks; h++) {
			char name[128];
			snprintf(name, sizeof(name), "%s/%s", sets[i].name, hooks[h]);
			worker_add_hook(w, name);
		}
		return (int)i;
	}
	return r;
}
