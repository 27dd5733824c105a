// SPDX-License-Identifier: Apache-2.0
// The DaemonSet as shipped: build/image (make image) imported into the test containerd
// (tests/helpers/cri-env.sh) and run with `ctr run` under exactly what
// deploy/kubernetes/daemonset.yaml declares, read from the manifest itself, with the ConfigMap's
// tapio.yaml. A manifest setting this test does not know how to apply fails the test.
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "harness.h"

#define NODE_NAME "image-test-node"
#define MAX_ITEMS 32

/* ---- the manifest ----------------------------------------------------------------------- */

struct volume {
	char name[64];
	char kind[16];	/* hostPath, configMap, emptyDir */
	char ref[256];	/* the host path, the ConfigMap's name, or emptyDir's medium */
	char size[32];	/* emptyDir sizeLimit */
	char dst[256];	/* the container's mountPath */
	bool read_only; /* the volumeMount's readOnly */
	bool mounted;
};

struct pod {
	char image[256];
	char *command[16];
	size_t n_command;
	char env[8][256];
	size_t n_env;
	bool host_pid, host_network, host_ipc;
	bool privileged, allow_escalation, read_only_root;
	char seccomp[32];
	char caps_add[MAX_ITEMS][32];
	size_t n_caps_add;
	struct volume vols[16];
	size_t n_vols;
	char memory_limit[32], cpu_limit[32];
	char *probe[8];
	size_t n_probe;
	/* readinessProbe.httpGet, its port resolved through ports[] (0 = none) */
	char ready_path[128];
	int ready_port;
};

static yaml_node_t *ymap(yaml_document_t *d, yaml_node_t *n, const char *key)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

/* "a.b.c" under n. */
static yaml_node_t *ypath(yaml_document_t *d, yaml_node_t *n, const char *path)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && n; k = strtok_r(NULL, ".", &save))
		n = ymap(d, n, k);
	return n;
}

static const char *yscalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static size_t ylen(yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE
		       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
		       : 0;
}

static yaml_node_t *yitem(yaml_document_t *d, yaml_node_t *n, size_t i)
{
	return yaml_document_get_node(d, n->data.sequence.items.start[i]);
}

static bool ybool(yaml_document_t *d, yaml_node_t *n, const char *path, bool fallback)
{
	const char *s = yscalar(ypath(d, n, path));
	if (!s)
		return fallback;
	cr_assert(strcmp(s, "true") == 0 || strcmp(s, "false") == 0, "%s: %s is not a boolean",
		  path, s);
	return strcmp(s, "true") == 0;
}

/* Every key of mapping n must be in known (NULL-terminated): what this test cannot apply
 * must not pass unnoticed. */
static void only_keys(yaml_document_t *d, yaml_node_t *n, const char *where,
		      const char *const *known)
{
	cr_assert(n && n->type == YAML_MAPPING_NODE, "%s is not a mapping", where);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const char *k = yscalar(yaml_document_get_node(d, p->key));
		bool ok = false;
		for (size_t i = 0; k && known[i] && !ok; i++)
			ok = strcmp(k, known[i]) == 0;
		cr_assert(ok, "%s.%s: this test does not know how to apply it (teach test_image.c)",
			  where, k ? k : "?");
	}
}

static void yload(const char *path, yaml_document_t *d)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	cr_assert(yaml_parser_load(&p, d), "%s: YAML error: %s", path, p.problem ? p.problem : "?");
	yaml_parser_delete(&p);
	fclose(f);
	cr_assert_not_null(yaml_document_get_root_node(d), "%s: empty", path);
}

static void parse_volumes(yaml_document_t *d, yaml_node_t *spec, struct pod *pod)
{
	yaml_node_t *vols = ymap(d, spec, "volumes");
	for (size_t i = 0; i < ylen(vols); i++) {
		yaml_node_t *v = yitem(d, vols, i);
		struct volume *vol = &pod->vols[pod->n_vols++];
		cr_assert_leq(pod->n_vols, 16);
		snprintf(vol->name, sizeof(vol->name), "%s", yscalar(ymap(d, v, "name")));
		const char *hp = yscalar(ypath(d, v, "hostPath.path"));
		const char *cm = yscalar(ypath(d, v, "configMap.name"));
		yaml_node_t *ed = ymap(d, v, "emptyDir");
		if (hp) {
			static const char *const k[] = {"path", "type", NULL};
			only_keys(d, ymap(d, v, "hostPath"), "hostPath", k);
			/* The kubelet checks the type before it starts the pod. */
			const char *type = yscalar(ypath(d, v, "hostPath.type")) ?: "";
			struct stat sb;
			cr_assert(strcmp(type, "Directory") == 0 || !type[0],
				  "hostPath type %s: not applied", type);
			cr_assert(!type[0] || (stat(hp, &sb) == 0 && S_ISDIR(sb.st_mode)),
				  "hostPath %s: not a directory on this node", hp);
			snprintf(vol->kind, sizeof(vol->kind), "hostPath");
			snprintf(vol->ref, sizeof(vol->ref), "%s", hp);
		} else if (cm) {
			static const char *const k[] = {"name", NULL};
			only_keys(d, ymap(d, v, "configMap"), "configMap", k);
			snprintf(vol->kind, sizeof(vol->kind), "configMap");
			snprintf(vol->ref, sizeof(vol->ref), "%s", cm);
		} else if (ed) {
			static const char *const k[] = {"medium", "sizeLimit", NULL};
			only_keys(d, ed, "emptyDir", k);
			snprintf(vol->kind, sizeof(vol->kind), "emptyDir");
			snprintf(vol->ref, sizeof(vol->ref), "%s",
				 yscalar(ymap(d, ed, "medium")) ?: "");
			snprintf(vol->size, sizeof(vol->size), "%s",
				 yscalar(ymap(d, ed, "sizeLimit")) ?: "");
		} else {
			cr_assert_fail("volume %s: a kind this test cannot apply", vol->name);
		}
	}
}

