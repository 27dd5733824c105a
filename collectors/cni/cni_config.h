/* SPDX-License-Identifier: Apache-2.0 */
/* The CNI collector's config section, collectors.cni.
 * Keys, defaults and ranges: cni_def.c. */
#pragma once
#include "config.h"

#define CNI_DEFAULT_PLUGIN_DIRS                                                                    \
	{                                                                                          \
		"/opt/cni/bin", "/usr/lib/cni"                                                     \
	}

struct config_cni {
	struct config_collector_common common;
	uint32_t ring_buffer_kib;
	enum config_hooks hooks;
	struct config_string_list plugin_dirs; /* empty = CNI_DEFAULT_PLUGIN_DIRS */
	char *netns_dir;		       /* owned: named namespaces (ip netns) */
	char *ipam_dir;			       /* owned: host-local state, "" = off */
	char *config_dir;		       /* owned: network configs, "" = off */
	bool capture_output;		       /* plugin stdout/stderr from write() */
	uint32_t result_capture_bytes;	       /* per plugin process, stdout + stderr */
	uint32_t env_max_bytes;		       /* environment copied in the kernel */
	uint32_t pending_max;		       /* plugin calls followed at once */
	bool rtnetlink;			       /* net.link / net.addr */
	uint32_t leak_grace_s;		       /* cni.ipam_leak after this, 0 = off */
};
