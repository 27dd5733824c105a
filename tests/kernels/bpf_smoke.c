// SPDX-License-Identifier: Apache-2.0
// bpf-smoke: load every program of the given BPF objects one by one (the verifier), attach it where
// its hook exists, drive a little real activity, and report per program whether it ran. Built for
// the machine under test (scripts/test-kernels-arm64.sh cross-builds it statically for arm64).
//
//   bpf-smoke [--tp OBJ/PROG=CAT/NAME,...] [--retry OBJ:VAR=VAL,...] [--exec PATH] [--cgroup DIR]
//             [--oom] [--module KO] OBJ.bpf.o...
//
// --tp gives the tracepoints of a program whose section names none (SEC("tp"): the collector
// attaches it to a list); --retry (repeatable, in order) the .rodata settings a collector loads
// again with when the first load fails; cgroup programs attach to --cgroup (a cgroup2 dir,
// /sys/fs/cgroup); --oom runs a child out of memory in a 4 MiB cgroup under it, --module loads and
// removes a kernel module (for a throwaway VM). A program whose hook the kernel lacks is reported
// absent, not loaded (the collector probes and leaves it out). One line per program:  SMOKE <obj>
// <prog> <section> <result> [detail]
//   result: loaded+attached | loaded (no attach: why) | absent | LOAD-FAILED | ATTACH-FAILED
// followed, for a failed load, by the tail of the verifier's log (SMOKE-LOG lines), and after the
// activity by SMOKE-RUNS <obj> <prog> <run count> for the attached ones. Exit: 0 every program
// loaded, 1 one did not, 2 usage.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROGS 256
#define MAX_TP	  64
#define LOG_KEEP  65536

struct tp_target {
	char obj[64];
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

/* A load-time fallback of a collector: the .rodata values it retries with when a load fails. */
struct retry {
	char obj[64];
	char sets[256]; /* VAR=VAL,VAR=VAL */
};

static const struct tp_target *find_tp(const struct tp_target *tps, int n, const char *obj,
				       const char *prog)
{
	for (int i = 0; i < n; i++)
		if (strcmp(tps[i].obj, obj) == 0 && strcmp(tps[i].prog, prog) == 0)
			return &tps[i];
	return NULL;
}

/* Attach one loaded program; returns 0 attached, 1 not attachable by itself, -errno failed. */
static const char *cgroup_dir = "/sys/fs/cgroup";

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = write(fd, s, strlen(s)) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Set .rodata variables (integers) of an opened object: "VAR=VAL,VAR=VAL". 0 or -errno. */
static int set_rodata(struct bpf_object *obj, const char *sets)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, ".rodata");
	const struct btf *btf = bpf_object__btf(obj);
	size_t size = 0;
	char *data = m ? (char *)bpf_map__initial_value(m, &size) : NULL;
	if (!data || !btf)
		return -ENOENT;
	int sec = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (sec < 0)
		return -ENOENT;
	const struct btf_type *t = btf__type_by_id(btf, (__u32)sec);
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", sets);
	char *save = NULL;
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		unsigned long long v = strtoull(eq + 1, NULL, 0);
		const struct btf_var_secinfo *vs = btf_var_secinfos(t);
		int found = 0;
		for (int j = 0; j < btf_vlen(t); j++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);
			if (strcmp(btf__name_by_offset(btf, var->name_off), kv) != 0)
				continue;
			if (vs->offset + vs->size > size || vs->size > sizeof(v))
				return -EINVAL;
			memcpy(data + vs->offset, &v, vs->size); /* little-endian: arm64, x86 */
			found = 1;
		}
		if (!found)
			return -ENOENT;
	}
	return 0;
}

/* Whether the hook a section names exists on this kernel: tracefs for classic tracepoints,
   the btf_trace_<name> type for BTF and raw tracepoints. 1 yes or unknown, 0 absent. */
static struct btf *vmlinux_btf(void)
{
	static struct btf *vmlinux;
	static int btf_tried;
	if (!btf_tried) {
		btf_tried = 1;
		vmlinux = btf__load_vmlinux_btf();
		if (libbpf_get_error(vmlinux))
			vmlinux = NULL;
	}
	return vmlinux;
}

/* The syscall functions the security collector's fentry/fexit programs attach to (security.c
   names them the same way): __<arch>_sys_<name>. */
#if defined(__x86_64__)
#define SYS_PREFIX "__x64_sys_"
#elif defined(__aarch64__)
#define SYS_PREFIX "__arm64_sys_"
#else
#define SYS_PREFIX "sys_"
#endif

