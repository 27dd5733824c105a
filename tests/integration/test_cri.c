// SPDX-License-Identifier: Apache-2.0
// cri collector end to end: a private containerd (tests/helpers/cri-env.sh), pods and
// containers driven through the collector's own CRI client, events read from tapiod's stdout.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
/* The client under test, and the schema it speaks (generated into build/gen/collectors/cri/). */
#include "collectors/cri/cri_api.pb-c.c"
#include "collectors/cri/cri_client.c"
#include "collectors/cri/cri_grpc.c"

/* CRI test driver: RunPodSandbox .. RemovePodSandbox through the collector's client. */
#define RS_ "/runtime.v1.RuntimeService/"
static Runtime__V1__PodSandboxConfig *drv_sandbox_config(const char *name, const char *ns,
							 const char *uid)
{
	static Runtime__V1__PodSandboxConfig cfg;
	static Runtime__V1__PodSandboxMetadata md;
	static Runtime__V1__LinuxPodSandboxConfig lx;
	static Runtime__V1__LinuxSandboxSecurityContext sc;
	static Runtime__V1__NamespaceOption nso;
	static char uidbuf[64], parent[128], logdir[256];
	cfg = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	md = (Runtime__V1__PodSandboxMetadata)RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	lx = (Runtime__V1__LinuxPodSandboxConfig)RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	sc = (Runtime__V1__LinuxSandboxSecurityContext)
		RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	nso = (Runtime__V1__NamespaceOption)RUNTIME__V1__NAMESPACE_OPTION__INIT;
	snprintf(uidbuf, sizeof(uidbuf), "%s", uid);
	md.name = (char *)name;
	md.namespace_ = (char *)ns;
	md.uid = uidbuf;
	nso.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	nso.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	sc.namespace_options = &nso;
	/* What a cgroupfs-driver kubelet passes: /kubepods/burstable/pod<uid>. */
	snprintf(parent, sizeof(parent), "/kubepods/burstable/pod%s", uid);
	lx.cgroup_parent = parent;
	lx.security_context = &sc;
	snprintf(logdir, sizeof(logdir), "/var/lib/tapio-test/cri/logs/%s", uid);
	cfg.metadata = &md;
	cfg.log_directory = logdir;
	cfg.linux_config = &lx;
	return &cfg;
}