static void parse_container(yaml_document_t *d, yaml_node_t *c, struct pod *pod)
{
	static const char *const ckeys[] = {"name",	    "image",	     "imagePullPolicy",
					    "command",	    "env",	     "securityContext",
					    "volumeMounts", "livenessProbe", "readinessProbe",
					    "ports",	    "resources",     NULL};
	only_keys(d, c, "containers[0]", ckeys);
	snprintf(pod->image, sizeof(pod->image), "%s", yscalar(ymap(d, c, "image")) ?: "");
	yaml_node_t *cmd = ymap(d, c, "command");
	cr_assert(ylen(cmd) > 0 && ylen(cmd) < 16, "container command");
	for (size_t i = 0; i < ylen(cmd); i++)
		pod->command[pod->n_command++] = (char *)yscalar(yitem(d, cmd, i));

	yaml_node_t *env = ymap(d, c, "env");
	for (size_t i = 0; i < ylen(env); i++) {
		yaml_node_t *e = yitem(d, env, i);
		const char *name = yscalar(ymap(d, e, "name")), *val = yscalar(ymap(d, e, "value"));
		const char *field = yscalar(ypath(d, e, "valueFrom.fieldRef.fieldPath"));
		cr_assert(val || (field && strcmp(field, "spec.nodeName") == 0),
			  "env %s: only values and spec.nodeName are applied", name);
		snprintf(pod->env[pod->n_env++], sizeof(pod->env[0]), "%s=%s", name,
			 val ? val : NODE_NAME);
	}

	yaml_node_t *sc = ymap(d, c, "securityContext");
	static const char *const skeys[] = {"privileged",
					    "runAsUser",
					    "runAsGroup",
					    "runAsNonRoot",
					    "allowPrivilegeEscalation",
					    "readOnlyRootFilesystem",
					    "capabilities",
					    "seccompProfile",
					    NULL};
	only_keys(d, sc, "securityContext", skeys);
	pod->privileged = ybool(d, sc, "privileged", false);
	pod->allow_escalation = ybool(d, sc, "allowPrivilegeEscalation", true);
	pod->read_only_root = ybool(d, sc, "readOnlyRootFilesystem", false);
	/* ctr run (and the image) start as root: anything else cannot be applied here. */
	cr_assert_str_eq(yscalar(ymap(d, sc, "runAsUser")) ?: "0", "0");
	cr_assert_str_eq(yscalar(ymap(d, sc, "runAsGroup")) ?: "0", "0");
	snprintf(pod->seccomp, sizeof(pod->seccomp), "%s",
		 yscalar(ypath(d, sc, "seccompProfile.type")) ?: "Unconfined");
	yaml_node_t *drop = ypath(d, sc, "capabilities.drop");
	cr_assert(ylen(drop) == 1 && strcmp(yscalar(yitem(d, drop, 0)), "ALL") == 0,
		  "capabilities.drop: only [\"ALL\"] is applied");
	yaml_node_t *add = ypath(d, sc, "capabilities.add");
	for (size_t i = 0; i < ylen(add); i++) {
		cr_assert_lt(pod->n_caps_add, MAX_ITEMS);
		snprintf(pod->caps_add[pod->n_caps_add++], 32, "%s", yscalar(yitem(d, add, i)));
	}

	yaml_node_t *vm = ymap(d, c, "volumeMounts");
	for (size_t i = 0; i < ylen(vm); i++) {
		yaml_node_t *m = yitem(d, vm, i);
		static const char *const mkeys[] = {"name", "mountPath", "readOnly", NULL};
		only_keys(d, m, "volumeMounts[]", mkeys);
		const char *name = yscalar(ymap(d, m, "name"));
		struct volume *vol = NULL;
		for (size_t j = 0; j < pod->n_vols; j++)
			if (strcmp(pod->vols[j].name, name) == 0)
				vol = &pod->vols[j];
		cr_assert_not_null(vol, "volumeMount %s: no such volume", name);
		snprintf(vol->dst, sizeof(vol->dst), "%s", yscalar(ymap(d, m, "mountPath")));
		vol->read_only = ybool(d, m, "readOnly", false);
		vol->mounted = true;
	}
	snprintf(pod->memory_limit, sizeof(pod->memory_limit), "%s",
		 yscalar(ypath(d, c, "resources.limits.memory")) ?: "");
	snprintf(pod->cpu_limit, sizeof(pod->cpu_limit), "%s",
		 yscalar(ypath(d, c, "resources.limits.cpu")) ?: "");
	yaml_node_t *probe = ypath(d, c, "livenessProbe.exec.command");
	for (size_t i = 0; i < ylen(probe) && i < 8; i++)
		pod->probe[pod->n_probe++] = (char *)yscalar(yitem(d, probe, i));
	/* Ports: only TCP container ports, which the pod's own network namespace has anyway. */
	static const char *const portkeys[] = {"name", "containerPort", "protocol", NULL};
	yaml_node_t *ports = ymap(d, c, "ports");
	for (size_t i = 0; i < ylen(ports); i++) {
		yaml_node_t *p = yitem(d, ports, i);
		only_keys(d, p, "ports[]", portkeys);
		const char *proto = yscalar(ymap(d, p, "protocol")) ?: "TCP";
		cr_assert_str_eq(proto, "TCP", "ports[]: only TCP is applied");
	}
	yaml_node_t *rp = ymap(d, c, "readinessProbe");
	if (rp) {
		static const char *const rkeys[] = {"httpGet",		"initialDelaySeconds",
						    "periodSeconds",	"timeoutSeconds",
						    "failureThreshold", NULL};
		static const char *const hkeys[] = {"path", "port", NULL};
		only_keys(d, rp, "readinessProbe", rkeys);
		only_keys(d, ymap(d, rp, "httpGet"), "readinessProbe.httpGet", hkeys);
		snprintf(pod->ready_path, sizeof(pod->ready_path), "%s",
			 yscalar(ypath(d, rp, "httpGet.path")) ?: "/");
		const char *port = yscalar(ypath(d, rp, "httpGet.port"));
		cr_assert_not_null(port, "readinessProbe.httpGet.port");
		pod->ready_port = atoi(port);
		for (size_t i = 0; i < ylen(ports) && pod->ready_port == 0; i++) {
			yaml_node_t *p = yitem(d, ports, i);
			const char *name = yscalar(ymap(d, p, "name"));
			if (name && strcmp(name, port) == 0)
				pod->ready_port = atoi(yscalar(ymap(d, p, "containerPort")) ?: "0");
		}
		cr_assert_gt(pod->ready_port, 0, "readinessProbe port %s: not in ports[]", port);
	}
}

