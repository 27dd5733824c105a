// SPDX-License-Identifier: Apache-2.0
// Integration-test harness (see harness.h).
#include "harness.h"
#include "config.h"

#include "cgroup.h"
#include "privilege.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void harness_require_root(void)
{
	if (geteuid() == 0)
		return;
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0)
		cr_assert_fail("needs root (CI=true: skipping is a failure)");
	cr_skip_test("needs root: run `sudo make test` or `make test` as root");
}

int harness_slow(void)
{
	static int slow;
	if (slow)
		return slow;
	const char *env = getenv("TAPIO_TEST_SLOW");
	long v = env && *env ? strtol(env, NULL, 10) : 1;
	slow = v < 1 ? 1 : v > 20 ? 20 : (int)v;
	return slow;
}

int harness_ms(int ms)
{
	return ms * harness_slow();
}

const char *harness_build_dir(void)
{
	static char dir[4096];
	if (dir[0])
		return dir;
	const char *env = getenv("TAPIO_BUILD");
	if (env) {
		snprintf(dir, sizeof(dir), "%s", env);
		return dir;
	}
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	/* build/tests/integration-tests → build */
	snprintf(dir, sizeof(dir), "%s", dirname(dirname(exe)));
	return dir;
}

const char *harness_source_dir(void)
{
	static char dir[4096];
	if (dir[0])
		return dir;
	/* the build dir may be build/ or build/san/: walk up to the tree's Makefile */
	char probe[4200];
	snprintf(dir, sizeof(dir), "%s", harness_build_dir());
	for (int i = 0; i < 4; i++) {
		snprintf(probe, sizeof(probe), "%s/tests/helpers", dir);
		if (access(probe, F_OK) == 0)
			return dir;
		snprintf(dir, sizeof(dir), "%s", dirname(dir));
	}
	cr_assert_fail("cannot find the source tree above %s", harness_build_dir());
	return NULL;
}

/* Is every directory from / to `dir` root's and writable by nobody else (tapiod's StrictModes
 * check of collector_dir)? */
static bool trusted_dir(const char *dir)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", dir);
	for (;;) {
		struct stat st;
		if (stat(buf[0] ? buf : "/", &st) < 0 || st.st_uid != 0 ||
		    (st.st_mode & (S_IWGRP | S_IWOTH)))
			return false;
		char *slash = strrchr(buf, '/');
		if (!slash || !buf[0])
			return true;
		*slash = '\0';
	}
}

const char *harness_bin_dir(void)
{
	static char dir[4200];
	if (dir[0])
		return dir;
	snprintf(dir, sizeof(dir), "%s/bin", harness_build_dir());
	char real[4096];
	if (realpath(dir, real) && trusted_dir(real))
		return dir;
	/* A tree others may write to (a user's clone, a CI workspace): install the binaries
	 * where only root writes, as a package would. One directory per build tree (each test
	 * runs in its own process), refreshed when the build is newer. */
	unsigned h = 5381;
	for (const char *c = real; *c; c++)
		h = h * 33 + (unsigned char)*c;
	snprintf(dir, sizeof(dir), "/run/tapio-it-bin-%08x", h);
	if (mkdir(dir, 0755) < 0)
		cr_assert_eq(errno, EEXIST, "mkdir %s: %s", dir, strerror(errno));
	cr_assert_eq(chown(dir, 0, 0), 0);
	cr_assert_eq(chmod(dir, 0755), 0);
	char built[4300], copy[4300];
	struct stat b, c;
	snprintf(built, sizeof(built), "%s/tapiod", real);
	snprintf(copy, sizeof(copy), "%s/tapiod", dir);
	if (stat(copy, &c) == 0 && stat(built, &b) == 0 && c.st_mtime >= b.st_mtime)
		return dir;
	char cmd[20000];
	snprintf(cmd, sizeof(cmd),
		 "install -p -o root -g root -m 0755 %s/tapiod %s/tapioctl %s/tapio-collector-* %s/",
		 real, real, real, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	return dir;
}

int tapiod_start(struct tapiod *t, const char *collectors_yaml)
{
	return tapiod_start_full(t, "", "", collectors_yaml);
}

int tapiod_start_with(struct tapiod *t, const char *supervisor_yaml, const char *collectors_yaml)
{
	return tapiod_start_full(t, supervisor_yaml, "", collectors_yaml);
}

int tapiod_start_sinks(struct tapiod *t, const char *sinks_yaml, const char *collectors_yaml)
{
	return tapiod_start_full(t, "", sinks_yaml, collectors_yaml);
}

static bool next_without_btf;

void harness_next_without_btf(void)
{
	next_without_btf = true;
}

/* In the child, before exec: a private mount namespace with an empty vmlinux BTF. */
static void hide_btf(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("/dev/null", "/sys/kernel/btf/vmlinux", NULL, MS_BIND, NULL) < 0) {
		perror("hiding /sys/kernel/btf/vmlinux");
		_exit(127);
	}
}

