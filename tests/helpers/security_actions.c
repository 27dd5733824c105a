// SPDX-License-Identifier: Apache-2.0
// Test helper for the security collector: performs real privilege-relevant actions, in the
// order given on the command line, and prints what the test needs to check (child pids, paths).
// Exit 0 when every action did what it should; any unexpected result exits 2 with a message.
//   security_actions [marker|capset|ptrace|bpf|mount|netns|ids|memfd|runc|rawsock|vmacct]...
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile unsigned long vm_secret = 0x7a7a7a7a5ec0de;

#define die(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "security_actions: " __VA_ARGS__);                                 \
		fprintf(stderr, " (%s)\n", strerror(errno));                                       \
		exit(2);                                                                           \
	} while (0)

static void do_capset(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		die("capget");
	d[0].effective &= ~(1u << CAP_NET_RAW);
	if (syscall(SYS_capset, &h, d) < 0)
		die("capset");
	printf("capset ok\n");
}

static void do_ptrace_vm(void)
{
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		for (;;)
			pause();
	}
	if (ptrace(PTRACE_ATTACH, child, NULL, NULL) < 0)
		die("ptrace attach");
	int st;
	if (waitpid(child, &st, __WALL) < 0)
		die("waitpid");
	unsigned long got = 0;
	struct iovec local = {&got, sizeof(got)};
	struct iovec remote = {(void *)&vm_secret, sizeof(got)};
	ssize_t n = process_vm_readv(child, &local, 1, &remote, 1, 0);
	if (n != (ssize_t)sizeof(got) || got != vm_secret)
		die("process_vm_readv returned %zd", n);
	if (ptrace(PTRACE_DETACH, child, NULL, NULL) < 0)
		die("ptrace detach");
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	printf("child %d\n", (int)child);
}

static void do_bpf(void)
{
	struct bpf_insn insns[2] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (unsigned long)insns;
	attr.insn_cnt = 2;
	attr.license = (unsigned long)"GPL";
	snprintf(attr.prog_name, sizeof(attr.prog_name), "tapio_sec_t");
	long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0)
		die("bpf prog load");
	close((int)fd);
	printf("bpf fd %ld\n", fd);
}

static void do_mount(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		die("unshare mnt");
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private");
	char dir[] = "/tmp/tapio-sec-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	if (mount("tapio-sec-src", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") < 0)
		die("mount tmpfs");
	if (umount2(dir, 0) < 0)
		die("umount");
	rmdir(dir);
	printf("mnt %s\n", dir);
}

static void do_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0)
		die("unshare net");
	printf("netns ok\n");
}

/* Under a name the test excludes, then under our own: only the second is reported. */
static void do_runc(void)
{
	char old[16] = "";
	prctl(PR_GET_NAME, old);
	prctl(PR_SET_NAME, "tapio-runc");
	if (unshare(CLONE_NEWUTS) < 0)
		die("unshare uts");
	prctl(PR_SET_NAME, old);
	if (unshare(CLONE_NEWIPC) < 0)
		die("unshare ipc");
	printf("runc ok\n");
}

/* Raw sockets: each asks for CAP_NET_RAW. */
static void do_rawsock(void)
{
	for (int i = 0; i < 50; i++) {
		int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
		if (s < 0)
			die("raw socket");
		close(s);
	}
	printf("rawsock ok\n");
}

/* Memory accounting asks for CAP_SYS_ADMIN (noaudit) on every private writable mapping and
 * every fork: 300 of each, none a use of the capability. Then one real use: unshare(UTS). */
static void do_vmacct(void)
{
	for (int i = 0; i < 300; i++) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);
		if (p == MAP_FAILED)
			die("mmap");
		munmap(p, 4096);
	}
	for (int i = 0; i < 300; i++) {
		pid_t c = fork();
		if (c < 0)
			die("fork");
		if (c == 0)
			_exit(0);
		if (waitpid(c, NULL, 0) != c)
			die("waitpid");
	}
	if (unshare(CLONE_NEWUTS) < 0)
		die("unshare uts");
	printf("vmacct ok\n");
}

/* Drop the effective uid and come back, then drop everything and fail to come back. */
static void do_ids(void)
{
	if (setresgid(-1, 4321, -1) < 0)
		die("setresgid");
	if (setresuid(-1, 4321, -1) < 0)
		die("setresuid");
	if (setuid(0) < 0)
		die("setuid back to 0");
	if (setresuid(4321, 4321, 4321) < 0)
		die("setresuid all");
	errno = 0;
	if (setuid(0) == 0 || errno != EPERM)
		die("setuid(0) after dropping everything should fail with EPERM");
	printf("ids ok\n");
}

static void do_memfd(void)
{
	int fd = memfd_create("tapio-sec", 0);
	if (fd < 0)
		die("memfd_create");
	int in = open("/bin/true", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		die("open /bin/true");
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			die("write memfd");
	close(in);
	fflush(stdout);
	char *argv[] = {"true", NULL};
	fexecve(fd, argv, environ);
	die("fexecve");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "marker") == 0) {
			if (setuid(getuid()) < 0)
				die("setuid");
		} else if (strcmp(a, "capset") == 0) {
			do_capset();
		} else if (strcmp(a, "ptrace") == 0) {
			do_ptrace_vm();
		} else if (strcmp(a, "bpf") == 0) {
			do_bpf();
		} else if (strcmp(a, "mount") == 0) {
			do_mount();
		} else if (strcmp(a, "netns") == 0) {
			do_netns();
		} else if (strcmp(a, "runc") == 0) {
			do_runc();
		} else if (strcmp(a, "rawsock") == 0) {
			do_rawsock();
		} else if (strcmp(a, "vmacct") == 0) {
			do_vmacct();
		} else if (strcmp(a, "ids") == 0) {
			do_ids();
		} else if (strcmp(a, "memfd") == 0) {
			do_memfd();
		} else {
			fprintf(stderr, "security_actions: unknown action %s\n", a);
			return 2;
		}
	}
	return 0;
}
