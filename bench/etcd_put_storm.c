// SPDX-License-Identifier: Apache-2.0
// The etcd PUT storm of bench/etcd.py: P writer processes, each with its own gRPC connection
// (the project's client), put N keys in all below PREFIX (K distinct keys, values of SIZE
// bytes) as fast as etcd takes them. Prints the revisions before and after and the rate.
//   etcd_put_storm HOST:PORT PREFIX N K SIZE P
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collectors/etcd/etcd_rpc.pb-c.c"
#include "grpc_client.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct grpc_client *dial(const char *ep)
{
	char host[128];
	snprintf(host, sizeof(host), "%s", ep);
	char *colon = strrchr(host, ':');
	if (!colon)
		return NULL;
	*colon = '\0';
	struct grpc_client *g = NULL;
	if (grpc_client_connect_tcp(host, colon + 1, 10000, NULL, &g) < 0)
		return NULL;
	return g;
}

static long long revision(struct grpc_client *g)
{
	Etcdserverpb__StatusRequest q = ETCDSERVERPB__STATUS_REQUEST__INIT;
	Etcdserverpb__StatusResponse *r = NULL;
	if (grpc_client_call(g, "/etcdserverpb.Maintenance/Status", &q.base,
			     &etcdserverpb__status_response__descriptor,
			     (ProtobufCMessage **)&r) < 0)
		return -1;
	long long rev = r->header ? r->header->revision : -1;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rev;
}

static int writer(const char *ep, const char *prefix, long from, long to, long keys, long size)
{
	struct grpc_client *g = dial(ep);
	if (!g)
		return 1;
	char *val = malloc((size_t)size + 1);
	if (!val)
		return 1;
	memset(val, 'v', (size_t)size);
	for (long i = from; i < to; i++) {
		char key[256];
		snprintf(key, sizeof(key), "%sk%06ld", prefix, i % keys);
		snprintf(val, (size_t)size + 1, "{\"i\":%ld,\"pad\":\"", i);
		size_t n = strlen(val);
		memset(val + n, 'x', (size_t)size - n);
		if (size >= 2) {
			val[size - 2] = '"';
			val[size - 1] = '}';
		}
		Etcdserverpb__PutRequest q = ETCDSERVERPB__PUT_REQUEST__INIT;
		q.key.data = (uint8_t *)key;
		q.key.len = strlen(key);
		q.value.data = (uint8_t *)val;
		q.value.len = (size_t)size;
		ProtobufCMessage *m = NULL;
		if (grpc_client_call(g, "/etcdserverpb.KV/Put", &q.base,
				     &etcdserverpb__put_response__descriptor, &m) < 0) {
			fprintf(stderr, "put %s: %s\n", key, grpc_client_last_error(g));
			return 1;
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	free(val);
	grpc_client_free(g);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: %s HOST:PORT PREFIX N KEYS SIZE WRITERS\n", argv[0]);
		return 2;
	}
	const char *ep = argv[1], *prefix = argv[2];
	long n = atol(argv[3]), keys = atol(argv[4]), size = atol(argv[5]), p = atol(argv[6]);
	if (n <= 0 || keys <= 0 || size < 16 || p <= 0 || p > 64) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	struct grpc_client *g = dial(ep);
	if (!g) {
		fprintf(stderr, "cannot connect to %s\n", ep);
		return 1;
	}
	long long rev0 = revision(g);
	double t0 = now_s();
	pid_t pids[64];
	for (long w = 0; w < p; w++) {
		pids[w] = fork();
		if (pids[w] == 0)
			_exit(writer(ep, prefix, n * w / p, n * (w + 1) / p, keys, size));
	}
	int bad = 0;
	for (long w = 0; w < p; w++) {
		int st;
		if (waitpid(pids[w], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	double dt = now_s() - t0;
	long long rev1 = revision(g);
	grpc_client_free(g);
	printf("puts=%ld writers=%ld seconds=%.3f rate=%.0f rev_before=%lld rev_after=%lld "
	       "failed_writers=%d\n",
	       n, p, dt, (double)n / dt, rev0, rev1, bad);
	return bad ? 1 : 0;
}
