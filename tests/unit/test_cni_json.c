// SPDX-License-Identifier: Apache-2.0
// The cni collector's JSON parsers: plugin results and errors as the reference plugins print
// them, and network configuration files, valid and broken.
#include <criterion/criterion.h>
#include <string.h>

#include "collectors/cni/cni_json.c"

static int parse_res(const char *s, struct cni_result *r)
{
	return cni_result_parse(s, strlen(s), r);
}

Test(cni_json, bridge_result_every_field)
{
	/* Printed by the bridge plugin (containernetworking-plugins 1.1.1), plus dns/routes. */
	static struct cni_result r;
	const char *s =
		"{\n \"cniVersion\": \"1.0.0\",\n \"interfaces\": [\n"
		"  {\"name\": \"tapsmk0\", \"mac\": \"7e:8d:15:1a:90:3a\"},\n"
		"  {\"name\": \"vethb2ac3bf7\", \"mac\": \"2e:2c:10:d3:99:d3\"},\n"
		"  {\"name\": \"eth0\", \"mac\": \"e2:8a:bb:8e:6f:95\", \"sandbox\": "
		"\"/var/run/netns/tapsmk\"}],\n"
		" \"ips\": [{\"interface\": 2, \"address\": \"10.251.77.2/24\", \"gateway\": "
		"\"10.251.77.1\"}],\n"
		" \"routes\": [{\"dst\": \"0.0.0.0/0\", \"gw\": \"10.251.77.1\"}, {\"dst\": "
		"\"10.0.0.0/8\"}],\n"
		" \"dns\": {\"nameservers\": [\"10.96.0.10\"], \"domain\": \"cluster.local\", "
		"\"search\": [\"a.svc\", \"b.svc\"]}\n}\n";
	cr_assert_eq(parse_res(s, &r), 0);
	cr_assert_not(r.is_error);
	cr_assert_str_eq(r.cni_version, "1.0.0");
	cr_assert_eq(r.n_ifaces, 3);
	cr_assert_str_eq(r.ifaces[1].name, "vethb2ac3bf7");
	cr_assert_str_eq(r.ifaces[2].mac, "e2:8a:bb:8e:6f:95");
	cr_assert_str_eq(r.ifaces[2].sandbox, "/var/run/netns/tapsmk");
	cr_assert_str_eq(r.ifaces[0].sandbox, "");
	cr_assert_eq(r.n_ips, 1);
	cr_assert_str_eq(r.ips[0].address, "10.251.77.2/24");
	cr_assert_str_eq(r.ips[0].gateway, "10.251.77.1");
	cr_assert_eq(r.ips[0].interface, 2);
	cr_assert_eq(r.n_routes, 2);
	cr_assert_str_eq(r.routes[0].gw, "10.251.77.1");
	cr_assert_str_eq(r.routes[1].dst, "10.0.0.0/8");
	cr_assert_str_eq(r.routes[1].gw, "");
	cr_assert_eq(r.n_nameservers, 1);
	cr_assert_str_eq(r.nameservers[0], "10.96.0.10");
	cr_assert_str_eq(r.domain, "cluster.local");
	cr_assert_eq(r.n_search, 2);
	cr_assert_str_eq(r.search[1], "b.svc");
	cr_assert_not(r.truncated);
}

Test(cni_json, error_object)
{
	static struct cni_result r;
	cr_assert_eq(
		parse_res("{\"code\": 999, \"msg\": \"invalid CIDR address: 10.1.300.0/24\"}", &r),
		0);
	cr_assert(r.is_error);
	cr_assert_eq(r.code, 999);
	cr_assert_str_eq(r.msg, "invalid CIDR address: 10.1.300.0/24");
	cr_assert_eq(
		parse_res("{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"m\",\"details\":\"d\"}",
			  &r),
		0);
	cr_assert_eq(r.code, 7);
	cr_assert_str_eq(r.details, "d");
	cr_assert_eq(parse_res("{\"code\": -3, \"msg\": \"x\"}", &r), 0);
	cr_assert_eq(r.code, 0, "out-of-range code becomes 0");
}

Test(cni_json, rejects_what_is_no_result)
{
	static struct cni_result r;
	const char *bad[] = {"",	"not json",	      "[1,2]",
			     "{}",	"{\"a\":1}",	      "{\"ips\":[]} trailing",
			     "\"str\"", "{\"interfaces\": 3", "null"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_res(bad[i], &r), -EINVAL, "accepted: %s", bad[i]);
	/* Not NUL-terminated: the length bounds the parse. */
	const char buf[] = {'{', '"', 'i', 'p', 's', '"', ':', '[', ']', '}', 'x'};
	cr_assert_eq(cni_result_parse(buf, 10, &r), 0);
	cr_assert_eq(cni_result_parse(buf, 11, &r), -EINVAL);
}

Test(cni_json, bounds_hold)
{
	static struct cni_result r;
	char s[8192];
	size_t n = (size_t)snprintf(s, sizeof(s), "{\"ips\":[");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s{\"address\":\"10.0.0.%d/24\"}",
				      i ? "," : "", i);
	n += (size_t)snprintf(s + n, sizeof(s) - n, "],\"dns\":{\"domain\":\"");
	for (int i = 0; i < 600; i++)
		s[n++] = 'a';
	snprintf(s + n, sizeof(s) - n, "\"}}");
	cr_assert_eq(parse_res(s, &r), 0);
	cr_assert_eq(r.n_ips, CNI_RES_IPS);
	cr_assert(r.truncated);
	cr_assert_eq(strlen(r.domain), sizeof(r.domain) - 1);
	/* Nesting beyond the depth limit is refused. */
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	cr_assert_eq(cni_result_parse(deep, sizeof(deep), &r), -EINVAL);
}

Test(cni_json, conf_valid_and_broken)
{
	static struct cni_conf c;
	const char *list = "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s\",\"plugins\":[{\"type\":"
			   "\"bridge\"},{\"type\":\"portmap\",\"capabilities\":{}}]}";
	cr_assert_eq(cni_conf_parse(list, strlen(list), true, &c), 0);
	cr_assert_str_eq(c.name, "k8s");
	cr_assert_str_eq(c.cni_version, "1.0.0");
	cr_assert_eq(c.n_plugins, 2);
	cr_assert_str_eq(c.plugins[1], "portmap");
	cr_assert_str_eq(c.error, "");
	const char *one = "{\"cniVersion\":\"0.4.0\",\"name\":\"n\",\"type\":\"loopback\"}";
	cr_assert_eq(cni_conf_parse(one, strlen(one), false, &c), 0);
	cr_assert_eq(c.n_plugins, 1);
	cr_assert_str_eq(c.plugins[0], "loopback");

	struct {
		const char *text;
		bool list;
		const char *error;
	} bad[] = {
		{"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",", true, "not a JSON object"},
		{"{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"a\"}]}", true,
		 "missing \"name\""},
		{"{\"name\":\"x\",\"plugins\":[{\"type\":\"a\"}]}", true, "missing \"cniVersion\""},
		{"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[]}", true,
		 "\"plugins\" is missing or empty"},
		{"{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"a\"},{}]}",
		 true, "plugin 1 has no \"type\""},
		{"{\"cniVersion\":\"1.0.0\",\"name\":\"x\"}", false, "missing \"type\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(cni_conf_parse(bad[i].text, strlen(bad[i].text), bad[i].list, &c),
			     -EINVAL, "accepted: %s", bad[i].text);
		cr_assert_str_eq(c.error, bad[i].error);
	}
}
