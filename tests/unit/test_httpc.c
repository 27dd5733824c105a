// SPDX-License-Identifier: Apache-2.0
// httpc against a real local HTTPS server (tests/helpers/https-env.sh: a CA made with the
// openssl CLI, python3's ssl server) on a bare worker loop: token, CA verification, caps,
// streaming, timeouts, token rotation, client certificates, cancellation.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "worker.h"

static char dir[PATH_MAX];
static int port;
static struct worker *loop;

static const char *src_dir(void)
{
	static char d[PATH_MAX];
	char probe[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", d, sizeof(d) - 1);
	cr_assert_gt(n, 0);
	d[n] = '\0';
	for (int i = 0; i < 5; i++) {
		snprintf(d, sizeof(d), "%s", dirname(d));
		snprintf(probe, sizeof(probe), "%s/tests/helpers/https-env.sh", d);
		if (access(probe, X_OK) == 0)
			return d;
	}
	cr_assert_fail("cannot find tests/helpers/https-env.sh above the test binary");
	return NULL;
}

static void env_start(const char *extra)
{
	snprintf(dir, sizeof(dir), "/tmp/tapio-httpc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	char cmd[PATH_MAX * 2 + 64];
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/https-env.sh start %s %s", src_dir(), dir,
		 extra);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%d", &port), 1, "https-env.sh start printed no port");
	cr_assert_eq(pclose(p), 0);
	cr_assert_eq(worker_loop_new(&loop), 0);
}

static void setup(void)
{
	env_start("");
}

static void teardown(void)
{
	if (!loop)
		return;
	char cmd[PATH_MAX * 2 + 64];
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/https-env.sh stop %s; rm -rf %s", src_dir(),
		 dir, dir);
	cr_expect_eq(system(cmd), 0);
	worker_loop_free(loop);
	loop = NULL;
}

static void setup_client_ca(void)
{
	teardown(); /* the suite's .init ran first: replace its server */
	env_start("--client-ca");
}

static char *path_in(const char *name)
{
	static char p[4][PATH_MAX + 64];
	static int i;
	char *s = p[i++ % 4];
	snprintf(s, PATH_MAX + 64, "%s/%s", dir, name);
	return s;
}