/* A bare SEC("fentry") / SEC("fexit") program has its target set by its collector: fe_<name>
   and fx_<name> attach to the syscall function SYS_PREFIX<name> (the security collector's
   convention). Sets it; 1 set or not such a program, 0 the kernel has no such function. */
static int set_fentry_target(struct bpf_program *p, const char *sec, char *what, size_t what_len)
{
	const char *name = bpf_program__name(p);
	if ((strcmp(sec, "fentry") != 0 && strcmp(sec, "fexit") != 0) ||
	    (strncmp(name, "fe_", 3) != 0 && strncmp(name, "fx_", 3) != 0))
		return 1;
	char fn[128];
	snprintf(fn, sizeof(fn), "%s%s", SYS_PREFIX, name + 3);
	struct btf *vmlinux = vmlinux_btf();
	if (vmlinux && btf__find_by_name_kind(vmlinux, fn, BTF_KIND_FUNC) < 0) {
		snprintf(what, what_len, "no function %s in this kernel's BTF", fn);
		return 0;
	}
	if (bpf_program__set_attach_target(p, 0, fn) < 0) {
		snprintf(what, what_len, "cannot target %s", fn);
		return 0;
	}
	return 1;
}

static int hook_exists(const char *sec, char *what, size_t what_len)
{
	const char *rest;
	if ((rest = strchr(sec, '/')) &&
	    (strncmp(sec, "tp/", 3) == 0 || strncmp(sec, "tracepoint/", 11) == 0)) {
		char path[512];
		snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s", rest + 1);
		if (access("/sys/kernel/tracing/events", F_OK) == 0 && access(path, F_OK) != 0) {
			snprintf(what, what_len, "no tracepoint %s on this kernel", rest + 1);
			return 0;
		}
		return 1;
	}
	if (rest && (strncmp(sec, "tp_btf/", 7) == 0 || strncmp(sec, "raw_tp/", 7) == 0)) {
		struct btf *vmlinux = vmlinux_btf();
		char name[256];
		snprintf(name, sizeof(name), "btf_trace_%s", rest + 1);
		if (vmlinux && btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) < 0) {
			snprintf(what, what_len, "no tracepoint %s on this kernel", rest + 1);
			return 0;
		}
	}
	return 1;
}

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
		if (e == 524 /* ENOTSUPP */ && t == BPF_PROG_TYPE_TRACING) {
			/* verified, but the kernel has no BPF trampoline for this architecture
			 * (arm64 before 6.4): the collector's attach fails the same way and it
			 * takes its next hook set */
			snprintf(why, why_len, "no BPF trampoline on this kernel: the collector "
					       "falls back to its next hook set");
			return 1;
		}
		return -e;
	}
	l->links[l->n_links++] = k;
	snprintf(why, why_len, "%s", bpf_program__section_name(p));
	return 0;
}

/* Out of memory in a cgroup of its own (4 MiB, no swap): the kernel kills the child. */
static void oom_in_cgroup(void)
{
	char cg[512], f[600];
	snprintf(cg, sizeof(cg), "%s/bpf-smoke-oom-%d", cgroup_dir, (int)getpid());
	snprintf(f, sizeof(f), "%s/cgroup.subtree_control", cgroup_dir);
	write_file(f, "+memory");
	if (mkdir(cg, 0755) != 0)
		return;
	snprintf(f, sizeof(f), "%s/memory.max", cg);
	int ok = write_file(f, "4194304") == 0;
	snprintf(f, sizeof(f), "%s/memory.swap.max", cg);
	write_file(f, "0");
	pid_t c = ok ? fork() : -1;
	if (c == 0) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		snprintf(f, sizeof(f), "%s/cgroup.procs", cg);
		if (write_file(f, pid) == 0)
			for (int i = 0; i < 64; i++) {
				char *m = malloc(1 << 20);
				if (m)
					memset(m, 1, 1 << 20);
			}
		_exit(0);
	}
	if (c > 0)
		waitpid(c, NULL, 0);
	rmdir(cg);
}

/* A module loaded from a file and removed again (the module_load tracepoint). */
static void module_cycle(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (syscall(SYS_finit_module, fd, "", 0) == 0) {
		char name[64];
		snprintf(name, sizeof(name), "%s", base(path));
		name[strcspn(name, ".")] = '\0';
		syscall(SYS_delete_module, name, O_NONBLOCK);
	}
	close(fd);
}