static int drv_run_sandbox(struct cri_client *c, Runtime__V1__PodSandboxConfig *cfg, char *ret_id,
			   size_t cap)
{
	Runtime__V1__RunPodSandboxRequest q = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	q.config = cfg;
	Runtime__V1__RunPodSandboxResponse *r = NULL;
	int e = cri_client_call(c, RS_ "RunPodSandbox", &q.base,
				&runtime__v1__run_pod_sandbox_response__descriptor,
				(ProtobufCMessage **)&r);
	if (e == 0) {
		snprintf(ret_id, cap, "%s", r->pod_sandbox_id);
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	return e;
}

static int drv_create(struct cri_client *c, const char *sb, Runtime__V1__PodSandboxConfig *sbcfg,
		      const char *name, const char *script, int64_t mem_limit, char *ret_id,
		      size_t cap)
{
	Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__LinuxContainerConfig lx = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	md.name = (char *)name;
	img.image = "docker.io/tapio-test/busybox:1";
	char *cmd[] = {"/bin/sh", "-c", (char *)script};
	cc.metadata = &md;
	cc.image = &img;
	cc.command = cmd;
	cc.n_command = 3;
	char logp[128];
	snprintf(logp, sizeof(logp), "%s.log", name);
	cc.log_path = logp;
	if (mem_limit > 0) {
		res.memory_limit_in_bytes = mem_limit;
		res.memory_swap_limit_in_bytes = mem_limit;
		lx.resources = &res;
		cc.linux_config = &lx;
	}
	Runtime__V1__CreateContainerRequest q = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	q.pod_sandbox_id = (char *)sb;
	q.config = &cc;
	q.sandbox_config = sbcfg;
	Runtime__V1__CreateContainerResponse *r = NULL;
	int e = cri_client_call(c, RS_ "CreateContainer", &q.base,
				&runtime__v1__create_container_response__descriptor,
				(ProtobufCMessage **)&r);
	if (e == 0) {
		snprintf(ret_id, cap, "%s", r->container_id);
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	return e;
}

/* The RPCs whose request is one id string (field 1) and whose response is empty. */
static int drv_id_call(struct cri_client *c, const char *method, const char *id)
{
	Runtime__V1__StartContainerRequest q = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
	q.container_id = (char *)id; /* field 1 of every request used here */
	ProtobufCMessage *r = NULL;
	int e = cri_client_call(c, method, &q.base,
				&runtime__v1__start_container_response__descriptor, &r);
	if (e == 0)
		protobuf_c_message_free_unpacked(r, NULL);
	return e;
}

static char sock_path[256];

/* Start (or reuse) the private containerd; skip-free: CI has root and the packages. */
static void env_start(void)
{
	harness_require_root();
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/cri-env.sh start", harness_source_dir());
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	char *ok = fgets(sock_path, sizeof(sock_path), f);
	int st = pclose(f);
	cr_assert(ok && WIFEXITED(st) && WEXITSTATUS(st) == 0, "cri-env.sh start failed");
	sock_path[strcspn(sock_path, "\n")] = '\0';
}

static void env_stop(void)
{
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/cri-env.sh stop", harness_source_dir());
	cr_expect_eq(system(cmd), 0);
}

struct cmatch {
	const char *type;
	const char *container_id; /* or NULL */
	const char *pod_name;	  /* or NULL */
};

static bool match_ev(json_object *ev, void *arg)
{
	struct cmatch *m = arg;
	const char *t = jstr(ev, "type");
	if (!t || strcmp(t, m->type) != 0)
		return false;
	if (m->container_id) {
		const char *id = jstr(ev, "container.containerId");
		if (!id || strcmp(id, m->container_id) != 0)
			return false;
	}
	if (m->pod_name) {
		const char *p = jstr(ev, "container.podName");
		if (!p || strcmp(p, m->pod_name) != 0)
			return false;
	}
	return true;
}

static json_object *wait_ev(struct tapiod *t, const char *type, const char *cid, const char *pod,
			    int ms)
{
	struct cmatch m = {type, cid, pod};
	json_object *ev = tapiod_wait(t, match_ev, &m, ms);
	if (!ev) {
		char *log = tapiod_log(t);
		(void)log;
		free(log);
		for (size_t i = 0; i < t->n_events; i++)
			if (strcmp(jstr(t->events[i], "collector") ?: "", "cri") == 0)
				cr_log_error("event: %s", json_object_to_json_string(t->events[i]));
	}
	cr_assert_not_null(ev, "no %s for %s/%s", type, pod ? pod : "-", cid ? cid : "-");
	return ev;
}

/* Fields every container event must carry. */
static void check_common(json_object *ev, const char *pod, const char *ns, const char *uid,
			 const char *cname, const char *cid)
{
	cr_assert_str_eq(jstr(ev, "collector"), "cri");
	cr_assert_str_eq(jstr(ev, "container.podName"), pod);
	cr_assert_str_eq(jstr(ev, "container.namespace"), ns);
	cr_assert_str_eq(jstr(ev, "container.podUid"), uid);
	cr_assert_str_eq(jstr(ev, "container.runtime"), "containerd");
	cr_assert_str_eq(jstr(ev, "k8s.podName"), pod);
	if (cname) {
		cr_assert_str_eq(jstr(ev, "container.containerName"), cname);
		cr_assert_str_eq(jstr(ev, "container.containerId"), cid);
		cr_assert_eq(strlen(jstr(ev, "container.containerId")), 64);
		cr_assert_str_eq(jstr(ev, "container.image"), "docker.io/tapio-test/busybox:1");
		cr_assert_str_eq(jstr(ev, "k8s.containerName"), cname);
	}
}

static void make_uid(char *buf, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, cap, "%08x-%04x-4000-8000-%012llx", (unsigned)getpid(),
		 (unsigned)(ts.tv_nsec & 0xffff), (unsigned long long)ts.tv_nsec);
}

static struct cri_client *client(void)
{
	struct cri_client *c = NULL;
	cr_assert_eq(cri_client_connect(sock_path, 20000, &c), 0);
	return c;
}

static pid_t worker_pid(struct tapiod *t)
{
	pid_t kids[16];
	size_t n = tapiod_children(t, kids, 16);
	for (size_t i = 0; i < n; i++) {
		char p[64], exe[256] = "";
		snprintf(p, sizeof(p), "/proc/%d/exe", kids[i]);
		ssize_t k = readlink(p, exe, sizeof(exe) - 1);
		if (k > 0) {
			exe[k] = '\0';
			if (strstr(exe, "tapio-collector-cri"))
				return kids[i];
		}
	}
	return 0;
}

static char cfg_yaml[600];
static const char *cri_yaml_hooks(bool degraded, const char *hooks)
{
	snprintf(cfg_yaml, sizeof(cfg_yaml),
		 "  cri:\n    enabled: true\n    socket_path: %s\n    poll_interval_ms: 500\n"
		 "    rpc_timeout_ms: 3000\n    force_degraded: %s\n    hooks: %s\n",
		 sock_path, degraded ? "true" : "false", hooks);
	return cfg_yaml;
}

static const char *cri_yaml(bool degraded)
{
	return cri_yaml_hooks(degraded, "auto");
}

/* Pod → container exiting 3 → remove → stop/remove pod; kill -9 of the worker in the middle. */
Test(cri, lifecycle_exit_code_and_worker_restart, .timeout = 60)
{
	env_start();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, cri_yaml(false)), 0);
	cr_assert(tapiod_wait_state(&t, "cri", "READY", 15000), "cri not READY");
	json_object *inv = wait_ev(&t, "cri.inventory", NULL, NULL, 10000);
	cr_assert_str_eq(jstr(inv, "container.runtimeApiVersion"), "v1");
	cr_assert_str_eq(jstr(inv, "container.runtime"), "containerd");

	struct cri_client *c = client();
	char uid[64], sb[128], ct[128];
	make_uid(uid, sizeof(uid));
	const char *pod = "e2e-pod", *ns = "tapio-test";
	Runtime__V1__PodSandboxConfig *cfg = drv_sandbox_config(pod, ns, uid);
	cr_assert_eq(drv_run_sandbox(c, cfg, sb, sizeof(sb)), 0, "%s", cri_client_last_error(c));
	json_object *ev = wait_ev(&t, "pod.sandbox_ready", NULL, pod, 10000);
	check_common(ev, pod, ns, uid, NULL, NULL);
	cr_assert_str_eq(jstr(ev, "container.sandboxId"), sb);

	cr_assert_eq(drv_create(c, sb, cfg, "exits3", "sleep 0.5; exit 3", 0, ct, sizeof(ct)), 0,
		     "%s", cri_client_last_error(c));
	ev = wait_ev(&t, "container.created", ct, pod, 10000);
	check_common(ev, pod, ns, uid, "exits3", ct);
	cr_assert_eq(drv_id_call(c, RS_ "StartContainer", ct), 0, "%s", cri_client_last_error(c));
	ev = wait_ev(&t, "container.started", ct, pod, 10000);
	check_common(ev, pod, ns, uid, "exits3", ct);
	ev = wait_ev(&t, "container.exited", ct, pod, 10000);
	check_common(ev, pod, ns, uid, "exits3", ct);
	cr_assert_eq(jint(ev, "container.exitCode", -1), 3, "%s", json_object_to_json_string(ev));
	cr_assert_eq(jint(ev, "container.signal", 0), 0);
	cr_assert_str_eq(jstr(ev, "container.reason"), "Error"); /* containerd: non-zero exit */
	cr_assert_gt(jint(ev, "container.finishedAtUnixNs", 0), 0);
	cr_assert_str_eq(jstr(ev, "container.source"), "cri+ebpf");

	/* kill -9 the worker: tapiod restarts it (the reconnect); later steps must all appear. */
	pid_t w = worker_pid(&t);
	cr_assert_gt(w, 0);
	cr_assert_eq(kill(w, SIGKILL), 0);
	for (int i = 0; i < 100 && worker_pid(&t) == w; i++)
		usleep(100000);
	cr_assert(tapiod_wait_state(&t, "cri", "READY", 20000), "cri not back");
	cr_assert_neq(worker_pid(&t), w);
	/* The new worker's inventory (its start-up snapshot): from here on nothing may be missed.
	 */
	struct cmatch im = {"cri.inventory", NULL, NULL};
	for (int i = 0; i < 200 && tapiod_count(&t, match_ev, &im) < 2; i++)
		tapiod_pump(&t, 50);
	cr_assert_eq(tapiod_count(&t, match_ev, &im), 2);

	char ct2[128];
	cr_assert_eq(drv_create(c, sb, cfg, "sleeper", "sleep 30", 0, ct2, sizeof(ct2)), 0);
	wait_ev(&t, "container.created", ct2, pod, 10000);
	cr_assert_eq(drv_id_call(c, RS_ "StartContainer", ct2), 0);
	wait_ev(&t, "container.started", ct2, pod, 10000);
	Runtime__V1__StopContainerRequest sq = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	sq.container_id = ct2;
	sq.timeout = 0;
	ProtobufCMessage *resp = NULL;
	cr_assert_eq(cri_client_call(c, RS_ "StopContainer", &sq.base,
				     &runtime__v1__stop_container_response__descriptor, &resp),
		     0, "%s", cri_client_last_error(c));
	protobuf_c_message_free_unpacked(resp, NULL);
	ev = wait_ev(&t, "container.exited", ct2, pod, 10000);
	check_common(ev, pod, ns, uid, "sleeper", ct2);
	cr_assert_eq(jint(ev, "container.exitCode", -1), 137);
	cr_assert_eq(jint(ev, "container.signal", 0), 9);

	cr_assert_eq(drv_id_call(c, RS_ "RemoveContainer", ct), 0);
	ev = wait_ev(&t, "container.removed", ct, pod, 10000);
	check_common(ev, pod, ns, uid, "exits3", ct);
	cr_assert_eq(drv_id_call(c, RS_ "RemoveContainer", ct2), 0);
	wait_ev(&t, "container.removed", ct2, pod, 10000);
	cr_assert_eq(drv_id_call(c, RS_ "StopPodSandbox", sb), 0);
	ev = wait_ev(&t, "pod.sandbox_stopped", NULL, pod, 10000);
	check_common(ev, pod, ns, uid, NULL, NULL);
	cr_assert_eq(drv_id_call(c, RS_ "RemovePodSandbox", sb), 0);
	cri_client_free(c);
	tapiod_stop(&t, 5000);
	tapiod_cleanup(&t);
}

