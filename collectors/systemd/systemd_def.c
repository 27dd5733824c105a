// SPDX-License-Identifier: Apache-2.0
// The systemd collector in the collector table: its capabilities, paths, syscalls, config
// keys (collectors.systemd.*) and their checks.
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>

#include "registry.h"
#include "systemd_config.h"

/* After the sandbox: the journal directories (files that appear later; see README), the
 * machine id sd-journal reads, /proc/self for the privilege report. The bus socket needs no path
 * rule: Landlock does not govern connecting to a named socket. */
static const char *const read_paths[] = {"/run/log/journal", "/var/log/journal", "/etc/machine-id",
					 "/proc/self", NULL};

/* sd-bus reconnects inside the sandbox (socket, connect, the credential exchange) and
 * sd-journal follows its files (inotify); the cursor file, opened during setup, is rewritten
 * in place with pwrite. */
static const char *const extra_syscalls[] = {
	"socket",      "connect", "getsockopt",	       "setsockopt",	   "getsockname",
	"getpeername", "recvmsg", "recvfrom",	       "geteuid",	   "getuid",
	"getegid",     "getgid",  "inotify_add_watch", "inotify_rm_watch", "pwrite64",
	"fstatfs",     NULL,
};

static const char *const priority_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", NULL,
};

/* The unit types a unit_types item may name. */
static const char *const unit_type_names[] = {
	"service", "socket", "timer", "mount", "automount", "swap",
	"path",	   "target", "slice", "scope", "device",    NULL,
};

#define C struct config_systemd
static const struct config_key keys[] = {
	CONFIG_LIST(C, "units", units, 1, 255,
		    "unit names (no suffix = .service); [] = kubelet, containerd, crio, docker"),
	CONFIG_LIST(C, "globs", globs, 1, 255, "also units whose name matches (fnmatch)"),
	CONFIG_LIST(C, "unit_types", unit_types, 1, 16,
		    "types for globs and watch_failed; [] = service, socket, timer, mount"),
	CONFIG_BOOL(C, "watch_failed", watch_failed, true, "also every unit that enters failed"),
	CONFIG_STRING(C, "bus_address", bus_address, "", NULL,
		      "\"\" = the system bus; unix:path=SOCKET for another"),
	CONFIG_U32(C, "rpc_timeout_ms", rpc_timeout_ms, 5000, 100, 60000, "every D-Bus call"),
	CONFIG_U32(C, "reconnect_initial_ms", reconnect_initial_ms, 500, 10, 600000,
		   "bus lost: first retry, doubling"),
	CONFIG_U32(C, "reconnect_max_ms", reconnect_max_ms, 30000, 10, 600000, "retry cap"),
	CONFIG_U32(C, "restart_loop_count", restart_loop_count, 5, 1, 63,
		   "more automatic restarts than this ..."),
	CONFIG_U32(C, "restart_loop_window_s", restart_loop_window_s, 300, 1, 86400,
		   "... within this -> systemd.unit_restart_loop"),
	CONFIG_U32(C, "max_units", max_units, 4096, 16, 65536, "units remembered"),
	CONFIG_BOOL(C, "journal", journal, true, "entries of the watched units"),
	CONFIG_STRING(C, "journal_directory", journal_directory, "", NULL,
		      "\"\" = the system journal (/run/log/journal, /var/log/journal)"),
	CONFIG_ENUM(C, "journal_priority", journal_priority, enum config_systemd_priority,
		    CONFIG_SYSTEMD_PRIO_WARNING, priority_names, "this and more urgent"),
	CONFIG_STRING(C, "cursor_file", cursor_file, "/var/lib/tapio/systemd-journal.cursor", NULL,
		      "where reading resumes after a restart"),
	CONFIG_U32(C, "message_max", message_max, 4096, 64, 65536,
		   "bytes of MESSAGE kept (message_truncated)"),
	CONFIG_U32(C, "journal_rate_per_s", journal_rate_per_s, 50, 1, 100000,
		   "entries per unit per second; the rest are counted"),
	CONFIG_U32(C, "journal_burst", journal_burst, 200, 1, 1000000, "entries in a burst"),
	CONFIG_U32(C, "context_before_ms", context_before_ms, 5000, 0, 60000,
		   "a failing unit's lines below journal_priority this long before it failed"),
	CONFIG_U32(C, "context_after_ms", context_after_ms, 2000, 0, 30000,
		   "... and this long after (context: true)"),
	CONFIG_U32(C, "context_max_lines", context_max_lines, 100, 0, 10000,
		   "context lines per failure; the rest are counted; 0 = none"),
};
#undef C

static int check(const struct config *all, const void *section, const char **ret_key, char *msg,
		 size_t size)
{
	const struct config_systemd *cfg = section;

	for (size_t i = 0; i < cfg->unit_types.n; i++) {
		bool known = false;
		for (size_t k = 0; unit_type_names[k]; k++)
			known |= strcmp(cfg->unit_types.items[i], unit_type_names[k]) == 0;
		if (!known) {
			*ret_key = "unit_types";
			snprintf(msg, size, "item %zu: unknown unit type \"%s\"", i + 1,
				 cfg->unit_types.items[i]);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->units.n; i++) {
		if (strchr(cfg->units.items[i], '/')) {
			*ret_key = "units";
			snprintf(msg, size, "item %zu: a unit name has no '/'", i + 1);
			return -EINVAL;
		}
	}
	if (cfg->bus_address[0] && strncmp(cfg->bus_address, "unix:", 5) != 0) {
		*ret_key = "bus_address";
		snprintf(msg, size, "only unix: addresses (unix:path=SOCKET)");
		return -EINVAL;
	}
	if (cfg->journal_directory[0] && cfg->journal_directory[0] != '/') {
		*ret_key = "journal_directory";
		snprintf(msg, size, "must be an absolute path");
		return -EINVAL;
	}
	if (cfg->cursor_file[0] != '/') {
		*ret_key = "cursor_file";
		snprintf(msg, size, "must be an absolute path");
		return -EINVAL;
	}
	if (cfg->reconnect_initial_ms > cfg->reconnect_max_ms) {
		*ret_key = "reconnect_initial_ms";
		snprintf(msg, size, "above reconnect_max_ms (%u)", cfg->reconnect_max_ms);
		return -EINVAL;
	}
	return 0;
}

/* No capability beyond dropping privileges: the bus socket is world-writable, and the
 * journal files and the cursor file are opened during setup as uid 0 (their owner), before
 * the sandbox. */
const struct registry_entry collector_def_systemd = {
	.name = "systemd",
	.id_slot = 11,
	.setup_caps = REGISTRY_CAPS_SANDBOX,
	.read_paths = read_paths,
	.extra_syscalls = extra_syscalls,
	.bpf_map_read = 0,
	.enabled = false,
	.config_size = sizeof(struct config_systemd),
	.keys = keys,
	.n_keys = sizeof(keys) / sizeof(keys[0]),
	.comment = "unit state changes, restarts, failed jobs and journal entries of the\n"
		   "watched units, from the systemd manager (D-Bus) and sd-journal\n"
		   "(README: collectors/systemd/)",
	.check = check,
};
