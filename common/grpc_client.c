// SPDX-License-Identifier: Apache-2.0
// gRPC over HTTP/2 (nghttp2): unary calls with a deadline and one long-lived stream, on a unix
// or TCP socket. Blocking reads with SO_RCVTIMEO slices instead of poll(2), so the steady state
// needs only read/write (the worker's seccomp allow-list has no poll, socket or connect).
#include "grpc_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define SLICE_MS      100u	  /* longest single blocking read */
#define WINDOW	      (16u << 20) /* HTTP/2 flow-control window we grant */
#define HEADERS_MAX   4
#define GRPC_ADDR_MAX 4

struct call {
	int32_t stream_id;
	uint8_t *body; /* owned; request bytes (gRPC framed) */
	size_t body_len, body_off;
	bool keep_open; /* a stream: no END_STREAM after the body */
	uint8_t *resp;	/* owned; response body bytes */
	size_t resp_len, resp_cap, resp_off;
	bool overflow;
	bool closed;	      /* stream closed (normally or by reset) */
	uint32_t close_error; /* HTTP/2 error code of the close */
	int http_status;
	int grpc_status; /* -1 until seen */
	char grpc_message[160];
};

struct grpc_client {
	int fd;
	SSL_CTX *tls_ctx;
	SSL *ssl; /* NULL: plaintext */
	nghttp2_session *h2;
	uint32_t timeout_ms;
	bool scheme_https;
	bool dead; /* GOAWAY, EOF or a session error: no further calls */
	struct call call, stream;
	int last_status;
	char err[GRPC_ERR_LEN];
	char authority[128];
	char agent[32];
	char *hname[HEADERS_MAX], *hvalue[HEADERS_MAX];
	/* TCP clients: the addresses resolved at creation and the TLS peer name, for
	 * grpc_client_reconnect (no name lookups, no certificate files read again) */
	struct sockaddr_storage addr[GRPC_ADDR_MAX];
	socklen_t addr_len[GRPC_ADDR_MAX];
	int n_addr;
	char peer_name[256];
};

static __thread char connect_err[GRPC_ERR_LEN];

