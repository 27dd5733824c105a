// SPDX-License-Identifier: Apache-2.0
// The loop-driven HTTPS client (see httpc.h): curl's socket callback becomes worker_io_watch,
// its timer callback a worker_timer, and every readiness is handed back with
// curl_multi_socket_action. Finished transfers are collected right after each action.
#include "httpc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"
#include "worker.h"

#define CONNECT_TIMEOUT_DEFAULT_MS 10000

struct httpc_req {
	struct httpc *c;
	struct httpc_req *next, *prev; /* the client's list of running requests */
	CURL *easy;
	struct curl_slist *headers; /* owned; holds the token: wiped on free */
	struct strbuf body;
	size_t max_body;
	httpc_chunk_fn on_chunk;
	httpc_done_fn on_done;
	void *data;
	int abort_err; /* why the write callback stopped the transfer */
	char errbuf[CURL_ERROR_SIZE];
};

struct httpc {
	struct worker *w;
	CURLM *multi;
	struct worker_timer *timer;
	char *ca_file, *token_file, *cert_file, *key_file; /* owned */
	struct curl_slist *resolve;			   /* owned: pinned host:port:address */
	bool allow_http;
	uint32_t connect_timeout_ms;
	struct httpc_req *reqs;
	unsigned active;
	/* the token as last read, and the identity of the file it came from */
	char *token; /* owned, wiped on free */
	dev_t tok_dev;
	ino_t tok_ino;
	off_t tok_size;
	struct timespec tok_mtime;
	struct httpc_stats stats;
	char last_error[256]; /* why httpc_get failed, when it was the token */
};

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void free_headers(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

/* ---- the token ---------------------------------------------------------------------------- */

/* Re-read the token file when it is not the file last read (a projected token is replaced by a
 * symlink swap: new inode) or it changed in place. Sets *ret_err (text) on failure. */
static int load_token(struct httpc *c, char *err, size_t errlen)
{
	struct stat st;
	if (stat(c->token_file, &st) < 0) {
		int r = errno;
		snprintf(err, errlen, "token file %s: %s", c->token_file, strerror(r));
		return -ENOKEY;
	}
	if (c->token && st.st_dev == c->tok_dev && st.st_ino == c->tok_ino &&
	    st.st_size == c->tok_size && st.st_mtim.tv_sec == c->tok_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == c->tok_mtime.tv_nsec)
		return 0;
	int fd = open(c->token_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = errno;
		snprintf(err, errlen, "token file %s: %s", c->token_file, strerror(r));
		return -ENOKEY;
	}
	char *buf = calloc(1, HTTPC_TOKEN_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, HTTPC_TOKEN_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len > HTTPC_TOKEN_MAX)
			break;
	}
	if (fstat(fd, &st) < 0)
		st.st_ino = 0;
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
			   buf[len - 1] == '\t'))
		buf[--len] = '\0';
	const char *why = NULL;
	if (len > HTTPC_TOKEN_MAX)
		why = "longer than 16 KiB";
	else if (len == 0)
		why = "empty";
	for (size_t i = 0; !why && i < len; i++)
		if ((unsigned char)buf[i] < 0x21 || (unsigned char)buf[i] > 0x7e)
			why = "not a printable single-line token";
	if (why) {
		explicit_bzero(buf, HTTPC_TOKEN_MAX + 1);
		free(buf);
		snprintf(err, errlen, "token file %s: %s", c->token_file, why);
		return -ENOKEY;
	}
	wipe_free(c->token);
	c->token = buf;
	c->tok_dev = st.st_dev;
	c->tok_ino = st.st_ino;
	c->tok_size = st.st_size;
	c->tok_mtime = st.st_mtim;
	c->stats.token_reloads++;
	return 0;
}

/* ---- curl's callbacks --------------------------------------------------------------------- */

static void collect_done(struct httpc *c);