static bool match_marker_exec(json_object *ev, void *arg)
{
	const char *t = jstr(ev, "type");
	if (!t || strcmp(t, "process.exec") != 0)
		return false;
	json_object *pe, *argv;
	if (!json_object_object_get_ex(ev, "processExec", &pe) ||
	    !json_object_object_get_ex(pe, "argv", &argv) || json_object_array_length(argv) < 2)
		return false;
	const char *a1 = json_object_get_string(json_object_array_get_idx(argv, 1));
	return a1 && strcmp(a1, arg) == 0;
}

/* The process collector resolves only the cgroup (container id); tapiod joins it with the
 * CRI metadata, so an exec inside the container carries pod name, namespace and container
 * name. */
Test(cri, process_events_carry_pod_metadata, .timeout = 60)
{
	env_start();
	struct tapiod t;
	char yaml[1200];
	snprintf(yaml, sizeof(yaml), "%s  process:\n    enabled: true\n", cri_yaml(false));
	cr_assert_eq(tapiod_start(&t, yaml), 0);
	cr_assert(tapiod_wait_state(&t, "cri", "READY", 15000), "cri not READY");
	cr_assert(tapiod_wait_state(&t, "process", "READY", 15000), "process not READY");

	struct cri_client *c = client();
	char uid[64], sb[128], ct[128], marker[64], script[160];
	make_uid(uid, sizeof(uid));
	snprintf(marker, sizeof(marker), "tapio-meta-%d", (int)getpid());
	/* the marker runs a second after start: by then the CRI poll knows the container */
	snprintf(script, sizeof(script), "sleep 1; /bin/true %s; sleep 30", marker);
	const char *pod = "meta-pod", *ns = "tapio-meta";
	Runtime__V1__PodSandboxConfig *cfg = drv_sandbox_config(pod, ns, uid);
	cr_assert_eq(drv_run_sandbox(c, cfg, sb, sizeof(sb)), 0, "%s", cri_client_last_error(c));
	cr_assert_eq(drv_create(c, sb, cfg, "marker", script, 0, ct, sizeof(ct)), 0, "%s",
		     cri_client_last_error(c));
	cr_assert_eq(drv_id_call(c, RS_ "StartContainer", ct), 0, "%s", cri_client_last_error(c));
	wait_ev(&t, "container.started", ct, pod, 10000);

	json_object *ex = tapiod_wait(&t, match_marker_exec, marker, 15000);
	cr_assert_not_null(ex, "no process.exec of the marker inside the container");
	cr_assert_str_eq(jstr(ex, "collector"), "process");
	cr_assert_str_eq(jstr(ex, "k8s.containerId"), ct);
	cr_assert_str_eq(jstr(ex, "k8s.podName"), pod);
	cr_assert_str_eq(jstr(ex, "k8s.namespace"), ns);
	cr_assert_str_eq(jstr(ex, "k8s.containerName"), "marker");
	cr_assert_str_eq(jstr(ex, "k8s.podUid"), uid);

	Runtime__V1__StopContainerRequest sq = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	sq.container_id = ct;
	sq.timeout = 0;
	ProtobufCMessage *resp = NULL;
	if (cri_client_call(c, RS_ "StopContainer", &sq.base,
			    &runtime__v1__stop_container_response__descriptor, &resp) == 0)
		protobuf_c_message_free_unpacked(resp, NULL);
	drv_id_call(c, RS_ "RemoveContainer", ct);
	drv_id_call(c, RS_ "StopPodSandbox", sb);
	drv_id_call(c, RS_ "RemovePodSandbox", sb);
	cri_client_free(c);
	tapiod_stop(&t, 5000);
	tapiod_cleanup(&t);
}