const char *grpc_client_connect_error(void)
{
	return connect_err;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_err(struct grpc_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err(struct grpc_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

static struct call *call_of(struct grpc_client *c, int32_t stream_id)
{
	if (stream_id == 0)
		return NULL;
	if (c->call.stream_id == stream_id)
		return &c->call;
	if (c->stream.stream_id == stream_id)
		return &c->stream;
	return NULL;
}

static void call_reset(struct call *k)
{
	free(k->body);
	free(k->resp);
	*k = (struct call){.grpc_status = -1};
}

/* ---- nghttp2 callbacks -------------------------------------------------------------------- */

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct grpc_client *c = ud;
	if (c->ssl) {
		ERR_clear_error();
		int w = SSL_write(c->ssl, data, (int)(len > INT32_MAX ? INT32_MAX : len));
		if (w > 0)
			return w;
		int e = SSL_get_error(c->ssl, w);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return NGHTTP2_ERR_WOULDBLOCK;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
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
	struct call *k = call_of(ud, f->hd.stream_id);
	if (!k)
		return 0;
	if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
		k->http_status = 0;
		for (size_t i = 0; i < vlen && i < 3; i++)
			k->http_status = k->http_status * 10 + (value[i] - '0');
	} else if (nlen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		k->grpc_status = grpc_parse_status((const char *)value, vlen);
		if (k->grpc_status < 0)
			k->grpc_status = 2; /* UNKNOWN: a malformed status is not OK */
	} else if (nlen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		grpc_percent_decode(k->grpc_message, sizeof(k->grpc_message), value, vlen);
	}
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
		   size_t len, void *ud)
{
	struct call *k = call_of(ud, stream_id);
	if (!k || k->overflow)
		return 0;
	/* A stream's consumed bytes are dropped before growing the buffer. */
	if (k->resp_off > 0 && k->resp_off == k->resp_len) {
		k->resp_len = k->resp_off = 0;
	} else if (k->resp_off > 0 && k->resp_len + len > k->resp_cap) {
		memmove(k->resp, k->resp + k->resp_off, k->resp_len - k->resp_off);
		k->resp_len -= k->resp_off;
		k->resp_off = 0;
	}
	if (k->resp_len - k->resp_off + len > (size_t)GRPC_MSG_MAX + 5) {
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
	struct call *k = call_of(ud, stream_id);
	if (k) {
		k->closed = true;
		k->close_error = error_code;
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct grpc_client *c = ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		c->dead = true;
		set_err(c, "server sent GOAWAY (error %u)", f->goaway.error_code);
	}
	return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct call *k = call_of(ud, stream_id);
	if (!k)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t n = k->body_len - k->body_off;
	if (n == 0 && k->keep_open)
		return NGHTTP2_ERR_DEFERRED;
	if (n > len)
		n = len;
	memcpy(buf, k->body + k->body_off, n);
	k->body_off += n;
	if (k->body_off == k->body_len && !k->keep_open)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* ---- connection --------------------------------------------------------------------------- */

static int session_start(struct grpc_client *c)
{
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
	return 0;
}

static struct grpc_client *client_new(uint32_t timeout_ms)
{
	struct grpc_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = -1;
	c->timeout_ms = timeout_ms ? timeout_ms : 5000;
	c->call.grpc_status = c->stream.grpc_status = -1;
	snprintf(c->agent, sizeof(c->agent), "tapio/1");
	snprintf(c->authority, sizeof(c->authority), "localhost");
	return c;
}

DEFINE_POINTER_CLEANUP(struct grpc_client *, grpc_client_free)

int grpc_client_connect_unix(const char *path, uint32_t timeout_ms, struct grpc_client **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	_cleanup_(grpc_client_freep) struct grpc_client *c = client_new(timeout_ms);
	if (!c)
		return -ENOMEM;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	int r = session_start(c);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

static int tls_fail(const char *what, const char *file)
{
	char why[100];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, why, sizeof(why));
	snprintf(connect_err, sizeof(connect_err), "%s%s%.120s: %s", what, file ? " " : "",
		 file ? file : "", e ? why : "failed");
	return -EKEYREJECTED;
}

/* The TLS context: CA, client certificate and key are read now (a sandboxed worker may not
 * be able to read them later), and the name the server's certificate must have. */
static int tls_ctx_new(struct grpc_client *c, const char *host, const struct grpc_tls *t)
{
	ERR_clear_error();
	c->tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!c->tls_ctx)
		return tls_fail("TLS context", NULL);
	SSL_CTX_set_min_proto_version(c->tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(c->tls_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(c->tls_ctx, SSL_VERIFY_PEER, NULL);
	if (t->ca_file && *t->ca_file) {
		if (SSL_CTX_load_verify_locations(c->tls_ctx, t->ca_file, NULL) != 1)
			return tls_fail("CA file", t->ca_file);
	} else if (SSL_CTX_set_default_verify_paths(c->tls_ctx) != 1) {
		return tls_fail("system CA store", NULL);
	}
	if (t->cert_file && *t->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(c->tls_ctx, t->cert_file) != 1)
			return tls_fail("client certificate", t->cert_file);
		const char *key = t->key_file && *t->key_file ? t->key_file : t->cert_file;
		if (SSL_CTX_use_PrivateKey_file(c->tls_ctx, key, SSL_FILETYPE_PEM) != 1)
			return tls_fail("client key", key);
		if (SSL_CTX_check_private_key(c->tls_ctx) != 1)
			return tls_fail("client key does not match", t->cert_file);
	}
	static const unsigned char alpn[] = {2, 'h', '2'};
	SSL_CTX_set_alpn_protos(c->tls_ctx, alpn, sizeof(alpn));
	snprintf(c->peer_name, sizeof(c->peer_name), "%s",
		 t->server_name && *t->server_name ? t->server_name : host);
	return 0;
}

/* The TLS handshake on the connected socket, within the client's timeout. */
static int tls_start(struct grpc_client *c)
{
	ERR_clear_error();
	c->ssl = SSL_new(c->tls_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		return tls_fail("TLS session", NULL);
	const char *name = c->peer_name;
	struct in6_addr a6;
	struct in_addr a4;
	bool ip = inet_pton(AF_INET, name, &a4) == 1 || inet_pton(AF_INET6, name, &a6) == 1;
	if (!ip)
		SSL_set_tlsext_host_name(c->ssl, name);
	X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
	if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name)
		: X509_VERIFY_PARAM_set1_host(vp, name, 0)) != 1)
		return tls_fail("TLS peer name", name);

	uint64_t deadline = now_ms() + c->timeout_ms;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(c->ssl, r);
		if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && now_ms() < deadline)
			continue;
		long v = SSL_get_verify_result(c->ssl);
		if (v != X509_V_OK) {
			snprintf(connect_err, sizeof(connect_err),
				 "TLS handshake: server certificate: %s",
				 X509_verify_cert_error_string(v));
			return -EKEYREJECTED;
		}
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			snprintf(connect_err, sizeof(connect_err), "TLS handshake timed out");
			return -ETIMEDOUT;
		}
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			snprintf(connect_err, sizeof(connect_err),
				 "TLS handshake: connection closed by the server (%s)",
				 errno ? strerror(errno) : "EOF");
			return -EKEYREJECTED;
		}
		return tls_fail("TLS handshake", NULL);
	}
	const unsigned char *proto = NULL;
	unsigned int plen = 0;
	SSL_get0_alpn_selected(c->ssl, &proto, &plen);
	if (plen && (plen != 2 || memcmp(proto, "h2", 2) != 0)) {
		snprintf(connect_err, sizeof(connect_err), "TLS: server chose ALPN %.*s, not h2",
			 (int)plen, proto);
		return -EPROTO;
	}
	return 0;
}

