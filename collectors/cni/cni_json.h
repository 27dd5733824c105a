/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of CNI JSON from outside: a plugin's result or error (its stdout) and a network
 * configuration file (.conf / .conflist). Bounded: fixed-size output, values cut to fit,
 * nesting depth limited. No allocation survives a call. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CNI_RES_IFACES	 8
#define CNI_RES_IPS	 16
#define CNI_RES_ROUTES	 16
#define CNI_RES_DNS	 8
#define CNI_CONF_PLUGINS 16

struct cni_result {
	bool is_error; /* an error object ("code"/"msg") rather than a result */
	char cni_version[16];
	uint32_t code;
	char msg[512];
	char details[512];
	size_t n_ifaces;
	struct {
		char name[32];
		char mac[32];
		char sandbox[256];
	} ifaces[CNI_RES_IFACES];
	size_t n_ips;
	struct {
		char address[64];
		char gateway[64];
		int interface; /* index into ifaces, -1 when absent */
	} ips[CNI_RES_IPS];
	size_t n_routes;
	struct {
		char dst[64];
		char gw[64];
	} routes[CNI_RES_ROUTES];
	size_t n_nameservers;
	char nameservers[CNI_RES_DNS][64];
	char domain[256];
	size_t n_search;
	char search[CNI_RES_DNS][256];
	bool truncated; /* more entries than the arrays hold, or a value cut */
};

/* Parse buf[0..len) (need not be NUL-terminated) as a CNI result (0.3.0 and later) or error
 * object into *ret (zeroed first). 0, or -EINVAL when it is not JSON, not an object, or
 * neither a result nor an error. */
int cni_result_parse(const char *buf, size_t len, struct cni_result *ret);

struct cni_conf {
	char name[128];
	char cni_version[16];
	size_t n_plugins;
	char plugins[CNI_CONF_PLUGINS][64]; /* plugin "type"s in chain order */
	char error[256];		    /* why the file is invalid, "" when valid */
};

/* Parse a network configuration: a list (.conflist: "plugins") when is_list, else a single
 * plugin config. Fills *ret as far as it gets; 0 when valid, -EINVAL with ret->error set
 * when not. */
int cni_conf_parse(const char *buf, size_t len, bool is_list, struct cni_conf *ret);
