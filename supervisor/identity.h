/* SPDX-License-Identifier: Apache-2.0 */
/* Who the workers are and what tapiod runs (identity.c): each collector's worker has a uid and
 * gid of its own (config_worker_ids) that no other process on the node may hold, and every
 * binary tapiod executes, with each directory above it, belongs to root and is writable by
 * nobody else (as sshd's StrictModes). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "child.h"
#include "config.h"

/* collector_dir of the config, or the directory of tapiod's own executable when it is "". */
int identity_collector_dir(const struct config *cfg, char *buf, size_t size);

/* Every directory from / down to `dir` (as written and resolved) and the worker binary of every
 * enabled collector: owned by root, not writable by group or others. 0, or -EPERM (or -errno of
 * a failed stat) with `msg` naming the path and what is wrong. */
int identity_check_binaries(const struct config *cfg, const char *dir, char *msg, size_t size);

/* A process holding one of the workers' ids (real, effective, saved or filesystem uid or gid)
 * that is not one of the pids in `ours` (n of them). Returns 1 with the first one found in
 * *ret_pid, *ret_id and the collector it belongs to in *ret_collector, 0 when there is none,
 * -errno when /proc cannot be read. */
int identity_find_foreign(const struct config *cfg, const pid_t *ours, size_t n, pid_t *ret_pid,
			  uint32_t *ret_id, const char **ret_collector);

/* The tick's check: each foreign process under a running collector's ids is logged (once per
 * pid) and counted in that child's foreign_processes. */
void identity_check_children(struct child *children, size_t n, const struct config *cfg);
