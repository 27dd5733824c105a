// SPDX-License-Identifier: Apache-2.0
// cni collector, worker side: CNI plugin calls from the kernel (exec, environment, output,
// exit) → cni.invoke; network namespaces → netns.*; rtnetlink of every namespace with an id →
// net.link / net.addr; host-local IPAM and config directories over inotify → cni.ipam /
// cni.config.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"
#include "cni.h"
#include "cni_config.h"
#include "cni_json.h"
#include "cni.skel.h"
#include "hookset.h"
#include "kevent.h"
#include "log.h"
#include "worker.h"

#define CGROUP_CACHE_ENTRIES 4096
#define STDERR_KEEP	     4096 /* of a plugin's stderr, kept to parse when stdout is no result */
#define LINK_CACHE	     1024 /* links remembered to report only changes */
#define LEASES_MAX	     4096 /* IPAM leases remembered (for the container id of a release) */
#define IPAM_NETS_MAX	     64	  /* IPAM network directories watched */
#define CONF_FILE_MAX	     65536 /* a config file larger than this is reported invalid */

/* One plugin call in flight, from its exec record to its exit record. */
struct inv {
	uint32_t pid; /* 0 = free slot */
	uint32_t parent;
	uint32_t flags; /* CNI_EXEC_* */
	uint64_t netns_inode;
	char plugin[CNI_FILENAME_MAX + 1];
	char command[16];
	char container_id[256];
	char netns[256];
	char ifname[32];
	char cni_path[512];
	/* The pod, from CNI_ARGS (K8S_POD_NAME, K8S_POD_NAMESPACE, K8S_POD_UID: what containerd
	 * and CRI-O pass every plugin). */
	char pod_name[128];
	char pod_ns[128];
	char pod_uid[64];
	char *out; /* owned: stdout, up to result_capture_bytes */
	size_t out_len;
	char err[STDERR_KEEP];
	size_t err_len;
};

struct link_seen {
	int32_t nsid;
	uint32_t ifindex;
	uint64_t digest; /* of the attributes reported */
};

struct lease {
	char network[64];
	char ip[48];
	char container_id[256];
	char ifname[32];
	bool leak_reported;
};

/* A host-side interface a successful ADD reported for a container (the veth whose peer is in
 * the pod's namespace): ties the container id to the namespace id for the leak check. */
struct pod_link {
	char container_id[256];
	char ifname[IFNAMSIZ];
};

/* A host veth and the namespace id of its peer, from rtnetlink. */
struct veth_peer {
	char name[IFNAMSIZ];
	int32_t peer_nsid;
};

/* Containers whose namespace went away: their leases are checked when due. */
struct leak_check {
	uint64_t due_ns; /* monotonic */
	char container_id[256];
};

#define POD_LINKS   1024
#define VETH_PEERS  1024
#define LEAK_CHECKS 256

/* A network namespace known by its inode: when it was created, its id in the host namespace
 * once it has one (RTM_GETNSID), and the pod a plugin call tied it to. Its netns.destroy
 * (RTM_DELNSID of that id) names all of this. */
struct ns_known {
	uint64_t inode;		  /* 0 = free slot */
	uint64_t created_boot_ns; /* its netns.create, 0 not seen */
	int64_t nsfs_wall_ns;	  /* ctime of its nsfs inode, 0 unknown */
	int32_t nsid;		  /* in the host namespace, -1 none known */
	char path[128];		  /* its file (netns_dir or CNI_NETNS), "" unknown */
	char container_id[256];
	char pod_name[128];
	char pod_ns[128];
	char pod_uid[64];
};

/* An RTM_GETNSID sent and not yet answered: the namespace it asked about. */
struct nsid_query {
	uint32_t seq;
	uint64_t inode;
};

#define NS_KNOWN     1024
#define NSID_QUERIES 64

struct cni_ctx {
	struct cni_bpf *skel;
	const struct config_cni *cfg;
	struct worker *w;
	struct cgroup_cache *cgroups;
	const char *hookset;

	struct inv *inv; /* owned: cfg->pending_max slots */
	uint64_t pending_full, output_orphans, results_invalid;

	struct mnl_socket *nl; /* owned */
	int nl_fd;
	uint32_t nl_portid, nl_seq;
	uint64_t nl_drops, nl_errors;
	struct ns_known ns[NS_KNOWN];
	size_t ns_next;
	struct nsid_query queries[NSID_QUERIES];
	size_t query_next;
	uint64_t nsid_queries, nsid_answers, ns_evicted;
	dev_t nsfs_dev; /* st_dev of namespace files (nsfs) */
	struct link_seen links[LINK_CACHE];
	size_t n_links, link_next;

	int ino_fd;
	int conf_wd, ipam_wd;
	struct {
		int wd;
		char name[64];
	} nets[IPAM_NETS_MAX];
	size_t n_nets;
	struct lease *leases; /* owned: LEASES_MAX */
	size_t n_leases;
	uint64_t ipam_overflow;
	uint64_t logged[5]; /* the counters of the last "lost" log line */

	struct pod_link pod_links[POD_LINKS];
	size_t pod_next;
	struct veth_peer veths[VETH_PEERS];
	size_t veth_next;
	struct leak_check checks[LEAK_CHECKS];
	size_t n_checks;
	int leak_fd; /* timerfd, -1 when leak detection is off */
};

/* ---- helpers ------------------------------------------------------------------------------ */

static void copy_str(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The name of the namespace file in netns_dir whose inode is inum, into buf; false if none. */
static bool netns_name(struct cni_ctx *cc, uint64_t inum, char *buf, size_t size)
{
	if (!cc->cfg->netns_dir[0] || !inum)
		return false;
	_cleanup_closedir_ DIR *d = opendir(cc->cfg->netns_dir);
	if (!d)
		return false;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && st.st_ino == inum) {
			snprintf(buf, size, "%s/%s", cc->cfg->netns_dir, de->d_name);
			return true;
		}
	}
	return false;
}

/* ---- namespaces by inode ------------------------------------------------------------------ */

static struct ns_known *ns_find(struct cni_ctx *cc, uint64_t inode)
{
	if (!inode)
		return NULL;
	for (size_t i = 0; i < NS_KNOWN; i++)
		if (cc->ns[i].inode == inode)
			return &cc->ns[i];
	return NULL;
}

static struct ns_known *ns_by_nsid(struct cni_ctx *cc, int32_t nsid)
{
	for (size_t i = 0; i < NS_KNOWN; i++)
		if (cc->ns[i].inode && cc->ns[i].nsid == nsid)
			return &cc->ns[i];
	return NULL;
}

/* The entry of inode, made when new (in a free slot, else the next in turn). fresh: forget
 * what an existing entry knew (the inode was given to a new namespace). */
static struct ns_known *ns_get(struct cni_ctx *cc, uint64_t inode, bool fresh)
{
	struct ns_known *n = ns_find(cc, inode);
	if (!inode || (n && !fresh))
		return n;
	for (size_t i = 0; i < NS_KNOWN && !n; i++)
		if (!cc->ns[i].inode)
			n = &cc->ns[i];
	if (!n) {
		n = &cc->ns[cc->ns_next];
		cc->ns_next = (cc->ns_next + 1) % NS_KNOWN;
		cc->ns_evicted++;
	}
	memset(n, 0, sizeof(*n));
	n->inode = inode;
	n->nsid = -1;
	return n;
}

/* Ask the kernel for the id our (the host's) namespace has for a namespace, by an open fd of
 * it (NETNSA_FD) or a process in it (NETNSA_PID). RTM_GETNSID needs no privilege and assigns
 * no id; the answer (on_nsid_answer) arrives on the rtnetlink socket like the events. */
static void nsid_query(struct cni_ctx *cc, uint64_t inode, int fd, uint32_t pid)
{
	if (!cc->nl)
		return;
	char buf[128] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNSID;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	if (++cc->nl_seq == 0)
		cc->nl_seq = 1;
	nlh->nlmsg_seq = cc->nl_seq;
	struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	if (fd >= 0)
		mnl_attr_put_u32(nlh, NETNSA_FD, (uint32_t)fd);
	else
		mnl_attr_put_u32(nlh, NETNSA_PID, pid);
	if (mnl_socket_sendto(cc->nl, nlh, nlh->nlmsg_len) < 0) {
		cc->nl_errors++;
		return;
	}
	cc->nsid_queries++;
	cc->queries[cc->query_next] = (struct nsid_query){nlh->nlmsg_seq, inode};
	cc->query_next = (cc->query_next + 1) % NSID_QUERIES;
}

