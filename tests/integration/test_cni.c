// SPDX-License-Identifier: Apache-2.0
// The CNI collector end to end: tapiod as a user runs it, the real reference plugins
// (Debian's containernetworking-plugins) called as a runtime calls them — environment and
// stdin config — against a network namespace and a bridge made for the test only, on a 10.x
// test subnet that never leaves that bridge.
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define PLUGIN_DIR "/usr/lib/cni"

struct env {
	char dir[128];	 /* temp dir: conf/, ipam/, bin/ */
	char netns[64];	 /* ip netns name */
	char bridge[16]; /* test bridge */
	char subnet[32]; /* 10.x.y.0/24 */
	char prefix[32]; /* 10.x.y. */
	char conf[1024]; /* the network config (stdin of the plugin) */
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	(void)st;
}

/* What a test set up on the host, undone by fini_host even when an assertion ends the test
 * early (criterion runs .fini after a failed assertion). */
static struct env *cur_env;
static char cur_conflist[256];
static bool cur_link, cur_containerd;

static void env_cleanup(struct env *e);

/* A worker whose tapiod is gone (orphaned: its parent is now init) still holds its uid, and
 * the next test's tapiod refuses to start while it does. Wait (at most 10 s) until none is
 * left. */
static void wait_orphans_gone(void)
{
	for (int round = 0; round < 100; round++) {
		bool any = false;
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d && (de = readdir(d)) && !any) {
			char p[300], comm[32] = "";
			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(p, sizeof(p), "/proc/%s/status", de->d_name);
			FILE *f = fopen(p, "r");
			if (!f)
				continue;
			char line[256];
			bool worker = false;
			while (fgets(line, sizeof(line), f)) {
				if (sscanf(line, "Name: %31s", comm) == 1)
					worker = strncmp(comm, "tapio-collector", 15) == 0;
				else if (worker && strcmp(line, "PPid:\t1\n") == 0)
					any = true;
			}
			fclose(f);
		}
		if (d)
			closedir(d);
		if (!any)
			return;
		usleep(100000);
	}
}

static pid_t cur_tapiod; /* the test's tapiod, stopped by fini_host after a failure */

static void fini_host(void)
{
	int st;
	/* Still our unreaped child (so its pid cannot be another process's): stop it. */
	if (cur_tapiod > 0 && waitpid(cur_tapiod, &st, WNOHANG) == 0) {
		kill(cur_tapiod, SIGTERM);
		for (int i = 0; i < 100 && waitpid(cur_tapiod, &st, WNOHANG) == 0; i++)
			usleep(100000);
		if (waitpid(cur_tapiod, &st, WNOHANG) == 0) {
			kill(cur_tapiod, SIGKILL);
			waitpid(cur_tapiod, &st, 0);
		}
	}
	if (cur_tapiod > 0)
		wait_orphans_gone();
	cur_tapiod = 0;
	if (cur_env)
		env_cleanup(cur_env);
	if (cur_conflist[0])
		unlink(cur_conflist);
	if (cur_link) {
		int r = system("rm -f /opt/cni/bin; rmdir /opt/cni 2>/dev/null");
		(void)r;
	}
	if (cur_containerd) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "%s/tests/helpers/cri-env.sh stop",
			 harness_source_dir());
		int r = system(cmd);
		(void)r;
	}
	cur_env = NULL;
	cur_conflist[0] = '\0';
	cur_link = cur_containerd = false;
}

