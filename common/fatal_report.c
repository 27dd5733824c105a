// SPDX-License-Identifier: Apache-2.0
// The SIGSYS report of a refused syscall (see fatal_report.h). The frame is built by hand:
// protobuf-c allocates, which a signal handler must not.
#include "fatal_report.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "pbwire.h"
#include "wire.h"

static volatile sig_atomic_t report_fd = -1;

void fatal_report_set_fd(int fd)
{
	report_fd = fd;
}

size_t fatal_report_encode(uint8_t buf[FATAL_REPORT_MAX], int nr)
{
	uint8_t fatal[8];
	size_t f = 0;
	fatal[f++] = WIRE_FATAL_SYSCALL << 3 | 0; /* varint */
	f += pbwire_put_varint(fatal + f, (uint32_t)nr);
	size_t n = FRAME_HDR;
	buf[n++] = WIRE_FRAME_FATAL << 3 | 2; /* length-delimited */
	buf[n++] = (uint8_t)f;
	memcpy(buf + n, fatal, f);
	n += f;
	frame_put_header(buf, (uint32_t)(n - FRAME_HDR));
	return n;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	int nr = si->si_syscall;
	int fd = report_fd;
	if (fd >= 0 && nr >= 0) {
		uint8_t frame[FATAL_REPORT_MAX];
		ssize_t w = write(fd, frame, fatal_report_encode(frame, nr));
		(void)w;
	}
	static const char msg[] = "sandbox violation: a syscall outside the allow-list\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigaction(SIGSYS, &dfl, NULL);
	raise(SIGSYS); /* SA_NODEFER: delivered now, default action: die */
	_exit(128 + SIGSYS);
}

int fatal_report_install(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}