/* The namespace bound at path (a file of netns_dir, or CNI_NETNS): remembered by inode, with
 * the time its nsfs inode was made, and its id asked for unless known. NULL when path is no
 * namespace (not yet bound) or cannot be opened. */
static struct ns_known *ns_from_file(struct cni_ctx *cc, const char *path)
{
	struct stat st;
	if (!cc->nsfs_dev || stat(path, &st) < 0 || st.st_dev != cc->nsfs_dev)
		return NULL;
	struct ns_known *n = ns_find(cc, st.st_ino);
	if (n && n->nsid >= 0 && n->path[0])
		return n;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != cc->nsfs_dev)
		return n;
	n = ns_get(cc, st.st_ino, false);
	if (!n->path[0] && strlen(path) < sizeof(n->path))
		snprintf(n->path, sizeof(n->path), "%s", path);
	if (!n->nsfs_wall_ns)
		n->nsfs_wall_ns = (int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
	if (n->nsid < 0)
		nsid_query(cc, n->inode, fd, 0);
	return n;
}

/* Every namespace bound in netns_dir (ip netns, containerd's and CRI-O's pod namespaces). */
static void scan_netns_dir(struct cni_ctx *cc)
{
	if (!cc->cfg->netns_dir[0] || !cc->nl)
		return;
	_cleanup_closedir_ DIR *d = opendir(cc->cfg->netns_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096 + 256];
		snprintf(path, sizeof(path), "%s/%s", cc->cfg->netns_dir, de->d_name);
		ns_from_file(cc, path);
	}
}

/* ---- cni.invoke ---------------------------------------------------------------------------- */

static struct inv *inv_find(struct cni_ctx *cc, uint32_t pid)
{
	for (uint32_t i = 0; i < cc->cfg->pending_max; i++)
		if (cc->inv[i].pid == pid)
			return &cc->inv[i];
	return NULL;
}

static void inv_free(struct inv *v)
{
	free(v->out);
	memset(v, 0, sizeof(*v));
}

/* CNI_ARGS, "K1=V1;K2=V2": the pod of a Kubernetes runtime's call (IgnoreUnknown=1;
 * K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;K8S_POD_INFRA_CONTAINER_ID=..;K8S_POD_UID=..). */
static void parse_cni_args(struct inv *v, const char *s, size_t n)
{
	static const struct {
		const char *key;
		size_t off, size;
	} keys[] = {
		{"K8S_POD_NAME=", offsetof(struct inv, pod_name),
		 sizeof(((struct inv *)0)->pod_name)},
		{"K8S_POD_NAMESPACE=", offsetof(struct inv, pod_ns),
		 sizeof(((struct inv *)0)->pod_ns)},
		{"K8S_POD_UID=", offsetof(struct inv, pod_uid), sizeof(((struct inv *)0)->pod_uid)},
	};
	size_t off = 0;
	while (off < n) {
		const char *p = s + off;
		const char *semi = memchr(p, ';', n - off);
		size_t len = semi ? (size_t)(semi - p) : n - off;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t kl = strlen(keys[i].key);
			if (len >= kl && memcmp(p, keys[i].key, kl) == 0)
				copy_str((char *)v + keys[i].off, keys[i].size, p + kl, len - kl);
		}
		off += len + 1;
	}
}

/* The CNI_* variables of the environment area env[0..len) (NUL-separated). When the kernel
 * copied only the tail, the first entry is cut and skipped. */
static void parse_env(struct inv *v, const char *env, size_t len, bool tail)
{
	static const struct {
		const char *name;
		size_t off, size;
	} vars[] = {
		{"CNI_COMMAND=", offsetof(struct inv, command), sizeof(((struct inv *)0)->command)},
		{"CNI_CONTAINERID=", offsetof(struct inv, container_id),
		 sizeof(((struct inv *)0)->container_id)},
		{"CNI_NETNS=", offsetof(struct inv, netns), sizeof(((struct inv *)0)->netns)},
		{"CNI_IFNAME=", offsetof(struct inv, ifname), sizeof(((struct inv *)0)->ifname)},
		{"CNI_PATH=", offsetof(struct inv, cni_path), sizeof(((struct inv *)0)->cni_path)},
	};
	size_t off = 0;
	if (tail) {
		size_t first = strnlen(env, len);
		off = first + 1;
	}
	while (off < len) {
		size_t n = strnlen(env + off, len - off);
		const char *e = env + off;
		for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
			size_t nl = strlen(vars[i].name);
			if (n >= nl && memcmp(e, vars[i].name, nl) == 0)
				copy_str((char *)v + vars[i].off, vars[i].size, e + nl, n - nl);
		}
		if (n >= 9 && memcmp(e, "CNI_ARGS=", 9) == 0)
			parse_cni_args(v, e + 9, n - 9);
		off += n + 1;
	}
}

static int on_exec(struct cni_ctx *cc, const struct cni_exec_rec *r, size_t size)
{
	if (size < CNI_EXEC_FIXED || r->filename_len >= CNI_FILENAME_MAX ||
	    r->env_len > CNI_ENV_MAX ||
	    CNI_EXEC_FIXED + (size_t)r->filename_len + r->env_len != size)
		return -EBADMSG;
	struct inv *v = inv_find(cc, r->task.pid);
	if (v)
		inv_free(v); /* the same process exec'd a plugin again */
	else
		v = inv_find(cc, 0);
	if (!v) {
		cc->pending_full++;
		return 0;
	}
	v->pid = r->task.pid;
	v->parent = r->parent_plugin;
	v->flags = r->flags;
	copy_str(v->plugin, sizeof(v->plugin), r->data, r->filename_len);
	parse_env(v, r->data + r->filename_len, r->env_len, r->flags & CNI_EXEC_ENV_TRUNCATED);
	/* The netns the runtime named, by inode (the file exists while the plugin runs). */
	struct stat st;
	if (v->netns[0] && stat(v->netns, &st) == 0)
		v->netns_inode = st.st_ino;
	return 0;
}

