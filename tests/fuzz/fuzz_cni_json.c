// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the cni collector's JSON parsers: a plugin's result/error (stdout)
// and a network configuration file. Any bytes must parse or be rejected; every output string
// must be terminated within its bound and every count within its array.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/cni/cni_json.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t size)
{
	if (strnlen(s, size) >= size)
		abort();
}

#define CHECK(field) check_str((field), sizeof(field))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cni_result r;
	if (cni_result_parse((const char *)data, size, &r) == 0) {
		if (r.n_ifaces > CNI_RES_IFACES || r.n_ips > CNI_RES_IPS ||
		    r.n_routes > CNI_RES_ROUTES || r.n_nameservers > CNI_RES_DNS ||
		    r.n_search > CNI_RES_DNS)
			abort();
		CHECK(r.cni_version);
		CHECK(r.msg);
		CHECK(r.details);
		CHECK(r.domain);
		for (size_t i = 0; i < r.n_ifaces; i++) {
			CHECK(r.ifaces[i].name);
			CHECK(r.ifaces[i].mac);
			CHECK(r.ifaces[i].sandbox);
		}
		for (size_t i = 0; i < r.n_ips; i++) {
			CHECK(r.ips[i].address);
			CHECK(r.ips[i].gateway);
			if (r.ips[i].interface < -1 || r.ips[i].interface >= CNI_RES_IFACES)
				abort();
		}
		for (size_t i = 0; i < r.n_routes; i++) {
			CHECK(r.routes[i].dst);
			CHECK(r.routes[i].gw);
		}
	}
	static struct cni_conf c;
	for (int list = 0; list < 2; list++) {
		int ret = cni_conf_parse((const char *)data, size, list, &c);
		CHECK(c.name);
		CHECK(c.cni_version);
		CHECK(c.error);
		if (c.n_plugins > CNI_CONF_PLUGINS || (ret == 0) != (c.error[0] == '\0'))
			abort();
		for (size_t i = 0; i < c.n_plugins; i++)
			CHECK(c.plugins[i]);
	}
	return 0;
}