int grpc_client_new_tcp(const char *host, const char *port, uint32_t timeout_ms,
			const struct grpc_tls *tls, struct grpc_client **ret)
{
	connect_err[0] = '\0';
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai, *a;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0) {
		snprintf(connect_err, sizeof(connect_err), "resolving %s: %s", host,
			 gai_strerror(g));
		return g == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	}
	_cleanup_(grpc_client_freep) struct grpc_client *c = client_new(timeout_ms);
	if (!c) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	for (a = ai; a && c->n_addr < GRPC_ADDR_MAX; a = a->ai_next) {
		if (a->ai_addrlen > sizeof(c->addr[0]))
			continue;
		memcpy(&c->addr[c->n_addr], a->ai_addr, a->ai_addrlen);
		c->addr_len[c->n_addr++] = a->ai_addrlen;
	}
	freeaddrinfo(ai);
	snprintf(c->authority, sizeof(c->authority), "%s:%s", host, port);
	c->dead = true; /* until connected */
	if (tls) {
		c->scheme_https = true;
		int r = tls_ctx_new(c, host, tls);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

/* Drop the session, the TLS state and the socket; keep the address, TLS context, headers. */
static void session_end(struct grpc_client *c)
{
	if (c->h2)
		nghttp2_session_del(c->h2);
	c->h2 = NULL;
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	call_reset(&c->call);
	call_reset(&c->stream);
	c->dead = true;
}

int grpc_client_reconnect(struct grpc_client *c)
{
	connect_err[0] = '\0';
	session_end(c);
	c->err[0] = '\0';
	c->last_status = 0;
	int r = -EHOSTUNREACH;
	uint32_t t = c->timeout_ms;
	struct timeval tv = {.tv_sec = t / 1000, .tv_usec = (t % 1000) * 1000};
	for (int i = 0; i < c->n_addr; i++) {
		c->fd = socket(c->addr[i].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			r = -errno;
			continue;
		}
		/* SO_SNDTIMEO bounds connect(2) too */
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(c->fd, (struct sockaddr *)&c->addr[i], c->addr_len[i]) == 0) {
			r = 0;
			break;
		}
		r = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		close(c->fd);
		c->fd = -1;
	}
	if (r == 0) {
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* the handshake blocks in slices like every later read */
		uint32_t slice = c->timeout_ms < SLICE_MS ? c->timeout_ms : SLICE_MS;
		struct timeval st = {.tv_sec = slice / 1000, .tv_usec = (slice % 1000) * 1000};
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &st, sizeof(st));
		if (c->tls_ctx)
			r = tls_start(c);
		if (r == 0)
			r = session_start(c);
	}
	if (r < 0) {
		session_end(c);
		return r;
	}
	c->dead = false;
	return 0;
}

bool grpc_client_connected(const struct grpc_client *c)
{
	return c->fd >= 0 && !c->dead;
}