static int on_output(struct cni_ctx *cc, const struct cni_output_rec *r, size_t size)
{
	if (size < CNI_OUTPUT_FIXED || r->len > CNI_CHUNK_MAX ||
	    CNI_OUTPUT_FIXED + r->len != size || (r->fd != 1 && r->fd != 2))
		return -EBADMSG;
	struct inv *v = inv_find(cc, r->pid);
	if (!v || !r->pid) {
		cc->output_orphans++;
		return 0;
	}
	if (r->fd == 2) {
		size_t n = r->len;
		if (n > sizeof(v->err) - v->err_len)
			n = sizeof(v->err) - v->err_len;
		memcpy(v->err + v->err_len, r->data, n);
		v->err_len += n;
		return 0;
	}
	size_t cap = cc->cfg->result_capture_bytes;
	if (!v->out) {
		v->out = malloc(cap);
		if (!v->out)
			return -ENOMEM;
	}
	size_t n = r->len;
	if (n > cap - v->out_len)
		n = cap - v->out_len;
	memcpy(v->out + v->out_len, r->data, n);
	v->out_len += n;
	return 0;
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static void ns_tie(struct cni_ctx *cc, const struct inv *v)
{
	struct ns_known *n = ns_get(cc, v->netns_inode, false);
	snprintf(n->container_id, sizeof(n->container_id), "%s", v->container_id);
	snprintf(n->pod_name, sizeof(n->pod_name), "%s", v->pod_name);
	snprintf(n->pod_ns, sizeof(n->pod_ns), "%s", v->pod_ns);
	snprintf(n->pod_uid, sizeof(n->pod_uid), "%s", v->pod_uid);
	if (!n->path[0] && strlen(v->netns) < sizeof(n->path))
		snprintf(n->path, sizeof(n->path), "%s", v->netns);
	if (n->nsid >= 0)
		return;
	struct ns_known *f = ns_from_file(cc, v->netns);
	if (f == n)
		return;
	/* /proc/PID/ns/net of another user's process is not ours to open: by its pid. */
	unsigned pid;
	int end = 0;
	if (sscanf(v->netns, "/proc/%u/ns/net%n", &pid, &end) == 1 && v->netns[end] == '\0')
		nsid_query(cc, n->inode, -1, pid);
}

static int on_exit_rec(struct cni_ctx *cc, const struct cni_exit_rec *r, size_t size)
{
	if (size != sizeof(*r))
		return -EBADMSG;
	struct inv empty = {0};
	struct inv *v = inv_find(cc, r->task.pid);
	if (!v || !r->task.pid) {
		v = &empty; /* its exec record was lost (ring full, table full) */
	}

	struct kevent k;
	kevent_init(&k, worker_timeconv(cc->w), "cni.invoke", r->task.boot_ns, &r->task);
	kevent_attach_k8s(&k.ev, &k.k8s, cc->cgroups, r->task.cgroup_id, (pid_t)r->task.pid, false,
			  worker_counters(cc->w));
	/* The plugin runs in the runtime's cgroup; the call is about the sandbox it names. */
	if (v->container_id[0] && !k.k8s.container_id) {
		k.k8s.container_id = v->container_id;
		k.ev.k8s = &k.k8s;
		if (v->pod_name[0] && v->pod_ns[0]) {
			k.k8s.pod_name = v->pod_name;
			k.k8s.namespace_ = v->pod_ns;
			if (v->pod_uid[0])
				k.k8s.pod_uid = v->pod_uid;
		}
	}

	Tapio__V1__CniEvent e = TAPIO__V1__CNI_EVENT__INIT;
	if (v->plugin[0])
		e.plugin = (char *)basename_of(v->plugin);
	else
		e.plugin = k.comm;
	if (v->command[0])
		e.command = v->command;
	if (v->container_id[0])
		e.container_id = v->container_id;
	if (v->netns[0])
		e.netns = v->netns;
	if (v->ifname[0])
		e.ifname = v->ifname;
	if (v->cni_path[0])
		e.cni_path = v->cni_path;
	if (v->netns_inode) {
		e.has_netns_inode = 1;
		e.netns_inode = v->netns_inode;
	}
	e.has_pid = 1;
	e.pid = r->task.pid;
	if (r->parent_plugin) {
		e.has_parent_plugin_pid = 1;
		e.parent_plugin_pid = r->parent_plugin;
	}
	e.has_env_truncated = 1;
	e.env_truncated = !!(v->flags & CNI_EXEC_ENV_TRUNCATED);
	e.has_output_bytes = 1;
	e.output_bytes = r->output_bytes;
	e.has_output_truncated = 1;
	e.output_truncated = r->output_dropped > 0;
	char sigmsg[48];
	uint32_t sig = r->exit_code & 0x7f;
	e.has_exit_code = 1;
	if (sig) {
		e.exit_code = 128 + (int32_t)sig;
		snprintf(sigmsg, sizeof(sigmsg), "killed by signal %u", sig);
		e.error = sigmsg;
	} else {
		e.exit_code = (int32_t)((r->exit_code >> 8) & 0xff);
	}
	if (r->start_boot_ns && r->start_boot_ns <= r->task.boot_ns) {
		e.has_duration_ns = 1;
		e.duration_ns = r->task.boot_ns - r->start_boot_ns;
	}

	/* The result or error JSON: stdout, else stderr (some plugins print errors there). */
	static struct cni_result res;
	bool have = false;
	if (v->out_len > 0)
		have = cni_result_parse(v->out, v->out_len, &res) == 0;
	if (!have && v->err_len > 0)
		have = cni_result_parse(v->err, v->err_len, &res) == 0;
	if (v->out_len > 0 || v->err_len > 0) {
		e.has_result_invalid = 1;
		e.result_invalid = !have;
		cc->results_invalid += !have;
	}

	char *ips[CNI_RES_IPS], *routes[CNI_RES_ROUTES], *ifaces[CNI_RES_IFACES];
	char route_str[CNI_RES_ROUTES][140];
	Tapio__V1__CniInterface ri[CNI_RES_IFACES], *rip[CNI_RES_IFACES];
	Tapio__V1__CniIp ii[CNI_RES_IPS], *iip[CNI_RES_IPS];
	Tapio__V1__CniRoute rr[CNI_RES_ROUTES], *rrp[CNI_RES_ROUTES];
	char *ns[CNI_RES_DNS], *search[CNI_RES_DNS];
	if (have) {
		if (res.cni_version[0])
			e.cni_version = res.cni_version;
		if (res.is_error) {
			e.has_error_code = 1;
			e.error_code = res.code;
			if (res.msg[0])
				e.error = res.msg;
			if (res.details[0])
				e.error_details = res.details;
		}
		for (size_t i = 0; i < res.n_ifaces; i++) {
			tapio__v1__cni_interface__init(&ri[i]);
			ri[i].name = res.ifaces[i].name;
			ri[i].mac = res.ifaces[i].mac;
			if (res.ifaces[i].sandbox[0])
				ri[i].sandbox = res.ifaces[i].sandbox;
			rip[i] = &ri[i];
			ifaces[i] = res.ifaces[i].name;
		}
		e.n_result_interfaces = e.n_interfaces = res.n_ifaces;
		e.result_interfaces = rip;
		e.interfaces = ifaces;
		for (size_t i = 0; i < res.n_ips; i++) {
			tapio__v1__cni_ip__init(&ii[i]);
			ii[i].address = res.ips[i].address;
			if (res.ips[i].gateway[0])
				ii[i].gateway = res.ips[i].gateway;
			ii[i].has_interface = 1;
			ii[i].interface = res.ips[i].interface;
			iip[i] = &ii[i];
			ips[i] = res.ips[i].address;
		}
		e.n_result_ips = e.n_ips = res.n_ips;
		e.result_ips = iip;
		e.ips = ips;
		for (size_t i = 0; i < res.n_routes; i++) {
			tapio__v1__cni_route__init(&rr[i]);
			rr[i].dst = res.routes[i].dst;
			if (res.routes[i].gw[0])
				rr[i].gw = res.routes[i].gw;
			rrp[i] = &rr[i];
			if (res.routes[i].gw[0])
				snprintf(route_str[i], sizeof(route_str[i]), "%s via %s",
					 res.routes[i].dst, res.routes[i].gw);
			else
				snprintf(route_str[i], sizeof(route_str[i]), "%s",
					 res.routes[i].dst);
			routes[i] = route_str[i];
		}
		e.n_result_routes = e.n_routes = res.n_routes;
		e.result_routes = rrp;
		e.routes = routes;
		for (size_t i = 0; i < res.n_nameservers; i++)
			ns[i] = res.nameservers[i];
		e.n_dns_nameservers = res.n_nameservers;
		e.dns_nameservers = ns;
		if (res.domain[0])
			e.dns_domain = res.domain;
		for (size_t i = 0; i < res.n_search; i++)
			search[i] = res.search[i];
		e.n_dns_search = res.n_search;
		e.dns_search = search;
	}
	/* A successful ADD ties its namespace to the sandbox and pod, and the namespace has an id
	 * in ours now if a link was made to it (a veth): asked for, for its netns.destroy. */
	if (e.exit_code == 0 && v->container_id[0] && v->netns_inode &&
	    strcmp(v->command, "ADD") == 0)
		ns_tie(cc, v);
	/* For the leak check: the host-side interfaces of a successful ADD. */
	if (have && !res.is_error && e.exit_code == 0 && v->container_id[0] &&
	    strcmp(v->command, "ADD") == 0) {
		for (size_t i = 0; i < res.n_ifaces; i++) {
			if (res.ifaces[i].sandbox[0] || !res.ifaces[i].name[0])
				continue;
			struct pod_link *pl = &cc->pod_links[cc->pod_next];
			cc->pod_next = (cc->pod_next + 1) % POD_LINKS;
			snprintf(pl->container_id, sizeof(pl->container_id), "%s", v->container_id);
			snprintf(pl->ifname, sizeof(pl->ifname), "%s", res.ifaces[i].name);
		}
	}
	k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_CNI;
	k.ev.cni = &e;
	int ret = worker_emit(cc->w, &k.ev);
	if (v != &empty)
		inv_free(v);
	return ret == -ENOBUFS ? 0 : ret;
}

/* ---- netns.create / netns.enter ------------------------------------------------------------- */

static int on_netns(struct cni_ctx *cc, const struct cni_netns_rec *r, size_t size)
{
	if (size != sizeof(*r))
		return -EBADMSG;
	static const char *const ops[] = {[CNI_NETNS_UNSHARE] = "unshare",
					  [CNI_NETNS_CLONE] = "clone",
					  [CNI_NETNS_SETNS] = "setns"};
	if (r->op < CNI_NETNS_UNSHARE || r->op > CNI_NETNS_SETNS)
		return -EBADMSG;
	/* A plugin's first setns goes into the namespace it configures: its inode, when the
	 * CNI_NETNS path could not be stat'ed (/proc/PID/ns/net of another user's process). */
	struct inv *v = r->op == CNI_NETNS_SETNS ? inv_find(cc, r->task.pid) : NULL;
	if (v && r->task.pid && !v->netns_inode && v->netns[0])
		v->netns_inode = r->inum;
	/* A new namespace: its creation time, for the lifetime at its netns.destroy (an inode seen
	 * before belonged to a namespace that is gone). */
	if (r->op != CNI_NETNS_SETNS) {
		struct ns_known *n = ns_get(cc, r->inum, true);
		if (n)
			n->created_boot_ns = r->task.boot_ns;
	}
	struct kevent k;
	kevent_init(&k, worker_timeconv(cc->w),
		    r->op == CNI_NETNS_SETNS ? "netns.enter" : "netns.create", r->task.boot_ns,
		    &r->task);
	kevent_attach_k8s(&k.ev, &k.k8s, cc->cgroups, r->task.cgroup_id, (pid_t)r->task.pid, false,
			  worker_counters(cc->w));
	Tapio__V1__CniEvent e = TAPIO__V1__CNI_EVENT__INIT;
	e.has_netns_inode = e.has_old_netns_inode = e.has_pid = 1;
	e.netns_inode = r->inum;
	e.old_netns_inode = r->old_inum;
	e.netns_op = (char *)ops[r->op];
	e.pid = r->op == CNI_NETNS_CLONE ? r->child_pid : r->task.pid;
	char name[512];
	if (r->op == CNI_NETNS_SETNS && netns_name(cc, r->inum, name, sizeof(name)))
		e.netns = name;
	/* A plugin entering the namespace it configures: the sandbox and pod of its call. */
	if (v && v->netns_inode == r->inum && v->container_id[0]) {
		e.container_id = v->container_id;
		if (!k.k8s.container_id) {
			k.k8s.container_id = v->container_id;
			k.ev.k8s = &k.k8s;
			if (v->pod_name[0] && v->pod_ns[0]) {
				k.k8s.pod_name = v->pod_name;
				k.k8s.namespace_ = v->pod_ns;
				if (v->pod_uid[0])
					k.k8s.pod_uid = v->pod_uid;
			}
		}
	}
	k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_CNI;
	k.ev.cni = &e;
	int ret = worker_emit(cc->w, &k.ev);
	return ret == -ENOBUFS ? 0 : ret;
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct cni_ctx *cc = ctx;
	int r = -EBADMSG;

	switch (kevent_rec_type(cc->w, data, size, CNI_REC_VERSION)) {
	case CNI_REC_EXEC:
		r = on_exec(cc, data, size);
		break;
	case CNI_REC_OUTPUT:
		r = on_output(cc, data, size);
		break;
	case CNI_REC_EXIT:
		r = on_exit_rec(cc, data, size);
		break;
	case CNI_REC_NETNS:
		r = on_netns(cc, data, size);
		break;
	}
	r = kevent_rec_done(cc->w, data, size, r);
	if (r < 0)
		log_warn("record: %s", strerror(-r));
	return 0;
}

/* ---- rtnetlink: net.link / net.addr / netns.destroy ----------------------------------------- */

struct nl_msg_ctx {
	struct cni_ctx *cc;
	int32_t nsid; /* -1: our (the host's) namespace */
};

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (type <= IFLA_MAX && type < 64) /* IFLA_MAX ≥ IFA_MAX: one table size serves both */
		tb[type] = a;
	return MNL_CB_OK;
}