static void write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(rename(tmp, path), 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct result {
	bool done;
	long status;
	int err;
	char error[512];
	char *body;
	size_t len;
	int chunks;
	char streamed[4096];
	size_t streamed_len;
	uint64_t first_chunk_ms, done_ms;
};

static void on_done(void *data, const struct httpc_response *r)
{
	struct result *res = data;
	cr_assert(!res->done, "on_done called twice");
	res->done = true;
	res->status = r->status;
	res->err = r->err;
	snprintf(res->error, sizeof(res->error), "%s", r->error ? r->error : "");
	res->body = malloc(r->len + 1);
	memcpy(res->body, r->body, r->len);
	res->body[r->len] = '\0';
	res->len = r->len;
	res->done_ms = now_ms();
}

static int on_chunk(void *data, const char *buf, size_t len)
{
	struct result *res = data;
	if (res->chunks++ == 0)
		res->first_chunk_ms = now_ms();
	cr_assert_lt(res->streamed_len + len, sizeof(res->streamed));
	memcpy(res->streamed + res->streamed_len, buf, len);
	res->streamed_len += len;
	return 0;
}

static int on_chunk_refuse(void *data, const char *buf, size_t len)
{
	((struct result *)data)->chunks++;
	return -EBADMSG;
}

static void run_until(struct result *res, int max_ms)
{
	uint64_t t0 = now_ms();
	while (!res->done && now_ms() - t0 < (uint64_t)max_ms)
		cr_assert_geq(worker_loop_run_once(loop, 100), 0);
	cr_assert(res->done, "no answer within %d ms", max_ms);
}

static struct httpc *client(const char *ca, bool token)
{
	struct httpc_opts o = {
		.ca_file = ca ? path_in(ca) : NULL,
		.token_file = token ? path_in("token") : NULL,
	};
	struct httpc *c;
	cr_assert_eq(httpc_new(loop, &o, &c), 0);
	return c;
}

static void get(struct httpc *c, const char *path, struct result *res, uint32_t timeout_ms,
		size_t max_body, httpc_chunk_fn chunk)
{
	char url[256];
	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
	struct httpc_request q = {.url = url,
				  .accept = "application/json",
				  .timeout_ms = timeout_ms,
				  .max_body = max_body,
				  .on_chunk = chunk,
				  .on_done = on_done,
				  .data = res};
	cr_assert_eq(httpc_get(c, &q, NULL), 0, "%s", httpc_last_error(c));
}

TestSuite(httpc, .init = setup, .fini = teardown, .timeout = 60);

Test(httpc, whole_body_with_token_and_ca)
{
	write_file(path_in("root/pods.json"), "{\"kind\":\"PodList\",\"items\":[]}");
	struct httpc *c = client("ca.crt", true);
	struct result res = {0};
	get(c, "/pods", &res, 5000, 0, NULL);
	cr_expect_eq(httpc_active(c), 1);
	run_until(&res, 5000);
	cr_expect_eq(res.err, 0, "%s", res.error);
	cr_expect_eq(res.status, 200);
	cr_expect_str_eq(res.body, "{\"kind\":\"PodList\",\"items\":[]}");
	cr_expect_eq(httpc_active(c), 0);

	/* what the server saw: exactly our token */
	struct result who = {0};
	get(c, "/whoami", &who, 5000, 0, NULL);
	run_until(&who, 5000);
	char want[512];
	FILE *f = fopen(path_in("token"), "r");
	char tok[256] = "";
	cr_assert_not_null(fgets(tok, sizeof(tok), f));
	fclose(f);
	snprintf(want, sizeof(want), "{\"authorization\": \"Bearer %s\"}", tok);
	cr_expect_str_eq(who.body, want);
	const struct httpc_stats *st = httpc_stats(c);
	cr_expect_eq(st->requests, 2);
	cr_expect_eq(st->failures, 0);
	cr_expect_eq(st->token_reloads, 1, "an unchanged token file is read once");
	free(res.body);
	free(who.body);
	httpc_free(c);
}

Test(httpc, status_codes_are_answers_not_errors)
{
	struct httpc *c = client("ca.crt", false);
	struct result res = {0};
	get(c, "/pods", &res, 5000, 0, NULL); /* no token: the server says 401 */
	run_until(&res, 5000);
	cr_expect_eq(res.err, 0);
	cr_expect_eq(res.status, 401);
	cr_expect(strstr(res.body, "\"reason\": \"Unauthorized\"") != NULL, "%s", res.body);
	free(res.body);
	httpc_free(c);
}

Test(httpc, refuses_a_server_the_ca_did_not_sign)
{
	struct httpc *c = client("other-ca.crt", true);
	struct result res = {0};
	get(c, "/healthz", &res, 5000, 0, NULL);
	run_until(&res, 5000);
	cr_expect_eq(res.err, -EKEYREJECTED, "err %d: %s", res.err, res.error);
	cr_expect_eq(res.status, 0);
	cr_expect_neq(res.error[0], '\0');
	cr_expect_eq(httpc_stats(c)->failures, 1);
	free(res.body);
	httpc_free(c);
}

Test(httpc, plain_http_only_when_allowed)
{
	struct httpc *c = client("ca.crt", true);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	struct result res = {0};
	struct httpc_request q = {.url = url, .on_done = on_done, .data = &res};
	cr_expect_eq(httpc_get(c, &q, NULL), -EPROTONOSUPPORT);
	q.url = "ftp://127.0.0.1/x";
	cr_expect_eq(httpc_get(c, &q, NULL), -EPROTONOSUPPORT);
	httpc_free(c);

	struct httpc_opts o = {.allow_http = true};
	cr_assert_eq(httpc_new(loop, &o, &c), 0);
	q.url = url;
	cr_expect_eq(httpc_get(c, &q, NULL), 0);
	run_until(&res, 5000);
	/* plain HTTP to a TLS port: an answer that is not HTTP, but the request was made */
	cr_expect_neq(res.err, -EPROTONOSUPPORT);
	free(res.body);
	httpc_free(c);
}

Test(httpc, body_caps_reject_and_count)
{
	struct httpc *c = client("ca.crt", true);
	struct result a = {0}, b = {0}, big = {0}, fits = {0};
	get(c, "/bytes/2000", &a, 5000, 1000, NULL);	   /* Content-Length over the cap */
	get(c, "/chunked/2000", &b, 5000, 1000, NULL);	   /* no length: stopped while reading */
	get(c, "/chunked/10485761", &big, 20000, 0, NULL); /* 10 MiB + 1 against the default */
	get(c, "/bytes/1000", &fits, 5000, 1000, NULL);
	run_until(&a, 5000);
	run_until(&b, 5000);
	run_until(&fits, 5000);
	run_until(&big, 20000);
	cr_expect_eq(a.err, -EMSGSIZE, "%d %s", a.err, a.error);
	cr_expect_eq(b.err, -EMSGSIZE, "%d %s", b.err, b.error);
	cr_expect_eq(big.err, -EMSGSIZE, "%d %s", big.err, big.error);
	cr_expect_leq(big.len, HTTPC_BODY_MAX_DEFAULT);
	cr_expect_eq(fits.err, 0);
	cr_expect_eq(fits.len, 1000);
	cr_expect_eq(httpc_stats(c)->oversize, 3);
	cr_expect_eq(httpc_stats(c)->failures, 3);
	free(a.body);
	free(b.body);
	free(big.body);
	free(fits.body);
	httpc_free(c);
}

Test(httpc, streams_chunks_as_they_arrive)
{
	struct httpc *c = client("ca.crt", true);
	struct result res = {0};
	get(c, "/stream", &res, 0, 0, on_chunk);
	run_until(&res, 5000);
	cr_expect_eq(res.err, 0, "%s", res.error);
	cr_expect_eq(res.status, 200);
	res.streamed[res.streamed_len] = '\0';
	cr_expect_str_eq(res.streamed, "{\"type\": \"ADDED\", \"n\": 1}\n"
				       "{\"type\": \"ADDED\", \"n\": 2}\n"
				       "{\"type\": \"ADDED\", \"n\": 3}\n");
	cr_expect_geq(res.chunks, 3, "three writes 100 ms apart: %d chunks", res.chunks);
	cr_expect_geq(res.done_ms - res.first_chunk_ms, 150, "the first chunk came early");
	cr_expect_eq(res.len, 0, "a streamed body is not collected");
	free(res.body);

	/* a non-2xx answer to a streaming request comes whole, in on_done */
	struct result st = {0};
	get(c, "/status/410", &st, 5000, 0, on_chunk);
	run_until(&st, 5000);
	cr_expect_eq(st.chunks, 0);
	cr_expect_eq(st.status, 410);
	cr_expect(strstr(st.body, "\"code\": 410") != NULL, "%s", st.body);
	free(st.body);

	/* the reader may stop a stream */
	struct result stop = {0};
	get(c, "/stream", &stop, 0, 0, on_chunk_refuse);
	run_until(&stop, 5000);
	cr_expect_eq(stop.err, -EBADMSG);
	cr_expect_eq(stop.chunks, 1);
	free(stop.body);
	httpc_free(c);
}

Test(httpc, times_out_a_stalled_server)
{
	write_file(path_in("root/.mode"), "stall");
	struct httpc *c = client("ca.crt", true);
	struct result res = {0};
	uint64_t t0 = now_ms();
	get(c, "/pods", &res, 300, 0, NULL);
	run_until(&res, 5000);
	uint64_t took = now_ms() - t0;
	cr_expect_eq(res.err, -ETIMEDOUT, "%d %s", res.err, res.error);
	cr_expect_geq(took, 290);
	cr_expect_lt(took, 2000, "took %llu ms", (unsigned long long)took);
	free(res.body);
	httpc_free(c);
}

Test(httpc, server_errors_and_cut_bodies)
{
	write_file(path_in("root/pods.json"), "{\"kind\":\"PodList\",\"items\":[]}");
	struct httpc *c = client("ca.crt", true);
	write_file(path_in("root/.mode"), "500");
	struct result e = {0};
	get(c, "/pods", &e, 5000, 0, NULL);
	run_until(&e, 5000);
	cr_expect_eq(e.err, 0);
	cr_expect_eq(e.status, 500);
	write_file(path_in("root/.mode"), "truncated");
	struct result t = {0};
	get(c, "/pods", &t, 5000, 0, NULL);
	run_until(&t, 5000);
	cr_expect_eq(t.err, -ECONNRESET, "%d %s", t.err, t.error);
	free(e.body);
	free(t.body);
	httpc_free(c);
}

Test(httpc, rereads_a_rotated_token)
{
	struct httpc *c = client("ca.crt", true);
	struct result a = {0};
	get(c, "/healthz", &a, 5000, 0, NULL);
	run_until(&a, 5000);
	cr_expect_eq(a.status, 200);
	/* rotate: a new file renamed over the old (as the kubelet's atomic writer does) */
	write_file(path_in("token"), "rotated-token-2\n");
	struct result b = {0}, who = {0};
	get(c, "/healthz", &b, 5000, 0, NULL);
	run_until(&b, 5000);
	cr_expect_eq(b.status, 200, "the server wants the new token");
	get(c, "/whoami", &who, 5000, 0, NULL);
	run_until(&who, 5000);
	cr_expect_str_eq(who.body, "{\"authorization\": \"Bearer rotated-token-2\"}");
	cr_expect_eq(httpc_stats(c)->token_reloads, 2);

	/* gone or empty: the request is refused before it is made, with the reason */
	write_file(path_in("token"), "\n");
	struct result x = {0};
	struct httpc_request q = {.url = "https://127.0.0.1:1/", .on_done = on_done, .data = &x};
	cr_expect_eq(httpc_get(c, &q, NULL), -ENOKEY);
	cr_expect(strstr(httpc_last_error(c), "empty") != NULL, "%s", httpc_last_error(c));
	unlink(path_in("token"));
	cr_expect_eq(httpc_get(c, &q, NULL), -ENOKEY);
	cr_expect(strstr(httpc_last_error(c), "No such file") != NULL, "%s", httpc_last_error(c));
	cr_expect(!x.done);
	free(a.body);
	free(b.body);
	free(who.body);
	httpc_free(c);
}

Test(httpc, cancel_calls_nothing)
{
	write_file(path_in("root/.mode"), "stall");
	struct httpc *c = client("ca.crt", true);
	struct result res = {0};
	char url[128];
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/pods", port);
	struct httpc_request q = {.url = url, .on_done = on_done, .data = &res};
	struct httpc_req *r;
	cr_assert_eq(httpc_get(c, &q, &r), 0);
	for (int i = 0; i < 5; i++)
		worker_loop_run_once(loop, 50);
	httpc_cancel(c, r);
	cr_expect_eq(httpc_active(c), 0);
	for (int i = 0; i < 5; i++)
		worker_loop_run_once(loop, 50);
	cr_expect(!res.done);
	httpc_free(c);
}

Test(httpc, client_certificate, .init = setup_client_ca)
{
	struct httpc *c = client("ca.crt", true);
	struct result no = {0};
	get(c, "/healthz", &no, 5000, 0, NULL);
	run_until(&no, 5000);
	cr_expect_neq(no.err, 0, "the server requires a client certificate");
	httpc_free(c);

	struct httpc_opts o = {.ca_file = path_in("ca.crt"),
			       .token_file = path_in("token"),
			       .cert_file = path_in("client.crt"),
			       .key_file = path_in("client.key")};
	cr_assert_eq(httpc_new(loop, &o, &c), 0);
	struct result yes = {0};
	get(c, "/healthz", &yes, 5000, 0, NULL);
	run_until(&yes, 5000);
	cr_expect_eq(yes.err, 0, "%s", yes.error);
	cr_expect_eq(yes.status, 200);
	cr_expect_str_eq(yes.body, "ok");
	free(no.body);
	free(yes.body);
	httpc_free(c);

	struct httpc_opts bad = {.key_file = path_in("client.key")};
	cr_expect_eq(httpc_new(loop, &bad, &c), -EINVAL, "a key without a certificate");
}

Test(httpc, pinned_name_resolves_without_a_resolver)
{
	char pin[64], url[128];
	snprintf(pin, sizeof(pin), "kubelet.test:%d:127.0.0.1", port);
	const char *const resolve[] = {pin, NULL};
	struct httpc_opts o = {
		.ca_file = path_in("ca.crt"), .token_file = path_in("token"), .resolve = resolve};
	struct httpc *c;
	cr_assert_eq(httpc_new(loop, &o, &c), 0);
	snprintf(url, sizeof(url), "https://kubelet.test:%d/healthz", port);
	struct result res = {0};
	struct httpc_request q = {.url = url, .timeout_ms = 5000, .on_done = on_done, .data = &res};
	cr_assert_eq(httpc_get(c, &q, NULL), 0);
	run_until(&res, 5000);
	cr_expect_eq(res.err, 0, "%s", res.error);
	cr_expect_eq(res.status, 200);
	cr_expect_str_eq(res.body, "ok");
	free(res.body);
	httpc_free(c);
}

/* ---- URL port and host pin (no server: a suite of their own) ---- */

Test(httpc_url, port_named_or_the_schemes)
{
	static const struct {
		const char *url;
		int r;
		uint16_t port;
	} cases[] = {
		{"https://api.example:6443/x", 0, 6443},
		{"https://api.example/x?y", 0, 443},
		{"http://127.0.0.1:10255", 0, 10255},
		{"http://127.0.0.1/healthz", 0, 80},
		{"https://[::1]:10250/pods", 0, 10250},
		{"https://[::1]/pods", 0, 443},
		{"https://[::1", -EINVAL, 0},
		{"https://host:0/", -EINVAL, 0},
		{"https://host:65536", -EINVAL, 0},
		{"https://host:12x/", -EINVAL, 0},
		{"ftp://host:21/", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t got = 0;
		cr_expect_eq(httpc_url_port(cases[i].url, &got), cases[i].r, "%s", cases[i].url);
		cr_expect_eq(got, cases[i].port, "%s", cases[i].url);
	}
}

Test(httpc_url, pins_names_not_literals)
{
	char pin[400];
	cr_expect_eq(httpc_pin_host("https://127.0.0.1:6443/", 6443, pin, sizeof(pin)), 0);
	cr_expect_str_eq(pin, "", "an IPv4 literal needs no pin");
	cr_expect_eq(httpc_pin_host("https://[::1]:6443/", 6443, pin, sizeof(pin)), 0);
	cr_expect_str_eq(pin, "", "nor an IPv6 literal");
	cr_expect_eq(httpc_pin_host("https://LocalHost/", 443, pin, sizeof(pin)), 0);
	cr_expect_str_eq(pin, "", "nor localhost");
	cr_expect_eq(httpc_pin_host("no scheme", 443, pin, sizeof(pin)), -EINVAL);

	int r = httpc_pin_host("https://tapio.invalid:1/", 1, pin, sizeof(pin));
	cr_expect_eq(r, -EHOSTUNREACH);
	cr_expect_eq(strncmp(pin, "tapio.invalid: ", 15), 0, "the reason, named: %s", pin);

	/* A name of /etc/hosts (not localhost, which is not pinned) resolves: the first one
	 * there, so the test does not depend on the machine's hostname being listed. */
	char host[256] = "", url[300], prefix[300], line[512];
	FILE *hf = fopen("/etc/hosts", "r");
	while (hf && !host[0] && fgets(line, sizeof(line), hf)) {
		line[strcspn(line, "#")] = '\0';
		char *save = NULL, *tok = strtok_r(line, " \t\n", &save); /* the address */
		while (tok && (tok = strtok_r(NULL, " \t\n", &save)))
			if (strcasecmp(tok, "localhost") != 0 && strlen(tok) < sizeof(host)) {
				snprintf(host, sizeof(host), "%s", tok);
				break;
			}
	}
	if (hf)
		fclose(hf);
	if (!host[0])
		cr_skip_test("/etc/hosts names nothing but localhost");
	snprintf(url, sizeof(url), "https://%s:8443/x", host);
	int n = snprintf(prefix, sizeof(prefix), "%s:8443:", host);
	cr_assert_eq(httpc_pin_host(url, 8443, pin, sizeof(pin)), 0, "%s", pin);
	cr_assert_eq(strncmp(pin, prefix, (size_t)n), 0, "%s", pin);
	const char *addr = pin + n;
	unsigned char buf[16];
	char a6[64];
	if (addr[0] == '[') {
		snprintf(a6, sizeof(a6), "%.*s", (int)strcspn(addr + 1, "]"), addr + 1);
		cr_expect_eq(inet_pton(AF_INET6, a6, buf), 1, "%s", pin);
	} else {
		cr_expect_eq(inet_pton(AF_INET, addr, buf), 1, "%s", pin);
	}
}
