/* SPDX-License-Identifier: Apache-2.0 */
/* Integration-test harness: run tapiod as a user would (a config file, stdout captured),
 * collect its JSON lines and wait for events that match. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

/* Skip without root; under CI=true a skip is a failure. */
void harness_require_root(void);
/* How much slower than a normal host this machine runs the tests: TAPIO_TEST_SLOW, an integer
 * from 1 (unset: 1) to 20. scripts/test-kernels.sh sets it in its qemu TCG VMs. It scales
 * deadlines only (how long a test waits for a condition before it gives up) and the slack a
 * test allows on top of a time the daemon itself takes (from the daemon's own timestamps):
 * never what a test proves. */
int harness_slow(void);
/* ms × harness_slow(): a deadline for this machine. */
int harness_ms(int ms);
/* The build directory (the parent of the test binary's directory). */
const char *harness_build_dir(void);
/* Where the tests run tapiod, tapioctl and the workers from: build/bin when every directory
 * above it is root's and writable by no one else (tapiod's StrictModes check), otherwise a
 * root-owned 0755 copy under /run. */
const char *harness_bin_dir(void);
/* The source tree (for scripts under tests/helpers), found above the build directory. */
const char *harness_source_dir(void);
/* Run `tests/helpers/SCRIPT start DIR` in a new directory DIR made from dir_template
 * ("/tmp/name-XXXXXX", filled in place) and read the first n integers it prints (its ports)
 * into ports[]. Returns how many it printed, or -1 if it could not run or failed. */
int harness_helper_start(const char *script, char *dir_template, int *ports, int n);
/* `tests/helpers/SCRIPT stop DIR`, then DIR removed. Returns 0, or -1 if either failed. */
int harness_helper_stop(const char *script, const char *dir);
/* GET path from 127.0.0.1:port with HTTP/1.1, read until the server closes: the whole answer,
 * head and body (malloc'd, NUL-terminated), or NULL with errno set. */
char *harness_http_get(int port, const char *path);

struct tapiod {
	pid_t pid;
	int out_fd;                  /* read end of tapiod's stdout */
	char dir[256];               /* temp dir: config, log */
	char log_path[300];
	char *partial;               /* incomplete last line */
	size_t partial_len;
	json_object **events;        /* every line parsed so far */
	size_t n_events, cap_events;
	size_t bad_lines;            /* lines that were not JSON objects */
};

/* The control socket of a started tapiod: <dir>/ctl.sock. */
#define TAPIOD_CTL_SOCK(t, buf) snprintf((buf), sizeof(buf), "%s/ctl.sock", (t)->dir)
/* Run `tapioctl --socket <ctl> ARGS...` and capture stdout (malloc'd); *ret_status = wait
 * status. */
char *tapioctl_run(const struct tapiod *t, int *ret_status, const char *const *args);

/* Poll `tapioctl status` until collector `name` is in `state` (READY, FAILED, ...), for up to
 * harness_ms(timeout_ms). */
bool tapiod_wait_state(struct tapiod *t, const char *name, const char *state, int timeout_ms);
/* The output of `tapioctl status` (malloc'd); "" when tapioctl fails (tapiod not up yet, or
 * gone: callers wait and retry). */
char *tapiod_status_text(const struct tapiod *t);
/* Collector `name`'s line of it (malloc'd); "" when there is none. */
char *tapiod_status_line(const struct tapiod *t, const char *name);
/* Pump tapiod's output until that line holds `needle`, for up to harness_ms(timeout_ms). */
bool tapiod_wait_status(struct tapiod *t, const char *name, const char *needle, int timeout_ms);
/* The PID column of that line; 0 without one. */
pid_t tapiod_status_pid(const struct tapiod *t, const char *name);

/* Start tapiod with a config: the YAML `collectors_yaml` goes under "collectors:" (indented by
 * the caller with two spaces). Returns 0 or -errno. */