static int linkinfo_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (type <= IFLA_INFO_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static uint32_t attr_u32(const struct nlattr *a, uint32_t fallback)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return fallback;
	return mnl_attr_get_u32(a);
}

static bool attr_str(const struct nlattr *a, char *buf, size_t size)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_STRING) < 0)
		return false;
	copy_str(buf, size, mnl_attr_get_str(a),
		 strnlen(mnl_attr_get_str(a), mnl_attr_get_payload_len(a)));
	return true;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* Whether (nsid, ifindex) was last reported with these attributes; remembers them. */
static bool link_unchanged(struct cni_ctx *cc, int32_t nsid, uint32_t ifindex, uint64_t digest,
			   bool del)
{
	for (size_t i = 0; i < cc->n_links; i++) {
		struct link_seen *l = &cc->links[i];
		if (l->nsid == nsid && l->ifindex == ifindex) {
			if (del) {
				*l = cc->links[--cc->n_links];
				return false;
			}
			if (l->digest == digest)
				return true;
			l->digest = digest;
			return false;
		}
	}
	if (del)
		return false;
	struct link_seen *l;
	if (cc->n_links < LINK_CACHE) {
		l = &cc->links[cc->n_links++];
	} else {
		l = &cc->links[cc->link_next];
		cc->link_next = (cc->link_next + 1) % LINK_CACHE;
	}
	*l = (struct link_seen){nsid, ifindex, digest};
	return false;
}

/* An event of no process; k8s (or NULL) its pod. */
static void emit_net_k8s(struct cni_ctx *cc, const char *type, Tapio__V1__CniEvent *e,
			 Tapio__V1__KubernetesContext *k8s)
{
	struct kevent k;
	kevent_init(&k, worker_timeconv(cc->w), type, timeconv_now_boot_ns(), NULL);
	k.ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_CNI;
	k.ev.cni = e;
	k.ev.k8s = k8s;
	worker_emit(cc->w, &k.ev);
}

static void emit_net(struct cni_ctx *cc, const char *type, Tapio__V1__CniEvent *e)
{
	emit_net_k8s(cc, type, e, NULL);
}

