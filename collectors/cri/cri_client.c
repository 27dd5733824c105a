// SPDX-License-Identifier: Apache-2.0
// CRI v1 client: unary gRPC over HTTP/2 (nghttp2) on a unix socket, with a deadline per call.
// Blocking reads with SO_RCVTIMEO slices instead of poll(2), so the steady state needs only
// read/write (the worker's seccomp allow-list has no poll, socket or connect).
#include "cri_client.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define SLICE_MS 100u	     /* longest single blocking read inside a call */
#define WINDOW	 (16u << 20) /* HTTP/2 flow-control window we grant */

const char *const cri_default_sockets[] = {
	"/run/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/run/k3s/containerd/containerd.sock",
	NULL,
};

struct call {
	int32_t stream_id;
	const uint8_t *body; /* borrowed request body (gRPC framed) */
	size_t body_len, body_off;
	uint8_t *resp; /* owned; response body bytes */
	size_t resp_len, resp_cap;
	bool overflow;
	bool closed;	      /* stream closed (normally or by reset) */
	uint32_t close_error; /* HTTP/2 error code of the close */
	int http_status;
	int grpc_status; /* -1 until seen */
	char grpc_message[160];
	bool grpc_content; /* content-type application/grpc... */
};

struct cri_client {
	int fd;
	nghttp2_session *h2;
	uint32_t timeout_ms;
	bool dead; /* GOAWAY, EOF or a session error: no further calls */
	struct call call;
	int last_status;
	char err[CRI_ERR_LEN];
	char path[108];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_err(struct cri_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err(struct cri_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

/* ---- nghttp2 callbacks -------------------------------------------------------------------- */

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct cri_client *c = ud;
	ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return NGHTTP2_ERR_WOULDBLOCK;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct cri_client *c = ud;
	struct call *k = &c->call;
	if (f->hd.stream_id != k->stream_id || k->stream_id == 0)
		return 0;
	if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
		k->http_status = 0;
		for (size_t i = 0; i < vlen && i < 3; i++)
			k->http_status = k->http_status * 10 + (value[i] - '0');
	} else if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
		k->grpc_content = vlen >= 16 && memcmp(value, "application/grpc", 16) == 0;
	} else if (nlen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		k->grpc_status = cri_grpc_parse_status((const char *)value, vlen);
		if (k->grpc_status < 0)
			k->grpc_status = 2; /* UNKNOWN: a malformed status is not OK */
	} else if (nlen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		cri_grpc_percent_decode(k->grpc_message, sizeof(k->grpc_message), value, vlen);
	}
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
		   size_t len, void *ud)
{
	struct cri_client *c = ud;
	struct call *k = &c->call;
	if (stream_id != k->stream_id || k->stream_id == 0 || k->overflow)
		return 0;
	if (k->resp_len + len > (size_t)CRI_MSG_MAX + 5) {
		k->overflow = true;
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
		return 0;
	}
	if (k->resp_len + len > k->resp_cap) {
		size_t cap = k->resp_cap ? k->resp_cap : 4096;
		while (cap < k->resp_len + len)
			cap *= 2;
		uint8_t *p = realloc(k->resp, cap);
		if (!p)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		k->resp = p;
		k->resp_cap = cap;
	}
	memcpy(k->resp + k->resp_len, data, len);
	k->resp_len += len;
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
	struct cri_client *c = ud;
	if (stream_id == c->call.stream_id && stream_id != 0) {
		c->call.closed = true;
		c->call.close_error = error_code;
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct cri_client *c = ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		c->dead = true;
		set_err(c, "runtime sent GOAWAY (error %u)", f->goaway.error_code);
	}
	return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct cri_client *c = ud;
	struct call *k = &c->call;
	size_t n = k->body_len - k->body_off;
	if (n > len)
		n = len;
	memcpy(buf, k->body + k->body_off, n);
	k->body_off += n;
	if (k->body_off == k->body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* ---- connection --------------------------------------------------------------------------- */

DEFINE_POINTER_CLEANUP(struct cri_client *, cri_client_free)

int cri_client_connect(const char *path, uint32_t timeout_ms, struct cri_client **ret_client)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	_cleanup_(cri_client_freep) struct cri_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->timeout_ms = timeout_ms ? timeout_ms : 5000;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	uint32_t slice = c->timeout_ms < SLICE_MS ? c->timeout_ms : SLICE_MS;
	struct timeval tv = {.tv_sec = slice / 1000, .tv_usec = (slice % 1000) * 1000};
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;

	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -ENOMEM;
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	int r = nghttp2_session_client_new(&c->h2, cb, c);
	nghttp2_session_callbacks_del(cb);
	if (r != 0) {
		c->h2 = NULL;
		return -ENOMEM;
	}
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WINDOW},
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 16},
	};
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, WINDOW) != 0 ||
	    nghttp2_session_send(c->h2) != 0)
		return -EPIPE;
	*ret_client = TAKE_PTR(c);
	return 0;
}

void cri_client_free(struct cri_client *c)
{
	if (!c)
		return;
	if (c->h2)
		nghttp2_session_del(c->h2);
	if (c->fd >= 0)
		close(c->fd);
	free(c->call.resp);
	free(c);
}

int cri_client_fd(const struct cri_client *c)
{
	return c->fd;
}

const char *cri_client_path(const struct cri_client *c)
{
	return c->path;
}

int cri_client_last_status(const struct cri_client *c)
{
	return c->last_status;
}

const char *cri_client_last_error(const struct cri_client *c)
{
	return c->err;
}