/* ExecSync: a command the runtime runs inside the container (runc exec), as kubectl exec and
 * exec probes do. Returns its exit code, or -1. */
static int drv_exec_sync(struct cri_client *c, const char *ct, const char *const *cmd)
{
	Runtime__V1__ExecSyncRequest q = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	q.container_id = (char *)ct;
	size_t n = 0;
	while (cmd[n])
		n++;
	q.cmd = (char **)cmd;
	q.n_cmd = n;
	q.timeout = 10;
	Runtime__V1__ExecSyncResponse *r = NULL;
	if (cri_client_call(c, RS_ "ExecSync", &q.base,
			    &runtime__v1__exec_sync_response__descriptor,
			    (ProtobufCMessage **)&r) != 0)
		return -1;
	int code = r->exit_code;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return code;
}

/* The kube-apiserver stand-in of the kubeapi tests (tests/helpers/kubeapi-env.sh). */
struct kapi {
	char dir[64];
	int port, ctl_port;
	bool started;
};
static struct kapi kapi_live;

static void kapi_stop(struct kapi *k)
{
	if (!k->started)
		return;
	if (harness_helper_stop("kubeapi-env.sh", k->dir) < 0)
		fprintf(stderr, "kubeapi-env.sh stop failed\n");
	k->started = false;
}

static void kapi_fini(void)
{
	kapi_stop(&kapi_live);
}

static void kapi_start(struct kapi *k)
{
	snprintf(k->dir, sizeof(k->dir), "/tmp/tapio-cri-kapi-XXXXXX");
	int ports[2];
	int n = harness_helper_start("kubeapi-env.sh", k->dir, ports, 2);
	cr_assert_eq(n, 2, "kubeapi-env.sh start failed (%d ports)", n);
	k->port = ports[0];
	k->ctl_port = ports[1];
	k->started = true;
}

/* POST body to the stand-in's control port; the JSON answer's metadata.uid into uid. */
static void kapi_post(const struct kapi *k, const char *path, const char *body, char *uid,
		      size_t cap)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)k->ctl_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	char req[8192];
	int rl = snprintf(req, sizeof(req), "POST %s HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s",
			  path, strlen(body), body);
	cr_assert(rl > 0 && (size_t)rl < sizeof(req));
	cr_assert_eq(write(s, req, (size_t)rl), rl);
	static char buf[1 << 16];
	size_t len = 0;
	for (ssize_t n;
	     len + 1 < sizeof(buf) && (n = read(s, buf + len, sizeof(buf) - len - 1)) > 0;)
		len += (size_t)n;
	close(s);
	buf[len] = '\0';
	char *b = strstr(buf, "\r\n\r\n");
	cr_assert_not_null(b, "control %s: no answer", path);
	json_object *o = json_tokener_parse(b + 4);
	cr_assert_not_null(o, "control %s: %s", path, buf);
	if (uid)
		snprintf(uid, cap, "%s", jstr(o, "metadata.uid") ?: "");
	json_object_put(o);
}

static bool match_k8s_object(json_object *ev, void *arg)
{
	const char *const *w = arg; /* action, kind, uid */
	return strcmp(jstr(ev, "type") ?: "", "k8s.object") == 0 &&
	       strcmp(jstr(ev, "k8sObject.action") ?: "", w[0]) == 0 &&
	       strcmp(jstr(ev, "k8sObject.kind") ?: "", w[1]) == 0 &&
	       strcmp(jstr(ev, "k8sObject.uid") ?: "", w[2]) == 0;
}

