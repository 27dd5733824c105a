// SPDX-License-Identifier: Apache-2.0
// Exec storm: fork + exec /bin/true COUNT times as fast as the machine allows, keeping up to
// PARALLEL children in flight, all children of this one process (so a tracer can count the
// execs whose parent is this pid). Prints "pid=N" first; with --wait it then waits for a line
// on stdin before starting (so a harness can attach tracers to a known pid). Prints
// "execs=N failed=F elapsed_ns=T" when done. --interval-us sleeps between spawns (a marker loop).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
	fprintf(stderr, "usage: %s [--count N] [--parallel P] [--wait] [--exe PATH] [--interval-us U]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	long count = 10000, parallel = 2;
	long interval_us = 0;
	int wait_go = 0;
	const char *exe = "/bin/true";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--parallel") && i + 1 < argc)
			parallel = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--exe") && i + 1 < argc)
			exe = argv[++i];
		else if (!strcmp(argv[i], "--interval-us") && i + 1 < argc)
			interval_us = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--wait"))
			wait_go = 1;
		else
			usage(argv[0]);
	}
	if (count <= 0 || parallel <= 0)
		usage(argv[0]);
	printf("pid=%d\n", (int)getpid());
	fflush(stdout);
	if (wait_go) {
		char line[64];
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	char *const args[] = { (char *)exe, NULL };
	char *const envp[] = { NULL };
	long started = 0, done = 0, failed = 0, running = 0;
	long long t0 = now_ns();
	while (done < count) {
		while (running < parallel && started < count) {
			pid_t pid = fork();
			if (pid == 0) {
				execve(exe, args, envp);
				_exit(127);
			}
			if (pid < 0) {
				if (errno == EAGAIN)
					break;
				perror("fork");
				return 1;
			}
			started++;
			running++;
			if (interval_us > 0)
				usleep((useconds_t)interval_us);
		}
		int st;
		pid_t p = wait(&st);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			perror("wait");
			return 1;
		}
		running--;
		done++;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	long long el = now_ns() - t0;
	printf("execs=%ld failed=%ld elapsed_ns=%lld\n", done, failed, el);
	return failed ? 1 : 0;
}