/* Read once (blocking at most one slice) and feed nghttp2. 0 (data or timeout slice), -EPIPE. */
static int read_some(struct cri_client *c)
{
	uint8_t buf[16384];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n == 0) {
		set_err(c, "runtime closed the connection");
		c->dead = true;
		return -EPIPE;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		int e = errno;
		set_err(c, "read: %s", strerror(e));
		c->dead = true;
		return -e;
	}
	ssize_t m = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
	if (m < 0) {
		set_err(c, "HTTP/2: %s", nghttp2_strerror((int)m));
		c->dead = true;
		return -EPROTO;
	}
	return 0;
}

int cri_client_pump(struct cri_client *c)
{
	if (c->dead)
		return -EPIPE;
	int r = read_some(c);
	if (r == 0 && nghttp2_session_send(c->h2) != 0) {
		c->dead = true;
		r = -EPIPE;
	}
	if (r == 0 && c->dead)
		r = -EPIPE;
	return r < 0 ? -EPIPE : 0;
}

int cri_client_call(struct cri_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp)
{
	c->err[0] = '\0';
	c->last_status = -1;
	if (c->dead) {
		set_err(c, "connection to the runtime is gone");
		return -EPIPE;
	}
	size_t mlen = protobuf_c_message_get_packed_size(req);
	uint8_t *body = malloc(mlen + 5);
	if (!body)
		return -ENOMEM;
	body[0] = 0;
	body[1] = (uint8_t)(mlen >> 24);
	body[2] = (uint8_t)(mlen >> 16);
	body[3] = (uint8_t)(mlen >> 8);
	body[4] = (uint8_t)mlen;
	protobuf_c_message_pack(req, body + 5);

	free(c->call.resp);
	c->call = (struct call){.body = body, .body_len = mlen + 5, .grpc_status = -1};

	char tmo[24];
	snprintf(tmo, sizeof(tmo), "%um", c->timeout_ms);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
	nghttp2_nv hdrs[] = {
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":path", method),
		NV(":authority", "localhost"),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
		NV("grpc-timeout", tmo),
		NV("user-agent", "tapio-cri/1"),
	};
#undef NV
	nghttp2_data_provider dp = {.read_callback = read_body};
	int32_t sid = nghttp2_submit_request(c->h2, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &dp,
					     NULL);
	if (sid < 0) {
		free(body);
		set_err(c, "submit: %s", nghttp2_strerror(sid));
		c->dead = true;
		return -EPIPE;
	}
	c->call.stream_id = sid;

	uint64_t deadline = now_ms() + c->timeout_ms;
	int r = 0;
	while (!c->call.closed) {
		if (nghttp2_session_send(c->h2) != 0) {
			set_err(c, "HTTP/2 send failed");
			c->dead = true;
			r = -EPIPE;
			break;
		}
		if (c->call.closed)
			break;
		if (c->dead) {
			r = -EPIPE;
			break;
		}
		if (now_ms() >= deadline) {
			set_err(c, "%s: deadline of %u ms exceeded", method, c->timeout_ms);
			nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
			nghttp2_session_send(c->h2);
			r = -ETIMEDOUT;
			break;
		}
		r = read_some(c);
		if (r < 0)
			break;
	}
	free(body);
	c->call.body = NULL;
	c->call.stream_id = 0; /* late frames of this stream are ignored */
	if (r < 0)
		return r;

	struct call *k = &c->call;
	if (k->overflow) {
		set_err(c, "%s: response larger than %u bytes", method, CRI_MSG_MAX);
		return -EMSGSIZE;
	}
	if (k->http_status != 200) {
		set_err(c, "%s: HTTP status %d", method, k->http_status);
		return -EPROTO;
	}
	if (k->grpc_status < 0) {
		set_err(c, "%s: stream ended without grpc-status (HTTP/2 error %u)", method,
			k->close_error);
		return -EPROTO;
	}
	c->last_status = k->grpc_status;
	if (k->grpc_status != CRI_GRPC_OK) {
		set_err(c, "%s: gRPC status %d: %s", method, k->grpc_status, k->grpc_message);
		return -EREMOTEIO;
	}
	r = cri_grpc_decode(k->resp, k->resp_len, resp_desc, ret_resp);
	if (r < 0)
		set_err(c, "%s: undecodable response (%zu bytes): %s", method, k->resp_len,
			strerror(-r));
	return r;
}

/* ---- typed helpers ------------------------------------------------------------------------ */

#define RS "/runtime.v1.RuntimeService/"

int cri_version(struct cri_client *c, Runtime__V1__VersionResponse **ret)
{
	Runtime__V1__VersionRequest q = RUNTIME__V1__VERSION_REQUEST__INIT;
	q.version = "v1";
	return cri_client_call(c, RS "Version", &q.base, &runtime__v1__version_response__descriptor,
			       (ProtobufCMessage **)ret);
}

int cri_list_sandboxes(struct cri_client *c, Runtime__V1__ListPodSandboxResponse **ret)
{
	Runtime__V1__ListPodSandboxRequest q = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	return cri_client_call(c, RS "ListPodSandbox", &q.base,
			       &runtime__v1__list_pod_sandbox_response__descriptor,
			       (ProtobufCMessage **)ret);
}

int cri_list_containers(struct cri_client *c, Runtime__V1__ListContainersResponse **ret)
{
	Runtime__V1__ListContainersRequest q = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	return cri_client_call(c, RS "ListContainers", &q.base,
			       &runtime__v1__list_containers_response__descriptor,
			       (ProtobufCMessage **)ret);
}

int cri_container_status(struct cri_client *c, const char *id,
			 Runtime__V1__ContainerStatusResponse **ret)
{
	Runtime__V1__ContainerStatusRequest q = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	q.container_id = (char *)id;
	return cri_client_call(c, RS "ContainerStatus", &q.base,
			       &runtime__v1__container_status_response__descriptor,
			       (ProtobufCMessage **)ret);
}