/* Issue 17 point 4: tapiod learns pod uid → top owner from the kubeapi collector's Pod events
 * and joins it into every event of that pod. A real containerd pod (CRI) whose uid the API
 * server stand-in serves as a Pod owned by a ReplicaSet owned by a Deployment: an exec in the
 * pod's container (CRI ExecSync) yields a process.exec carrying the Deployment; after the Pod
 * is deleted from the API, the next exec carries no owner (and still the CRI metadata). */
Test(cri, process_events_carry_the_pods_top_owner, .timeout = 90, .fini = kapi_fini)
{
	env_start();
	kapi_start(&kapi_live);
	char uid[64], dep[64], rs[64], body[4096];
	make_uid(uid, sizeof(uid));
	const char *pod = "owner-pod", *ns = "tapio-owner";
	snprintf(body, sizeof(body),
		 "{\"resource\":\"deployments\",\"object\":{\"metadata\":{\"name\":\"shop-web\","
		 "\"namespace\":\"%s\",\"labels\":{\"app\":\"shop\"}},\"spec\":{\"replicas\":1,"
		 "\"selector\":{\"matchLabels\":{\"app\":\"shop\"}}}}}",
		 ns);
	kapi_post(&kapi_live, "/apply", body, dep, sizeof(dep));
	snprintf(
		body, sizeof(body),
		"{\"resource\":\"replicasets\",\"object\":{\"metadata\":{\"name\":\"shop-web-7c9\","
		"\"namespace\":\"%s\",\"labels\":{\"app\":\"shop\"},\"ownerReferences\":[{"
		"\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"shop-web\",\"uid\":"
		"\"%s\",\"controller\":true,\"blockOwnerDeletion\":true}]},\"spec\":{\"replicas\":"
		"1,"
		"\"selector\":{\"matchLabels\":{\"app\":\"shop\"}}}}}",
		ns, dep);
	kapi_post(&kapi_live, "/apply", body, rs, sizeof(rs));
	snprintf(body, sizeof(body),
		 "{\"resource\":\"pods\",\"object\":{\"metadata\":{\"name\":\"%s\",\"namespace\":"
		 "\"%s\",\"uid\":\"%s\",\"labels\":{\"app\":\"shop\"},\"ownerReferences\":[{"
		 "\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"shop-web-7c9\","
		 "\"uid\":\"%s\",\"controller\":true,\"blockOwnerDeletion\":true}]},\"spec\":{"
		 "\"nodeName\":\"it-node\",\"containers\":[{\"name\":\"app\",\"image\":"
		 "\"docker.io/tapio-test/busybox:1\"}]},\"status\":{\"phase\":\"Running\"}}}",
		 pod, ns, uid, rs);
	char served[64];
	kapi_post(&kapi_live, "/apply", body, served, sizeof(served));
	cr_assert_str_eq(served, uid, "the API server stand-in kept the pod's uid");

	struct tapiod t;
	char yaml[2400];
	snprintf(yaml, sizeof(yaml),
		 "%s  process:\n    enabled: true\n"
		 "  kubeapi:\n    enabled: true\n    api_server: https://127.0.0.1:%d\n"
		 "    token_file: %s/sa/token\n    ca_file: %s/ca.crt\n"
		 "    resources: [pods, replicasets, deployments]\n",
		 cri_yaml(false), kapi_live.port, kapi_live.dir, kapi_live.dir);
	cr_assert_eq(tapiod_start(&t, yaml), 0);
	cr_assert(tapiod_wait_state(&t, "cri", "READY", 15000), "cri not READY");
	cr_assert(tapiod_wait_state(&t, "process", "READY", 15000), "process not READY");
	cr_assert(tapiod_wait_state(&t, "kubeapi", "READY", 15000), "kubeapi not READY");
	/* tapiod has routed (and so learned) the three objects once they are on its stdout */
	const char *wp[] = {"ADDED", "Pod", uid}, *wr[] = {"ADDED", "ReplicaSet", rs},
		   *wd[] = {"ADDED", "Deployment", dep};
	cr_assert_not_null(tapiod_wait(&t, match_k8s_object, wp, 15000), "no ADDED Pod");
	cr_assert_not_null(tapiod_wait(&t, match_k8s_object, wr, 15000), "no ADDED ReplicaSet");
	cr_assert_not_null(tapiod_wait(&t, match_k8s_object, wd, 15000), "no ADDED Deployment");

	struct cri_client *c = client();
	char sb[128], ct[128];
	Runtime__V1__PodSandboxConfig *cfg = drv_sandbox_config(pod, ns, uid);
	cr_assert_eq(drv_run_sandbox(c, cfg, sb, sizeof(sb)), 0, "%s", cri_client_last_error(c));
	cr_assert_eq(drv_create(c, sb, cfg, "app", "sleep 60", 0, ct, sizeof(ct)), 0, "%s",
		     cri_client_last_error(c));
	cr_assert_eq(drv_id_call(c, RS_ "StartContainer", ct), 0, "%s", cri_client_last_error(c));
	wait_ev(&t, "container.started", ct, pod, 10000);

	char m1[64], m2[64];
	snprintf(m1, sizeof(m1), "tapio-owner-%d", (int)getpid());
	cr_assert_eq(drv_exec_sync(c, ct, (const char *const[]){"/bin/true", m1, NULL}), 0, "%s",
		     cri_client_last_error(c));
	json_object *ex = tapiod_wait(&t, match_marker_exec, m1, 15000);
	cr_assert_not_null(ex, "no process.exec of the exec inside the container");
	const char *js = json_object_to_json_string(ex);
	cr_assert_str_eq(jstr(ex, "collector"), "process");
	cr_assert_str_eq(jstr(ex, "k8s.containerId"), ct, "%s", js);
	cr_assert_str_eq(jstr(ex, "k8s.podUid"), uid, "%s", js);
	cr_assert_str_eq(jstr(ex, "k8s.podName"), pod, "%s", js);
	cr_assert_str_eq(jstr(ex, "k8s.namespace"), ns, "%s", js);
	cr_assert_str_eq(jstr(ex, "k8s.containerName"), "app", "%s", js);
	cr_assert_str_eq(jstr(ex, "k8s.ownerKind"), "Deployment", "%s", js);
	cr_assert_str_eq(jstr(ex, "k8s.ownerName"), "shop-web", "%s", js);
	cr_assert_str_eq(jstr(ex, "k8s.ownerUid"), dep, "%s", js);

	/* the Pod deleted from the API: tapiod forgets its owner */
	snprintf(body, sizeof(body), "{\"resource\":\"pods\",\"namespace\":\"%s\",\"name\":\"%s\"}",
		 ns, pod);
	kapi_post(&kapi_live, "/delete", body, NULL, 0);
	const char *wdel[] = {"DELETED", "Pod", uid};
	cr_assert_not_null(tapiod_wait(&t, match_k8s_object, wdel, 15000), "no DELETED Pod");
	snprintf(m2, sizeof(m2), "tapio-noowner-%d", (int)getpid());
	cr_assert_eq(drv_exec_sync(c, ct, (const char *const[]){"/bin/true", m2, NULL}), 0, "%s",
		     cri_client_last_error(c));
	ex = tapiod_wait(&t, match_marker_exec, m2, 15000);
	cr_assert_not_null(ex, "no process.exec of the second exec");
	js = json_object_to_json_string(ex);
	cr_assert_str_eq(jstr(ex, "k8s.podName"), pod, "%s", js);
	cr_assert_null(jstr(ex, "k8s.ownerKind"), "%s", js);
	cr_assert_null(jstr(ex, "k8s.ownerName"), "%s", js);

	Runtime__V1__StopContainerRequest sq = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	sq.container_id = ct;
	sq.timeout = 0;
	ProtobufCMessage *resp = NULL;
	if (cri_client_call(c, RS_ "StopContainer", &sq.base,
			    &runtime__v1__stop_container_response__descriptor, &resp) == 0)
		protobuf_c_message_free_unpacked(resp, NULL);
	drv_id_call(c, RS_ "RemoveContainer", ct);
	drv_id_call(c, RS_ "StopPodSandbox", sb);
	drv_id_call(c, RS_ "RemovePodSandbox", sb);
	cri_client_free(c);
	cr_assert_eq(tapiod_stop(&t, 5000), 0);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "stats joins:"), "%s", log);
	cr_assert_eq(tapiod_last_stat(&t, "kubeapi", " decode_errors="), 0, "%s", log);
	free(log);
	tapiod_cleanup(&t);
	kapi_stop(&kapi_live);
}