int tapiod_start_full(struct tapiod *t, const char *supervisor_yaml, const char *sinks_yaml,
		      const char *collectors_yaml)
{
	return tapiod_start_control(t, supervisor_yaml, "", sinks_yaml, collectors_yaml);
}

int tapiod_start_control(struct tapiod *t, const char *supervisor_yaml, const char *control_yaml,
			 const char *sinks_yaml, const char *collectors_yaml)
{
	bool without_btf = next_without_btf;
	next_without_btf = false;
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/tapio-it-XXXXXX");
	if (!mkdtemp(t->dir))
		return -errno;
	char cfg[400];
	snprintf(cfg, sizeof(cfg), "%s/tapio.yaml", t->dir);
	snprintf(t->log_path, sizeof(t->log_path), "%s/tapiod.log", t->dir);
	FILE *f = fopen(cfg, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"node_name: it-node\n"
		"log_level: info\n"
		"collector_dir: %s\n"
		"supervisor:\n"
		"  stats_log_interval_s: 1\n"
		"%s"
		"control:\n"
		"  socket_path: %s/ctl.sock\n"
		"%s"
		"%s%s"
		"collectors:\n%s",
		harness_bin_dir(), supervisor_yaml, t->dir, control_yaml,
		sinks_yaml[0] ? "sinks:\n" : "", sinks_yaml, collectors_yaml);
	fclose(f);

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	char bin[4300];
	snprintf(bin, sizeof(bin), "%s/tapiod", harness_bin_dir());
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* A failed assertion ends the test process: tapiod must not outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (without_btf)
			hide_btf();
		int log = open(t->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(pfd[1], 1);
		dup2(log, 2);
		execl(bin, "tapiod", "--config", cfg, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	t->pid = pid;
	t->out_fd = pfd[0];
	fcntl(t->out_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void add_line(struct tapiod *t, const char *line, size_t len)
{
	if (len == 0)
		return;
	json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	bool ok = o && json_tokener_get_error(tok) == json_tokener_success &&
		  json_object_is_type(o, json_type_object);
	json_tokener_free(tok);
	if (!ok) {
		t->bad_lines++;
		json_object_put(o);
		return;
	}
	if (t->n_events == t->cap_events) {
		t->cap_events = t->cap_events ? t->cap_events * 2 : 1024;
		t->events = realloc(t->events, t->cap_events * sizeof(*t->events));
	}
	t->events[t->n_events++] = o;
}

void tapiod_pump(struct tapiod *t, int timeout_ms)
{
	struct pollfd p = { .fd = t->out_fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0)
		return;
	char buf[65536];
	for (;;) {
		ssize_t n = read(t->out_fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		t->partial = realloc(t->partial, t->partial_len + (size_t)n);
		memcpy(t->partial + t->partial_len, buf, (size_t)n);
		t->partial_len += (size_t)n;
		size_t start = 0;
		for (size_t i = 0; i < t->partial_len; i++) {
			if (t->partial[i] == '\n') {
				add_line(t, t->partial + start, i - start);
				start = i + 1;
			}
		}
		memmove(t->partial, t->partial + start, t->partial_len - start);
		t->partial_len -= start;
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

json_object *tapiod_wait(struct tapiod *t, event_match_fn match, void *arg, int timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	size_t i = 0;
	do {
		for (; i < t->n_events; i++)
			if (match(t->events[i], arg))
				return t->events[i];
		tapiod_pump(t, 50);
	} while (now_s() < deadline);
	for (; i < t->n_events; i++)
		if (match(t->events[i], arg))
			return t->events[i];
	return NULL;
}

size_t tapiod_count(struct tapiod *t, event_match_fn match, void *arg)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_events; i++)
		if (match(t->events[i], arg))
			n++;
	return n;
}

int tapiod_stop(struct tapiod *t, int timeout_ms)
{
	if (t->pid <= 0)
		return -1;
	kill(t->pid, SIGTERM);
	double deadline = now_s() + harness_ms(timeout_ms) / 1000.0;
	int status;
	while (now_s() < deadline) {
		tapiod_pump(t, 20);
		pid_t r = waitpid(t->pid, &status, WNOHANG);
		if (r == t->pid) {
			t->pid = 0;
			tapiod_pump(t, 0);
			return status;
		}
	}
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &status, 0);
	t->pid = 0;
	return -1;
}

char *tapiod_log(const struct tapiod *t)
{
	FILE *f = fopen(t->log_path, "r");
	if (!f)
		return strdup("");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

long long tapiod_last_stat(const struct tapiod *t, const char *name, const char *key)
{
	char *log = tapiod_log(t), head[64];
	snprintf(head, sizeof(head), "stats %s:", name);
	const char *last = NULL;
	for (const char *p = log; (p = strstr(p, head)); p++)
		last = p;
	const char *eol = last ? strchr(last, '\n') : NULL;
	const char *k = last ? strstr(last, key) : NULL;
	long long v = k && (!eol || k < eol) ? atoll(k + strlen(key)) : -1;
	free(log);
	return v;
}

double tapiod_log_time(const struct tapiod *t, const char *needle, size_t *pos)
{
	return tapiod_log_line(t, needle, pos, NULL, 0);
}

double tapiod_log_line(const struct tapiod *t, const char *needle, size_t *pos, char *line,
		       size_t size)
{
	char *log = tapiod_log(t);
	size_t len = strlen(log);
	double when = -1;
	const char *hit = *pos <= len ? strstr(log + *pos, needle) : NULL;
	if (hit) {
		const char *bol = hit;
		while (bol > log && bol[-1] != '\n')
			bol--;
		const char *eol = strchr(hit, '\n');
		*pos = eol ? (size_t)(eol + 1 - log) : len;
		if (line && size)
			snprintf(line, size, "%.*s", (int)((eol ? eol : log + len) - bol), bol);
		/* 2026-12-07T03:04:05.678Z tapiod[1]: ... (common/log.c) */
		struct tm tm = {0};
		const char *rest = strptime(bol, "%Y-%m-%dT%H:%M:%S", &tm);
		if (rest && *rest == '.')
			when = (double)timegm(&tm) + strtod(rest, NULL);
	}
	free(log);
	return when;
}

unsigned tapiod_log_count(const struct tapiod *t, const char *needle)
{
	char *log = tapiod_log(t);
	unsigned n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(log);
	return n;
}

bool tapiod_wait_log(struct tapiod *t, const char *needle, unsigned count, int timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	do {
		if (tapiod_log_count(t, needle) >= count)
			return true;
		tapiod_pump(t, 100);
	} while (now_s() < deadline);
	return tapiod_log_count(t, needle) >= count;
}

size_t tapiod_children(const struct tapiod *t, pid_t *out, size_t max)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)t->pid, (int)t->pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = 0;
	int pid;
	while (n < max && fscanf(f, "%d", &pid) == 1)
		out[n++] = pid;
	fclose(f);
	return n;
}

void tapiod_cleanup(struct tapiod *t)
{
	if (t->pid > 0)
		tapiod_stop(t, 5000);
	for (size_t i = 0; i < t->n_events; i++)
		json_object_put(t->events[i]);
	free(t->events);
	free(t->partial);
	if (t->out_fd > 0)
		close(t->out_fd);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (t->dir[0] && system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", t->dir);
}

static json_object *jget(json_object *o, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save)) {
		json_object *next = NULL;
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, tok, &next))
			return NULL;
		o = next;
	}
	return o;
}