static int on_socket_ready(struct worker *w, int fd, unsigned events, void *data)
{
	struct httpc *c = data;
	int mask = (events & WORKER_IO_READ ? CURL_CSELECT_IN : 0) |
		   (events & WORKER_IO_WRITE ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(c->multi, fd, mask, &running);
	collect_done(c);
	return 0;
}

static int on_timer(struct worker *w, void *data)
{
	struct httpc *c = data;
	int running;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect_done(c);
	return 0;
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct httpc *c = userp;
	unsigned ev = 0;
	switch (what) {
	case CURL_POLL_IN:
		ev = WORKER_IO_READ;
		break;
	case CURL_POLL_OUT:
		ev = WORKER_IO_WRITE;
		break;
	case CURL_POLL_INOUT:
		ev = WORKER_IO_READ | WORKER_IO_WRITE;
		break;
	case CURL_POLL_REMOVE:
	default:
		worker_io_unwatch(c->w, s);
		return 0;
	}
	/* -ENOSPC (too many fds): the transfer then times out with a clear error */
	return worker_io_watch(c->w, s, ev, on_socket_ready, c) < 0 ? -1 : 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *c = userp;
	if (timeout_ms < 0) {
		worker_timer_disarm(c->timer);
		return 0;
	}
	return worker_timer_arm(c->timer, (uint64_t)timeout_ms) < 0 ? -1 : 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct httpc_req *q = userdata;
	size_t n = size * nmemb;
	long status = 0;
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	q->c->stats.bytes += n;
	if (q->on_chunk && status >= 200 && status < 300) {
		int r = q->on_chunk(q->data, ptr, n);
		if (r < 0) {
			q->abort_err = r;
			return 0; /* curl stops with CURLE_WRITE_ERROR */
		}
		return n;
	}
	if (q->body.len + n > q->max_body) {
		q->abort_err = -EMSGSIZE;
		return 0;
	}
	if (strbuf_append(&q->body, ptr, n) < 0) {
		q->abort_err = -ENOMEM;
		return 0;
	}
	return n;
}

/* ---- requests ----------------------------------------------------------------------------- */

static void req_free(struct httpc_req *q)
{
	struct httpc *c = q->c;
	if (q->easy) {
		curl_multi_remove_handle(c->multi, q->easy);
		curl_easy_cleanup(q->easy);
	}
	free_headers(q->headers);
	strbuf_release(&q->body);
	if (q->prev)
		q->prev->next = q->next;
	else if (c->reqs == q)
		c->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	c->active--;
	free(q);
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return -EKEYREJECTED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return -EPROTO;
	case CURLE_FILESIZE_EXCEEDED:
		return -EMSGSIZE;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTONOSUPPORT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static void finish(struct httpc_req *q, CURLcode rc)
{
	struct httpc *c = q->c;
	struct httpc_response resp = {0};
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &resp.status);
	resp.err = curl_errno(rc);
	if (rc == CURLE_WRITE_ERROR && q->abort_err)
		resp.err = q->abort_err;
	char text[CURL_ERROR_SIZE + 64];
	if (resp.err == -EMSGSIZE) {
		c->stats.oversize++;
		snprintf(text, sizeof(text), "response body over the %zu-byte cap", q->max_body);
		resp.error = text;
	} else if (rc == CURLE_WRITE_ERROR && q->abort_err) {
		snprintf(text, sizeof(text), "aborted by the reader: %s", strerror(-q->abort_err));
		resp.error = text;
	} else if (resp.err) {
		snprintf(text, sizeof(text), "%s",
			 q->errbuf[0] ? q->errbuf : curl_easy_strerror(rc));
		resp.error = text;
	}
	if (resp.err)
		c->stats.failures++;
	resp.body = q->body.data ? q->body.data : "";
	resp.len = q->body.len;
	httpc_done_fn done = q->on_done;
	void *data = q->data;
	/* the request is gone before the callback, which may start new ones */
	struct strbuf body = q->body;
	q->body = (struct strbuf)STRBUF_INIT;
	req_free(q);
	done(data, &resp);
	strbuf_release(&body);
}

static void collect_done(struct httpc *c)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct httpc_req *q = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (q)
			finish(q, m->data.result);
	}
}

