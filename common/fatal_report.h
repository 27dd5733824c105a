/* SPDX-License-Identifier: Apache-2.0 */
/* A worker's last word when its seccomp filter refuses a syscall: the SIGSYS handler writes
 * WorkerFrame{fatal: Fatal{syscall: N}} to the supervisor's socket, says so on stderr, and lets
 * the process die by SIGSYS. Everything here is async-signal-safe once installed. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Largest encoded frame: 4-byte header, body tag and length, Fatal's tag and varint. */
#define FATAL_REPORT_MAX 16

/* Where the handler writes the frame (-1 = nowhere). The worker sets its socket here whenever
 * no frame is half-written, -1 otherwise. */
void fatal_report_set_fd(int fd);

/* Install the SIGSYS handler (SA_NODEFER, so that its re-raise is delivered at once). The
 * sandbox calls it right before it loads the seccomp filter. 0 or -errno. */
int fatal_report_install(void);

/* Encode the framed WorkerFrame{fatal: Fatal{syscall: nr}} into buf; returns its length.
 * nr must be >= 0. The handler's encoder, exposed for tests. */
size_t fatal_report_encode(uint8_t buf[FATAL_REPORT_MAX], int nr);
