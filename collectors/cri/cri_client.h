/* SPDX-License-Identifier: Apache-2.0 */
/* A CRI v1 client: unary gRPC calls on the runtime's unix socket, one call at a time, each
 * with a deadline, on the shared gRPC client (common/grpc_client.h: nghttp2, read/write only
 * after connect, so a sandboxed worker keeps using a client it opened during setup).
 * Not thread-safe. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "collectors/cri/cri_api.pb-c.h"
#include "grpc_client.h"

#define CRI_MSG_MAX GRPC_MSG_MAX /* the largest response message we accept */
#define CRI_ERR_LEN 256

/* gRPC status codes we name in messages (grpc/status.h). */
enum {
	CRI_GRPC_OK = 0,
	CRI_GRPC_NOT_FOUND = 5,
	CRI_GRPC_UNIMPLEMENTED = 12,
};

struct cri_client;

/* Auto-detection order when no path is configured. */
extern const char *const cri_default_sockets[];

/* Connect to `path` (a unix socket) and start the HTTP/2 session. timeout_ms is the deadline of
 * every later call. -errno on failure (-ENOENT: no socket there). */
int cri_client_connect(const char *path, uint32_t timeout_ms, struct cri_client **ret_client);
void cri_client_free(struct cri_client *c);
int cri_client_fd(const struct cri_client *c);
const char *cri_client_path(const struct cri_client *c);

/* One unary call. `method`: "/runtime.v1.RuntimeService/Version" etc. On success *ret_resp is a
 * message of `resp_desc` (free with protobuf_c_message_free_unpacked). Errors:
 * -ETIMEDOUT (deadline), -EPIPE/-ECONNRESET (connection lost: the session is unusable),
 * -EREMOTEIO (a gRPC status other than OK: cri_client_last_status / cri_client_last_error),
 * -EBADMSG (undecodable response), -EMSGSIZE (response over CRI_MSG_MAX). */
int cri_client_call(struct cri_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp);
int cri_client_last_status(const struct cri_client *c);
/* A readable description of the last failure ("" when none). */
const char *cri_client_last_error(const struct cri_client *c);

/* The socket is readable outside a call (PING, SETTINGS, GOAWAY, or EOF): process what is
 * there without blocking for more. 0, or -EPIPE when the peer closed or the session ended. */
int cri_client_pump(struct cri_client *c);

/* Decode a complete gRPC response body (one or more length-prefixed messages; exactly one is
 * expected): 1-byte compressed flag (must be 0), 4-byte big-endian length, message. 0 and
 * *ret_msg, or -EBADMSG / -EMSGSIZE / -EPROTONOSUPPORT (compressed). Pure: fuzzed. */
int cri_grpc_decode(const uint8_t *data, size_t len, const ProtobufCMessageDescriptor *desc,
		    ProtobufCMessage **ret_msg);
/* Parse a grpc-status header value: "0".."16" → code; -1 when malformed. */
int cri_grpc_parse_status(const char *value, size_t len);
/* Decode a percent-encoded grpc-message value into dst (always NUL-terminated, cut at cap). */
void cri_grpc_percent_decode(char *dst, size_t cap, const uint8_t *s, size_t len);

/* Typed helpers (the worker's polling RPCs). */
int cri_version(struct cri_client *c, Runtime__V1__VersionResponse **ret);
int cri_list_sandboxes(struct cri_client *c, Runtime__V1__ListPodSandboxResponse **ret);
int cri_list_containers(struct cri_client *c, Runtime__V1__ListContainersResponse **ret);
int cri_container_status(struct cri_client *c, const char *id,
			 Runtime__V1__ContainerStatusResponse **ret);