/* The kernel's own record of the OOM kills in a container: one log line per kill,
 * "oom-kill:constraint=...,task_memcg=<...container id>,task=<comm>,pid=<pid>,uid=<uid>"
 * (4.19+), read from /dev/kmsg. Its memory.events would do on a unified hierarchy only, and the
 * container's own memcg is gone after the exit. Fills pids[] (up to max); returns the number of
 * kills, or -1 if the log cannot be read. */
static int kernel_oom_victims(const char *container_id, long long *pids, int max)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	char rec[8192];
	int n = 0;
	for (;;) {
		ssize_t r = read(fd, rec, sizeof(rec) - 1);
		if (r < 0 && errno == EPIPE)
			continue; /* records overwritten while reading: go on from the next */
		if (r <= 0)
			break;
		rec[r] = '\0';
		char *m = strstr(rec, "oom-kill:");
		char *memcg = m ? strstr(m, ",task_memcg=") : NULL;
		char *task = memcg ? strstr(memcg, ",task=") : NULL;
		char *pid = task ? strstr(task, ",pid=") : NULL;
		if (!pid)
			continue;
		*task = '\0';
		if (!strstr(memcg, container_id))
			continue;
		if (n < max)
			pids[n] = strtoll(pid + 5, NULL, 10);
		n++;
	}
	close(fd);
	return n;
}

/* One container.oom_killed per kill, whichever source saw it first, each naming a victim the
 * kernel killed; with `degraded` (CRI alone) one per container exit. At least `min_kills`. */