const char *jstr(json_object *o, const char *path)
{
	json_object *v = jget(o, path);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

long long jint(json_object *o, const char *path, long long fallback)
{
	json_object *v = jget(o, path);
	if (!v)
		return fallback;
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	if (json_object_is_type(v, json_type_string)) /* 64-bit integers are strings */
		return strtoll(json_object_get_string(v), NULL, 10);
	return fallback;
}

double jtime(json_object *o)
{
	const char *s = jstr(o, "time");
	if (!s)
		return -1;
	struct tm tm = { 0 };
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -1;
	double frac = 0;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	return (double)timegm(&tm) + frac;
}

char *tapioctl_run(const struct tapiod *t, int *ret_status, const char *const *args)
{
	char bin[4300], sock[400];
	snprintf(bin, sizeof(bin), "%s/tapioctl", harness_bin_dir());
	TAPIOD_CTL_SOCK(t, sock);
	const char *argv[32] = { "tapioctl", "--socket", sock };
	size_t n = 3;
	for (size_t i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2); /* "cannot reach" while tapiod starts is expected: callers retry */
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	ssize_t k;
	while ((k = read(pfd[0], chunk, sizeof(chunk))) > 0)
		fwrite(chunk, 1, (size_t)k, m);
	fclose(m);
	close(pfd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	if (ret_status)
		*ret_status = status;
	return buf;
}

bool tapiod_wait_state(struct tapiod *t, const char *name, const char *state, int timeout_ms)
{
	const char *args[] = { "status", NULL };
	double deadline = now_s() + harness_ms(timeout_ms) / 1000.0;
	for (bool last = false; !last;) {
		last = now_s() >= deadline;
		int st;
		char *out = tapioctl_run(t, &st, args);
		bool ok = false;
		for (char *save, *l = out ? strtok_r(out, "\n", &save) : NULL; l && !ok;
		     l = strtok_r(NULL, "\n", &save)) {
			char n[64], s[32];
			if (sscanf(l, "%63s %31s", n, s) == 2 && strcmp(n, name) == 0 &&
			    strcmp(s, state) == 0)
				ok = true;
		}
		free(out);
		if (ok)
			return true;
		tapiod_pump(t, 0);
		usleep(100000);
	}
	return false;
}

int harness_helper_start(const char *script, char *dir_template, int *ports, int n)
{
	if (!mkdtemp(dir_template))
		return -1;
	char cmd[12800]; /* the source dir (PATH_MAX) and the directory */
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/%s start %s", harness_source_dir(), script,
		 dir_template);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	int got = 0;
	while (got < n && fscanf(p, "%d", &ports[got]) == 1)
		got++;
	int st = pclose(p);
	return st == 0 ? got : -1;
}

int harness_helper_stop(const char *script, const char *dir)
{
	char cmd[12800]; /* source dir (PATH_MAX) and the directory, twice */
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/%s stop %s; s=$?; rm -rf %s && exit $s",
		 harness_source_dir(), script, dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

char *harness_http_get(int port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
	int e = 0;
	if (n < 0 || (size_t)n >= sizeof(req))
		e = ENAMETOOLONG;
	else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		e = errno;
	else if (write(fd, req, (size_t)n) != n)
		e = EIO; /* failed or short: the request did not go out whole */
	if (e) {
		close(fd);
		errno = e;
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t got;
	while (buf && (got = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)got;
		if (cap - len < 1024) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	else
		errno = ENOMEM;
	return buf;
}

char *tapiod_status_text(const struct tapiod *t)
{
	const char *args[] = { "status", NULL };
	int st;
	char *out = tapioctl_run(t, &st, args);
	if (!out || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		free(out);
		return strdup("");
	}
	return out;
}

char *tapiod_status_line(const struct tapiod *t, const char *name)
{
	char *out = tapiod_status_text(t), *line = NULL;
	size_t nl = strlen(name);
	for (char *save, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strncmp(l, name, nl) == 0 && l[nl] == ' ') {
			free(line);
			line = strdup(l);
		}
	free(out);
	return line ? line : strdup("");
}

bool tapiod_wait_status(struct tapiod *t, const char *name, const char *needle, int timeout_ms)
{
	double deadline = now_s() + harness_ms(timeout_ms) / 1000.0;
	while (now_s() < deadline) {
		char *l = tapiod_status_line(t, name);
		bool ok = strstr(l, needle) != NULL;
		free(l);
		if (ok)
			return true;
		tapiod_pump(t, 100);
	}
	return false;
}

pid_t tapiod_status_pid(const struct tapiod *t, const char *name)
{
	char *l = tapiod_status_line(t, name);
	char n[64], state[32];
	int pid = 0;
	if (sscanf(l, "%63s %31s %d", n, state, &pid) != 3)
		pid = 0;
	free(l);
	return pid;
}

int fake_container_create(struct fake_container *fc, const char *tag, const char *qos,
			  const char *pod_uid_underscored, const char *container_id)
{
	char root[256];
	memset(fc, 0, sizeof(*fc));
	if (cgroup2_find_mount(root, sizeof(root)) < 0)
		return -ENOENT;
	snprintf(fc->top, sizeof(fc->top), "%s/tapio-%s-%d", root, tag, (int)getpid());
	snprintf(fc->pod, sizeof(fc->pod), "%s/kubepods-%s-pod%s.slice", fc->top, qos,
		 pod_uid_underscored);
	snprintf(fc->ctr, sizeof(fc->ctr), "%s/cri-containerd-%s.scope", fc->pod, container_id);
	if (mkdir(fc->top, 0755) < 0 || mkdir(fc->pod, 0755) < 0 || mkdir(fc->ctr, 0755) < 0)
		return -errno;
	return 0;
}

int fake_container_enter(const struct fake_container *fc, pid_t pid)
{
	char procs[1100];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", fc->ctr);
	FILE *f = fopen(procs, "w");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)pid);
	return fclose(f) == 0 ? 0 : -errno;
}

void fake_container_remove(struct fake_container *fc)
{
	if (fc->ctr[0])
		rmdir(fc->ctr);
	if (fc->pod[0])
		rmdir(fc->pod);
	if (fc->top[0])
		rmdir(fc->top);
}

void assert_worker_sandboxed(pid_t pid)
{
	struct privilege_status st;
	cr_assert_eq(privilege_status_read(pid, &st), 0, "status of worker %d", (int)pid);
	cr_assert_eq(st.cap_eff, 0);
	cr_assert_eq(st.cap_prm, 0);
	cr_assert_eq(st.cap_amb, 0);
	cr_assert_eq(st.cap_inh, 0);
	cr_assert_eq(st.cap_bnd, 0);
	/* the worker's own ids: run_as_uid/gid (default 61000) + the collector's index */
	cr_assert(st.uid >= CONFIG_WORKER_ID_FIRST && st.uid < CONFIG_WORKER_ID_FIRST + 64,
		  "worker %d runs as uid %u", (int)pid, st.uid);
	cr_assert_eq(st.euid, st.uid);
	cr_assert_eq(st.gid, st.uid);
	cr_assert_eq(st.egid, st.uid);
	cr_assert_eq(st.no_new_privs, 1);
	cr_assert_eq(st.seccomp, 2);
}

void assert_container_context(json_object *ev, const char *container_id, const char *pod_uid,
			      const char *qos)
{
	cr_assert_str_eq(jstr(ev, "k8s.containerId"), container_id);
	cr_assert_str_eq(jstr(ev, "k8s.podUid"), pod_uid);
	cr_assert_str_eq(jstr(ev, "k8s.runtime"), "containerd");
	cr_assert_str_eq(jstr(ev, "k8s.qosClass"), qos);
}