/* Real activity for the hooks: exec, exit, fork, TCP connect and close (state changes, a reset),
   a UDP datagram to port 53, write, fsync and sync_file_range, setuid, getppid, unshare, setns,
   a cgroup mkdir and rmdir. With --oom an OOM kill, with --module a module load.
   Hooks nothing here reaches (a retransmit) report 0 runs. */
static void activity(const char *exec_path, int oom, const char *module)
{
	if (oom)
		oom_in_cgroup();
	if (module)
		module_cycle(module);
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
	static struct retry retries[MAX_TP];
	int n_retry = 0;
	int n_tp = 0, n = 0, failed = 0;
	const char *exec_path = "/bin/true";
	const char *module = NULL;
	int oom = 0;
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--tp") == 0 && i + 1 < argc && n_tp < MAX_TP) {
			const char *eq = strchr(argv[++i], '=');
			const char *sl = strchr(argv[i], '/');
			if (!eq || !sl || sl > eq)
				return 2;
			snprintf(tps[n_tp].obj, sizeof(tps[n_tp].obj), "%.*s", (int)(sl - argv[i]),
				 argv[i]);
			snprintf(tps[n_tp].prog, sizeof(tps[n_tp].prog), "%.*s", (int)(eq - sl - 1),
				 sl + 1);
			snprintf(tps[n_tp].targets, sizeof(tps[n_tp].targets), "%s", eq + 1);
			n_tp++;
		} else if (strcmp(argv[i], "--retry") == 0 && i + 1 < argc && n_retry < MAX_TP) {
			const char *c = strchr(argv[++i], ':');
			if (!c)
				return 2;
			snprintf(retries[n_retry].obj, sizeof(retries[n_retry].obj), "%.*s",
				 (int)(c - argv[i]), argv[i]);
			snprintf(retries[n_retry].sets, sizeof(retries[n_retry].sets), "%s", c + 1);
			n_retry++;
		} else if (strcmp(argv[i], "--oom") == 0) {
			oom = 1;
		} else if (strcmp(argv[i], "--module") == 0 && i + 1 < argc) {
			module = argv[++i];
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
	/* one object per program, each with its maps: far more descriptors than the default 1024 */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
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
			char absent[512];
			if (!hook_exists(sec, absent, sizeof(absent)) ||
			    !set_fentry_target(mine, sec, absent, sizeof(absent))) {
				/* the collector probes for it and leaves the program out */
				printf("SMOKE %s %s %s absent (%s)\n", objname, names[k], sec,
				       absent);
				bpf_object__close(obj);
				continue;
			}
			loglen = 0;
			logbuf[0] = '\0';
			int err = bpf_object__load(obj);
			char fallback[512] = "";
			/* the collector's own fallbacks, in its order: reopen with the next rodata
			 * set */
			for (int r = 0; err && r < n_retry; r++) {
				if (strcmp(retries[r].obj, objname) != 0)
					continue;
				if (!fallback[0]) {
					printf("SMOKE-LOG %s %s: first load failed (%s); the "
					       "collector's "
					       "fallbacks follow\n",
					       objname, names[k], strerror(-err));
					print_log_tail(6);
				}
				bpf_object__close(obj);
				obj = bpf_object__open_file(path, NULL);
				if (!obj)
					break;
				bpf_object__for_each_program(p, obj)
				{
					int me = strcmp(bpf_program__name(p), names[k]) == 0;
					bpf_program__set_autoload(p, me);
					if (me)
						mine = p;
				}
				sec = bpf_program__section_name(mine);
				set_fentry_target(mine, sec, absent, sizeof(absent));
				if (set_rodata(obj, retries[r].sets) < 0)
					continue;
				snprintf(fallback, sizeof(fallback), " with %s", retries[r].sets);
				loglen = 0;
				logbuf[0] = '\0';
				err = bpf_object__load(obj);
			}
			if (!obj) {
				failed++;
				continue;
			}
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
			char verified[600] = "";
			if (bpf_obj_get_info_by_fd(bpf_program__fd(mine), &info, &il) == 0 &&
			    info.verified_insns)
				snprintf(verified, sizeof(verified), "%s (%u insns verified)",
					 fallback, info.verified_insns);
			else
				snprintf(verified, sizeof(verified), "%s", fallback);
			struct loaded *l = &progs[n];
			memset(l, 0, sizeof(*l));
			l->obj = obj;
			snprintf(l->objname, sizeof(l->objname), "%s", objname);
			snprintf(l->prog, sizeof(l->prog), "%.63s", names[k]);
			char why[1024] = "";
			int a = attach(l, mine, find_tp(tps, n_tp, objname, names[k]), why,
				       sizeof(why));
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
	activity(exec_path, oom, module);
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