static void env_setup(struct env *e)
{
	cur_env = e;
	snprintf(e->dir, sizeof(e->dir), "/tmp/tapio-cni-XXXXXX");
	cr_assert_not_null(mkdtemp(e->dir));
	/* The worker reads conf/ and ipam/ as its own unprivileged uid. */
	chmod(e->dir, 0755);
	char p[256];
	snprintf(p, sizeof(p), "%s/conf", e->dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/ipam", e->dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/bin", e->dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	int n = (int)(getpid() % 200) + 20;
	snprintf(e->netns, sizeof(e->netns), "tapio-cni-%d", (int)getpid());
	snprintf(e->bridge, sizeof(e->bridge), "tapcni%d", n);
	snprintf(e->subnet, sizeof(e->subnet), "10.253.%d.0/24", n);
	snprintf(e->prefix, sizeof(e->prefix), "10.253.%d.", n);
	snprintf(e->conf, sizeof(e->conf),
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"tapio-it-%d\",\"type\":\"bridge\","
		 "\"bridge\":\"%s\",\"isGateway\":true,\"ipMasq\":false,"
		 "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"%s\",\"dataDir\":\"%s/ipam\"}}",
		 n, e->bridge, e->subnet, e->dir);
	sh("ip netns del %s 2>/dev/null; ip link del %s 2>/dev/null", e->netns, e->bridge);
}

static void env_cleanup(struct env *e)
{
	cur_env = NULL;
	sh("ip netns del %s 2>/dev/null; ip link del %s 2>/dev/null; rm -rf %s", e->netns,
	   e->bridge, e->dir);
}

/* Run a plugin as libcni does: the process's environment with the CNI_* variables appended,
 * the config on stdin, the result read from stdout. extra: one more variable before the
 * CNI ones (or NULL). Returns the wait status; *ret_pid the plugin's pid. */
static int run_plugin(const char *path, const char *cmd, const char *cid, const char *netns,
		      const char *ifname, const char *conf, const char *extra, char *out,
		      size_t out_size, pid_t *ret_pid)
{
	int in[2], o[2];
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(o), 0);
	char vars[5][512];
	snprintf(vars[0], sizeof(vars[0]), "CNI_COMMAND=%s", cmd);
	snprintf(vars[1], sizeof(vars[1]), "CNI_CONTAINERID=%s", cid);
	snprintf(vars[2], sizeof(vars[2]), "CNI_NETNS=%s", netns);
	snprintf(vars[3], sizeof(vars[3]), "CNI_IFNAME=%s", ifname);
	snprintf(vars[4], sizeof(vars[4]), "CNI_PATH=%s", PLUGIN_DIR);
	/* A runtime's own small environment, then the CNI variables, as libcni appends them. */
	char *envp[8];
	size_t k = 0;
	envp[k++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	if (extra)
		envp[k++] = (char *)extra;
	for (int i = 0; i < 5; i++)
		envp[k++] = vars[i];
	envp[k] = NULL;
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(o[1], 1);
		close(in[1]);
		close(o[0]);
		char *argv[] = {(char *)path, NULL};
		execve(path, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	size_t len = strlen(conf);
	cr_assert_eq(write(in[1], conf, len), (ssize_t)len);
	close(in[1]);
	size_t got = 0;
	ssize_t r;
	while ((r = read(o[0], out + got, out_size - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(o[0]);
	int status;
	waitpid(pid, &status, 0);
	*ret_pid = pid;
	return status;
}

/* The events whose type starts with prefix, into the test's log (after a failed wait). */
static void dump_events(struct tapiod *t, const char *prefix)
{
	for (size_t i = 0; i < t->n_events; i++) {
		const char *type = jstr(t->events[i], "type");
		if (type && strncmp(type, prefix, strlen(prefix)) == 0)
			cr_log_error("event: %s", json_object_to_json_string(t->events[i]));
	}
}

static uint64_t boot_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *basename_of_path(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* A boolean field: 1 true, 0 false, -1 absent or not a boolean. */
static int jbool(json_object *ev, const char *path)
{
	json_object *o = ev;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strtok(buf, "."); s; s = strtok(NULL, "."))
		if (!json_object_object_get_ex(o, s, &o))
			return -1;
	return json_object_is_type(o, json_type_boolean) ? json_object_get_boolean(o) : -1;
}

struct invoke_match {
	const char *plugin;
	const char *command;
	const char *cid;
	long long pid; /* 0 = any */
};

static bool match_invoke(json_object *ev, void *arg)
{
	struct invoke_match *m = arg;
	const char *type = jstr(ev, "type"), *pl = jstr(ev, "cni.plugin");
	const char *cmd = jstr(ev, "cni.command"), *cid = jstr(ev, "cni.containerId");
	return type && strcmp(type, "cni.invoke") == 0 && pl && strcmp(pl, m->plugin) == 0 && cmd &&
	       strcmp(cmd, m->command) == 0 && cid && strcmp(cid, m->cid) == 0 &&
	       (!m->pid || jint(ev, "cni.pid", -1) == m->pid);
}

struct kv_match {
	const char *type;
	const char *k1, *v1, *k2, *v2;
	const char *ki;
	long long vi;
};

/* type, up to two string fields and one integer field equal. */
static bool match_kv(json_object *ev, void *arg)
{
	struct kv_match *m = arg;
	const char *type = jstr(ev, "type");
	if (!type || strcmp(type, m->type) != 0)
		return false;
	const char *a = m->k1 ? jstr(ev, m->k1) : NULL, *b = m->k2 ? jstr(ev, m->k2) : NULL;
	if (m->k1 && (!a || strcmp(a, m->v1) != 0))
		return false;
	if (m->k2 && (!b || strcmp(b, m->v2) != 0))
		return false;
	if (m->ki && jint(ev, m->ki, -12345) != m->vi)
		return false;
	return true;
}

static json_object *arr_idx(json_object *ev, const char *path, size_t i)
{
	json_object *o = ev, *v;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strtok(buf, "."); s; s = strtok(NULL, "."))
		if (!json_object_object_get_ex(o, s, &o))
			return NULL;
	if (!json_object_is_type(o, json_type_array) || i >= json_object_array_length(o))
		return NULL;
	v = json_object_array_get_idx(o, i);
	return v;
}

static void start(struct tapiod *t, const struct env *e, const char *extra)
{
	char cfg[2048];
	snprintf(cfg, sizeof(cfg),
		 "  cni:\n    enabled: true\n    config_dir: %s/conf\n    ipam_dir: %s/ipam\n"
		 "    plugin_dirs: [%s, %s/bin]\n%s",
		 e->dir, e->dir, PLUGIN_DIR, e->dir, extra ? extra : "");
	cr_assert_eq(tapiod_start(t, cfg), 0);
	cur_tapiod = t->pid;
	cr_assert(tapiod_wait_state(t, "cni", "READY", 20000), "cni not READY; log:\n%s",
		  tapiod_log(t));
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

static void require_plugins(void)
{
	harness_require_root();
	if (access(PLUGIN_DIR "/bridge", X_OK) != 0 || access(PLUGIN_DIR "/host-local", X_OK) != 0)
		cr_assert_fail(
			"containernetworking-plugins not installed (scripts/install-deps.sh)");
}

Test(cni, add_check_del_with_real_plugins, .timeout = 120, .fini = fini_host)
{
	require_plugins();
	static struct env e; /* static: fini_host may use it after the test returned */
	env_setup(&e);
	/* As after a boot: no /var/run/netns until the first namespace is named. The worker's
	 * sandbox can only grant a directory that exists, so the worker creates it; with an
	 * earlier namespace still named the directory stays and this case is not made. */
	bool fresh = false;
	if (dir_is_empty("/var/run/netns")) {
		while (umount2("/var/run/netns", MNT_DETACH) == 0)
			; /* ip netns bind-mounts the directory onto itself */
		fresh = rmdir("/var/run/netns") == 0;
	}
	cr_log_info("/var/run/netns %s before tapiod", fresh ? "removed" : "kept (not empty)");
	struct tapiod t;
	start(&t, &e, NULL);
	struct stat dst;
	cr_assert_eq(stat("/var/run/netns", &dst), 0, "the cni worker did not create /var/run/netns");

	/* The namespace, as a runtime makes one (ip netns add: unshare + bind mount). */
	sh("ip netns add %s", e.netns);
	char nspath[128];
	snprintf(nspath, sizeof(nspath), "/var/run/netns/%s", e.netns);
	struct stat nst;
	cr_assert_eq(stat(nspath, &nst), 0);

	char cid[64], out[16384];
	snprintf(cid, sizeof(cid), "tapio-it-%d", (int)getpid());
	pid_t add_pid;
	int st = run_plugin(PLUGIN_DIR "/bridge", "ADD", cid, nspath, "eth0", e.conf, NULL, out,
			    sizeof(out), &add_pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bridge ADD failed: %s", out);
	json_object *res = json_tokener_parse(out);
	cr_assert_not_null(res, "bridge printed no JSON: %s", out);
	const char *ip =
		jstr(json_object_array_get_idx(json_object_object_get(res, "ips"), 0), "address");
	cr_assert_not_null(ip);
	cr_assert(strncmp(ip, e.prefix, strlen(e.prefix)) == 0, "ip %s not in %s", ip, e.subnet);
	char bare_ip[64];
	snprintf(bare_ip, sizeof(bare_ip), "%.*s", (int)strcspn(ip, "/"), ip);

	/* cni.invoke of bridge ADD: every field against what the plugin printed. */
	struct invoke_match im = {"bridge", "ADD", cid, add_pid};
	json_object *ev = tapiod_wait(&t, match_invoke, &im, 10000);
	cr_assert_not_null(ev, "no cni.invoke for bridge ADD; log:\n%s", tapiod_log(&t));
	cr_assert_str_eq(jstr(ev, "collector"), "cni");
	cr_assert_str_eq(jstr(ev, "cni.netns"), nspath);
	cr_assert_str_eq(jstr(ev, "cni.ifname"), "eth0");
	cr_assert_str_eq(jstr(ev, "cni.cniPath"), PLUGIN_DIR);
	cr_assert_eq(jint(ev, "cni.exitCode", -1), 0);
	cr_assert_gt(jint(ev, "cni.durationNs", 0), 0);
	cr_assert_lt(jint(ev, "cni.durationNs", 0), 60000000000LL);
	cr_assert_eq(jint(ev, "cni.netnsInode", 0), (long long)nst.st_ino);
	cr_assert_eq(jint(ev, "process.ppid", 0), getpid());
	cr_assert_str_eq(jstr(ev, "process.comm"), "bridge");
	cr_assert_str_eq(jstr(ev, "k8s.containerId"), cid);
	cr_assert_eq(jint(ev, "cni.parentPluginPid", -1), -1, "bridge has no parent plugin");
	cr_assert_eq(jint(ev, "cni.outputBytes", 0), (long long)strlen(out));
	cr_assert_str_eq(jstr(ev, "cni.cniVersion"), "1.0.0");
	json_object *eip = arr_idx(ev, "cni.resultIps", 0);
	cr_assert_not_null(eip);
	cr_assert_str_eq(jstr(eip, "address"), ip);
	cr_assert_str_eq(
		jstr(eip, "gateway"),
		jstr(json_object_array_get_idx(json_object_object_get(res, "ips"), 0), "gateway"));
	cr_assert_str_eq(json_object_get_string(arr_idx(ev, "cni.ips", 0)), ip);
	json_object *ifs = json_object_object_get(res, "interfaces");
	size_t nif = json_object_array_length(ifs);
	cr_assert_eq(nif, 3);
	char veth[IFNAMSIZ] = "";
	for (size_t i = 0; i < nif; i++) {
		json_object *ri = arr_idx(ev, "cni.resultInterfaces", i);
		cr_assert_not_null(ri);
		json_object *pi = json_object_array_get_idx(ifs, i);
		cr_assert_str_eq(jstr(ri, "name"), jstr(pi, "name"));
		cr_assert_str_eq(jstr(ri, "mac"), jstr(pi, "mac"));
		if (i == 1)
			snprintf(veth, sizeof(veth), "%s", jstr(pi, "name"));
	}
	cr_assert_str_eq(jstr(arr_idx(ev, "cni.resultInterfaces", 2), "sandbox"), nspath);
	cr_assert_eq(jbool(ev, "cni.envTruncated"), 0);
	cr_assert_eq(jbool(ev, "cni.outputTruncated"), 0);

	/* host-local, delegated by bridge: linked to it. */
	struct invoke_match hm = {"host-local", "ADD", cid, 0};
	json_object *hl = tapiod_wait(&t, match_invoke, &hm, 10000);
	cr_assert_not_null(hl, "no cni.invoke for host-local ADD");
	cr_assert_eq(jint(hl, "cni.parentPluginPid", 0), add_pid);
	cr_assert_eq(jint(hl, "process.ppid", 0), add_pid);
	cr_assert_str_eq(json_object_get_string(arr_idx(hl, "cni.ips", 0)), ip);

	/* The IPAM lease. */
	char net[64];
	snprintf(net, sizeof(net), "tapio-it-%d", (int)(getpid() % 200) + 20);
	struct kv_match am = {
		"cni.ipam", "cni.ipam.action", "allocate", "cni.ipam.ip", bare_ip, NULL, 0};
	json_object *lease = tapiod_wait(&t, match_kv, &am, 10000);
	cr_assert_not_null(lease, "no cni.ipam allocate for %s", bare_ip);
	cr_assert_str_eq(jstr(lease, "cni.ipam.network"), net);
	cr_assert_str_eq(jstr(lease, "cni.ipam.containerId"), cid);
	cr_assert_str_eq(jstr(lease, "cni.ipam.ifname"), "eth0");

	/* Links: the bridge, the host end of the veth on it, its peer eth0 in the pod netns. */
	unsigned br_idx = if_nametoindex(e.bridge), veth_idx = if_nametoindex(veth);
	cr_assert_gt(br_idx, 0);
	cr_assert_gt(veth_idx, 0);
	struct kv_match bm = {"net.link", "cni.link.name",    e.bridge, "cni.link.kind",
			      "bridge",	  "cni.link.netnsid", -1};
	json_object *bl = tapiod_wait(&t, match_kv, &bm, 10000);
	cr_assert_not_null(bl, "no net.link for bridge %s", e.bridge);
	cr_assert_eq(jint(bl, "cni.link.ifindex", 0), br_idx);
	cr_assert_eq(jint(bl, "cni.link.mtu", 0), 1500);
	struct kv_match vm = {"net.link", "cni.link.name",	    veth,  "cni.link.kind",
			      "veth",	  "cni.link.masterIfindex", br_idx};
	json_object *vl = tapiod_wait(&t, match_kv, &vm, 10000);
	cr_assert_not_null(vl, "no net.link for veth %s on the bridge", veth);
	cr_assert_eq(jint(vl, "cni.link.netnsid", 0), -1);
	cr_assert_eq(jint(vl, "cni.link.ifindex", 0), veth_idx);
	long long pod_nsid = jint(vl, "cni.link.peerNetnsid", -1);
	cr_assert_geq(pod_nsid, 0, "veth peer namespace id");
	long long peer_idx = jint(vl, "cni.link.peerIfindex", 0);
	cr_assert_gt(peer_idx, 0);
	struct kv_match em = {"net.link", "cni.link.name",    "eth0",  "cni.link.kind",
			      "veth",	  "cni.link.netnsid", pod_nsid};
	json_object *el = tapiod_wait(&t, match_kv, &em, 10000);
	cr_assert_not_null(el, "no net.link for eth0 in the pod namespace (nsid %lld)", pod_nsid);
	cr_assert_eq(jint(el, "cni.link.ifindex", 0), peer_idx);
	cr_assert_eq(jint(el, "cni.link.peerIfindex", 0), veth_idx);
	cr_assert_str_eq(jstr(el, "cni.link.mac"), jstr(json_object_array_get_idx(ifs, 2), "mac"));
	/* Addresses: the pod's in its namespace, the gateway on the bridge. */
	struct kv_match pa = {"net.addr", "cni.addr.address", ip,      "cni.addr.action",
			      "new",	  "cni.addr.netnsid", pod_nsid};
	json_object *pad = tapiod_wait(&t, match_kv, &pa, 10000);
	cr_assert_not_null(pad, "no net.addr %s in the pod namespace", ip);
	cr_assert_eq(jint(pad, "cni.addr.ifindex", 0), peer_idx);
	char gw[64];
	snprintf(gw, sizeof(gw), "%s1/24", e.prefix);
	struct kv_match ga = {"net.addr", "cni.addr.address", gw, "cni.addr.label",
			      e.bridge,	  "cni.addr.netnsid", -1};
	json_object *gad = tapiod_wait(&t, match_kv, &ga, 10000);
	cr_assert_not_null(gad, "no net.addr %s on the bridge", gw);
	cr_assert_eq(jint(gad, "cni.addr.ifindex", 0), br_idx);

	/* The namespace's creation (ip netns add unshares) and bridge entering it (setns). */
	struct kv_match nc = {"netns.create",	"cni.netnsOp",	      "unshare", NULL, NULL,
			      "cni.netnsInode", (long long)nst.st_ino};
	json_object *ncev = tapiod_wait(&t, match_kv, &nc, 10000);
	cr_assert_not_null(ncev, "no netns.create for inode %llu", (unsigned long long)nst.st_ino);
	cr_assert_str_eq(jstr(ncev, "process.comm"), "ip");
	cr_assert_gt(jint(ncev, "cni.oldNetnsInode", 0), 0);
	cr_assert_neq(jint(ncev, "cni.oldNetnsInode", 0), (long long)nst.st_ino);
	struct kv_match ne = {"netns.enter", "cni.netns",   nspath, NULL,
			      NULL,	     "process.pid", add_pid};
	json_object *neev = tapiod_wait(&t, match_kv, &ne, 10000);
	if (!neev)
		dump_events(&t, "netns.");
	cr_assert_not_null(neev, "no netns.enter of bridge into %s", nspath);
	cr_assert_eq(jint(neev, "cni.netnsInode", 0), (long long)nst.st_ino);

	/* CHECK, with an environment larger than the kernel copies: the CNI_* variables come
	 * last, as libcni appends them, and are still read. */
	size_t big = 6000;
	char *pad_var = malloc(big + 8);
	memcpy(pad_var, "PADDING=", 8);
	memset(pad_var + 8, 'x', big - 1);
	pad_var[8 + big - 1] = '\0';
	char prev[16384];
	snprintf(prev, sizeof(prev), "%.*s,\"prevResult\":%s}", (int)strlen(e.conf) - 1, e.conf,
		 out);
	pid_t chk_pid;
	char out2[4096];
	st = run_plugin(PLUGIN_DIR "/bridge", "CHECK", cid, nspath, "eth0", prev, pad_var, out2,
			sizeof(out2), &chk_pid);
	free(pad_var);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bridge CHECK failed: %s", out2);
	struct invoke_match cm = {"bridge", "CHECK", cid, chk_pid};
	ev = tapiod_wait(&t, match_invoke, &cm, 10000);
	cr_assert_not_null(ev, "no cni.invoke for bridge CHECK");
	cr_assert_eq(jbool(ev, "cni.envTruncated"), 1);
	cr_assert_str_eq(jstr(ev, "cni.netns"), nspath);
	cr_assert_str_eq(jstr(ev, "cni.ifname"), "eth0");
	cr_assert_eq(jint(ev, "cni.exitCode", -1), 0);

	/* DEL: the invocation and the lease's release. */
	pid_t del_pid;
	st = run_plugin(PLUGIN_DIR "/bridge", "DEL", cid, nspath, "eth0", e.conf, NULL, out2,
			sizeof(out2), &del_pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bridge DEL failed: %s", out2);
	struct invoke_match dm = {"bridge", "DEL", cid, del_pid};
	ev = tapiod_wait(&t, match_invoke, &dm, 10000);
	cr_assert_not_null(ev, "no cni.invoke for bridge DEL");
	cr_assert_eq(jint(ev, "cni.exitCode", -1), 0);
	cr_assert_eq(jint(ev, "cni.outputBytes", -1), 0);
	struct kv_match rm = {
		"cni.ipam", "cni.ipam.action", "release", "cni.ipam.ip", bare_ip, NULL, 0};
	json_object *rel = tapiod_wait(&t, match_kv, &rm, 10000);
	cr_assert_not_null(rel, "no cni.ipam release for %s", bare_ip);
	cr_assert_str_eq(jstr(rel, "cni.ipam.containerId"), cid);
	struct kv_match dl = {"net.link", "cni.link.name",    "eth0",  "cni.link.action",
			      "del",	  "cni.link.netnsid", pod_nsid};
	cr_assert_not_null(tapiod_wait(&t, match_kv, &dl, 10000), "no net.link del of eth0");

	json_object_put(res);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_cleanup(&e);
}

Test(cni, failing_add_config_dir_and_hostile_output, .timeout = 120, .fini = fini_host)
{
	require_plugins();
	static struct env e; /* static: fini_host may use it after the test returned */
	env_setup(&e);
	/* A "plugin" that writes 10 MB to stdout: dd, copied into a plugin directory. */
	char big[256];
	snprintf(big, sizeof(big), "%s/bin/bigplugin", e.dir);
	sh("cp /bin/dd %s", big);
	struct tapiod t;
	start(&t, &e, "    result_capture_bytes: 4096\n");
	sh("ip netns add %s", e.netns);
	char nspath[128];
	snprintf(nspath, sizeof(nspath), "/var/run/netns/%s", e.netns);

	/* ADD with a broken config: the plugin's error code and message. */
	char bad[1024], cid[64], out[8192];
	snprintf(cid, sizeof(cid), "tapio-bad-%d", (int)getpid());
	snprintf(bad, sizeof(bad),
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"tapio-bad\",\"type\":\"bridge\","
		 "\"bridge\":\"%s\",\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.253.300.0/"
		 "24\","
		 "\"dataDir\":\"%s/ipam\"}}",
		 e.bridge, e.dir);
	pid_t pid;
	int st = run_plugin(PLUGIN_DIR "/bridge", "ADD", cid, nspath, "eth0", bad, NULL, out,
			    sizeof(out), &pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "bad ADD succeeded: %s", out);
	json_object *err = json_tokener_parse(out);
	cr_assert_not_null(err, "no error JSON: %s", out);
	long long code = json_object_get_int64(json_object_object_get(err, "code"));
	const char *msg = json_object_get_string(json_object_object_get(err, "msg"));
	cr_assert_gt(code, 0);
	cr_assert_not_null(msg);
	struct invoke_match im = {"bridge", "ADD", cid, pid};
	json_object *ev = tapiod_wait(&t, match_invoke, &im, 10000);
	cr_assert_not_null(ev, "no cni.invoke for the failing ADD; log:\n%s", tapiod_log(&t));
	cr_assert_eq(jint(ev, "cni.exitCode", 0), WEXITSTATUS(st));
	cr_assert_eq(jint(ev, "cni.errorCode", 0), code);
	cr_assert_str_eq(jstr(ev, "cni.error"), msg);
	cr_assert_eq(jbool(ev, "cni.resultInvalid"), 0);
	json_object_put(err);

	/* 10 MB of output: counted, capture bounded, not a result, no crash. */
	pid_t bp = fork();
	if (bp == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(big, "bigplugin", "if=/dev/zero", "bs=1M", "count=10", (char *)NULL);
		_exit(127);
	}
	waitpid(bp, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct kv_match bm = {"cni.invoke", "cni.plugin", "bigplugin", NULL, NULL, "cni.pid", bp};
	ev = tapiod_wait(&t, match_kv, &bm, 10000);
	cr_assert_not_null(ev, "no cni.invoke for the 10 MB writer");
	/* fd 1 and 2: the 10 MB and dd's summary on stderr. */
	long long bytes = jint(ev, "cni.outputBytes", 0);
	cr_assert(bytes >= 10LL << 20 && bytes < (10LL << 20) + 4096, "outputBytes %lld", bytes);
	cr_assert_eq(jbool(ev, "cni.outputTruncated"), 1);
	cr_assert_eq(jbool(ev, "cni.resultInvalid"), 1);
	cr_assert_null(jstr(ev, "cni.command"), "dd had no CNI_COMMAND");

	/* The config directory: a valid list, a broken file, a removal. */
	char p[256];
	snprintf(p, sizeof(p), "%s/conf/10-tapio.conflist", e.dir);
	FILE *f = fopen(p, "w");
	fprintf(f, "{\"cniVersion\":\"1.0.0\",\"name\":\"tapio-list\",\"plugins\":["
		   "{\"type\":\"bridge\"},{\"type\":\"portmap\"}]}\n");
	fclose(f);
	struct kv_match cm = {
		"cni.config", "cni.config.file", p, "cni.config.action", "changed", NULL, 0};
	ev = tapiod_wait(&t, match_kv, &cm, 10000);
	cr_assert_not_null(ev, "no cni.config for %s", p);
	cr_assert_str_eq(jstr(ev, "cni.config.name"), "tapio-list");
	cr_assert_str_eq(jstr(ev, "cni.config.cniVersion"), "1.0.0");
	cr_assert_str_eq(json_object_get_string(arr_idx(ev, "cni.config.plugins", 0)), "bridge");
	cr_assert_str_eq(json_object_get_string(arr_idx(ev, "cni.config.plugins", 1)), "portmap");
	cr_assert_null(jstr(ev, "cni.config.error"));
	char p2[256];
	snprintf(p2, sizeof(p2), "%s/conf/20-broken.conf", e.dir);
	f = fopen(p2, "w");
	fprintf(f, "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",");
	fclose(f);
	struct kv_match bc = {"cni.config",
			      "cni.config.file",
			      p2,
			      "cni.config.error",
			      "not a JSON object",
			      NULL,
			      0};
	cr_assert_not_null(tapiod_wait(&t, match_kv, &bc, 10000), "no cni.config error for %s", p2);
	unlink(p);
	struct kv_match rc = {
		"cni.config", "cni.config.file", p, "cni.config.action", "removed", NULL, 0};
	cr_assert_not_null(tapiod_wait(&t, match_kv, &rc, 10000), "no cni.config removal");

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_cleanup(&e);
}

/* A real runtime calling the plugins: a private containerd (tests/helpers/cri-env.sh, its own
 * state and socket) and `ctr run --cni`, which runs the first network list of /etc/cni/net.d
 * from /opt/cni/bin — here a bridge + host-local + portmap chain on a test bridge and subnet. */
Test(cni, containerd_ctr_run_cni_chain, .timeout = 180, .fini = fini_host)
{
	require_plugins();
	setenv("CRI_ENV_DIR", "/var/lib/tapio-test/cni-ctr", 1);
	setenv("CRI_ENV_RUN", "/run/tapio-test-cni", 1);
	char cmd[1024], sock[256] = "";
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/cri-env.sh start", harness_source_dir());
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	bool ok = fgets(sock, sizeof(sock), f) != NULL;
	int st = pclose(f);
	cr_assert(ok && WIFEXITED(st) && WEXITSTATUS(st) == 0, "cri-env.sh start failed");
	sock[strcspn(sock, "\n")] = '\0';
	cur_containerd = true;

	static struct env e; /* static: fini_host may use it after the test returned */
	env_setup(&e);
	/* ctr's CNI library reads these fixed paths. */
	bool made_link = false;
	if (access("/opt/cni/bin", F_OK) != 0) {
		sh("mkdir -p /opt/cni && ln -s " PLUGIN_DIR " /opt/cni/bin");
		made_link = true;
		cur_link = true;
	}
	sh("mkdir -p /etc/cni/net.d");
	char conflist[256];
	snprintf(conflist, sizeof(conflist), "/etc/cni/net.d/00-tapio-it-%d.conflist",
		 (int)getpid());
	snprintf(cur_conflist, sizeof(cur_conflist), "%s", conflist);
	f = fopen(conflist, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"{\"cniVersion\":\"1.0.0\",\"name\":\"tapio-ctr\",\"plugins\":["
		"{\"type\":\"bridge\",\"bridge\":\"%s\",\"isGateway\":true,\"ipMasq\":false,"
		"\"ipam\":{\"type\":\"host-local\",\"subnet\":\"%s\",\"dataDir\":\"%s/ipam\"}},"
		"{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}\n",
		e.bridge, e.subnet, e.dir);
	fclose(f);

	struct tapiod t;
	start(&t, &e, NULL);
	char id[64], cid[80];
	snprintf(id, sizeof(id), "tapio-cni-%d", (int)getpid());
	snprintf(cid, sizeof(cid), "k8s.io-%s", id);
	snprintf(cmd, sizeof(cmd),
		 "timeout 60 ctr -a %s -n k8s.io run --cni --rm docker.io/tapio-test/busybox:1 %s "
		 "/bin/true",
		 sock, id);
	st = system(cmd);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ctr run --cni failed");

	/* ADD of the chain, in order, by the same runtime process. */
	struct invoke_match bm = {"bridge", "ADD", cid, 0};
	json_object *br = tapiod_wait(&t, match_invoke, &bm, 15000);
	cr_assert_not_null(br, "no cni.invoke bridge ADD from containerd; log:\n%s",
			   tapiod_log(&t));
	cr_assert_eq(jint(br, "cni.exitCode", -1), 0);
	cr_assert_str_eq(jstr(br, "cni.ifname"), "eth0");
	cr_assert(strncmp(jstr(br, "cni.netns"), "/proc/", 6) == 0, "netns %s",
		  jstr(br, "cni.netns"));
	cr_assert_not_null(strstr(jstr(br, "cni.cniPath"), "/opt/cni/bin"));
	/* The netns inode, from the plugin's own setns (its /proc path is not ours to stat). */
	struct kv_match nm = {"netns.enter", "process.comm",	     "bridge", NULL, NULL,
			      "process.pid", jint(br, "cni.pid", -1)};
	json_object *ne = tapiod_wait(&t, match_kv, &nm, 10000);
	cr_assert_not_null(ne, "no netns.enter of bridge");
	cr_assert_gt(jint(br, "cni.netnsInode", 0), 0);
	cr_assert_eq(jint(br, "cni.netnsInode", 0), jint(ne, "cni.netnsInode", -1));
	const char *ip = json_object_get_string(arr_idx(br, "cni.ips", 0));
	cr_assert_not_null(ip);
	cr_assert(strncmp(ip, e.prefix, strlen(e.prefix)) == 0, "ip %s", ip);
	struct invoke_match hm = {"host-local", "ADD", cid, 0};
	json_object *hl = tapiod_wait(&t, match_invoke, &hm, 10000);
	cr_assert_not_null(hl);
	cr_assert_eq(jint(hl, "cni.parentPluginPid", 0), jint(br, "cni.pid", -1));
	struct invoke_match pm = {"portmap", "ADD", cid, 0};
	json_object *pmv = tapiod_wait(&t, match_invoke, &pm, 10000);
	cr_assert_not_null(pmv, "no cni.invoke portmap ADD");
	cr_assert_eq(jint(pmv, "cni.exitCode", -1), 0);
	cr_assert_eq(jint(pmv, "process.ppid", 0), jint(br, "process.ppid", -1));
	cr_assert_str_eq(json_object_get_string(arr_idx(pmv, "cni.ips", 0)), ip,
			 "portmap passes the previous result on");
	cr_assert_gt(jint(pmv, "bootNs", 0), jint(br, "bootNs", 0));

	/* The container exited (--rm): DEL of the chain and the lease's release. */
	const char *plugins[] = {"portmap", "bridge", "host-local"};
	for (size_t i = 0; i < 3; i++) {
		struct invoke_match dm = {plugins[i], "DEL", cid, 0};
		json_object *d = tapiod_wait(&t, match_invoke, &dm, 15000);
		cr_assert_not_null(d, "no cni.invoke %s DEL", plugins[i]);
		cr_assert_eq(jint(d, "cni.exitCode", -1), 0);
	}
	char bare_ip[64];
	snprintf(bare_ip, sizeof(bare_ip), "%.*s", (int)strcspn(ip, "/"), ip);
	struct kv_match am = {
		"cni.ipam", "cni.ipam.action", "allocate", "cni.ipam.ip", bare_ip, NULL, 0};
	json_object *al = tapiod_wait(&t, match_kv, &am, 10000);
	cr_assert_not_null(al);
	cr_assert_str_eq(jstr(al, "cni.ipam.containerId"), cid);
	struct kv_match rm = {
		"cni.ipam", "cni.ipam.action", "release", "cni.ipam.ip", bare_ip, NULL, 0};
	json_object *rl = tapiod_wait(&t, match_kv, &rm, 10000);
	cr_assert_not_null(rl);
	cr_assert_str_eq(jstr(rl, "cni.ipam.containerId"), cid);

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	unlink(conflist);
	cur_conflist[0] = '\0';
	if (made_link)
		sh("rm -f /opt/cni/bin; rmdir /opt/cni 2>/dev/null");
	cur_link = false;
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/cri-env.sh stop", harness_source_dir());
	cr_expect_eq(system(cmd), 0);
	cur_containerd = false;
	env_cleanup(&e);
}

/* A DEL that never came: the pod's namespace goes away while host-local still holds its
 * address. The leak is reported once, after leak_grace_s, with the lease's age; the
 * namespace's destruction names the container. */
Test(cni, lease_without_del_is_a_leak, .timeout = 120, .fini = fini_host)
{
	require_plugins();
	static struct env e; /* static: fini_host may use it after the test returned */
	env_setup(&e);
	struct tapiod t;
	start(&t, &e, "    leak_grace_s: 1\n");
	uint64_t made = boot_ns();
	sh("ip netns add %s", e.netns);
	uint64_t added = boot_ns();
	char nspath[128], cid[64], out[16384];
	snprintf(nspath, sizeof(nspath), "/var/run/netns/%s", e.netns);
	struct stat nst;
	cr_assert_eq(stat(nspath, &nst), 0);
	snprintf(cid, sizeof(cid), "tapio-leak-%d", (int)getpid());
	pid_t pid;
	int st = run_plugin(PLUGIN_DIR "/bridge", "ADD", cid, nspath, "eth0", e.conf, NULL, out,
			    sizeof(out), &pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bridge ADD failed: %s", out);
	struct invoke_match im = {"bridge", "ADD", cid, pid};
	json_object *ev = tapiod_wait(&t, match_invoke, &im, 10000);
	cr_assert_not_null(ev, "no cni.invoke for bridge ADD");
	const char *ip = json_object_get_string(arr_idx(ev, "cni.ips", 0));
	cr_assert_not_null(ip);
	char bare_ip[64];
	snprintf(bare_ip, sizeof(bare_ip), "%.*s", (int)strcspn(ip, "/"), ip);
	struct kv_match am = {
		"cni.ipam", "cni.ipam.action", "allocate", "cni.ipam.ip", bare_ip, NULL, 0};
	cr_assert_not_null(tapiod_wait(&t, match_kv, &am, 10000));

	/* The runtime "forgets" DEL: the namespace is deleted, the lease stays. */
	uint64_t before_del = boot_ns();
	sh("ip netns del %s", e.netns);
	struct kv_match dm = {"netns.destroy", "cni.containerId", cid, NULL, NULL, NULL, 0};
	json_object *d = tapiod_wait(&t, match_kv, &dm, 15000);
	cr_assert_not_null(d, "no netns.destroy naming %s; log:\n%s", cid, tapiod_log(&t));
	cr_assert_geq(jint(d, "cni.netnsid", -1), 0);
	/* The namespace by inode, file and lifetime: from its netns.create (ip's unshare) to
	 * the kernel's cleanup after ip netns del. */
	cr_assert_eq(jint(d, "cni.netnsInode", 0), (long long)nst.st_ino);
	cr_assert_str_eq(jstr(d, "cni.netns"), nspath);
	cr_assert_str_eq(jstr(d, "cni.lifetimeFrom"), "create");
	long long life = jint(d, "cni.lifetimeNs", -1);
	uint64_t now = boot_ns();
	cr_assert(life >= 0 && (uint64_t)life >= before_del - added && (uint64_t)life <= now - made,
		  "lifetime %lld ns: it existed for %llu ns at least and at most %llu", life,
		  (unsigned long long)(before_del - added), (unsigned long long)(now - made));
	cr_assert_str_eq(jstr(d, "k8s.containerId"), cid);
	struct kv_match lm = {
		"cni.ipam_leak", "cni.ipam.ip", bare_ip, "cni.ipam.containerId", cid, NULL, 0};
	json_object *leak = tapiod_wait(&t, match_kv, &lm, 15000);
	cr_assert_not_null(leak, "no cni.ipam_leak for %s", bare_ip);
	cr_assert_str_eq(jstr(leak, "cni.ipam.action"), "leak");
	cr_assert_str_eq(jstr(leak, "cni.ipam.ifname"), "eth0");
	cr_assert_geq(jint(leak, "cni.ipam.ageNs", -1), 1000000000LL, "age covers the grace");
	cr_assert_lt(jint(leak, "cni.ipam.ageNs", -1), 120000000000LL);
	/* Once. */
	tapiod_pump(&t, 2500);
	cr_assert_eq(tapiod_count(&t, match_kv, &lm), 1);

	/* A lease released by DEL is no leak: the same again with DEL. */
	char cid2[80];
	snprintf(cid2, sizeof(cid2), "%s-ok", cid);
	sh("ip netns add %s", e.netns);
	st = run_plugin(PLUGIN_DIR "/bridge", "ADD", cid2, nspath, "eth0", e.conf, NULL, out,
			sizeof(out), &pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second ADD failed: %s", out);
	st = run_plugin(PLUGIN_DIR "/bridge", "DEL", cid2, nspath, "eth0", e.conf, NULL, out,
			sizeof(out), &pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	sh("ip netns del %s", e.netns);
	struct kv_match dm2 = {"netns.destroy", "cni.containerId", cid2, NULL, NULL, NULL, 0};
	cr_assert_not_null(tapiod_wait(&t, match_kv, &dm2, 15000));
	tapiod_pump(&t, 2500);
	struct kv_match lm2 = {"cni.ipam_leak", "cni.ipam.containerId", cid2, NULL, NULL, NULL, 0};
	cr_assert_eq(tapiod_count(&t, match_kv, &lm2), 0, "a released lease reported as leak");

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	env_cleanup(&e);
}

/* ---- a pod sandbox through CRI ---------------------------------------------------------------
 * containerd's CRI plugin (a private containerd, tests/helpers/cri-env.sh, whose CNI conf_dir is
 * this test's and bin_dir Debian's /usr/lib/cni) runs the plugins for RunPodSandbox and
 * StopPodSandbox, as the kubelet makes it. The CRI client is the cri collector's own (its
 * objects are linked into this binary with tests/integration/test_cri.c). */
#include "collectors/cri/cri_client.h"
#define CRI_RS "/runtime.v1.RuntimeService/"

/* The first line of a command's output, into buf ("" when none). */
static void sh_line(char *buf, size_t size, const char *cmd)
{
	buf[0] = '\0';
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	pclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
}

Test(cni, cri_run_pod_sandbox, .timeout = 180, .fini = fini_host)
{
	require_plugins();
	static struct env e; /* static: fini_host may use it after the test returned */
	env_setup(&e);
	/* The network list containerd's CRI plugin loads from its conf_dir at start. */
	char conflist[256], net[64];
	snprintf(net, sizeof(net), "tapio-cri-%d", (int)getpid());
	snprintf(conflist, sizeof(conflist), "%s/conf/10-tapio-cri.conflist", e.dir);
	FILE *f = fopen(conflist, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"{\"cniVersion\":\"1.0.0\",\"name\":\"%s\",\"plugins\":["
		"{\"type\":\"bridge\",\"bridge\":\"%s\",\"isGateway\":true,\"ipMasq\":false,"
		"\"ipam\":{\"type\":\"host-local\",\"subnet\":\"%s\",\"dataDir\":\"%s/ipam\"}}]}\n",
		net, e.bridge, e.subnet, e.dir);
	fclose(f);

	char confdir[200];
	snprintf(confdir, sizeof(confdir), "%s/conf", e.dir);
	setenv("CRI_ENV_DIR", "/var/lib/tapio-test/cni-cri", 1);
	setenv("CRI_ENV_RUN", "/run/tapio-test-cni-cri", 1);
	setenv("CRI_ENV_CNI_CONF_DIR", confdir, 1);
	setenv("CRI_ENV_CNI_BIN_DIR", PLUGIN_DIR, 1);
	char cmd[1024], sock[256] = "";
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/cri-env.sh start", harness_source_dir());
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	bool ok = fgets(sock, sizeof(sock), f) != NULL;
	int st = pclose(f);
	cur_containerd = true;
	cr_assert(ok && WIFEXITED(st) && WEXITSTATUS(st) == 0, "cri-env.sh start failed");
	sock[strcspn(sock, "\n")] = '\0';

	struct tapiod t;
	start(&t, &e, NULL);

	/* RunPodSandbox: a pod with its own network namespace (NamespaceMode POD). */
	char pod[64], uid[64], ns[32] = "tapio-it";
	snprintf(pod, sizeof(pod), "cni-pod-%d", (int)getpid());
	snprintf(uid, sizeof(uid), "%08x-1111-4000-8000-%012x", (unsigned)getpid(),
		 (unsigned)time(NULL));
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	md.name = pod;
	md.namespace_ = ns;
	md.uid = uid;
	Runtime__V1__NamespaceOption nso = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	nso.network = RUNTIME__V1__NAMESPACE_MODE__POD;
	nso.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	Runtime__V1__LinuxSandboxSecurityContext sc =
		RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	sc.namespace_options = &nso;
	Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	char parent[128], logdir[256];
	snprintf(parent, sizeof(parent), "/kubepods/besteffort/pod%s", uid);
	lx.cgroup_parent = parent;
	lx.security_context = &sc;
	snprintf(logdir, sizeof(logdir), "/var/lib/tapio-test/cni-cri/logs/%s", uid);
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	cfg.metadata = &md;
	cfg.hostname = pod;
	cfg.log_directory = logdir;
	cfg.linux_config = &lx;
	Runtime__V1__RunPodSandboxRequest rq = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	rq.config = &cfg;
	struct cri_client *c = NULL;
	cr_assert_eq(cri_client_connect(sock, 60000, &c), 0);
	Runtime__V1__RunPodSandboxResponse *rr = NULL;
	int r = cri_client_call(c, CRI_RS "RunPodSandbox", &rq.base,
				&runtime__v1__run_pod_sandbox_response__descriptor,
				(ProtobufCMessage **)&rr);
	cr_assert_eq(r, 0, "RunPodSandbox: %s", cri_client_last_error(c));
	char sb[80];
	snprintf(sb, sizeof(sb), "%s", rr->pod_sandbox_id);
	protobuf_c_message_free_unpacked(&rr->base, NULL);
	cr_assert_eq(strlen(sb), 64, "sandbox id %s", sb);

	/* bridge ADD for the sandbox, from containerd: every field. */
	struct invoke_match bm = {"bridge", "ADD", sb, 0};
	json_object *br = tapiod_wait(&t, match_invoke, &bm, 20000);
	cr_assert_not_null(br, "no cni.invoke bridge ADD for sandbox %s; log:\n%s", sb,
			   tapiod_log(&t));
	cr_assert_eq(jint(br, "cni.exitCode", -1), 0);
	cr_assert_str_eq(jstr(br, "cni.ifname"), "eth0");
	cr_assert_str_eq(jstr(br, "cni.cniPath"), PLUGIN_DIR);
	const char *nspath = jstr(br, "cni.netns");
	cr_assert(nspath && strncmp(nspath, "/var/run/netns/cni-", 19) == 0, "netns %s",
		  nspath ? nspath : "(none)");
	struct stat nst;
	cr_assert_eq(stat(nspath, &nst), 0, "%s: %s", nspath, strerror(errno));
	cr_assert_eq(jint(br, "cni.netnsInode", 0), (long long)nst.st_ino);
	cr_assert_str_eq(jstr(br, "process.comm"), "bridge");
	cr_assert_str_eq(jstr(br, "cni.containerId"), sb);
	/* The pod, as containerd tells its plugins (CNI_ARGS from the sandbox's CRI metadata). */
	cr_assert_str_eq(jstr(br, "k8s.containerId"), sb);
	cr_assert_str_eq(jstr(br, "k8s.podName"), pod);
	cr_assert_str_eq(jstr(br, "k8s.namespace"), ns);
	cr_assert_str_eq(jstr(br, "k8s.podUid"), uid);
	cr_assert_str_eq(jstr(br, "cni.cniVersion"), "1.0.0");
	const char *ip = json_object_get_string(arr_idx(br, "cni.ips", 0));
	cr_assert_not_null(ip);
	cr_assert(strncmp(ip, e.prefix, strlen(e.prefix)) == 0, "ip %s not in %s", ip, e.subnet);
	char bare_ip[64];
	snprintf(bare_ip, sizeof(bare_ip), "%.*s", (int)strcspn(ip, "/"), ip);
	char gw[64];
	snprintf(gw, sizeof(gw), "%s1", e.prefix);
	json_object *rip = arr_idx(br, "cni.resultIps", 0);
	cr_assert_not_null(rip);
	cr_assert_str_eq(jstr(rip, "gateway"), gw);
	/* The pod's address, read from its namespace, is the result's. */
	char line[256];
	snprintf(cmd, sizeof(cmd), "ip -n %s -4 -o addr show dev eth0 | awk '{print $4}'",
		 basename_of_path(nspath));
	sh_line(line, sizeof(line), cmd);
	cr_assert_str_eq(line, ip, "eth0 in %s has %s", nspath, line);
	const char *veth = jstr(arr_idx(br, "cni.resultInterfaces", 1), "name");
	cr_assert_not_null(veth);
	cr_assert_str_eq(jstr(arr_idx(br, "cni.resultInterfaces", 2), "name"), "eth0");
	cr_assert_str_eq(jstr(arr_idx(br, "cni.resultInterfaces", 2), "sandbox"), nspath);

	/* host-local, delegated by bridge; the lease, as host-local keeps it. */
	struct invoke_match hm = {"host-local", "ADD", sb, 0};
	json_object *hl = tapiod_wait(&t, match_invoke, &hm, 10000);
	cr_assert_not_null(hl, "no cni.invoke host-local ADD");
	cr_assert_eq(jint(hl, "cni.parentPluginPid", 0), jint(br, "cni.pid", -1));
	cr_assert_str_eq(jstr(hl, "k8s.podName"), pod);
	struct kv_match am = {
		"cni.ipam", "cni.ipam.action", "allocate", "cni.ipam.ip", bare_ip, NULL, 0};
	json_object *al = tapiod_wait(&t, match_kv, &am, 10000);
	cr_assert_not_null(al, "no cni.ipam allocate for %s", bare_ip);
	cr_assert_str_eq(jstr(al, "cni.ipam.network"), net);
	cr_assert_str_eq(jstr(al, "cni.ipam.containerId"), sb);
	cr_assert_str_eq(jstr(al, "cni.ipam.ifname"), "eth0");
	char lease[256];
	snprintf(cmd, sizeof(cmd), "head -n1 %s/ipam/%s/%s", e.dir, net, bare_ip);
	sh_line(lease, sizeof(lease), cmd);
	cr_assert_str_eq(lease, sb, "host-local's lease file names %s", lease);

	/* The veth pair: the host end on the bridge, its peer eth0 in the pod's namespace. */
	unsigned br_idx = if_nametoindex(e.bridge), veth_idx = if_nametoindex(veth);
	cr_assert_gt(br_idx, 0);
	cr_assert_gt(veth_idx, 0);
	struct kv_match vm = {"net.link", "cni.link.name",	    veth,  "cni.link.kind",
			      "veth",	  "cni.link.masterIfindex", br_idx};
	json_object *vl = tapiod_wait(&t, match_kv, &vm, 10000);
	cr_assert_not_null(vl, "no net.link for veth %s on the bridge", veth);
	cr_assert_eq(jint(vl, "cni.link.netnsid", 0), -1);
	cr_assert_eq(jint(vl, "cni.link.ifindex", 0), veth_idx);
	long long pod_nsid = jint(vl, "cni.link.peerNetnsid", -1);
	cr_assert_geq(pod_nsid, 0);
	/* The id our namespace has for the pod's, as ip reports it. */
	snprintf(cmd, sizeof(cmd), "ip netns list-id | awk '/name: %s\\)/{print $2}'",
		 basename_of_path(nspath));
	sh_line(line, sizeof(line), cmd);
	cr_assert_eq(atoll(line), pod_nsid, "ip netns list-id says %s", line);
	struct kv_match em = {"net.link", "cni.link.name",    "eth0",  "cni.link.kind",
			      "veth",	  "cni.link.netnsid", pod_nsid};
	json_object *el = tapiod_wait(&t, match_kv, &em, 10000);
	cr_assert_not_null(el, "no net.link for eth0 in the pod namespace (nsid %lld)", pod_nsid);
	cr_assert_eq(jint(el, "cni.link.peerIfindex", 0), veth_idx);
	cr_assert_eq(jint(el, "cni.link.ifindex", 0), jint(vl, "cni.link.peerIfindex", -1));
	cr_assert_str_eq(jstr(el, "cni.link.mac"),
			 jstr(arr_idx(br, "cni.resultInterfaces", 2), "mac"));
	struct kv_match pa = {"net.addr", "cni.addr.address", ip,      "cni.addr.action",
			      "new",	  "cni.addr.netnsid", pod_nsid};
	json_object *pad = tapiod_wait(&t, match_kv, &pa, 10000);
	cr_assert_not_null(pad, "no net.addr %s in the pod namespace", ip);
	cr_assert_eq(jint(pad, "cni.addr.ifindex", 0), jint(el, "cni.link.ifindex", -1));

	/* containerd made the namespace (unshare in one of its threads) before the plugins ran. */
	struct kv_match nc = {"netns.create",	"cni.netnsOp",	      "unshare", NULL, NULL,
			      "cni.netnsInode", (long long)nst.st_ino};
	json_object *ncev = tapiod_wait(&t, match_kv, &nc, 10000);
	cr_assert_not_null(ncev, "no netns.create for inode %llu", (unsigned long long)nst.st_ino);
	cr_assert_str_eq(jstr(ncev, "process.comm"), "containerd");
	/* bridge entering it: named by its file, tied to the pod. */
	struct kv_match ne = {
		"netns.enter",		"cni.netns", nspath, NULL, NULL, "process.pid",
		jint(br, "cni.pid", -1)};
	json_object *neev = tapiod_wait(&t, match_kv, &ne, 10000);
	cr_assert_not_null(neev, "no netns.enter of %s by bridge", nspath);
	cr_assert_eq(jint(neev, "cni.netnsInode", 0), (long long)nst.st_ino);
	cr_assert_str_eq(jstr(neev, "k8s.podName"), pod);

	/* StopPodSandbox: DEL of the network, the lease's release, then the namespace's end. */
	uint64_t before_stop = boot_ns();
	Runtime__V1__StopPodSandboxRequest sq = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
	sq.pod_sandbox_id = sb;
	ProtobufCMessage *resp = NULL;
	r = cri_client_call(c, CRI_RS "StopPodSandbox", &sq.base,
			    &runtime__v1__stop_pod_sandbox_response__descriptor, &resp);
	cr_assert_eq(r, 0, "StopPodSandbox: %s", cri_client_last_error(c));
	protobuf_c_message_free_unpacked(resp, NULL);
	struct invoke_match dm = {"bridge", "DEL", sb, 0};
	json_object *del = tapiod_wait(&t, match_invoke, &dm, 15000);
	cr_assert_not_null(del, "no cni.invoke bridge DEL for the sandbox");
	cr_assert_eq(jint(del, "cni.exitCode", -1), 0);
	cr_assert_str_eq(jstr(del, "cni.netns"), nspath);
	cr_assert_str_eq(jstr(del, "cni.ifname"), "eth0");
	cr_assert_str_eq(jstr(del, "k8s.podName"), pod);
	struct invoke_match hdm = {"host-local", "DEL", sb, 0};
	cr_assert_not_null(tapiod_wait(&t, match_invoke, &hdm, 10000), "no host-local DEL");
	struct kv_match rm = {
		"cni.ipam", "cni.ipam.action", "release", "cni.ipam.ip", bare_ip, NULL, 0};
	json_object *rl = tapiod_wait(&t, match_kv, &rm, 10000);
	cr_assert_not_null(rl, "no cni.ipam release of %s", bare_ip);
	cr_assert_str_eq(jstr(rl, "cni.ipam.containerId"), sb);
	snprintf(cmd, sizeof(cmd), "%s/ipam/%s/%s", e.dir, net, bare_ip);
	cr_assert_neq(access(cmd, F_OK), 0, "host-local still holds %s", bare_ip);

	struct kv_match dd = {"netns.destroy",	    NULL, NULL, NULL, NULL, "cni.netnsInode",
			      (long long)nst.st_ino};
	json_object *d = tapiod_wait(&t, match_kv, &dd, 15000);
	cr_assert_not_null(d, "no netns.destroy of inode %llu", (unsigned long long)nst.st_ino);
	cr_assert_eq(jint(d, "cni.netnsid", -1), pod_nsid);
	cr_assert_str_eq(jstr(d, "cni.netns"), nspath);
	cr_assert_str_eq(jstr(d, "cni.containerId"), sb);
	cr_assert_str_eq(jstr(d, "k8s.containerId"), sb);
	cr_assert_str_eq(jstr(d, "k8s.podName"), pod);
	cr_assert_str_eq(jstr(d, "k8s.namespace"), ns);
	cr_assert_str_eq(jstr(d, "k8s.podUid"), uid);
	cr_assert_str_eq(jstr(d, "cni.lifetimeFrom"), "create");
	long long life = jint(d, "cni.lifetimeNs", -1);
	cr_assert(life > 0 && life >= jint(br, "bootNs", 0) - jint(ncev, "bootNs", 0) &&
			  (uint64_t)life <= boot_ns() - (uint64_t)jint(ncev, "bootNs", 0),
		  "lifetime %lld", life);
	cr_assert_gt(jint(d, "bootNs", 0), (long long)before_stop);

	Runtime__V1__RemovePodSandboxRequest xq = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
	xq.pod_sandbox_id = sb;
	r = cri_client_call(c, CRI_RS "RemovePodSandbox", &xq.base,
			    &runtime__v1__remove_pod_sandbox_response__descriptor, &resp);
	cr_assert_eq(r, 0, "RemovePodSandbox: %s", cri_client_last_error(c));
	protobuf_c_message_free_unpacked(resp, NULL);
	cri_client_free(c);

	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/cri-env.sh stop", harness_source_dir());
	cr_expect_eq(system(cmd), 0);
	cur_containerd = false;
	env_cleanup(&e);
}