static void assert_one_event_per_kill(struct tapiod *t, const char *ct, const char *pod,
				      bool degraded, int min_kills)
{
	long long victims[8];
	int kills = degraded ? 1 : kernel_oom_victims(ct, victims, 8);
	cr_assert_geq(kills, min_kills, "the kernel log holds %d OOM kills in container %s", kills,
		      ct);
	struct cmatch m = {"container.oom_killed", ct, pod};
	for (int i = 0; i < 50 && tapiod_count(t, match_ev, &m) < (size_t)kills; i++)
		tapiod_pump(t, 100);
	char seen[2048] = "";
	size_t n_oom = 0, used = 0;
	for (size_t i = 0; i < t->n_events; i++) {
		if (!match_ev(t->events[i], &m))
			continue;
		n_oom++;
		json_object *e = t->events[i];
		long long v = jint(e, "container.victimPid", -1);
		int w = snprintf(seen + used, sizeof(seen) - used,
				 "[source=%s victimPid=%lld time=%s] ",
				 jstr(e, "container.source") ?: "-", v, jstr(e, "time") ?: "-");
		if (w > 0 && used + (size_t)w < sizeof(seen))
			used += (size_t)w; /* else the next one overwrites the cut one */
		bool known = degraded;
		for (int j = 0; j < kills && j < 8; j++)
			known = known || victims[j] == v;
		cr_assert(known, "victim %lld is not one the kernel killed: %s", v, seen);
	}
	cr_assert_eq(n_oom, (size_t)kills, "%zu container.oom_killed, the kernel killed %d: %s",
		     n_oom, kills, seen);
}

/* A 32 MiB container that allocates ~100 MB: the victim pid from the kernel, the limit from
 * the cgroup; in degraded mode the same OOM from CRI's reason OOMKilled. With `two_hogs`, two
 * processes of the container each outgrow the limit: the OOM killer takes one, then the other
 * (and perhaps a pipe's `tr` with them), and each kill is an event. */
static void oom_case(bool degraded, const char *hooks, bool two_hogs)
{
	env_start();
	struct tapiod t;
	cr_assert_eq(tapiod_start(&t, cri_yaml_hooks(degraded, hooks)), 0);
	cr_assert(tapiod_wait_state(&t, "cri", degraded ? "DEGRADED" : "READY", 15000),
		  "cri not %s", degraded ? "DEGRADED" : "READY");
	if (!degraded) {
		/* the hook that runs is the one asked for (READY's hook list in tapioctl status) */
		const char *want = strcmp(hooks, "tracepoint") == 0 ? "tp/oom/mark_victim"
								     : "tp_btf/mark_victim";
		const char *args[] = {"status", NULL};
		int st;
		char *out = tapioctl_run(&t, &st, args);
		cr_assert_not_null(out);
		cr_assert_not_null(strstr(out, want), "%s not attached:\n%s", want, out);
		free(out);
	}
	wait_ev(&t, "cri.inventory", NULL, NULL, 10000);

	struct cri_client *c = client();
	char uid[64], sb[128], ct[128];
	make_uid(uid, sizeof(uid));
	const char *pod = degraded ? "oom-pod-degraded" : two_hogs ? "oom-pod-twice" : "oom-pod";
	const char *ns = "tapio-test";
	const char *script = two_hogs ? "hog() { x=$(head -c 100000000 /dev/zero | tr '\\0' a); }; "
					"(hog) & (hog) & wait"
				      : "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}";
	Runtime__V1__PodSandboxConfig *cfg = drv_sandbox_config(pod, ns, uid);
	cr_assert_eq(drv_run_sandbox(c, cfg, sb, sizeof(sb)), 0, "%s", cri_client_last_error(c));
	cr_assert_eq(drv_create(c, sb, cfg, "hog", script, 32 << 20, ct, sizeof(ct)), 0, "%s",
		     cri_client_last_error(c));
	cr_assert_eq(drv_id_call(c, RS_ "StartContainer", ct), 0, "%s", cri_client_last_error(c));

	json_object *ev = wait_ev(&t, "container.oom_killed", ct, pod, 20000);
	check_common(ev, pod, ns, uid, "hog", ct);
	cr_assert_str_eq(jstr(ev, "container.reason"), "OOMKilled");
	cr_assert_eq(jint(ev, "container.memoryLimit", 0), 32 << 20);
	if (!degraded) {
		cr_assert_str_eq(jstr(ev, "container.source"), "ebpf");
		long long victim = jint(ev, "container.victimPid", 0);
		cr_assert_gt(victim, 1);
		cr_assert_eq(jint(ev, "process.pid", 0), victim);
		cr_assert_geq(jint(ev, "container.memoryUsage", 0), 30 << 20);
	} else {
		cr_assert_str_eq(jstr(ev, "container.source"), "cri");
		cr_assert_eq(jint(ev, "container.exitCode", 0), 137);
	}
	ev = wait_ev(&t, "container.exited", ct, pod, 20000);
	if (!two_hogs) { /* else the shell's `wait` returns, and so does the container */
		cr_assert_eq(jint(ev, "container.exitCode", -1), 137);
		cr_assert_str_eq(jstr(ev, "container.reason"), "OOMKilled");
		cr_assert_eq(jint(ev, "container.signal", 0), 9);
	}
	/* Through CRI alone (degraded) one per exit; else one per kill the kernel made (the
	 * memcg OOM killer may take more than one process here: seen once in a few runs, the
	 * shell, then `tr` 9 ms later). */
	assert_one_event_per_kill(&t, ct, pod, degraded, two_hogs ? 2 : 1);

	drv_id_call(c, RS_ "RemoveContainer", ct);
	drv_id_call(c, RS_ "StopPodSandbox", sb);
	drv_id_call(c, RS_ "RemovePodSandbox", sb);
	cri_client_free(c);
	tapiod_stop(&t, 5000);
	tapiod_cleanup(&t);
}

Test(cri, oom_killed_victim_and_limit, .timeout = 60)
{
	oom_case(false, "auto", false);
}

/* Issue 21: mark_victim's fallback, the classic tracepoint older kernels offer (it names only
 * the victim's pid), run for real on this kernel by asking for it: the same event. */
