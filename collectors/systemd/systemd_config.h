/* SPDX-License-Identifier: Apache-2.0 */
/* The systemd collector's config section, collectors.systemd.
 * Keys, defaults and ranges: systemd_def.c. */
#pragma once
#include "config.h"

/* Journal priorities, as syslog numbers them (0 emerg .. 7 debug). */
enum config_systemd_priority {
	CONFIG_SYSTEMD_PRIO_EMERG = 0,
	CONFIG_SYSTEMD_PRIO_ALERT,
	CONFIG_SYSTEMD_PRIO_CRIT,
	CONFIG_SYSTEMD_PRIO_ERR,
	CONFIG_SYSTEMD_PRIO_WARNING,
	CONFIG_SYSTEMD_PRIO_NOTICE,
	CONFIG_SYSTEMD_PRIO_INFO,
	CONFIG_SYSTEMD_PRIO_DEBUG,
};

struct config_systemd {
	struct config_collector_common common;
	struct config_string_list units;      /* names; [] = kubelet, containerd, crio, docker */
	struct config_string_list globs;      /* fnmatch patterns of unit names */
	struct config_string_list unit_types; /* [] = service socket timer mount */
	bool watch_failed;		      /* also every unit that enters failed */
	char *bus_address;		      /* owned; "" = the system bus */
	uint32_t rpc_timeout_ms;	      /* every D-Bus call */
	uint32_t reconnect_initial_ms;	      /* bus lost: first retry, doubling ... */
	uint32_t reconnect_max_ms;	      /* ... up to this */
	uint32_t restart_loop_count;	      /* more restarts than this ... */
	uint32_t restart_loop_window_s;	      /* ... within this → systemd.unit_restart_loop */
	uint32_t max_units;		      /* units remembered */
	bool journal;			      /* read the journal */
	char *journal_directory;	      /* owned; "" = the system journal */
	enum config_systemd_priority journal_priority; /* this and more urgent */
	char *cursor_file;			       /* owned */
	uint32_t message_max;			       /* bytes of MESSAGE kept */
	uint32_t journal_rate_per_s;		       /* entries per unit per second */
	uint32_t journal_burst;			       /* and in a burst */
	/* A unit's lines below journal_priority around its failure (context: true). */
	uint32_t context_before_ms;
	uint32_t context_after_ms;
	uint32_t context_max_lines; /* per failure; 0 = none */
};
