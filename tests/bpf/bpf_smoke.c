// SPDX-License-Identifier: Apache-2.0
// bpf-smoke: load every program of the given BPF objects one by one (the verifier), attach it where
// its hook exists, drive a little real activity, and report per program whether it ran. Built for
// the machine under test (scripts/test-kernels-arm64.sh cross-builds it statically for arm64).
//
//   bpf-smoke [--tp PROG=CAT/NAME,...] [--exec PATH] [--cgroup DIR] OBJ.bpf.o...
//
// --tp gives the tracepoints of a program whose section names none (SEC("tp"): the collector
// attaches it to a list); cgroup programs attach to --cgroup (a cgroup2 dir, /sys/fs/cgroup).
// One line per program:  SMOKE <obj> <prog> <section> <result> [detail]
//   result: loaded+attached | loaded (no attach: why) | LOAD-FAILED | ATTACH-FAILED
// followed, for a failed load, by the tail of the verifier's log (SMOKE-LOG lines), and after the
// activity by SMOKE-RUNS <obj> <prog> <run count> for the attached ones. Exit: 0 every program
// loaded, 1 one did not, 2 usage.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROGS 256
#define MAX_TP	  64
#define LOG_KEEP  65536

struct tp_target {
	char prog[64];
	char targets[2048]; /* CAT/NAME,CAT/NAME */
};

struct loaded {
	struct bpf_object *obj; /* owned: the object with only this program loaded */
	struct bpf_link *links[MAX_TP];
	int n_links;
	char objname[64];
	char prog[64];
};

static char logbuf[LOG_KEEP];
static size_t loglen;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	if (loglen < sizeof(logbuf) - 1) {
		int n = vsnprintf(logbuf + loglen, sizeof(logbuf) - loglen, fmt, ap);
		if (n > 0)
			loglen += (size_t)n < sizeof(logbuf) - loglen ? (size_t)n
								      : sizeof(logbuf) - loglen - 1;
	}
	return 0;
}

/* The last lines of what libbpf printed (the verifier's log ends with the reason). */
static void print_log_tail(int lines)
{
	int seen = 0;
	size_t i = loglen;
	while (i > 0 && seen <= lines) {
		i--;
		if (logbuf[i] == '\n' && i + 1 < loglen)
			seen++;
	}
	char *s = logbuf + (i > 0 ? i + 1 : 0);
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
		printf("SMOKE-LOG %s\n", line);
}

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static const struct tp_target *find_tp(const struct tp_target *tps, int n, const char *prog)
{
	for (int i = 0; i < n; i++)
		if (strcmp(tps[i].prog, prog) == 0)
			return &tps[i];
	return NULL;
}

/* Attach one loaded program; returns 0 attached, 1 not attachable by itself, -errno failed. */
static const char *cgroup_dir = "/sys/fs/cgroup";

static int attach(struct loaded *l, struct bpf_program *p, const struct tp_target *tp, char *why,
		  size_t why_len)
{
	enum bpf_prog_type t = bpf_program__type(p);
	if (tp) {
		char buf[sizeof(tp->targets)];
		snprintf(buf, sizeof(buf), "%s", tp->targets);
		int ok = 0, bad = 0;
		char failed[512] = "";
		for (char *c = strtok(buf, ","); c; c = strtok(NULL, ",")) {
			char *slash = strchr(c, '/');
			if (!slash || l->n_links >= MAX_TP)
				continue;
			*slash = '\0';
			struct bpf_link *k = bpf_program__attach_tracepoint(p, c, slash + 1);
			if (!k) {
				size_t u = strlen(failed);
				snprintf(failed + u, sizeof(failed) - u, " %s(%s)", slash + 1,
					 strerror(errno));
				bad++;
				continue;
			}
			l->links[l->n_links++] = k;
			ok++;
		}
		snprintf(why, why_len, "%d tracepoints%s%s", ok, bad ? "; failed:" : "", failed);
		return ok > 0 ? 0 : -ENOENT;
	}
	if (t == BPF_PROG_TYPE_CGROUP_SKB) {
		int fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		struct bpf_link *k = bpf_program__attach_cgroup(p, fd);
		int e = errno;
		close(fd);
		if (!k)
			return -e;
		l->links[l->n_links++] = k;
		snprintf(why, why_len, "%s %s", bpf_program__section_name(p), cgroup_dir);
		return 0;
	}
	struct bpf_link *k = bpf_program__attach(p);
	if (!k) {
		int e = errno;
		if (e == EOPNOTSUPP || e == ESRCH) {
			snprintf(why, why_len,
				 "no attach target in its section: the collector picks it");
			return 1;
		}
		return -e;
	}
	l->links[l->n_links++] = k;
	snprintf(why, why_len, "%s", bpf_program__section_name(p));
	return 0;
}

