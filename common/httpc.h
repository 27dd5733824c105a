/* SPDX-License-Identifier: Apache-2.0 */
/* An HTTPS client on the worker's event loop: libcurl's multi interface, its sockets and its
 * timer driven by worker_io_watch/worker_timer (no thread, no busy loop). Bearer token from a
 * file (re-read when the file changes: projected service-account tokens rotate), CA
 * verification always on, optional client certificate, per-request timeout, whole bodies with
 * a cap or streamed chunk by chunk. Used by the collectors that talk to Kubernetes APIs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct worker;
struct httpc;
struct httpc_req;

#define HTTPC_TOKEN_MAX	       (16u << 10) /* a longer token file is rejected */
#define HTTPC_BODY_MAX_DEFAULT (10u << 20) /* whole-body cap when the request sets none */

struct httpc_opts {
	const char *ca_file;	     /* PEM bundle to verify the server with; NULL = the system's */
	const char *token_file;	     /* bearer token, re-read when it changes; NULL = none */
	const char *cert_file;	     /* client certificate (PEM); NULL = none */
	const char *key_file;	     /* its key; NULL = in cert_file */
	bool allow_http;	     /* plain http:// URLs are refused unless this is set */
	uint32_t connect_timeout_ms; /* 0 = 10 s */
	/* Pinned addresses, "host:port:address" (curl's CURLOPT_RESOLVE), NULL-terminated or
	 * NULL. A name curl would resolve itself starts its resolver thread, which a sandboxed
	 * worker cannot: resolve names at setup and pin them here (IP literals and "localhost"
	 * need nothing). */
	const char *const *resolve;
};

/* What a request ended with. err: 0 when an HTTP response arrived (whatever its status), or
 * -errno: -ETIMEDOUT, -ECONNREFUSED, -EKEYREJECTED (the server's certificate did not verify),
 * -EPROTO (TLS or HTTP failure), -ECONNRESET (connection lost or response cut short),
 * -EMSGSIZE (body over the cap), or the error a chunk callback returned. error: one line of text
 * for the log (never the token). body/len: the whole body (whole-body mode), or in streaming mode
 * the body of a non-2xx answer (capped like a whole body; e.g. a Status object); NUL-terminated;
 * valid only during the callback. */
struct httpc_response {
	long status; /* HTTP status, 0 when none arrived */
	int err;
	const char *error;
	const char *body;
	size_t len;
};

/* Streaming: a piece of a 2xx body as it arrives. 0 to go on, -errno to abort the request
 * (the error is delivered to on_done). Must not call httpc functions. */
typedef int (*httpc_chunk_fn)(void *data, const char *buf, size_t len);
/* The request ended (always called exactly once, unless cancelled or the client freed first).
 * May start new requests; must not free the client. */
typedef void (*httpc_done_fn)(void *data, const struct httpc_response *resp);

struct httpc_request {
	const char *url;	 /* https://host:port/path?query */
	const char *accept;	 /* Accept header; NULL = none */
	uint32_t timeout_ms;	 /* whole request, 0 = none (a watch) */
	size_t max_body;	 /* whole-body cap; 0 = HTTPC_BODY_MAX_DEFAULT */
	httpc_chunk_fn on_chunk; /* NULL = whole-body mode */
	httpc_done_fn on_done;
	void *data;
};

struct httpc_stats {
	uint64_t requests;	/* started */
	uint64_t failures;	/* ended with err != 0 */
	uint64_t oversize;	/* bodies over their cap */
	uint64_t token_reloads; /* token file (re-)read */
	uint64_t bytes;		/* body bytes received */
};

/* A client on worker w's loop. Call curl's global init before the sandbox: httpc_new does.
 * The option strings are copied. 0, -EINVAL (bad options), -ENOMEM. */
int httpc_new(struct worker *w, const struct httpc_opts *opts, struct httpc **ret_client);
/* Cancel every request (no callbacks) and free the client; NULL is fine. */
void httpc_free(struct httpc *c);

/* Start a GET. -EPROTONOSUPPORT when the URL is neither https:// nor (with allow_http)
 * http://, -ENOKEY when the token file is unreadable, empty or too long (then
 * httpc_last_error says which and why), -EINVAL without url or on_done, -ENOMEM. On success
 * the result comes through on_done, never before httpc_get returns; ret_req (may be NULL)
 * identifies the request for httpc_cancel until then. */
int httpc_get(struct httpc *c, const struct httpc_request *req, struct httpc_req **ret_req);
const char *httpc_last_error(const struct httpc *c);
/* Abort a running request; its on_done is not called. Not from inside a callback of it. */
void httpc_cancel(struct httpc *c, struct httpc_req *req);

const struct httpc_stats *httpc_stats(const struct httpc *c);

/* The port of an https:// or http:// URL: the one it names, else 443 or 80. -EINVAL for another
 * scheme or a port that is no number in 1..65535. */
int httpc_url_port(const char *url, uint16_t *ret_port);
/* For httpc_opts.resolve: the URL's host name resolved now (setup, before the sandbox) and
 * written to pin (len bytes) as "host:port:address". IP literals and "localhost" need no pin:
 * pin is "". -EINVAL without "://"; -EHOSTUNREACH when the name does not resolve, and then pin
 * holds "<name>: <reason>" for the caller's log. */
int httpc_pin_host(const char *url, uint16_t port, char *pin, size_t len);
/* Requests running now. */
unsigned httpc_active(const struct httpc *c);