int tapiod_start(struct tapiod *t, const char *collectors_yaml);
/* The same with extra lines under "supervisor:" (two-space indented). */
int tapiod_start_with(struct tapiod *t, const char *supervisor_yaml, const char *collectors_yaml);
/* The same with lines under "sinks:" (two-space indented). */
int tapiod_start_sinks(struct tapiod *t, const char *sinks_yaml, const char *collectors_yaml);
int tapiod_start_full(struct tapiod *t, const char *supervisor_yaml, const char *sinks_yaml,
		      const char *collectors_yaml);
/* The same with lines under "control:" (two-space indented), e.g. a socket_group. */
int tapiod_start_control(struct tapiod *t, const char *supervisor_yaml, const char *control_yaml,
			 const char *sinks_yaml, const char *collectors_yaml);
/* The next tapiod started runs in a mount namespace where /sys/kernel/btf/vmlinux is empty, as
 * on a node whose kernel ships no BTF: its workers cannot load CO-RE programs. */
void harness_next_without_btf(void);
/* Read what is available, for up to timeout_ms. */
void tapiod_pump(struct tapiod *t, int timeout_ms);
typedef bool (*event_match_fn)(json_object *ev, void *arg);
/* Wait for the first event (from index *from) that matches; NULL on timeout. */
json_object *tapiod_wait(struct tapiod *t, event_match_fn match, void *arg, int timeout_ms);
/* Count matching events seen so far. */
size_t tapiod_count(struct tapiod *t, event_match_fn match, void *arg);
/* SIGTERM and wait; returns the wait status, or -1 after harness_ms(timeout_ms) (then
 * SIGKILL). */
int tapiod_stop(struct tapiod *t, int timeout_ms);
/* The text of tapiod's stderr log (malloc'd). */
char *tapiod_log(const struct tapiod *t);
/* The number after `key` (e.g. " events=") in the last "stats NAME:" line of the log; -1 if
 * there is none. */
long long tapiod_last_stat(const struct tapiod *t, const char *name, const char *key);
/* The time (CLOCK_REALTIME seconds, from the line's own timestamp) of the first line of tapiod's
 * log at or after byte *pos that contains `needle`; *pos moves past that line. -1 if none. */
double tapiod_log_time(const struct tapiod *t, const char *needle, size_t *pos);
/* The same, with that line (without its newline) copied into line[size]. */
double tapiod_log_line(const struct tapiod *t, const char *needle, size_t *pos, char *line,
		       size_t size);
/* Wait until tapiod's log holds `needle` at least `count` times. */
bool tapiod_wait_log(struct tapiod *t, const char *needle, unsigned count, int timeout_ms);
/* How many times tapiod's log holds `needle`. */
unsigned tapiod_log_count(const struct tapiod *t, const char *needle);
/* Pids of tapiod's direct children. */
size_t tapiod_children(const struct tapiod *t, pid_t *out, size_t max);
void tapiod_cleanup(struct tapiod *t);

/* JSON accessors: "a.b.c" paths; return fallback when absent. */
const char *jstr(json_object *o, const char *path);
long long jint(json_object *o, const char *path, long long fallback);
/* Wall-clock seconds of an RFC 3339 "time" field, or -1. */
double jtime(json_object *o);

/* A cgroup named like a containerd container of a Kubernetes pod (systemd driver form):
 * <cgroup2>/tapio-<tag>-<pid>/kubepods-<qos>-pod<uid_>.slice/cri-containerd-<id>.scope. */
struct fake_container {
	char top[300], pod[600], ctr[900];
};
int fake_container_create(struct fake_container *fc, const char *tag, const char *qos,
			  const char *pod_uid_underscored, const char *container_id);
/* Move a process into the container cgroup. */
int fake_container_enter(const struct fake_container *fc, pid_t pid);
/* rmdir bottom-up (the cgroup must be empty). */
void fake_container_remove(struct fake_container *fc);

/* /proc/PID/status of a worker shows no capabilities, its own uid and gid (the default range),
 * NoNewPrivs 1, Seccomp 2. */
void assert_worker_sandboxed(pid_t pid);

/* The k8s context a fake_container (containerd, systemd driver) must give an event. */
void assert_container_context(json_object *ev, const char *container_id, const char *pod_uid,
			      const char *qos);