int grpc_client_connect_tcp(const char *host, const char *port, uint32_t timeout_ms,
			    const struct grpc_tls *tls, struct grpc_client **ret)
{
	_cleanup_(grpc_client_freep) struct grpc_client *c = NULL;
	int r = grpc_client_new_tcp(host, port, timeout_ms, tls, &c);
	if (r == 0)
		r = grpc_client_reconnect(c);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

void grpc_client_free(struct grpc_client *c)
{
	if (!c)
		return;
	if (c->h2)
		nghttp2_session_del(c->h2);
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->tls_ctx)
		SSL_CTX_free(c->tls_ctx);
	if (c->fd >= 0)
		close(c->fd);
	call_reset(&c->call);
	call_reset(&c->stream);
	for (int i = 0; i < HEADERS_MAX; i++) {
		free(c->hname[i]);
		free(c->hvalue[i]);
	}
	free(c);
}

int grpc_client_fd(const struct grpc_client *c)
{
	return c->fd;
}

int grpc_client_set_header(struct grpc_client *c, const char *name, const char *value)
{
	int i;
	for (i = 0; i < HEADERS_MAX; i++)
		if (!c->hname[i] || strcmp(c->hname[i], name) == 0)
			break;
	if (i == HEADERS_MAX)
		return -E2BIG;
	char *n = strdup(name), *v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	free(c->hname[i]);
	free(c->hvalue[i]);
	c->hname[i] = n;
	c->hvalue[i] = v;
	return 0;
}

void grpc_client_set_agent(struct grpc_client *c, const char *agent)
{
	snprintf(c->agent, sizeof(c->agent), "%s", agent);
}

int grpc_client_last_status(const struct grpc_client *c)
{
	return c->last_status;
}

const char *grpc_client_last_error(const struct grpc_client *c)
{
	return c->err;
}

/* One read of the socket, or of TLS records: bytes, 0 for a timeout slice, -EPIPE at the end,
 * -errno. */
