// SPDX-License-Identifier: Apache-2.0
// The JetStream side of bench/nats.sh, with libnats (no nats CLI in Debian 12):
//   nats_tool URL create STREAM SUBJECT REPLICAS   create the stream (file storage)
//   nats_tool URL leader STREAM                    print the stream leader's server name
//   nats_tool URL count STREAM                     read the whole stream through a pull
//       consumer; print "messages=N distinct=D duplicates=X max_n=M" counted by Nats-Msg-Id
//       ("<run id>-<n>", one run id: a bitmap on n)
#include <nats/nats.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, natsStatus s, jsErrCode e)
{
	fprintf(stderr, "nats_tool: %s: %s (%d)\n", what, natsStatus_GetText(s), (int)e);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: nats_tool URL create|leader|count STREAM [...]\n");
		return 2;
	}
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsErrCode e = 0;
	natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
	if (s != NATS_OK)
		die("connect", s, 0);
	if ((s = natsConnection_JetStream(&js, nc, NULL)) != NATS_OK)
		die("jetstream", s, 0);
	const char *stream = argv[3];
	if (strcmp(argv[2], "create") == 0 && argc == 6) {
		jsStreamConfig sc;
		jsStreamConfig_Init(&sc);
		const char *subjects[] = {argv[4]};
		sc.Name = stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Replicas = atoi(argv[5]);
		sc.Duplicates = 120LL * 1000000000LL;
		if ((s = js_AddStream(NULL, js, &sc, NULL, &e)) != NATS_OK)
			die("add stream", s, e);
	} else if (strcmp(argv[2], "leader") == 0) {
		jsStreamInfo *si = NULL;
		if ((s = js_GetStreamInfo(&si, js, stream, NULL, &e)) != NATS_OK)
			die("stream info", s, e);
		printf("%s\n", si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "");
		jsStreamInfo_Destroy(si);
	} else if (strcmp(argv[2], "count") == 0) {
		jsStreamInfo *si = NULL;
		if ((s = js_GetStreamInfo(&si, js, stream, NULL, &e)) != NATS_OK)
			die("stream info", s, e);
		uint64_t total = si->State.Msgs;
		jsStreamInfo_Destroy(si);
		size_t bits = 1 << 20;
		uint8_t *seen = calloc(bits / 8, 1);
		uint64_t n = 0, distinct = 0, dup = 0, max_n = 0, bad = 0;
		jsSubOptions so;
		jsSubOptions_Init(&so);
		so.Stream = stream;
		so.Config.AckPolicy = js_AckNone;
		natsSubscription *sub = NULL;
		if ((s = js_PullSubscribe(&sub, js, ">", NULL, NULL, &so, &e)) != NATS_OK)
			die("pull subscribe", s, e);
		while (n < total) {
			natsMsgList list = {0};
			s = natsSubscription_Fetch(&list, sub, 1000, 5000, &e);
			if (s != NATS_OK)
				die("fetch", s, e);
			for (int i = 0; i < list.Count; i++) {
				const char *id = NULL;
				natsMsgHeader_Get(list.Msgs[i], "Nats-Msg-Id", &id);
				const char *dash = id ? strrchr(id, '-') : NULL;
				uint64_t v = dash ? strtoull(dash + 1, NULL, 10) : 0;
				n++;
				if (!v) {
					bad++;
					continue;
				}
				while (v >= bits) {
					seen = realloc(seen, bits / 4);
					memset(seen + bits / 8, 0, bits / 8);
					bits *= 2;
				}
				if (seen[v / 8] & (1u << (v % 8))) {
					dup++;
				} else {
					seen[v / 8] |= (uint8_t)(1u << (v % 8));
					distinct++;
				}
				if (v > max_n)
					max_n = v;
			}
			natsMsgList_Destroy(&list);
		}
		printf("messages=%llu distinct=%llu duplicates=%llu max_n=%llu bad_ids=%llu\n",
		       (unsigned long long)n, (unsigned long long)distinct, (unsigned long long)dup,
		       (unsigned long long)max_n, (unsigned long long)bad);
		natsSubscription_Destroy(sub);
		free(seen);
	} else {
		fprintf(stderr, "nats_tool: unknown command %s\n", argv[2]);
		return 2;
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return 0;
}
