// SPDX-License-Identifier: Apache-2.0
// getppid() generator for the pipeline benchmark: one thread calls getppid() at RATE calls/s
// (0 = flat out) for SECONDS. Prints "pid=N"; with --wait it waits for a line on stdin before
// starting. Prints "calls=N elapsed_ns=T" when done. Pacing: calls are issued in small bursts
// against a deadline schedule, so the average rate is exact and bursts stay short (≤ 1 ms).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--rate CALLS_PER_S (0 = flat out)] [--seconds S] [--count N] "
			"[--wait]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	double rate = 0, seconds = 2;
	long long count = 0; /* 0: until the time is up */
	int wait_go = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoll(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--wait"))
			wait_go = 1;
		else
			usage(argv[0]);
	}
	if (rate < 0 || seconds <= 0)
		usage(argv[0]);
	printf("pid=%d\n", (int)getpid());
	fflush(stdout);
	if (wait_go) {
		char line[64];
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	long long calls = 0;
	long long t0 = now_ns(), end = t0 + (long long)(seconds * 1e9), t = t0;
	while (t < end && (count == 0 || calls < count)) {
		long long target;
		if (rate > 0) {
			target = (long long)((double)(t - t0) * rate / 1e9) + 1;
			if (target <= calls) {
				/* Ahead of schedule: sleep until the next call is due (coarse). */
				long long due = t0 + (long long)((double)calls * 1e9 / rate);
				if (due - t > 50000) {
					struct timespec ts = { 0, (long)(due - t - 20000) };
					nanosleep(&ts, NULL);
				}
				t = now_ns();
				continue;
			}
		} else {
			target = calls + 256;
		}
		if (count && target > count)
			target = count;
		while (calls < target) {
			syscall(SYS_getppid);
			calls++;
		}
		t = now_ns();
	}
	long long el = now_ns() - t0;
	printf("calls=%lld elapsed_ns=%lld\n", calls, el);
	return 0;
}