Test(cri, oom_killed_through_the_classic_tracepoint, .timeout = 60)
{
	oom_case(false, "tracepoint", false);
}

Test(cri, oom_killed_degraded_from_cri, .timeout = 60)
{
	oom_case(true, "auto", false);
}

Test(cri, two_oom_kills_in_one_container_are_two_events, .timeout = 60)
{
	oom_case(false, "auto", true);
}

/* Issue 14 point 5: a stop with every kernel collector and CRI running is clean: tapiod exits 0
 * within stop_timeout_ms, no worker needs SIGKILL, none dies by a sandbox violation (CRI used to
 * die by SIGSYS detaching its perf-event links; security took ~3.3 s to detach). */
Test(cri, stop_with_every_kernel_collector_is_clean, .timeout = 90)
{
	env_start();
	struct tapiod t;
	char yaml[1600];
	snprintf(yaml, sizeof(yaml),
		 "%s  process:\n    enabled: true\n  network:\n    enabled: true\n"
		 "  security:\n    enabled: true\n  dns:\n    enabled: true\n",
		 cri_yaml(false));
	cr_assert_eq(tapiod_start(&t, yaml), 0);
	const char *names[] = {"cri", "process", "network", "security", "dns"};
	for (size_t i = 0; i < 5; i++)
		cr_assert(tapiod_wait_state(&t, names[i], "READY", 20000), "%s not READY",
			  names[i]);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int st = tapiod_stop(&t, 10000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	char *log = tapiod_log(&t);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "tapiod: status %d; log:\n%s",
		  st, log);
	cr_assert_lt(took, 3.0, "stop took %.2f s (stop_timeout_ms is 3000); log:\n%s", took, log);
	cr_assert(!strstr(log, "SIGKILL"), "a worker needed SIGKILL; log:\n%s", log);
	cr_assert(!strstr(log, "sandbox violation"), "log:\n%s", log);
	for (size_t i = 0; i < 5; i++) {
		char want[64];
		snprintf(want, sizeof(want), "%s: stopped (exit code 0)", names[i]);
		cr_assert(strstr(log, want), "no '%s'; log:\n%s", want, log);
	}
	/* the collectors' own counters reach tapiod (the final stats lines) */
	cr_assert_gt(tapiod_last_stat(&t, "cri", " cri_polls="), 0, "log:\n%s", log);
	cr_assert_eq(tapiod_last_stat(&t, "cri", " cri_rpc_errors="), 0, "log:\n%s", log);
	cr_assert_eq(tapiod_last_stat(&t, "cri", " cri_untracked="), 0, "log:\n%s", log);
	cr_assert_eq(tapiod_last_stat(&t, "dns", " dns_evicted="), 0, "log:\n%s", log);
	free(log);
	tapiod_cleanup(&t);
}

/* Issue 14 point 4: without the kernel's BTF (empty /sys/kernel/btf/vmlinux, as on a node whose
 * kernel ships none) CRI runs DEGRADED on polling alone; killed, it comes back DEGRADED. */
Test(cri, degraded_without_btf_and_back_degraded_after_a_kill, .timeout = 60)
{
	env_start();
	struct tapiod t;
	harness_next_without_btf();
	cr_assert_eq(tapiod_start(&t, cri_yaml(false)), 0);
	cr_assert(tapiod_wait_state(&t, "cri", "DEGRADED", 20000), "cri not DEGRADED");
	wait_ev(&t, "cri.inventory", NULL, NULL, 10000);
	const char *args[] = {"status", NULL};
	int st;
	char *out = tapioctl_run(&t, &st, args);
	cr_assert(out && strstr(out, "eBPF could not be loaded"), "status:\n%s", out ? out : "");
	int pid = 0;
	char *l = strstr(out, "\ncri ");
	cr_assert(l && sscanf(l + 1, "cri DEGRADED %d", &pid) == 1 && pid > 0, "status:\n%s", out);
	free(out);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	int now = pid;
	for (int i = 0; i < 100 && now == pid; i++) {
		tapiod_pump(&t, 100);
		out = tapioctl_run(&t, &st, args);
		l = out ? strstr(out, "\ncri ") : NULL;
		if (!l || sscanf(l + 1, "cri DEGRADED %d", &now) != 1)
			now = pid;
		free(out);
	}
	cr_assert_neq(now, pid, "cri did not come back DEGRADED after kill -9");
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
}

/* A missing socket: a clear error, and the worker does not pretend to be READY. */
Test(cri, missing_socket_is_reported, .timeout = 30)
{
	harness_require_root();
	struct tapiod t;
	cr_assert_eq(
		tapiod_start(
			&t,
			"  cri:\n    enabled: true\n    socket_path: /run/tapio-test/none.sock\n"),
		0);
	bool seen = false;
	for (int i = 0; i < 50 && !seen; i++) {
		tapiod_pump(&t, 100);
		char *log = tapiod_log(&t);
		seen = log &&
		       strstr(log,
			      "CRI socket /run/tapio-test/none.sock: No such file or directory");
		free(log);
	}
	cr_assert(seen, "no clear error for a missing socket");
	cr_assert(!tapiod_wait_state(&t, "cri", "READY", 500));
	tapiod_stop(&t, 5000);
	tapiod_cleanup(&t);
}

/* Tests run in parallel against one containerd: stop it once, after all of them. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	if (geteuid() == 0 && sock_path[0] == '\0') {
		struct stat st;
		if (stat("/run/tapio-test/containerd.sock", &st) == 0)
			env_stop();
	}
}
