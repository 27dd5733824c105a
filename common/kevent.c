// SPDX-License-Identifier: Apache-2.0
// Shared user-space pieces of the eBPF collectors (see kevent.h).
#include "kevent.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

void kevent_init_wall(struct kevent *k, const char *type, int64_t wall_ns)
{
	k->ev = (Tapio__V1__Event)TAPIO__V1__EVENT__INIT;
	k->ts = (Google__Protobuf__Timestamp)GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	k->proc = (Tapio__V1__ProcessContext)TAPIO__V1__PROCESS_CONTEXT__INIT;
	k->k8s = (Tapio__V1__KubernetesContext)TAPIO__V1__KUBERNETES_CONTEXT__INIT;
	k->ts.seconds = wall_ns / 1000000000;
	k->ts.nanos = (int32_t)(wall_ns % 1000000000);
	k->ev.type = (char *)type;
	k->ev.time = &k->ts;
}

void kevent_init(struct kevent *k, const struct timeconv *tc, const char *type, uint64_t boot_ns,
		 const struct tapio_task *t)
{
	kevent_init_wall(k, type, timeconv_wall_ns(tc, boot_ns));
	k->ev.has_boot_ns = 1;
	k->ev.boot_ns = boot_ns;
	if (!t)
		return;

	memcpy(k->comm, t->comm, TAPIO_COMM_LEN);
	k->comm[TAPIO_COMM_LEN] = '\0';
	Tapio__V1__ProcessContext *p = &k->proc;
	p->has_pid = p->has_tid = p->has_ppid = 1;
	p->has_uid = p->has_gid = p->has_euid = p->has_egid = 1;
	p->has_cgroup_id = 1;
	p->pid = t->pid;
	p->tid = t->tid;
	p->ppid = t->ppid;
	p->uid = t->uid;
	p->gid = t->gid;
	p->euid = t->euid;
	p->egid = t->egid;
	p->cgroup_id = t->cgroup_id;
	p->comm = k->comm;
	if (t->loginuid != (uint32_t)-1) {
		p->has_loginuid = 1;
		p->loginuid = t->loginuid;
	}
	k->ev.process = p;
}

bool kevent_attach_k8s(Tapio__V1__Event *ev, Tapio__V1__KubernetesContext *k8s,
		       struct cgroup_cache *cache, uint64_t cgroup_id, pid_t pid,
		       bool containers_only, struct worker_counters *cnt)
{
	const struct cgroup_entry *e = NULL;
	if (cache && cgroup_cache_lookup(cache, cgroup_id, pid, &e) < 0) {
		cnt->enrich_misses++;
		e = NULL;
	}
	if (containers_only && !(e && e->info.container_id[0]))
		return false;
	if (!e)
		return true;
	k8s->cgroup_path = e->path;
	if (e->info.container_id[0])
		k8s->container_id = (char *)e->info.container_id;
	if (e->info.pod_uid[0])
		k8s->pod_uid = (char *)e->info.pod_uid;
	k8s->runtime = (char *)e->info.runtime;
	k8s->qos_class = (char *)e->info.qos;
	ev->k8s = k8s;
	return true;
}

/* libbpf's messages go to our log at debug level (its warnings are about probing). */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_get_level() > LOG_LEVEL_DEBUG)
		return 0;
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_debug("libbpf: %s", buf);
	return 0;
}

int kevent_setup(void)
{
	libbpf_set_print(libbpf_log);
	int n = libbpf_num_possible_cpus();
	if (n > 0)
		return 0;
	/* /sys/devices/system/cpu/possible unreadable or malformed: not the config's fault */
	log_debug("possible CPUs: %s", strerror(n < 0 ? -n : EINVAL));
	return -EIO;
}

int kevent_counters_sum(int map_fd, uint64_t sums[TAPIO_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	uint64_t vals[ncpu];
	for (uint32_t k = 0; k < TAPIO_CNT_MAX; k++) {
		sums[k] = 0;
		if (bpf_map_lookup_elem(map_fd, &k, vals) < 0)
			continue;
		for (int c = 0; c < ncpu; c++)
			sums[k] += vals[c];
	}
	return 0;
}

int kevent_rec_type(struct worker *w, const void *data, size_t size, uint16_t version)
{
	const struct tapio_rec_hdr *h = data;
	worker_counters(w)->records_read++;
	if (size < sizeof(*h) || h->size != size || h->version != version)
		return -EBADMSG;
	return h->type;
}

int kevent_rec_done(struct worker *w, const void *data, size_t size, int r)
{
	if (r != -EBADMSG)
		return r;
	const struct tapio_rec_hdr *h = data;
	bool whole = size >= sizeof(*h);
	worker_counters(w)->decode_errors++;
	log_debug("bad record: type %u version %u size %u/%zu", whole ? h->type : 0,
		  whole ? h->version : 0, whole ? h->size : 0, size);
	return 0;
}

/* Map the ring_consumer map and hand the ring to the worker. */
static int add_ring(struct worker *w, int ring_fd, int consumer_fd, kevent_record_fn fn, void *ctx)
{
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, consumer_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	return worker_watch_ring(w, ring_fd, fn, ctx, p, len);
}

int kevent_add_ring(struct worker *w, struct bpf_object *obj, struct bpf_map *events,
		    kevent_record_fn fn, void *ctx)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, "ring_consumer");
	if (!m || bpf_map__value_size(m) < sizeof(uint32_t)) {
		log_debug("BPF object has no ring_consumer map (bpf/tapio_bpf.h)");
		return -ENOENT;
	}
	return add_ring(w, bpf_map__fd(events), bpf_map__fd(m), fn, ctx);
}