/* Real activity for the hooks: exec, exit, fork, TCP connect and close (state changes, a reset),
   a UDP datagram to port 53, write, fsync and sync_file_range, setuid, getppid, unshare, setns,
   a cgroup mkdir and rmdir. Hooks nothing here reaches (OOM, module load, a retransmit) report
   0 runs. */
static void activity(const char *exec_path)
{
	for (int i = 0; i < 3; i++) {
		pid_t c = fork();
		if (c == 0) {
			execl(exec_path, exec_path, (char *)NULL);
			_exit(127);
		}
		if (c > 0)
			waitpid(c, NULL, 0);
	}
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(ls, 4) == 0 &&
	    getsockname(ls, (struct sockaddr *)&a, &al) == 0) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
			int s = accept(ls, NULL, NULL);
			if (s >= 0) {
				/* an abortive close: a reset */
				struct linger lg = {.l_onoff = 1, .l_linger = 0};
				setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				close(s);
			}
		}
		if (c >= 0)
			close(c);
		/* a connect to a closed port: the peer resets */
		close(ls);
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c >= 0) {
			(void)!connect(c, (struct sockaddr *)&a, sizeof(a));
			close(c);
		}
	}
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u >= 0) {
		/* a DNS query for example.com, type A */
		static const unsigned char q[] = {
			0x12, 0x34, 1,	 0,   0,   1, 0,   0,	0,   0, 0, 0, 7, 'e', 'x',
			'a',  'm',  'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
		struct sockaddr_in d = {.sin_family = AF_INET,
					.sin_port = htons(53),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		(void)!sendto(u, q, sizeof(q), 0, (struct sockaddr *)&d, sizeof(d));
		close(u);
	}
	char tmpl[] = "/tmp/bpf-smoke-XXXXXX";
	int f = mkstemp(tmpl);
	if (f >= 0) {
		(void)!write(f, "x", 1);
		(void)!sync_file_range(f, 0, 0, 0);
		fsync(f);
		fdatasync(f);
		close(f);
		unlink(tmpl);
	}
	(void)!setuid(getuid());
	(void)!setgid(getgid());
	(void)!getppid();
	(void)!unshare(0);
	(void)!setns(-1, 0);
	/* a cgroup made and removed under the cgroup2 dir */
	char cg[512];
	snprintf(cg, sizeof(cg), "%s/bpf-smoke-%d", cgroup_dir, (int)getpid());
	if (mkdir(cg, 0755) == 0)
		rmdir(cg);
}

int main(int argc, char **argv)
{
	static struct tp_target tps[MAX_TP];
	static struct loaded progs[MAX_PROGS];
	int n_tp = 0, n = 0, failed = 0;
	const char *exec_path = "/bin/true";
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--tp") == 0 && i + 1 < argc && n_tp < MAX_TP) {
			const char *eq = strchr(argv[++i], '=');
			if (!eq)
				return 2;
			snprintf(tps[n_tp].prog, sizeof(tps[n_tp].prog), "%.*s",
				 (int)(eq - argv[i]), argv[i]);
			snprintf(tps[n_tp].targets, sizeof(tps[n_tp].targets), "%s", eq + 1);
			n_tp++;
		} else if (strcmp(argv[i], "--exec") == 0 && i + 1 < argc) {
			exec_path = argv[++i];
		} else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) {
			cgroup_dir = argv[++i];
		} else {
			fprintf(stderr, "usage: bpf-smoke [--tp PROG=CAT/NAME,...] [--exec PATH] "
					"[--cgroup DIR] OBJ...\n");
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: bpf-smoke [--tp PROG=CAT/NAME,...] [--exec PATH] [--cgroup "
				"DIR] OBJ...\n");
		return 2;
	}
	libbpf_set_print(print_fn);
	/* run counts: the kernel counts runs only while stats are enabled (fd held) */
	int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		printf("SMOKE-NOTE run counts unavailable: %s\n", strerror(errno));

	for (; i < argc; i++) {
		const char *path = argv[i];
		char objname[64];
		snprintf(objname, sizeof(objname), "%s", base(path));
		char *dot = strstr(objname, ".bpf.o");
		if (dot)
			*dot = '\0';
		struct bpf_object *probe = bpf_object__open_file(path, NULL);
		if (!probe) {
			printf("SMOKE %s - - OPEN-FAILED %s\n", objname, strerror(errno));
			failed++;
			continue;
		}
		char names[MAX_PROGS][64];
		int np = 0;
		struct bpf_program *p;
		bpf_object__for_each_program(p, probe)
		{
			if (np < MAX_PROGS)
				snprintf(names[np++], sizeof(names[0]), "%s", bpf_program__name(p));
		}
		bpf_object__close(probe);

		for (int k = 0; k < np && n < MAX_PROGS; k++) {
			struct bpf_object *obj = bpf_object__open_file(path, NULL);
			if (!obj)
				continue;
			struct bpf_program *mine = NULL;
			bpf_object__for_each_program(p, obj)
			{
				int me = strcmp(bpf_program__name(p), names[k]) == 0;
				bpf_program__set_autoload(p, me);
				if (me)
					mine = p;
			}
			const char *sec = bpf_program__section_name(mine);
			loglen = 0;
			logbuf[0] = '\0';
			int err = bpf_object__load(obj);
			if (err) {
				printf("SMOKE %s %s %s LOAD-FAILED %s\n", objname, names[k], sec,
				       strerror(-err));
				print_log_tail(12);
				bpf_object__close(obj);
				failed++;
				continue;
			}
			struct bpf_prog_info info = {0};
			__u32 il = sizeof(info);
			char verified[64] = "";
			if (bpf_obj_get_info_by_fd(bpf_program__fd(mine), &info, &il) == 0 &&
			    info.verified_insns)
				snprintf(verified, sizeof(verified), " (%u insns verified)",
					 info.verified_insns);
			struct loaded *l = &progs[n];
			memset(l, 0, sizeof(*l));
			l->obj = obj;
			snprintf(l->objname, sizeof(l->objname), "%s", objname);
			snprintf(l->prog, sizeof(l->prog), "%.63s", names[k]);
			char why[1024] = "";
			int a = attach(l, mine, find_tp(tps, n_tp, names[k]), why, sizeof(why));
			if (a == 0)
				printf("SMOKE %s %s %s loaded+attached%s: %s\n", objname, names[k],
				       sec, verified, why);
			else if (a == 1)
				printf("SMOKE %s %s %s loaded%s (no attach: %s)\n", objname,
				       names[k], sec, verified, why);
			else
				printf("SMOKE %s %s %s ATTACH-FAILED%s: %s%s%s\n", objname,
				       names[k], sec, verified, strerror(-a), why[0] ? " " : "",
				       why);
			n++;
		}
	}
	fflush(stdout);
	activity(exec_path);
	for (int k = 0; k < n; k++) {
		if (progs[k].n_links == 0)
			continue;
		struct bpf_program *p =
			bpf_object__find_program_by_name(progs[k].obj, progs[k].prog);
		struct bpf_prog_info info = {0};
		__u32 il = sizeof(info);
		if (p && bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &il) == 0)
			printf("SMOKE-RUNS %s %s %llu\n", progs[k].objname, progs[k].prog,
			       (unsigned long long)info.run_cnt);
	}
	for (int k = 0; k < n; k++) {
		for (int j = 0; j < progs[k].n_links; j++)
			bpf_link__destroy(progs[k].links[j]);
		bpf_object__close(progs[k].obj);
	}
	if (stats_fd >= 0)
		close(stats_fd);
	printf("SMOKE-DONE %d programs loaded, %d failed\n", n, failed);
	return failed ? 1 : 0;
}