static void on_link(struct nl_msg_ctx *m, const struct nlmsghdr *nlh)
{
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ifinfomsg))
		return;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[64] = {0};
	if (mnl_attr_parse(nlh, sizeof(*ifm), attr_cb, tb) < 0) {
		m->cc->nl_errors++;
		return;
	}
	bool del = nlh->nlmsg_type == RTM_DELLINK;
	Tapio__V1__CniLink l = TAPIO__V1__CNI_LINK__INIT;
	char name[IFNAMSIZ + 1] = "", kind[32] = "", mac[32] = "";
	l.action = del ? "del" : "new";
	l.has_netnsid = l.has_ifindex = l.has_up = 1;
	l.netnsid = m->nsid;
	l.ifindex = (uint32_t)ifm->ifi_index;
	l.up = !!(ifm->ifi_flags & IFF_UP);
	if (attr_str(tb[IFLA_IFNAME], name, sizeof(name)))
		l.name = name;
	uint32_t mtu = attr_u32(tb[IFLA_MTU], 0);
	if (mtu) {
		l.has_mtu = 1;
		l.mtu = mtu;
	}
	uint32_t master = attr_u32(tb[IFLA_MASTER], 0);
	if (master) {
		l.has_master_ifindex = 1;
		l.master_ifindex = master;
	}
	uint32_t link = attr_u32(tb[IFLA_LINK], 0);
	if (link && link != l.ifindex) {
		l.has_peer_ifindex = 1;
		l.peer_ifindex = link;
		l.has_peer_netnsid = 1;
		l.peer_netnsid = -1;
		if (tb[IFLA_LINK_NETNSID] &&
		    mnl_attr_validate(tb[IFLA_LINK_NETNSID], MNL_TYPE_U32) == 0)
			l.peer_netnsid = (int32_t)mnl_attr_get_u32(tb[IFLA_LINK_NETNSID]);
	}
	if (tb[IFLA_LINKINFO] && mnl_attr_validate(tb[IFLA_LINKINFO], MNL_TYPE_NESTED) == 0) {
		const struct nlattr *li[IFLA_INFO_MAX + 1] = {0};
		if (mnl_attr_parse_nested(tb[IFLA_LINKINFO], linkinfo_cb, li) >= 0 &&
		    attr_str(li[IFLA_INFO_KIND], kind, sizeof(kind)))
			l.kind = kind;
	}
	const struct nlattr *addr = tb[IFLA_ADDRESS];
	if (addr && mnl_attr_get_payload_len(addr) == 6) {
		const unsigned char *b = mnl_attr_get_payload(addr);
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3],
			 b[4], b[5]);
		l.mac = mac;
	}
	uint64_t d = fnv(1469598103934665603ull, name, strlen(name));
	d = fnv(d, kind, strlen(kind));
	uint32_t vals[] = {mtu, master, link, l.up,
			   l.has_peer_netnsid ? (uint32_t)l.peer_netnsid : 0};
	d = fnv(d, vals, sizeof(vals));
	if (!del && m->nsid == -1 && l.name && l.has_peer_netnsid && l.peer_netnsid >= 0) {
		struct cni_ctx *cc = m->cc;
		struct veth_peer *vp = NULL;
		for (size_t i = 0; i < VETH_PEERS && !vp; i++)
			if (strcmp(cc->veths[i].name, name) == 0)
				vp = &cc->veths[i];
		if (!vp) {
			vp = &cc->veths[cc->veth_next];
			cc->veth_next = (cc->veth_next + 1) % VETH_PEERS;
		}
		snprintf(vp->name, sizeof(vp->name), "%s", name);
		vp->peer_nsid = l.peer_netnsid;
	}
	if (link_unchanged(m->cc, m->nsid, l.ifindex, d, del))
		return;
	Tapio__V1__CniEvent e = TAPIO__V1__CNI_EVENT__INIT;
	e.link = &l;
	if (l.name)
		e.ifname = l.name;
	emit_net(m->cc, "net.link", &e);
}

static void on_addr(struct nl_msg_ctx *m, const struct nlmsghdr *nlh)
{
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ifaddrmsg))
		return;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[64] = {0};
	if (mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, tb) < 0) {
		m->cc->nl_errors++;
		return;
	}
	/* IPv4: IFA_LOCAL is the interface's address (IFA_ADDRESS the peer on point-to-point). */
	const struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	size_t want = ifa->ifa_family == AF_INET ? 4 : ifa->ifa_family == AF_INET6 ? 16 : 0;
	if (!a || !want || mnl_attr_get_payload_len(a) != want)
		return;
	char ip[INET6_ADDRSTRLEN], cidr[INET6_ADDRSTRLEN + 8], label[IFNAMSIZ + 1] = "";
	if (!inet_ntop(ifa->ifa_family, mnl_attr_get_payload(a), ip, sizeof(ip)))
		return;
	snprintf(cidr, sizeof(cidr), "%s/%u", ip, ifa->ifa_prefixlen);
	Tapio__V1__CniAddr ad = TAPIO__V1__CNI_ADDR__INIT;
	ad.action = nlh->nlmsg_type == RTM_DELADDR ? "del" : "new";
	ad.has_netnsid = ad.has_ifindex = 1;
	ad.netnsid = m->nsid;
	ad.ifindex = ifa->ifa_index;
	ad.address = cidr;
	if (attr_str(tb[IFA_LABEL], label, sizeof(label)))
		ad.label = label;
	Tapio__V1__CniEvent e = TAPIO__V1__CNI_EVENT__INIT;
	e.addr = &ad;
	emit_net(m->cc, "net.addr", &e);
}

static int nsid_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	if (mnl_attr_get_type(a) <= NETNSA_MAX)
		tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

/* NETNSA_NSID of an RTM_*NSID message, or false. */
static bool nsid_of(const struct nlmsghdr *nlh, int32_t *ret)
{
	const struct nlattr *tb[NETNSA_MAX + 1] = {0};
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct rtgenmsg) ||
	    mnl_attr_parse(nlh, sizeof(struct rtgenmsg), nsid_attr_cb, tb) < 0 ||
	    !tb[NETNSA_NSID] || mnl_attr_validate(tb[NETNSA_NSID], MNL_TYPE_U32) < 0)
		return false;
	*ret = (int32_t)mnl_attr_get_u32(tb[NETNSA_NSID]);
	return true;
}

static struct nsid_query *query_of(struct cni_ctx *cc, uint32_t seq)
{
	for (size_t i = 0; i < NSID_QUERIES; i++)
		if (seq && cc->queries[i].seq == seq)
			return &cc->queries[i];
	return NULL;
}

/* The answer to an RTM_GETNSID of ours: the id of the namespace asked about (-1: it has none
 * in ours, so its end will not be seen). */
static void on_nsid_answer(struct cni_ctx *cc, const struct nlmsghdr *nlh)
{
	struct nsid_query *q = query_of(cc, nlh->nlmsg_seq);
	int32_t nsid;
	if (!q)
		return;
	cc->nsid_answers++;
	struct ns_known *n = ns_find(cc, q->inode);
	q->seq = 0;
	if (!n || !nsid_of(nlh, &nsid) || nsid < 0)
		return;
	/* The id is this namespace's now: an entry that had it before is stale. */
	struct ns_known *old;
	while ((old = ns_by_nsid(cc, nsid)) && old != n)
		old->nsid = -1;
	n->nsid = nsid;
}

/* An error answer: to one of our RTM_GETNSIDs (the namespace file was not bound yet, the
 * process is gone), else a real error. */
static int nl_error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_msg_ctx *m = data;
	struct nsid_query *q = query_of(m->cc, nlh->nlmsg_seq);
	if (q && nlh->nlmsg_pid == m->cc->nl_portid)
		q->seq = 0;
	else
		m->cc->nl_errors++;
	return MNL_CB_OK;
}

/* The namespace of an id is gone (its last user left): netns.destroy. Ids exist only for
 * namespaces linked to ours (a veth peer, a nsid set by ip netns set). The namespace's inode,
 * file, pod and lifetime when it was seen before (by its netns.create, a plugin's call, a file
 * in netns_dir) and its id asked for. */
static void on_delnsid(struct nl_msg_ctx *m, const struct nlmsghdr *nlh)
{
	int32_t nsid;
	if (m->nsid != -1 || !nsid_of(nlh, &nsid))
		return; /* an id another namespace had (LISTEN_ALL_NSID shows those too) */
	struct cni_ctx *cc = m->cc;
	Tapio__V1__CniEvent e = TAPIO__V1__CNI_EVENT__INIT;
	e.has_netnsid = 1;
	e.netnsid = nsid;
	e.netns_op = "nsid_removed";
	Tapio__V1__KubernetesContext k8s = TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	bool pod = false;
	struct ns_known known, *n = ns_by_nsid(cc, nsid);
	if (n) {
		known = *n;
		memset(n, 0, sizeof(*n)); /* the inode and the id may be given again */
		n = &known;
		e.has_netns_inode = 1;
		e.netns_inode = n->inode;
		if (n->path[0])
			e.netns = n->path;
		if (n->container_id[0]) {
			e.container_id = k8s.container_id = n->container_id;
			pod = true;
			if (n->pod_name[0] && n->pod_ns[0]) {
				k8s.pod_name = n->pod_name;
				k8s.namespace_ = n->pod_ns;
				if (n->pod_uid[0])
					k8s.pod_uid = n->pod_uid;
			}
		}
		uint64_t now = timeconv_now_boot_ns();
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t wall = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		if (n->created_boot_ns && n->created_boot_ns <= now) {
			e.has_lifetime_ns = 1;
			e.lifetime_ns = now - n->created_boot_ns;
			e.lifetime_from = "create";
		} else if (n->nsfs_wall_ns && n->nsfs_wall_ns <= wall) {
			e.has_lifetime_ns = 1;
			e.lifetime_ns = (uint64_t)(wall - n->nsfs_wall_ns);
			e.lifetime_from = "nsfs";
		}
	}
	/* The containers whose host veth had its peer in this namespace. */
	char cid[256] = "";
	for (size_t i = 0; i < VETH_PEERS; i++) {
		struct veth_peer *vp = &cc->veths[i];
		if (!vp->name[0] || vp->peer_nsid != nsid)
			continue;
		for (size_t j = 0; j < POD_LINKS; j++) {
			struct pod_link *pl = &cc->pod_links[j];
			if (!pl->container_id[0] || strcmp(pl->ifname, vp->name) != 0)
				continue;
			snprintf(cid, sizeof(cid), "%s", pl->container_id);
			if (cc->leak_fd >= 0) {
				if (cc->n_checks < LEAK_CHECKS) {
					struct leak_check *c = &cc->checks[cc->n_checks++];
					c->due_ns = timeconv_now_mono_ns() +
						    (uint64_t)cc->cfg->leak_grace_s * 1000000000ull;
					snprintf(c->container_id, sizeof(c->container_id), "%s",
						 cid);
				} else {
					cc->ipam_overflow++;
				}
			}
			memset(pl, 0, sizeof(*pl));
		}
		memset(vp, 0, sizeof(*vp)); /* the id may be given to another namespace */
	}
	if (cid[0] && !e.container_id) {
		e.container_id = k8s.container_id = cid;
		pod = true;
	}
	emit_net_k8s(cc, "netns.destroy", &e, pod ? &k8s : NULL);
}

