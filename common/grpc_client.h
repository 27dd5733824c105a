/* SPDX-License-Identifier: Apache-2.0 */
/* A small gRPC client over HTTP/2 (nghttp2) and protobuf-c, shared by the collectors that talk
 * to a gRPC server (CRI runtimes on a unix socket, etcd over TCP): unary calls with a deadline,
 * and one long-lived bidirectional stream (a watch) whose messages arrive while the worker
 * loop pumps the socket. Only read(2)/write(2) touch the socket after connect, so a sandboxed
 * worker (no socket()/connect()/poll()) keeps using a client it opened during setup.
 * Not thread-safe. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GRPC_MSG_MAX (16u << 20) /* the largest message we accept (gRPC's default is 4 MiB) */
#define GRPC_ERR_LEN 256

/* gRPC status codes we name (grpc/status.h). */
enum {
	GRPC_OK = 0,
	GRPC_NOT_FOUND = 5,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

struct grpc_client;

/* TLS (OpenSSL, TLS 1.2+, ALPN h2): the server's certificate is verified against ca_file
 * (NULL/"" = the system store) and the name (server_name, else the host connected to);
 * cert_file/key_file (PEM) are the client certificate, NULL/"" = none. */
struct grpc_tls {
	const char *ca_file, *cert_file, *key_file, *server_name;
};

/* Connect to a unix socket / to host:port over TCP (with TLS when tls is not NULL), and start
 * the HTTP/2 session. timeout_ms bounds the connect, the handshake and every later call.
 * -errno on failure (-ENOENT: no socket there; -EKEYREJECTED: the TLS handshake failed, or
 * the certificate files could not be used: grpc_client_connect_error says why). */
int grpc_client_connect_unix(const char *path, uint32_t timeout_ms, struct grpc_client **ret);
int grpc_client_connect_tcp(const char *host, const char *port, uint32_t timeout_ms,
			    const struct grpc_tls *tls, struct grpc_client **ret);
/* Why the last connect of this thread failed, beyond its errno ("" when nothing more). */
const char *grpc_client_connect_error(void);
/* The two halves of grpc_client_connect_tcp, for a client that reconnects from inside a
 * sandbox: new_tcp resolves host:port and reads the TLS files (returns an unconnected client;
 * -errno when the name does not resolve or a file is unusable); reconnect drops any session
 * and connects again to those addresses with that TLS context, keeping the extra headers —
 * only socket(2), connect(2), setsockopt(2), read(2) and write(2). 0 or -errno as above
 * (grpc_client_connect_error says why). A stream open before is gone. */
int grpc_client_new_tcp(const char *host, const char *port, uint32_t timeout_ms,
			const struct grpc_tls *tls, struct grpc_client **ret);
int grpc_client_reconnect(struct grpc_client *c);
/* Connected, and the session has not ended. */
bool grpc_client_connected(const struct grpc_client *c);
void grpc_client_free(struct grpc_client *c);
int grpc_client_fd(const struct grpc_client *c);
/* Extra request metadata on every later call and stream (e.g. etcd's "token"); name is
 * lower-case. Replaces an earlier value. 0 or -ENOMEM/-E2BIG. */
int grpc_client_set_header(struct grpc_client *c, const char *name, const char *value);
/* The user-agent of the requests, "tapio/1" by default. */
void grpc_client_set_agent(struct grpc_client *c, const char *agent);

/* One unary call. `method`: "/package.Service/Method". On success *ret_resp is a message of
 * resp_desc (free with protobuf_c_message_free_unpacked). Errors: -ETIMEDOUT (deadline),
 * -EPIPE (connection lost: the session is unusable), -EREMOTEIO (a gRPC status other than
 * OK: grpc_client_last_status / last_error), -EBADMSG (undecodable response), -EMSGSIZE
 * (response over GRPC_MSG_MAX), -EPROTO (no gRPC response). */
int grpc_client_call(struct grpc_client *c, const char *method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp);
int grpc_client_last_status(const struct grpc_client *c);
/* A readable description of the last failure ("" when none). */
const char *grpc_client_last_error(const struct grpc_client *c);

/* The socket is readable: process what is there (one read; blocks at most 100 ms when it is
 * not). 0, or -EPIPE when the peer closed or the session ended. */
int grpc_client_pump(struct grpc_client *c);

/* The stream: open it with its first request message and keep the request side open. One at
 * a time; opening another closes the previous one. 0 or -EPIPE/-ENOMEM. */
int grpc_stream_open(struct grpc_client *c, const char *method, const ProtobufCMessage *req);
/* The next complete message received on the stream: 1 and *ret_msg (free it with
 * protobuf_c_message_free_unpacked), 0 when none is complete yet, -EPIPE when the stream
 * has ended (grpc_client_last_status/last_error say why), -EBADMSG/-EMSGSIZE/
 * -EPROTONOSUPPORT for a message that cannot be read (the stream is then unusable). */
int grpc_stream_next(struct grpc_client *c, const ProtobufCMessageDescriptor *desc,
		     ProtobufCMessage **ret_msg);
/* Cancel the stream (RST_STREAM CANCEL). */
void grpc_stream_close(struct grpc_client *c);

/* ---- pure parts (fuzzed) ---- */

/* Decode a complete gRPC body holding exactly one length-prefixed message: 1-byte compressed
 * flag (must be 0), 4-byte big-endian length, message. 0 and *ret_msg, or -EBADMSG /
 * -EMSGSIZE / -EPROTONOSUPPORT (compressed). */
int grpc_decode(const uint8_t *data, size_t len, const ProtobufCMessageDescriptor *desc,
		ProtobufCMessage **ret_msg);
/* The length of the first complete message in data (prefix included) or 0 when it is not
 * all there yet; -EMSGSIZE / -EPROTONOSUPPORT / -EBADMSG (bad flag). */
ssize_t grpc_frame_len(const uint8_t *data, size_t len);
/* Parse a grpc-status header value: "0".."16" → code; -1 when malformed. */
int grpc_parse_status(const char *value, size_t len);
/* Decode a percent-encoded grpc-message value into dst (always NUL-terminated, cut at cap). */
void grpc_percent_decode(char *dst, size_t cap, const uint8_t *s, size_t len);