/* The kubelet's httpGet probe: GET path from inside the network namespace of process pid
 * (the pod's), to 127.0.0.1:port. Returns the HTTP status code, or -1. */
static int http_probe_in(pid_t pid, int port, const char *path)
{
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		char ns[64];
		snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int)pid);
		int nfd = open(ns, O_RDONLY | O_CLOEXEC);
		if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0)
			_exit(2);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(3);
		char req[256], resp[64] = "";
		int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: probe\r\n\r\n", path);
		if (write(fd, req, (size_t)n) != n || read(fd, resp, sizeof(resp) - 1) <= 0)
			_exit(4);
		if (write(pfd[1], resp, strlen(resp)) < 0)
			_exit(5);
		_exit(0);
	}
	close(pfd[1]);
	char resp[64] = "";
	ssize_t got = read(pfd[0], resp, sizeof(resp) - 1);
	close(pfd[0]);
	waitpid(child, NULL, 0);
	int code = -1;
	if (got > 0 && sscanf(resp, "HTTP/1.1 %d", &code) != 1)
		code = -1;
	return code;
}

/* daemonset.yaml → pod; d stays loaded (pod points into it). */
static void parse_daemonset(yaml_document_t *d, struct pod *pod)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/deploy/kubernetes/daemonset.yaml", harness_source_dir());
	yload(path, d);
	memset(pod, 0, sizeof(*pod));
	yaml_node_t *root = yaml_document_get_root_node(d);
	cr_assert_str_eq(yscalar(ymap(d, root, "kind")), "DaemonSet");
	yaml_node_t *spec = ypath(d, root, "spec.template.spec");
	static const char *const pkeys[] = {"serviceAccountName",
					    "automountServiceAccountToken",
					    "hostPID",
					    "hostNetwork",
					    "hostIPC",
					    "enableServiceLinks",
					    "terminationGracePeriodSeconds",
					    "tolerations",
					    "priorityClassName",
					    "containers",
					    "volumes",
					    NULL};
	only_keys(d, spec, "spec.template.spec", pkeys);
	pod->host_pid = ybool(d, spec, "hostPID", false);
	pod->host_network = ybool(d, spec, "hostNetwork", false);
	pod->host_ipc = ybool(d, spec, "hostIPC", false);
	parse_volumes(d, spec, pod);
	yaml_node_t *cs = ymap(d, spec, "containers");
	cr_assert_eq(ylen(cs), 1, "one container");
	parse_container(d, yitem(d, cs, 0), pod);
}

/* The ConfigMap `name`'s data, one file per key, into dir. */
static void write_configmap(const char *name, const char *dir)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/deploy/kubernetes/configmap.yaml", harness_source_dir());
	yaml_document_t d;
	yload(path, &d);
	yaml_node_t *root = yaml_document_get_root_node(&d);
	cr_assert_str_eq(yscalar(ypath(&d, root, "metadata.name")), name);
	yaml_node_t *data = ymap(&d, root, "data");
	cr_assert(data && data->type == YAML_MAPPING_NODE);
	cr_assert_eq(mkdir(dir, 0755), 0);
	for (yaml_node_pair_t *p = data->data.mapping.pairs.start; p < data->data.mapping.pairs.top;
	     p++) {
		char f[600];
		snprintf(f, sizeof(f), "%s/%s", dir, yscalar(yaml_document_get_node(&d, p->key)));
		FILE *o = fopen(f, "w");
		cr_assert_not_null(o);
		fputs(yscalar(yaml_document_get_node(&d, p->value)), o);
		fclose(o);
	}
	yaml_document_delete(&d);
}

/* ---- containerd ------------------------------------------------------------------------- */

static char sock[256];

static void env_start(void)
{
	harness_require_root();
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "%s/tests/helpers/cri-env.sh start", harness_source_dir());
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	char *ok = fgets(sock, sizeof(sock), f);
	int st = pclose(f);
	cr_assert(ok && WIFEXITED(st) && WEXITSTATUS(st) == 0, "cri-env.sh start failed");
	sock[strcspn(sock, "\n")] = '\0';
}

/* Run argv (NULL-terminated); stdout (and stderr) into a malloc'd string. */
static char *run_capture(char *const *argv, int *ret_status)
{
	int pfd[2];
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp(argv[0], argv);
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
	int st = 0;
	waitpid(pid, &st, 0);
	*ret_status = st;
	return buf;
}