static int nl_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_msg_ctx *m = data;
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		on_link(m, nlh);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		on_addr(m, nlh);
		break;
	case RTM_DELNSID:
		on_delnsid(m, nlh);
		break;
	case RTM_NEWNSID:
		if (nlh->nlmsg_pid == m->cc->nl_portid && nlh->nlmsg_seq)
			on_nsid_answer(m->cc, nlh);
		else if (m->nsid == -1)
			/* A namespace got an id in ours (a veth peer moved there): which, if it is
			 * a file in netns_dir. Plugin calls ask for theirs at their exit. */
			scan_netns_dir(m->cc);
		break;
	}
	return MNL_CB_OK;
}

static int read_netlink(struct cni_ctx *cc)
{
	static char buf[65536];
	for (int round = 0; round < 64; round++) {
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {buf, sizeof(buf)};
		struct sockaddr_nl sa;
		struct msghdr msg = {.msg_name = &sa,
				     .msg_namelen = sizeof(sa),
				     .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(cc->nl_fd, &msg, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (errno == ENOBUFS) { /* the socket overran: events lost, go on */
				cc->nl_drops++;
				continue;
			}
			return -errno;
		}
		if (sa.nl_pid != 0) /* only the kernel speaks here */
			continue;
		struct nl_msg_ctx m = {cc, -1};
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == SOL_NETLINK &&
			    c->cmsg_type == NETLINK_LISTEN_ALL_NSID &&
			    c->cmsg_len >= CMSG_LEN(sizeof(int)))
				memcpy(&m.nsid, CMSG_DATA(c), sizeof(int));
		}
		static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = nl_error_cb};
		if (mnl_cb_run2(buf, (size_t)n, 0, 0, nl_msg_cb, &m, ctl, NLMSG_MIN_TYPE) < 0)
			cc->nl_errors++;
	}
	return 0;
}

