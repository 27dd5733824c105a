// SPDX-License-Identifier: Apache-2.0
// Fuzz the kubelet collector's JSON parsers (/pods, /stats/summary) and feed what they accept
// through the state table, twice (the second pass must find no change).
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/kubelet/kubelet_parse.c"
#include "collectors/kubelet/kubelet_state.c"

static unsigned events;

static void count(void *ctx, const char *type, Tapio__V1__KubeletEvent *ev)
{
	(void)ctx;
	(void)type;
	/* touch every string the event carries: they must be valid */
	const char *s[] = {ev->pod_name, ev->namespace_, ev->container_name, ev->reason,
			   ev->message,	 ev->previous,	 ev->phase,	     ev->container_id};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (s[i])
			events += (unsigned)strlen(s[i]);
	events++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kl_thresholds th = {3, 0.25, 0.8, 0.9, 1000, 0.9, 100, 0.1, 0.15, 0.1};
	struct kl_state *st;
	if (kl_state_new(&th, &st) < 0)
		return 0;
	struct kl_pods p;
	if (kl_parse_pods((const char *)data, size, &p) == 0) {
		kl_state_pods(st, &p, count, NULL);
		unsigned before = events;
		kl_state_pods(st, &p, count, NULL);
		if (events != before)
			__builtin_trap(); /* an unchanged snapshot emitted something */
		kl_pods_free(&p);
	}
	struct kl_summary s;
	if (kl_parse_summary((const char *)data, size, &s) == 0) {
		kl_state_summary(st, &s, count, NULL);
		kl_summary_free(&s);
	}
	kl_state_free(st);
	return 0;
}