int kevent_store_link(struct worker *w, struct bpf_link *link, const char *name)
{
	char key[FDSTORE_NAME_MAX];
	if (!link)
		return 0;
	int n = snprintf(key, sizeof(key), "link:%s", name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return -ENAMETOOLONG;
	int r = worker_store_add(w, key, bpf_link__fd(link));
	if (r < 0)
		return r;
	/* From here tapiod's copy keeps the program attached: the worker's exit (or teardown)
	 * must not detach it, which for a perf-event link would also need an ioctl the sandbox
	 * refuses. */
	bpf_link__disconnect(link);
	return 0;
}

int kevent_store_skeleton(struct worker *w, const struct bpf_object_skeleton *s)
{
	char key[FDSTORE_NAME_MAX];
	for (int i = 0; i < s->map_cnt; i++) {
		const struct bpf_map_skeleton *m =
			(const void *)((const char *)s->maps + (size_t)i * (size_t)s->map_skel_sz);
		if (!*m->map || strchr(m->name, '.'))
			continue; /* <obj>_.rodata, .bss: no state a successor needs */
		int n = snprintf(key, sizeof(key), "map:%s", m->name);
		if (n < 0 || (size_t)n >= sizeof(key))
			return -ENAMETOOLONG;
		int r = worker_store_add(w, key, bpf_map__fd(*m->map));
		if (r < 0)
			return r;
	}
	for (int i = 0; i < s->prog_cnt; i++) {
		const struct bpf_prog_skeleton *p =
			(const void *)((const char *)s->progs +
				       (size_t)i * (size_t)s->prog_skel_sz);
		if (!p->link || !*p->link)
			continue;
		int r = kevent_store_link(w, *p->link, p->name);
		if (r < 0)
			return r;
	}
	return 0;
}

int kevent_stored_map(struct worker *w, const char *map)
{
	const struct fdstore *st = worker_stored(w);
	char key[FDSTORE_NAME_MAX];
	if (!st)
		return -ENOENT;
	snprintf(key, sizeof(key), "map:%s", map);
	return fdstore_find(st, key);
}

int kevent_resume_ring(struct worker *w, const char *ring, kevent_record_fn fn, void *ctx)
{
	const struct fdstore *st = worker_stored(w);
	if (!st)
		return -ENOENT;
	int ring_fd = kevent_stored_map(w, ring);
	int consumer_fd = kevent_stored_map(w, "ring_consumer");
	int counters_fd = kevent_stored_map(w, "counters");
	if (ring_fd < 0 || consumer_fd < 0 || counters_fd < 0) {
		log_error("the stored objects lack map:%s, map:ring_consumer or map:counters",
			  ring);
		return -ESTALE;
	}
	unsigned links = 0;
	for (unsigned i = 0; i < st->n; i++)
		links += strncmp(st->names[i], "link:", 5) == 0;
	if (links == 0) {
		log_error("the stored objects hold no link: nothing would be attached");
		return -ESTALE;
	}
	uint64_t sums[TAPIO_CNT_MAX];
	if (kevent_counters_sum(counters_fd, sums) == 0) {
		worker_counters(w)->kernel_drops_at_start = sums[TAPIO_CNT_RINGBUF_DROP];
		worker_counters(w)->kernel_filtered_at_start = sums[TAPIO_CNT_FILTERED];
	}
	int r = add_ring(w, ring_fd, consumer_fd, fn, ctx);
	if (r < 0)
		return r;
	char hook[96];
	snprintf(hook, sizeof(hook), "%u programs kept attached by tapiod (fd store)", links);
	worker_add_hook(w, hook);
	return 0;
}

void kevent_cgroup_cache(struct worker *w, size_t max_entries, struct cgroup_cache **ret_cache)
{
	*ret_cache = NULL;
	if (cgroup_cache_new(NULL, max_entries, ret_cache) < 0) {
		*ret_cache = NULL;
		worker_add_missing(w, "cgroup2 mount (container attribution)");
	}
}