static ssize_t io_read(struct grpc_client *c, uint8_t *buf, size_t len)
{
	if (!c->ssl) {
		ssize_t n = read(c->fd, buf, len);
		if (n == 0) {
			set_err(c, "server closed the connection");
			return -EPIPE;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			int e = errno;
			set_err(c, "read: %s", strerror(e));
			return -e;
		}
		return n;
	}
	ERR_clear_error();
	errno = 0;
	int n = SSL_read(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
	    (errno == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
		set_err(c, "server closed the connection");
		return -EPIPE;
	}
	char why[160];
	ERR_error_string_n(ERR_get_error(), why, sizeof(why));
	set_err(c, "TLS read: %s", e == SSL_ERROR_SYSCALL ? strerror(errno) : why);
	return -EPROTO;
}

/* Read once (blocking at most one slice) and feed nghttp2; with TLS, also every record
 * already buffered (the socket may not wake epoll for those). 0, or -EPIPE/-errno. */
static int read_some(struct grpc_client *c)
{
	uint8_t buf[16384];
	do {
		ssize_t n = io_read(c, buf, sizeof(buf));
		if (n < 0) {
			c->dead = true;
			return (int)n;
		}
		if (n == 0)
			return 0;
		ssize_t m = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
		if (m < 0) {
			set_err(c, "HTTP/2: %s", nghttp2_strerror((int)m));
			c->dead = true;
			return -EPROTO;
		}
	} while (c->ssl && SSL_pending(c->ssl) > 0);
	return 0;
}

int grpc_client_pump(struct grpc_client *c)
{
	if (c->dead)
		return -EPIPE;
	int r = read_some(c);
	if (r == 0 && nghttp2_session_send(c->h2) != 0) {
		set_err(c, "HTTP/2 send failed");
		c->dead = true;
		r = -EPIPE;
	}
	if (r == 0 && c->dead)
		r = -EPIPE;
	return r < 0 ? -EPIPE : 0;
}

/* Frame req and submit it as a new request on k. */
static int submit(struct grpc_client *c, struct call *k, const char *method,
		  const ProtobufCMessage *req, bool keep_open)
{
	size_t mlen = protobuf_c_message_get_packed_size(req);
	if (mlen > GRPC_MSG_MAX)
		return -EMSGSIZE;
	uint8_t *body = malloc(mlen + 5);
	if (!body)
		return -ENOMEM;
	body[0] = 0;
	body[1] = (uint8_t)(mlen >> 24);
	body[2] = (uint8_t)(mlen >> 16);
	body[3] = (uint8_t)(mlen >> 8);
	body[4] = (uint8_t)mlen;
	protobuf_c_message_pack(req, body + 5);
	call_reset(k);
	k->body = body;
	k->body_len = mlen + 5;
	k->keep_open = keep_open;

	char tmo[24];
	snprintf(tmo, sizeof(tmo), "%um", c->timeout_ms);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
	nghttp2_nv hdrs[8 + HEADERS_MAX] = {
		NV(":method", "POST"),
		NV(":scheme", c->scheme_https ? "https" : "http"),
		NV(":path", method),
		NV(":authority", c->authority),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
		NV("user-agent", c->agent),
	};
	size_t n = 7;
	if (!keep_open)
		hdrs[n++] = (nghttp2_nv)NV("grpc-timeout", tmo);
	for (int i = 0; i < HEADERS_MAX && c->hname[i]; i++)
		hdrs[n++] = (nghttp2_nv)NV(c->hname[i], c->hvalue[i]);
#undef NV
	nghttp2_data_provider dp = {.read_callback = read_body};
	int32_t sid = nghttp2_submit_request(c->h2, NULL, hdrs, n, &dp, NULL);
	if (sid < 0) {
		set_err(c, "submit: %s", nghttp2_strerror(sid));
		c->dead = true;
		return -EPIPE;
	}
	k->stream_id = sid;
	return 0;
}

int grpc_client_call(struct grpc_client *c, const char *method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp)
{
	c->err[0] = '\0';
	c->last_status = -1;
	if (c->dead) {
		set_err(c, "connection to the server is gone");
		return -EPIPE;
	}
	int r = submit(c, &c->call, method, req, false);
	if (r < 0)
		return r;
	int32_t sid = c->call.stream_id;

	uint64_t deadline = now_ms() + c->timeout_ms;
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
	c->call.stream_id = 0; /* late frames of this stream are ignored */
	if (r < 0)
		return r;

	struct call *k = &c->call;
	if (k->overflow) {
		set_err(c, "%s: response larger than %u bytes", method, GRPC_MSG_MAX);
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
	if (k->grpc_status != GRPC_OK) {
		set_err(c, "%s: gRPC status %d: %s", method, k->grpc_status, k->grpc_message);
		return -EREMOTEIO;
	}
	r = grpc_decode(k->resp, k->resp_len, resp_desc, ret_resp);
	if (r < 0)
		set_err(c, "%s: undecodable response (%zu bytes): %s", method, k->resp_len,
			strerror(-r));
	return r;
}

int grpc_stream_open(struct grpc_client *c, const char *method, const ProtobufCMessage *req)
{
	if (c->dead) {
		set_err(c, "connection to the server is gone");
		return -EPIPE;
	}
	grpc_stream_close(c);
	int r = submit(c, &c->stream, method, req, true);
	if (r < 0)
		return r;
	if (nghttp2_session_send(c->h2) != 0) {
		set_err(c, "HTTP/2 send failed");
		c->dead = true;
		return -EPIPE;
	}
	return 0;
}

void grpc_stream_close(struct grpc_client *c)
{
	if (c->stream.stream_id && !c->stream.closed && !c->dead) {
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, c->stream.stream_id,
					  NGHTTP2_CANCEL);
		nghttp2_session_send(c->h2);
	}
	call_reset(&c->stream);
}

int grpc_stream_next(struct grpc_client *c, const ProtobufCMessageDescriptor *desc,
		     ProtobufCMessage **ret_msg)
{
	struct call *k = &c->stream;
	if (k->stream_id == 0) {
		set_err(c, "no stream open");
		return -EPIPE;
	}
	if (k->overflow) {
		set_err(c, "stream message larger than %u bytes", GRPC_MSG_MAX);
		return -EMSGSIZE;
	}
	ssize_t n = grpc_frame_len(k->resp + k->resp_off, k->resp_len - k->resp_off);
	if (n < 0) {
		set_err(c, "stream: bad message frame: %s", strerror((int)-n));
		return (int)n;
	}
	if (n > 0) {
		ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, (size_t)n - 5,
								k->resp + k->resp_off + 5);
		k->resp_off += (size_t)n;
		if (!m) {
			set_err(c, "stream: undecodable message (%zd bytes)", n);
			return -EBADMSG;
		}
		*ret_msg = m;
		return 1;
	}
	if (k->closed || c->dead) {
		c->last_status = k->grpc_status;
		if (k->grpc_status > 0)
			set_err(c, "stream ended: gRPC status %d: %s", k->grpc_status,
				k->grpc_message);
		else if (!c->dead)
			set_err(c, "stream ended (HTTP status %d, HTTP/2 error %u)", k->http_status,
				k->close_error);
		return -EPIPE;
	}
	return 0;
}