static int setup_netlink(struct cni_ctx *cc)
{
	cc->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!cc->nl)
		return -errno;
	if (mnl_socket_bind(cc->nl, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
			    MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	int grp = RTNLGRP_NSID;
	if (mnl_socket_setsockopt(cc->nl, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0)
		return -errno;
	/* Needs CAP_NET_BROADCAST now; the kernel checks the opener's credentials afterwards. */
	int one = 1;
	if (mnl_socket_setsockopt(cc->nl, NETLINK_LISTEN_ALL_NSID, &one, sizeof(one)) < 0) {
		log_warn("rtnetlink: NETLINK_LISTEN_ALL_NSID: %s (pod namespaces unseen)",
			 strerror(errno));
		worker_add_missing(cc->w,
				   "rtnetlink of other namespaces (NETLINK_LISTEN_ALL_NSID)");
	}
	int rcv = 1 << 20;
	setsockopt(mnl_socket_get_fd(cc->nl), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	cc->nl_fd = mnl_socket_get_fd(cc->nl);
	cc->nl_portid = mnl_socket_get_portid(cc->nl);
	worker_add_hook(cc->w, "rtnetlink/link,addr,nsid");
	/* Namespace files are nsfs inodes: ours tells their device. */
	struct stat st;
	if (stat("/proc/self/ns/net", &st) == 0)
		cc->nsfs_dev = st.st_dev;
	/* The namespaces that exist now, by their files: their ids, for their netns.destroy. */
	scan_netns_dir(cc);
	return worker_watch(cc->w, cc->nl_fd);
}

/* ---- inotify: cni.config / cni.ipam --------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Read dir/name (a regular file, at most max bytes) into a malloc'd buffer. */
static int read_small(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len)
{
	char path[4096 + 256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((size_t)st.st_size > max)
		return -EFBIG;
	char *buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static void on_config_file(struct cni_ctx *cc, const char *name, bool removed)
{
	bool list = ends_with(name, ".conflist");
	if (!list && !ends_with(name, ".conf") && !ends_with(name, ".json"))
		return;
	Tapio__V1__CniConfig c = TAPIO__V1__CNI_CONFIG__INIT;
	char path[4096 + 256];
	snprintf(path, sizeof(path), "%s/%s", cc->cfg->config_dir, name);
	c.file = path;
	c.action = removed ? "removed" : "changed";
	struct cni_conf conf;
	char *plugins[CNI_CONF_PLUGINS];
	char err[300];
	if (!removed) {
		_cleanup_free_ char *buf = NULL;
		size_t len = 0;
		int r = read_small(cc->cfg->config_dir, name, CONF_FILE_MAX, &buf, &len);
		if (r == -ENOENT)
			return; /* gone again before we read it: its removal follows */
		if (r < 0) {
			snprintf(err, sizeof(err), "cannot read: %s", strerror(-r));
			c.error = err;
		} else {
			cni_conf_parse(buf, len, list, &conf);
			if (conf.name[0])
				c.name = conf.name;
			if (conf.cni_version[0])
				c.cni_version = conf.cni_version;
			for (size_t i = 0; i < conf.n_plugins; i++)
				plugins[i] = conf.plugins[i];
			c.n_plugins = conf.n_plugins;
			c.plugins = plugins;
			if (conf.error[0])
				c.error = conf.error;
		}
	}
	Tapio__V1__CniEvent e = TAPIO__V1__CNI_EVENT__INIT;
	e.config = &c;
	emit_net(cc, "cni.config", &e);
}

static struct lease *lease_find(struct cni_ctx *cc, const char *net, const char *ip)
{
	for (size_t i = 0; i < cc->n_leases; i++)
		if (strcmp(cc->leases[i].network, net) == 0 && strcmp(cc->leases[i].ip, ip) == 0)
			return &cc->leases[i];
	return NULL;
}

static bool is_ip(const char *s)
{
	unsigned char b[16];
	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* A lease file of host-local: "<container id>\n<ifname>" (older versions: id only). Remembers
 * it; returns the entry, or NULL when the file is no lease or cannot be read. */
static struct lease *lease_load(struct cni_ctx *cc, const char *net, const char *ip)
{
	if (!is_ip(ip) || strlen(ip) >= sizeof(cc->leases[0].ip) ||
	    strlen(net) >= sizeof(cc->leases[0].network))
		return NULL;
	char dir[4096 + 128];
	snprintf(dir, sizeof(dir), "%s/%s", cc->cfg->ipam_dir, net);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (read_small(dir, ip, 1024, &buf, &len) < 0)
		return NULL;
	struct lease *l = lease_find(cc, net, ip);
	if (!l) {
		if (cc->n_leases >= LEASES_MAX) {
			cc->ipam_overflow++;
			return NULL;
		}
		l = &cc->leases[cc->n_leases++];
	}
	memset(l, 0, sizeof(*l));
	snprintf(l->network, sizeof(l->network), "%s", net);
	snprintf(l->ip, sizeof(l->ip), "%s", ip);
	size_t id_len = strcspn(buf, "\r\n");
	if (id_len > len)
		id_len = len;
	copy_str(l->container_id, sizeof(l->container_id), buf, id_len);
	if (id_len < len) {
		const char *ifn = buf + id_len;
		while (ifn < buf + len && (*ifn == '\r' || *ifn == '\n'))
			ifn++;
		copy_str(l->ifname, sizeof(l->ifname), ifn, strcspn(ifn, "\r\n"));
	}
	return l;
}

static void emit_ipam_type(struct cni_ctx *cc, const struct lease *l, const char *type,
			   const char *action, int64_t age_ns)
{
	Tapio__V1__CniIpam ip = TAPIO__V1__CNI_IPAM__INIT;
	if (age_ns >= 0) {
		ip.has_age_ns = 1;
		ip.age_ns = (uint64_t)age_ns;
	}
	ip.action = (char *)action;
	ip.network = (char *)l->network;
	ip.ip = (char *)l->ip;
	if (l->container_id[0])
		ip.container_id = (char *)l->container_id;
	if (l->ifname[0])
		ip.ifname = (char *)l->ifname;
	Tapio__V1__CniEvent e = TAPIO__V1__CNI_EVENT__INIT;
	e.ipam = &ip;
	if (l->container_id[0])
		e.container_id = (char *)l->container_id;
	emit_net(cc, type, &e);
}

static void emit_ipam(struct cni_ctx *cc, const struct lease *l, const char *action)
{
	emit_ipam_type(cc, l, "cni.ipam", action, -1);
}

/* Due checks: a lease still held by a container whose namespace is gone is a leak (the DEL
 * never came, or failed), reported once with its age. */
static int check_leaks(struct cni_ctx *cc)
{
	uint64_t n;
	if (read(cc->leak_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	uint64_t now = timeconv_now_mono_ns();
	for (size_t i = 0; i < cc->n_checks;) {
		struct leak_check *c = &cc->checks[i];
		if (c->due_ns > now) {
			i++;
			continue;
		}
		for (size_t j = 0; j < cc->n_leases; j++) {
			struct lease *l = &cc->leases[j];
			if (l->leak_reported || strcmp(l->container_id, c->container_id) != 0)
				continue;
			char path[4096 + 256];
			snprintf(path, sizeof(path), "%s/%s/%s", cc->cfg->ipam_dir, l->network,
				 l->ip);
			struct stat st;
			if (stat(path, &st) < 0)
				continue; /* released meanwhile (its event was lost or is queued) */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t age = ((int64_t)ts.tv_sec - st.st_mtim.tv_sec) * 1000000000LL +
				      (ts.tv_nsec - st.st_mtim.tv_nsec);
			l->leak_reported = true;
			emit_ipam_type(cc, l, "cni.ipam_leak", "leak", age < 0 ? 0 : age);
		}
		*c = cc->checks[--cc->n_checks];
	}
	return 0;
}

static int watch_net(struct cni_ctx *cc, const char *net, int load_existing)
{
	if (cc->n_nets >= IPAM_NETS_MAX || strlen(net) >= sizeof(cc->nets[0].name)) {
		cc->ipam_overflow++;
		return 0;
	}
	char dir[4096 + 128];
	snprintf(dir, sizeof(dir), "%s/%s", cc->cfg->ipam_dir, net);
	int wd = inotify_add_watch(cc->ino_fd, dir,
				   IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM |
					   IN_ONLYDIR);
	if (wd < 0)
		return -errno;
	cc->nets[cc->n_nets].wd = wd;
	snprintf(cc->nets[cc->n_nets].name, sizeof(cc->nets[0].name), "%s", net);
	cc->n_nets++;
	if (!load_existing)
		return 0;
	/* load_existing 1: remember the leases there; 2: also report them.
	 * Leases already there: remembered (for the container id of their release), and a
	 * lease written between mkdir and this watch is reported now. */
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct lease *l = lease_load(cc, net, de->d_name);
		if (l && load_existing == 2)
			emit_ipam(cc, l, "allocate");
	}
	return 0;
}

static const char *net_of(struct cni_ctx *cc, int wd)
{
	for (size_t i = 0; i < cc->n_nets; i++)
		if (cc->nets[i].wd == wd)
			return cc->nets[i].name;
	return NULL;
}

static int read_inotify(struct cni_ctx *cc)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(cc->ino_fd, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				cc->ipam_overflow++;
				continue;
			}
			if (!ev->len || ev->name[0] == '.')
				continue;
			if (ev->wd == cc->conf_wd) {
				on_config_file(cc, ev->name,
					       ev->mask & (IN_DELETE | IN_MOVED_FROM));
			} else if (ev->wd == cc->ipam_wd) {
				if (ev->mask & IN_ISDIR)
					watch_net(cc, ev->name, 2);
			} else {
				const char *net = net_of(cc, ev->wd);
				if (!net)
					continue;
				if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
					struct lease *l = lease_find(cc, net, ev->name);
					struct lease gone = {0};
					if (!l) {
						if (!is_ip(ev->name))
							continue;
						snprintf(gone.network, sizeof(gone.network), "%s",
							 net);
						snprintf(gone.ip, sizeof(gone.ip), "%s", ev->name);
						l = &gone;
					}
					emit_ipam(cc, l, "release");
					if (l != &gone)
						*l = cc->leases[--cc->n_leases];
				} else {
					struct lease *l = lease_load(cc, net, ev->name);
					if (l)
						emit_ipam(cc, l, "allocate");
				}
			}
		}
	}
}

static int setup_inotify(struct cni_ctx *cc)
{
	const struct config_cni *cfg = cc->cfg;
	cc->conf_wd = cc->ipam_wd = -1;
	if (!cfg->config_dir[0] && !cfg->ipam_dir[0])
		return 0;
	cc->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (cc->ino_fd < 0)
		return -errno;
	if (cfg->config_dir[0]) {
		cc->conf_wd = inotify_add_watch(cc->ino_fd, cfg->config_dir,
						IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE |
							IN_MOVED_FROM | IN_ONLYDIR);
		if (cc->conf_wd < 0) {
			log_warn("config dir %s: %s (no cni.config)", cfg->config_dir,
				 strerror(errno));
			worker_add_missing(cc->w, "cni.config (config_dir not watchable)");
		} else {
			worker_add_hook(cc->w, "inotify/config_dir");
			int r = worker_add_read_path(cc->w, cfg->config_dir);
			if (r < 0)
				return r;
		}
	}
	if (cfg->ipam_dir[0]) {
		cc->leases = calloc(LEASES_MAX, sizeof(*cc->leases));
		if (!cc->leases)
			return -ENOMEM;
		cc->ipam_wd = inotify_add_watch(cc->ino_fd, cfg->ipam_dir,
						IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
		if (cc->ipam_wd < 0) {
			log_warn("IPAM dir %s: %s (no cni.ipam)", cfg->ipam_dir, strerror(errno));
			worker_add_missing(cc->w, "cni.ipam (ipam_dir not watchable)");
		} else {
			worker_add_hook(cc->w, "inotify/ipam_dir");
			int r = worker_add_read_path(cc->w, cfg->ipam_dir);
			if (r < 0)
				return r;
			_cleanup_closedir_ DIR *d = opendir(cfg->ipam_dir);
			struct dirent *de;
			while (d && (de = readdir(d)))
				if (de->d_name[0] != '.' && de->d_type == DT_DIR)
					watch_net(cc, de->d_name, 1);
		}
	}
	return worker_watch(cc->w, cc->ino_fd);
}

/* ---- setup ------------------------------------------------------------------------------- */

static void set_hookset(struct cni_bpf *s, bool btf)
{
	bpf_program__set_autoload(s->progs.handle_exec_btf, btf);
	bpf_program__set_autoload(s->progs.handle_exit_btf, btf);
	bpf_program__set_autoload(s->progs.handle_fork_btf, btf);
	bpf_program__set_autoload(s->progs.handle_exec_raw, !btf);
	bpf_program__set_autoload(s->progs.handle_exit_raw, !btf);
	bpf_program__set_autoload(s->progs.handle_fork_raw, !btf);
}

/* Output capture off: no sys_enter_write program (one lookup per write() on the node). */
static void set_capture(struct cni_bpf *s, bool on)
{
	bpf_program__set_autoload(s->progs.handle_write, on);
}

static const struct hookset hooksets[] = {
	{"tp_btf", true, "tp_btf/sched_process_{exec,exit,fork}"},
	{"raw_tp", false, NULL},
};
static const char *const hook_names[] = {"sched_process_exec", "sched_process_exit",
					 "sched_process_fork"};

/* The plugin directories into the kernel's filter, by device and inode. */
static int fill_plugin_dirs(struct cni_ctx *cc)
{
	static const char *const defaults[] = CNI_DEFAULT_PLUGIN_DIRS;
	const struct config_string_list *l = &cc->cfg->plugin_dirs;
	size_t n = l->n ? l->n : sizeof(defaults) / sizeof(defaults[0]);
	int fd = bpf_map__fd(cc->skel->maps.plugin_dirs);
	size_t found = 0;
	for (size_t i = 0; i < n; i++) {
		const char *dir = l->n ? l->items[i] : defaults[i];
		struct stat st;
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			log_info("plugin dir %s: %s (not watched)", dir,
				 S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
			continue;
		}
		struct cni_dir_key key = {
			.dev = ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev),
			.ino = st.st_ino,
		};
		__u8 one = 1;
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY) < 0)
			return -errno;
		found++;
	}
	if (!found)
		worker_add_missing(cc->w, "cni.invoke (no plugin directory exists)");
	return 0;
}

static int try_hookset(void *ctx, const struct hookset *set)
{
	struct cni_ctx *cc = ctx;
	struct cni_bpf *s = cni_bpf__open();
	if (!s)
		return -errno ? -errno : -ENOMEM;
	set_hookset(s, set->btf);
	set_capture(s, cc->cfg->capture_output);
	s->rodata->cfg_env_max_bytes = cc->cfg->env_max_bytes;
	s->rodata->cfg_capture_max = cc->cfg->result_capture_bytes;
	int r = bpf_map__set_max_entries(s->maps.events, cc->cfg->ring_buffer_kib * 1024u);
	if (r == 0)
		r = cni_bpf__load(s);
	if (r == 0) {
		cc->skel = s;
		r = fill_plugin_dirs(cc);
	}
	if (r == 0)
		r = cni_bpf__attach(s);
	if (r < 0) {
		cni_bpf__destroy(s);
		cc->skel = NULL;
		return r;
	}
	cc->hookset = set->name;
	return 0;
}

static int cni_setup(struct worker *w, void *ctx)
{
	struct cni_ctx *cc = ctx;
	cc->w = w;
	cc->cfg = config_section(worker_config(w), "cni");
	cc->nl_fd = cc->ino_fd = cc->leak_fd = -1;
	worker_set_step(w, "libbpf setup");
	int r = kevent_setup();
	if (r < 0)
		return r;
	cc->inv = calloc(cc->cfg->pending_max, sizeof(*cc->inv));
	if (!cc->inv)
		return -ENOMEM;
	kevent_cgroup_cache(w, CGROUP_CACHE_ENTRIES, &cc->cgroups);

	worker_set_step(w, "load and attach hooks");
	r = hookset_select(w, cc->cfg->hooks, hooksets, sizeof(hooksets) / sizeof(hooksets[0]),
			   hook_names, sizeof(hook_names) / sizeof(hook_names[0]), try_hookset, cc);
	if (r < 0) {
		log_error("no eBPF hook set loads (%s); the kernel needs BTF and tp_btf or raw "
			  "tracepoints",
			  strerror(-r));
		return r;
	}
	if (cc->cfg->capture_output)
		worker_add_hook(w, "tracepoint/syscalls/sys_enter_write");
	else
		worker_add_missing(w, "plugin results (capture_output is off)");
	worker_add_hook(w, "tracepoint/syscalls/sys_{enter,exit}_unshare");
	worker_add_hook(w, "tracepoint/syscalls/sys_{enter,exit}_setns");
	worker_set_step(w, "ring buffer");
	r = kevent_add_ring(w, cc->skel->obj, cc->skel->maps.events, handle_record, cc);
	if (r < 0)
		return r;

	if (cc->cfg->rtnetlink) {
		worker_set_step(w, "rtnetlink");
		r = setup_netlink(cc);
		if (r < 0)
			return r;
	}
	worker_set_step(w, "inotify");
	r = setup_inotify(cc);
	if (r < 0)
		return r;
	if (cc->cfg->leak_grace_s && cc->cfg->rtnetlink && cc->ino_fd >= 0 && cc->ipam_wd >= 0) {
		cc->leak_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (cc->leak_fd < 0)
			return -errno;
		struct itimerspec its = {.it_interval = {1, 0}, .it_value = {1, 0}};
		if (timerfd_settime(cc->leak_fd, 0, &its, NULL) < 0)
			return -errno;
		r = worker_watch(w, cc->leak_fd);
		if (r < 0)
			return r;
	}
	if (cc->cfg->netns_dir[0]) {
		/* Landlock grants only paths that exist when the sandbox closes, and after a boot
		 * the directory appears with the first `ip netns add` or runtime sandbox: create
		 * it now, as iproute2 and the runtimes would (0755, root), or no namespace would
		 * ever get its name until the worker restarts. */
		if (mkdir(cc->cfg->netns_dir, 0755) == 0)
			log_info("created the netns directory %s", cc->cfg->netns_dir);
		else if (errno != EEXIST) {
			log_warn("netns_dir %s: %s (netns.enter without names)", cc->cfg->netns_dir,
				 strerror(errno));
			worker_add_missing(w, "netns names (netns_dir missing)");
		}
		r = worker_add_read_path(w, cc->cfg->netns_dir);
		if (r < 0)
			return r;
	}
	log_info("attached %s hooks; ring buffer %u KiB", cc->hookset, cc->cfg->ring_buffer_kib);
	return 0;
}

static int cni_on_readable(struct worker *w, void *ctx, int fd)
{
	struct cni_ctx *cc = ctx;
	if (fd == cc->nl_fd)
		return read_netlink(cc);
	if (fd == cc->ino_fd)
		return read_inotify(cc);
	if (fd == cc->leak_fd)
		return check_leaks(cc);
	return 0;
}

static void cni_fill_stats(struct worker *w, void *ctx, Tapio__V1__Stats *st)
{
	struct cni_ctx *cc = ctx;
	uint64_t sums[TAPIO_CNT_MAX];
	if (!cc->skel || kevent_counters_sum(bpf_map__fd(cc->skel->maps.counters), sums) < 0)
		return;
	st->has_kernel_drops = 1;
	st->kernel_drops = sums[TAPIO_CNT_RINGBUF_DROP] + cc->nl_drops;
	/* What the worker lost on its side: logged when it grows (at most once a stats period). */
	uint64_t now[5] = {cc->pending_full, cc->output_orphans, cc->nl_errors, cc->ipam_overflow,
			   cc->results_invalid};
	if (memcmp(now, cc->logged, sizeof(now)) != 0) {
		log_warn("lost: %" PRIu64 " plugin calls (pending_max), %" PRIu64
			 " output records of unknown calls, %" PRIu64
			 " bad rtnetlink messages, %" PRIu64 " IPAM/inotify overflows; %" PRIu64
			 " plugin outputs were no CNI result",
			 now[0], now[1], now[2], now[3], now[4]);
		memcpy(cc->logged, now, sizeof(now));
	}
}

static void cni_teardown(struct worker *w, void *ctx)
{
	struct cni_ctx *cc = ctx;
	if (cc->inv)
		for (uint32_t i = 0; i < cc->cfg->pending_max; i++)
			free(cc->inv[i].out);
	free(cc->inv);
	free(cc->leases);
	cni_bpf__destroy(cc->skel);
	cgroup_cache_free(cc->cgroups);
	if (cc->nl)
		mnl_socket_close(cc->nl);
	if (cc->ino_fd >= 0)
		close(cc->ino_fd);
	if (cc->leak_fd >= 0)
		close(cc->leak_fd);
}

static const struct worker_collector cni_collector = {
	.name = "cni",
	.setup = cni_setup,
	.on_readable = cni_on_readable,
	.fill_stats = cni_fill_stats,
	.teardown = cni_teardown,
};

int main(int argc, char **argv)
{
	static struct cni_ctx ctx;
	return worker_main(argc, argv, &cni_collector, &ctx);
}