static bool url_allowed(const struct httpc *c, const char *url)
{
	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	return c->allow_http && strncasecmp(url, "http://", 7) == 0;
}

int httpc_get(struct httpc *c, const struct httpc_request *req, struct httpc_req **ret_req)
{
	if (!req || !req->url || !req->on_done)
		return -EINVAL;
	if (!url_allowed(c, req->url))
		return -EPROTONOSUPPORT;
	c->last_error[0] = '\0';
	if (c->token_file) {
		int r = load_token(c, c->last_error, sizeof(c->last_error));
		if (r < 0)
			return r;
	}
	struct httpc_req *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->c = c;
	q->max_body = req->max_body ? req->max_body : HTTPC_BODY_MAX_DEFAULT;
	strbuf_init(&q->body, q->max_body + 1);
	q->on_chunk = req->on_chunk;
	q->on_done = req->on_done;
	q->data = req->data;
	q->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = q;
	c->reqs = q;
	c->active++;

	int r = -ENOMEM;
	q->easy = curl_easy_init();
	if (!q->easy)
		goto fail;
	CURL *e = q->easy;
	bool ok = true;
	ok &= curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, c->allow_http ? "https,http" : "https") ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)q) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, q) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms) ==
	      CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms) == CURLE_OK;
	if (!req->on_chunk)
		ok &= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q->max_body) ==
		      CURLE_OK;
	if (c->ca_file)
		ok &= curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) == CURLE_OK;
	if (c->resolve)
		ok &= curl_easy_setopt(e, CURLOPT_RESOLVE, c->resolve) == CURLE_OK;
	if (c->cert_file)
		ok &= curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file) == CURLE_OK;
	if (c->key_file)
		ok &= curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file) == CURLE_OK;
	if (!ok) {
		r = -EINVAL;
		goto fail;
	}
	char line[HTTPC_TOKEN_MAX + 64];
	if (req->accept) {
		snprintf(line, sizeof(line), "Accept: %s", req->accept);
		struct curl_slist *h = curl_slist_append(q->headers, line);
		if (!h)
			goto fail;
		q->headers = h;
	}
	if (c->token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", c->token);
		struct curl_slist *h = curl_slist_append(q->headers, line);
		explicit_bzero(line, sizeof(line));
		if (!h)
			goto fail;
		q->headers = h;
	}
	if (q->headers && curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers) != CURLE_OK)
		goto fail;
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto fail;
	c->stats.requests++;
	if (ret_req)
		*ret_req = q;
	return 0;
fail:
	req_free(q);
	return r;
}

void httpc_cancel(struct httpc *c, struct httpc_req *req)
{
	for (struct httpc_req *q = c->reqs; q; q = q->next)
		if (q == req) {
			req_free(q);
			return;
		}
}

const char *httpc_last_error(const struct httpc *c)
{
	return c->last_error;
}

const struct httpc_stats *httpc_stats(const struct httpc *c)
{
	return &c->stats;
}

unsigned httpc_active(const struct httpc *c)
{
	return c->active;
}