static char *ctr(int *ret_status, const char *const *args)
{
	const char *argv[48] = {"ctr", "-a", sock, "-n", "k8s.io"};
	size_t n = 5;
	for (size_t i = 0; args[i]; i++) {
		cr_assert_lt(n, 47);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return run_capture((char *const *)argv, ret_status);
}

/* Kubernetes' image name normalization: tapio:dev → docker.io/library/tapio:dev. */
static void normalize_image(const char *in, char *out, size_t cap)
{
	const char *slash = strchr(in, '/');
	bool has_domain = slash && (memchr(in, '.', (size_t)(slash - in)) ||
				    memchr(in, ':', (size_t)(slash - in)) ||
				    strncmp(in, "localhost/", 10) == 0);
	const char *last = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
	const char *tag = strchr(last, ':') || strchr(last, '@') ? "" : ":latest";
	if (has_domain)
		snprintf(out, cap, "%s%s", in, tag);
	else if (slash)
		snprintf(out, cap, "docker.io/%s%s", in, tag);
	else
		snprintf(out, cap, "docker.io/library/%s%s", in, tag);
}

/* Where make image wrote the image: build/image, also for a sanitizer build (build/san),
 * which tests the plain build's image. */
static const char *image_dir(void)
{
	static char dir[4400];
	snprintf(dir, sizeof(dir), "%s/image", harness_build_dir());
	char tar[4500];
	snprintf(tar, sizeof(tar), "%s/tapio.tar", dir);
	if (access(tar, R_OK) != 0)
		snprintf(dir, sizeof(dir), "%s/build/image", harness_source_dir());
	snprintf(tar, sizeof(tar), "%s/tapio.tar", dir);
	cr_assert_eq(access(tar, R_OK), 0, "%s: %s (make image)", tar, strerror(errno));
	return dir;
}

/* The image make image wrote, imported; its name must be the manifest's. */
static void import_image(const struct pod *pod, char *ret_ref, size_t cap)
{
	char tar[4500];
	snprintf(tar, sizeof(tar), "%s/tapio.tar", image_dir());
	int st;
	const char *imp[] = {"images", "import", tar, NULL};
	char *out = ctr(&st, imp);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ctr images import: %s", out);
	free(out);
	normalize_image(pod->image, ret_ref, cap);
	const char *ls[] = {"images", "ls", "-q", NULL};
	out = ctr(&st, ls);
	bool found = false;
	for (char *save, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		found = found || strcmp(l, ret_ref) == 0;
	cr_assert(found,
		  "daemonset.yaml runs %s (%s), which %s does not hold: make image and "
		  "the manifest disagree",
		  pod->image, ret_ref, tar);
	free(out);
}

/* ---- the pod, as ctr run --------------------------------------------------------------- */

struct run {
	struct tapiod t; /* pid = ctr run, out_fd = the container's stdout, log = its stderr */
	char id[64];
	char args[160][300];
	size_t n_args;
	int execs;
};

__attribute__((format(printf, 2, 3))) static void arg(struct run *r, const char *fmt, ...)
{
	cr_assert_lt(r->n_args, 160);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->args[r->n_args++], sizeof(r->args[0]), fmt, ap);
	va_end(ap);
}

/* CAP_NET_ADMIN or NET_ADMIN → its bit. */
static unsigned long long cap_mask(const char *name)
{
	char full[64];
	cap_value_t v;
	snprintf(full, sizeof(full), "%s%s", strncmp(name, "CAP_", 4) == 0 ? "" : "CAP_", name);
	cr_assert_eq(cap_from_name(full, &v), 0, "unknown capability %s", name);
	return 1ull << v;
}

/* The capabilities the pod gets: the manifest's, less drop_cap (or NULL), less those this
 * machine cannot grant at all: these sandboxes have no CAP_SYS_RESOURCE in any bounding set
 * (ENVIRONMENT.md: oom_score_adj cannot be lowered), so no runtime here can give it. */
static unsigned long long pod_caps(const struct pod *pod, const char *drop_cap)
{
	unsigned long long own = 0;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapBnd: %llx", &own) == 1)
			break;
	if (f)
		fclose(f);
	unsigned long long caps = 0;
	for (size_t i = 0; i < pod->n_caps_add; i++) {
		unsigned long long m = cap_mask(pod->caps_add[i]);
		if (drop_cap && strcmp(drop_cap, pod->caps_add[i]) == 0)
			continue;
		if (!(own & m)) {
			cr_log_info("CAP_%s: this machine cannot grant it (not in the test's own "
				    "bounding set); the pod runs without it",
				    pod->caps_add[i]);
			continue;
		}
		caps |= m;
	}
	return caps;
}

/* Kubernetes quantities this manifest uses: 256Mi, 1Gi, 1, 500m. */
static unsigned long long quantity(const char *q, bool cpu_milli)
{
	char *end;
	double v = strtod(q, &end);
	if (strcmp(end, "Ki") == 0)
		v *= 1024;
	else if (strcmp(end, "Mi") == 0)
		v *= 1024 * 1024;
	else if (strcmp(end, "Gi") == 0)
		v *= 1024.0 * 1024 * 1024;
	else if (strcmp(end, "m") == 0 && cpu_milli)
		v /= 1000;
	else
		cr_assert_str_empty(end, "quantity %s: unit not applied", q);
	return cpu_milli ? (unsigned long long)(v * 100000) : (unsigned long long)v;
}

/* ctr run's arguments for the pod. drop_cap: one added capability to leave out (or NULL). */
static void pod_args(struct run *r, const struct pod *pod, const char *image, const char *cfgdir,
		     const char *drop_cap)
{
	arg(r, "run");
	cr_assert(!pod->privileged, "privileged: the manifest must not need it");
	if (pod->allow_escalation) /* else no_new_privs: ctr run's default */
		arg(r, "--allow-new-privs");
	if (pod->read_only_root)
		arg(r, "--read-only");
	if (strcmp(pod->seccomp, "RuntimeDefault") == 0)
		arg(r, "--seccomp");
	else
		cr_assert_str_eq(pod->seccomp, "Unconfined", "seccompProfile %s", pod->seccomp);
	/* The host's namespaces: this test's own (PID 1's are not readable on these machines). */
	if (pod->host_pid) {
		arg(r, "--with-ns");
		arg(r, "pid:/proc/%d/ns/pid", (int)getpid());
	}
	if (pod->host_ipc) {
		arg(r, "--with-ns");
		arg(r, "ipc:/proc/%d/ns/ipc", (int)getpid());
	}
	if (pod->host_network)
		arg(r, "--net-host");

	/* drop: ALL = every capability of ctr's default spec, except those added back. */
	unsigned long long want = pod_caps(pod, drop_cap);
	int st;
	const char *spec[] = {"oci", "spec", NULL};
	char *js = ctr(&st, spec);
	json_object *o = json_tokener_parse(js);
	free(js);
	json_object *caps = NULL, *bnd = NULL, *proc = NULL;
	cr_assert(o && json_object_object_get_ex(o, "process", &proc) &&
		  json_object_object_get_ex(proc, "capabilities", &caps) &&
		  json_object_object_get_ex(caps, "bounding", &bnd));
	for (size_t i = 0; i < json_object_array_length(bnd); i++) {
		const char *c = json_object_get_string(json_object_array_get_idx(bnd, i));
		if (!(want & cap_mask(c))) {
			arg(r, "--cap-drop");
			arg(r, "%s", c);
		}
	}
	json_object_put(o);
	for (size_t j = 0; j < pod->n_caps_add; j++)
		if (want & cap_mask(pod->caps_add[j])) {
			arg(r, "--cap-add");
			arg(r, "CAP_%s", pod->caps_add[j]);
		}

	for (size_t i = 0; i < pod->n_env; i++) {
		arg(r, "--env");
		arg(r, "%s", pod->env[i]);
	}
	for (size_t i = 0; i < pod->n_vols; i++) {
		const struct volume *v = &pod->vols[i];
		if (!v->mounted)
			continue;
		const char *ro = v->read_only ? ":ro" : "";
		arg(r, "--mount");
		/* The kubelet's hostPath and configMap mounts: rbind, private propagation. */
		if (strcmp(v->kind, "hostPath") == 0) {
			arg(r, "type=bind,src=%s,dst=%s,options=rbind:rprivate%s", v->ref, v->dst,
			    ro);
		} else if (strcmp(v->kind, "configMap") == 0) {
			write_configmap(v->ref, cfgdir);
			arg(r, "type=bind,src=%s,dst=%s,options=rbind:rprivate%s", cfgdir, v->dst,
			    ro);
		} else {
			cr_assert_str_eq(v->ref, "Memory", "emptyDir on disk: not applied");
			arg(r, "type=tmpfs,src=tmpfs,dst=%s,options=nosuid:nodev:size=%llu%s",
			    v->dst, v->size[0] ? quantity(v->size, false) : 64ull << 20, ro);
		}
	}
	if (pod->memory_limit[0]) {
		arg(r, "--memory-limit");
		arg(r, "%llu", quantity(pod->memory_limit, false));
	}
	if (pod->cpu_limit[0]) {
		arg(r, "--cpu-quota");
		arg(r, "%llu", quantity(pod->cpu_limit, true));
		arg(r, "--cpu-period");
		arg(r, "100000");
	}
	arg(r, "%s", image);
	arg(r, "%s", r->id);
	for (size_t i = 0; i < pod->n_command; i++)
		arg(r, "%s", pod->command[i]);
}

/* Kill and remove container id, if it exists (a previous run's, or this test's). */
static void remove_container(const char *id)
{
	int st;
	const char *kill[] = {"tasks", "kill", "-s", "SIGKILL", id, NULL};
	char *out = ctr(&st, kill);
	bool no_task = out && strstr(out, "not found");
	free(out);
	for (int i = 0; i < 100; i++) {
		const char *del[] = {"tasks", "delete", id, NULL};
		if (!no_task) {
			out = ctr(&st, del);
			no_task = (WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
				  (out && strstr(out, "not found"));
			free(out);
		}
		const char *rm[] = {"containers", "rm", id, NULL};
		out = ctr(&st, rm);
		bool gone = (WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
			    (out && strstr(out, "not found"));
		free(out);
		if (gone)
			return;
		usleep(100000);
	}
	cr_assert_fail("container %s could not be removed", id);
}

static void pod_start(struct run *r, const struct pod *pod, const char *image, const char *drop_cap)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "tapio-image-%d", (int)getpid());
	remove_container(r->id);
	snprintf(r->t.dir, sizeof(r->t.dir), "/tmp/tapio-image-XXXXXX");
	cr_assert_not_null(mkdtemp(r->t.dir));
	snprintf(r->t.log_path, sizeof(r->t.log_path), "%s/stderr.log", r->t.dir);
	char cfgdir[300];
	snprintf(cfgdir, sizeof(cfgdir), "%s/configmap", r->t.dir);
	pod_args(r, pod, image, cfgdir, drop_cap);

	const char *argv[170] = {"ctr", "-a", sock, "-n", "k8s.io"};
	size_t n = 5;
	for (size_t i = 0; i < r->n_args; i++)
		argv[n++] = r->args[i];
	argv[n] = NULL;
	int pfd[2];
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* ctr forwards signals to the task: a dying test stops the pod. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int log = open(r->t.log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(pfd[1], 1);
		dup2(log, 2);
		execvp("ctr", (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	r->t.pid = pid;
	r->t.out_fd = pfd[0];
	fcntl(r->t.out_fd, F_SETFL, O_NONBLOCK);
}

/* Run a command in the pod (as `kubectl exec` would: the container's process spec). */
static char *pod_exec(struct run *r, int *ret_status, const char *const *cmd)
{
	char eid[32];
	snprintf(eid, sizeof(eid), "exec-%d", ++r->execs);
	const char *args[16] = {"tasks", "exec", "--exec-id", eid, r->id};
	size_t n = 5;
	for (size_t i = 0; cmd[i] && n < 15; i++)
		args[n++] = cmd[i];
	args[n] = NULL;
	return ctr(ret_status, args);
}

static const char *status_cmd[] = {"/usr/local/bin/tapioctl", "status", NULL};

/* The state column of `tapioctl status` (run in the pod) for collector name. */
static bool state_of(struct run *r, const char *name, char *ret_state, size_t cap)
{
	int st;
	char *out = pod_exec(r, &st, status_cmd);
	bool found = false;
	for (char *save, *l = strtok_r(out, "\n", &save); l && !found;
	     l = strtok_r(NULL, "\n", &save)) {
		char n[64], s[32];
		if (sscanf(l, "%63s %31s", n, s) == 2 && strcmp(n, name) == 0) {
			snprintf(ret_state, cap, "%s", s);
			found = true;
		}
	}
	free(out);
	return found;
}

/* The pod (ctr run) ended: a test waiting for something from it fails now, with its log. */
static void assert_running(struct run *r)
{
	int st;
	if (r->t.pid > 0 && waitpid(r->t.pid, &st, WNOHANG) == r->t.pid) {
		r->t.pid = 0;
		char *log = tapiod_log(&r->t);
		cr_assert_fail("the pod ended (status %d); its stderr:\n%s", st, log);
	}
}

static bool wait_state(struct run *r, const char *name, const char *state, int timeout_ms)
{
	char s[32] = "";
	for (int waited = 0; waited <= timeout_ms; waited += 250) {
		if (state_of(r, name, s, sizeof(s)) && strcmp(s, state) == 0)
			return true;
		assert_running(r);
		tapiod_pump(&r->t, 0);
		usleep(250000);
	}
	return false;
}

static void pod_stop(struct run *r)
{
	/* SIGTERM as the kubelet sends it (ctr run forwards it to the task): tapiod stops its
	 * workers and exits 0, and ctr run with it. */
	int status = tapiod_stop(&r->t, 10000);
	cr_expect(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the pod did not stop cleanly on SIGTERM (status %d)", status);
	remove_container(r->id);
}

static void dump_log(struct run *r)
{
	char *log = tapiod_log(&r->t);
	cr_log_error("the pod's stderr:\n%s", log);
	free(log);
}

/* ---- what flows ------------------------------------------------------------------------- */

struct exec_match {
	const char *marker;
};

static bool match_exec(json_object *ev, void *arg)
{
	const struct exec_match *m = arg;
	const char *t = jstr(ev, "type");
	if (!t || strcmp(t, "process.exec") != 0)
		return false;
	json_object *pe = NULL, *argv = NULL;
	if (!json_object_object_get_ex(ev, "processExec", &pe) ||
	    !json_object_object_get_ex(pe, "argv", &argv))
		return false;
	for (size_t i = 0; i < json_object_array_length(argv); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(argv, i)), m->marker) ==
		    0)
			return true;
	return false;
}

static bool match_type_port(json_object *ev, void *arg)
{
	const char *const *m = arg; /* type, field, port */
	const char *t = jstr(ev, "type");
	return t && strcmp(t, m[0]) == 0 && jint(ev, m[1], -1) == atoi(m[2]);
}

/* A DNS query for name from a UDP socket of ours to 127.0.0.1:53 (nobody needs to answer). */
static void send_dns_query(const char *name)
{
	unsigned char q[256] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
	size_t n = 12;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", name);
	char *save = NULL;
	for (char *l = strtok_r(buf, ".", &save); l; l = strtok_r(NULL, ".", &save)) {
		q[n++] = (unsigned char)strlen(l);
		memcpy(q + n, l, strlen(l));
		n += strlen(l);
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1; /* A */
	q[n++] = 0, q[n++] = 1; /* IN */
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(53),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(sendto(fd, q, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
	close(fd);
}

static bool match_dns(json_object *ev, void *arg)
{
	const char *t = jstr(ev, "type"), *q = jstr(ev, "dns.qname");
	return t && q && strcmp(t, "dns.query") == 0 && strcmp(q, arg) == 0;
}

/* A TCP connection on loopback; returns the listener's port. */
static int tcp_connect_once(void)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 4), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	int s = accept(l, NULL, NULL);
	close(c);
	close(s);
	close(l);
	return ntohs(a.sin_port);
}

/* ---- tests -------------------------------------------------------------------------------- */

static const char *const ready_collectors[] = {"process", "network", "dns", NULL};

Test(image, daemonset_runs_as_declared, .timeout = 90)
{
	env_start();
	yaml_document_t d;
	struct pod pod;
	parse_daemonset(&d, &pod);
	cr_assert(pod.host_pid, "the collectors need the host's PID namespace");
	char image[300];
	import_image(&pod, image, sizeof(image));

	struct run r;
	pod_start(&r, &pod, image, NULL);
	for (size_t i = 0; ready_collectors[i]; i++) {
		if (!wait_state(&r, ready_collectors[i], "READY", 20000)) {
			dump_log(&r);
			cr_assert_fail("%s did not reach READY in the pod", ready_collectors[i]);
		}
	}

	/* The runtime gave the pod exactly the manifest's capabilities (bounding set of the
	 * container's first process, read from the spec containerd stored). */
	int st;
	const char *info[] = {"containers", "info", r.id, NULL};
	char *js = ctr(&st, info);
	json_object *o = json_tokener_parse(js), *spec, *proc, *caps, *bnd, *root, *ro;
	free(js);
	cr_assert(o && json_object_object_get_ex(o, "Spec", &spec) &&
		  json_object_object_get_ex(spec, "process", &proc) &&
		  json_object_object_get_ex(proc, "capabilities", &caps) &&
		  json_object_object_get_ex(caps, "bounding", &bnd));
	unsigned long long want = pod_caps(&pod, NULL), got = 0;
	for (size_t i = 0; i < json_object_array_length(bnd); i++)
		got |= cap_mask(json_object_get_string(json_object_array_get_idx(bnd, i)));
	cr_assert_eq(got, want, "the pod's bounding set %llx, the manifest's %llx", got, want);
	cr_assert(json_object_object_get_ex(spec, "root", &root) &&
		  json_object_object_get_ex(root, "readonly", &ro) &&
		  json_object_get_boolean(ro) == pod.read_only_root);
	json_object_put(o);

	/* Events flow: an exec, a TCP connection and a DNS query on the host show up on the
	 * pod's stdout. */
	char marker[64];
	snprintf(marker, sizeof(marker), "tapio-image-mark-%d-%ld", (int)getpid(),
		 (long)time(NULL));
	pid_t child = fork();
	if (child == 0) {
		execl("/bin/true", "true", marker, (char *)NULL);
		_exit(127);
	}
	waitpid(child, &st, 0);
	struct exec_match em = {marker};
	json_object *ev = tapiod_wait(&r.t, match_exec, &em, 10000);
	if (!ev)
		dump_log(&r);
	cr_assert_not_null(ev, "no process.exec of %s in the pod's output", marker);
	cr_assert_str_eq(jstr(ev, "node"), NODE_NAME, "NODE_NAME from spec.nodeName");
	cr_assert_eq(jint(ev, "process.pid", -1), child, "host pids (hostPID)");

	int port = tcp_connect_once();
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *tm[] = {"tcp.connect", "tcp.dst.port", portstr};
	cr_assert_not_null(tapiod_wait(&r.t, match_type_port, tm, 10000),
			   "no tcp.connect to port %d in the pod's output", port);

	char qname[80];
	snprintf(qname, sizeof(qname), "m%d.image.tapio.test", (int)getpid());
	json_object *dq = NULL;
	for (int i = 0; i < 5 && !dq; i++) { /* UDP: send again rather than trust one packet */
		send_dns_query(qname);
		dq = tapiod_wait(&r.t, match_dns, qname, 2000);
	}
	cr_assert_not_null(dq, "no dns.query for %s in the pod's output", qname);

	/* The audit inside the pod passes, and so does the liveness probe. */
	const char *audit[] = {"/usr/local/bin/tapioctl", "audit", NULL};
	char *out = pod_exec(&r, &st, audit);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tapioctl audit in the pod:\n%s", out);
	for (size_t i = 0; ready_collectors[i]; i++) {
		char *copy = strdup(out);
		bool ok = false;
		size_t nl = strlen(ready_collectors[i]);
		for (char *save, *l = strtok_r(copy, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save))
			if (strncmp(l, ready_collectors[i], nl) == 0 && l[nl] == ' ' &&
			    strcmp(l + strlen(l) - 3, " ok") == 0)
				ok = true;
		free(copy);
		cr_assert(ok, "audit: no ok verdict for %s:\n%s", ready_collectors[i], out);
	}
	free(out);
	cr_assert_gt(pod.n_probe, 0);
	const char *probe[9] = {NULL};
	for (size_t i = 0; i < pod.n_probe; i++)
		probe[i] = pod.probe[i];
	out = pod_exec(&r, &st, probe);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "liveness probe failed:\n%s", out);
	free(out);
	/* The readiness probe, as the kubelet sends it: GET in the pod's network namespace. */
	if (pod.ready_port) {
		const char *ls[] = {"tasks", "ls", NULL};
		out = ctr(&st, ls);
		pid_t tpid = 0;
		for (char *save, *l = strtok_r(out, "\n", &save); l && !tpid;
		     l = strtok_r(NULL, "\n", &save)) {
			char id[64];
			int p;
			if (sscanf(l, "%63s %d", id, &p) == 2 && strcmp(id, r.id) == 0)
				tpid = p;
		}
		free(out);
		cr_assert_gt(tpid, 0, "the pod's task pid");
		int code = http_probe_in(tpid, pod.ready_port, pod.ready_path);
		cr_assert_eq(code, 200, "readiness probe GET %s on port %d: %d", pod.ready_path,
			     pod.ready_port, code);
	}

	pod_stop(&r);
	tapiod_cleanup(&r.t);
	yaml_document_delete(&d);
}

/* One capability fewer than declared: the collector that needs it fails and says which
 * capability is missing; the others still reach READY. */
Test(image, missing_capability_fails_its_collector, .timeout = 90)
{
	env_start();
	yaml_document_t d;
	struct pod pod;
	parse_daemonset(&d, &pod);
	char image[300];
	import_image(&pod, image, sizeof(image));
	bool declared = false;
	for (size_t i = 0; i < pod.n_caps_add; i++)
		declared = declared || strcmp(pod.caps_add[i], "NET_ADMIN") == 0;
	cr_assert(declared, "daemonset.yaml does not add NET_ADMIN, which dns needs");

	struct run r;
	pod_start(&r, &pod, image, "NET_ADMIN");
	cr_assert(wait_state(&r, "process", "READY", 20000), "process not READY");
	cr_assert(wait_state(&r, "network", "READY", 20000), "network not READY");
	char s[32] = "";
	bool failed = false;
	for (int i = 0; i < 80 && !failed; i++) {
		failed = state_of(&r, "dns", s, sizeof(s)) && strcmp(s, "FAILED") == 0;
		if (!failed) {
			assert_running(&r);
			tapiod_pump(&r.t, 0);
			usleep(250000);
		}
	}
	char *log = tapiod_log(&r.t);
	cr_assert(failed, "dns without CAP_NET_ADMIN: %s, not FAILED; log:\n%s", s, log);
	/* The worker names what it was declared to need and did not get (common/worker.c). */
	cr_assert(strstr(log, "CAP_NET_ADMIN"), "no error names CAP_NET_ADMIN; log:\n%s", log);
	free(log);
	pod_stop(&r);
	tapiod_cleanup(&r.t);
	yaml_document_delete(&d);
}

/* ---- the registry ------------------------------------------------------------------------- */

static json_object *json_run(char *const *argv)
{
	int st;
	char *out = run_capture(argv, &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s: %s", argv[0], argv[1], out);
	json_object *o = json_tokener_parse(out);
	cr_assert_not_null(o, "%s %s: not JSON: %s", argv[0], argv[1], out);
	free(out);
	return o;
}

static const char *jpath(json_object *o, const char *path)
{
	const char *v = jstr(o, path);
	return v ? v : "";
}

/* Both outputs go to a real registry (Debian's docker-registry, on loopback) with skopeo, and
 * what the registry serves is the image: the OCI layout's layer digest, and its labels. */
Test(image, registry_takes_both_outputs, .timeout = 60)
{
	const char *dir = image_dir();
	char tmp[] = "/tmp/tapio-registry-XXXXXX", cfg[300];
	cr_assert_not_null(mkdtemp(tmp));
	int port = 41000 + (int)(getpid() % 8000);
	snprintf(cfg, sizeof(cfg), "%s/config.yml", tmp);
	FILE *f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
		"    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%d\n",
		tmp, port);
	fclose(f);
	pid_t reg = fork();
	cr_assert_geq(reg, 0);
	if (reg == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg, (char *)NULL);
		_exit(127);
	}
	bool up = false;
	for (int i = 0; i < 100 && !up; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (!up)
			usleep(50000);
	}
	cr_assert(up, "docker-registry did not listen on 127.0.0.1:%d", port);

	char src_oci[4500], src_tar[4500], dst_oci[100], dst_tar[100];
	snprintf(src_oci, sizeof(src_oci), "oci:%s/oci:tapio", dir);
	snprintf(src_tar, sizeof(src_tar), "docker-archive:%s/tapio.tar", dir);
	snprintf(dst_oci, sizeof(dst_oci), "docker://127.0.0.1:%d/tapio:oci", port);
	snprintf(dst_tar, sizeof(dst_tar), "docker://127.0.0.1:%d/tapio:archive", port);
	int st;
	char *c1[] = {"skopeo", "copy",	 "--quiet", "--dest-tls-verify=false",
		      src_oci,	dst_oci, NULL};
	char *out = run_capture(c1, &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "skopeo copy %s: %s", src_oci, out);
	free(out);
	char *c2[] = {"skopeo", "copy",	 "--quiet", "--dest-tls-verify=false",
		      src_tar,	dst_tar, NULL};
	out = run_capture(c2, &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "skopeo copy %s: %s", src_tar, out);
	free(out);

	/* The layout's own manifest and layer, as make image wrote them. */
	char *c3[] = {"skopeo", "inspect", "--raw", src_oci, NULL};
	json_object *local = json_run(c3);
	char *c4[] = {"skopeo", "inspect", "--raw", "--tls-verify=false", dst_oci, NULL};
	json_object *pushed = json_run(c4);
	json_object *ll, *pl;
	cr_assert(json_object_object_get_ex(local, "layers", &ll) &&
		  json_object_object_get_ex(pushed, "layers", &pl));
	cr_assert_eq(json_object_array_length(ll), 1);
	cr_assert_eq(json_object_array_length(pl), 1);
	cr_assert_str_eq(jpath(json_object_array_get_idx(pl, 0), "digest"),
			 jpath(json_object_array_get_idx(ll, 0), "digest"));
	long long size = jint(json_object_array_get_idx(ll, 0), "size", 0);
	cr_assert(size > 0 && size <= 25ll << 20, "compressed size %lld, the target is 25 MiB",
		  size);
	json_object_put(local);
	json_object_put(pushed);

	for (int i = 0; i < 2; i++) {
		char *c5[] = {"skopeo", "inspect", "--tls-verify=false", i ? dst_tar : dst_oci,
			      NULL};
		json_object *o = json_run(c5), *labels = NULL, *v;
		cr_assert(json_object_object_get_ex(o, "Labels", &labels));
		static const char *const keys[] = {"org.opencontainers.image.version",
						   "org.opencontainers.image.revision",
						   "org.opencontainers.image.source"};
		for (size_t k = 0; k < 3; k++)
			cr_assert(json_object_object_get_ex(labels, keys[k], &v) &&
					  json_object_get_string_len(v) > 0,
				  "label %s", keys[k]);
		json_object_object_get_ex(labels, "org.opencontainers.image.revision", &v);
		cr_assert_eq(strspn(json_object_get_string(v), "0123456789abcdef"), 40,
			     "revision label %s is not a commit", json_object_get_string(v));
#if defined(__x86_64__)
		cr_assert_str_eq(jpath(o, "Architecture"), "amd64");
#elif defined(__aarch64__)
		cr_assert_str_eq(jpath(o, "Architecture"), "arm64");
#endif
		cr_assert_str_eq(jpath(o, "Os"), "linux");
		json_object_put(o);
	}
	kill(reg, SIGTERM);
	waitpid(reg, &st, 0);
	char rm[400];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", tmp);
	cr_expect_eq(system(rm), 0);
}