/* ---- the client --------------------------------------------------------------------------- */

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s || !*s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int httpc_new(struct worker *w, const struct httpc_opts *opts, struct httpc **ret_client)
{
	static bool global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		global_done = true;
	}
	curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	if (!vi || !(vi->features & CURL_VERSION_SSL))
		return -EOPNOTSUPP; /* a libcurl without TLS */
	struct httpc *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->w = w;
	c->allow_http = opts->allow_http;
	c->connect_timeout_ms =
		opts->connect_timeout_ms ? opts->connect_timeout_ms : CONNECT_TIMEOUT_DEFAULT_MS;
	int r = dup_opt(opts->ca_file, &c->ca_file);
	if (r == 0)
		r = dup_opt(opts->token_file, &c->token_file);
	if (r == 0)
		r = dup_opt(opts->cert_file, &c->cert_file);
	if (r == 0)
		r = dup_opt(opts->key_file, &c->key_file);
	if (r == 0 && c->key_file && !c->cert_file)
		r = -EINVAL;
	for (size_t i = 0; r == 0 && opts->resolve && opts->resolve[i]; i++) {
		struct curl_slist *l = curl_slist_append(c->resolve, opts->resolve[i]);
		if (l)
			c->resolve = l;
		else
			r = -ENOMEM;
	}
	if (r == 0)
		r = worker_timer_new(w, on_timer, c, &c->timer);
	if (r == 0) {
		c->multi = curl_multi_init();
		if (!c->multi)
			r = -ENOMEM;
	}
	if (r == 0) {
		bool ok =
			curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) ==
				CURLM_OK &&
			curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) == CURLM_OK &&
			curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) == CURLM_OK &&
			curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) == CURLM_OK;
		if (!ok)
			r = -EINVAL;
	}
	if (r < 0) {
		httpc_free(c);
		return r;
	}
	*ret_client = c;
	return 0;
}

void httpc_free(struct httpc *c)
{
	if (!c)
		return;
	while (c->reqs)
		req_free(c->reqs);
	if (c->multi)
		curl_multi_cleanup(c->multi); /* closes cached connections: socket_cb unwatches */
	worker_timer_free(c->timer);
	free(c->ca_file);
	free(c->token_file);
	free(c->cert_file);
	free(c->key_file);
	curl_slist_free_all(c->resolve);
	wipe_free(c->token);
	free(c);
}

int httpc_url_port(const char *url, uint16_t *ret_port)
{
	bool https = strncmp(url, "https://", 8) == 0;
	if (!https && strncmp(url, "http://", 7) != 0)
		return -EINVAL;
	const char *host = url + (https ? 8 : 7);
	const char *end = host + strcspn(host, "/?#");
	const char *colon;
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));
		if (!rb)
			return -EINVAL;
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
	}
	if (!colon) {
		*ret_port = https ? 443 : 80;
		return 0;
	}
	char *e;
	long p = strtol(colon + 1, &e, 10);
	if (e != end || p < 1 || p > 65535)
		return -EINVAL;
	*ret_port = (uint16_t)p;
	return 0;
}

int httpc_pin_host(const char *url, uint16_t port, char *pin, size_t len)
{
	pin[0] = '\0';
	const char *host = strstr(url, "://");
	if (!host)
		return -EINVAL;
	host += 3;
	size_t hl = strcspn(host, ":/?#");
	if (*host == '[' || hl == 0 || hl >= 256)
		return 0; /* an IPv6 literal, or nothing to resolve */
	char name[256];
	memcpy(name, host, hl);
	name[hl] = '\0';
	struct in_addr a4;
	if (inet_pton(AF_INET, name, &a4) == 1 || strcasecmp(name, "localhost") == 0)
		return 0;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int r = getaddrinfo(name, NULL, &hints, &res);
	if (r != 0) {
		snprintf(pin, len, "%s: %s", name, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	char addr[INET6_ADDRSTRLEN] = "";
	bool v6 = res->ai_family == AF_INET6;
	if (v6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, addr,
			  sizeof(addr));
	else if (res->ai_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr,
			  sizeof(addr));
	freeaddrinfo(res);
	if (!addr[0]) {
		snprintf(pin, len, "%s: no IPv4 or IPv6 address", name);
		return -EHOSTUNREACH;
	}
	snprintf(pin, len, v6 ? "%s:%u:[%s]" : "%s:%u:%s", name, port, addr);
	return 0;
}
