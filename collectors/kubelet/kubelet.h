/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet collector's model: what it keeps of /pods and /stats/summary (bounded, fixed-size
 * strings: longer values are cut), the parsers (kubelet_parse.c), the per-container state table
 * that turns snapshots into change-only events (kubelet_state.c) and the cgroup readers
 * (kubelet_cgroup.c). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapio/v1/event.pb-c.h"

#define KL_MAX_PODS	  2048 /* a /pods answer with more is cut and counted */
#define KL_MAX_CONTAINERS 64   /* per pod: init + regular + ephemeral */
#define KL_JSON_DEPTH	  64   /* json-c nesting limit */
#define KL_REASON_LEN	  128
#define KL_MESSAGE_LEN	  512

enum kl_cstate {
	KL_UNKNOWN = 0,
	KL_WAITING,
	KL_RUNNING,
	KL_TERMINATED,
};

struct kl_termination {
	bool set;
	int32_t exit_code, signal;
	char reason[KL_REASON_LEN], message[KL_MESSAGE_LEN];
	int64_t started_ns, finished_ns; /* wall clock, 0 = absent */
};

struct kl_container {
	char name[64];
	char id[65];	  /* without the runtime:// prefix; "" before the runtime made it */
	char runtime[16]; /* the prefix: containerd, cri-o, docker */
	bool init;	  /* from initContainerStatuses */
	enum kl_cstate state;
	char reason[KL_REASON_LEN], message[KL_MESSAGE_LEN]; /* waiting */
	struct kl_termination term;			     /* state.terminated */
	struct kl_termination last;			     /* lastState.terminated */
	uint32_t restarts;
	bool ready;
};

struct kl_pod {
	char uid[37], name[254], ns[64];
	char phase[16];
	char reason[64], message[KL_MESSAGE_LEN]; /* status.reason: Evicted, ... */
	bool has_ready;				  /* a Ready condition was present */
	bool ready;
	char ready_reason[KL_REASON_LEN], ready_message[KL_MESSAGE_LEN];
	uint64_t ephemeral_limit; /* sum of containers' ephemeral-storage limits, 0 = none */
	struct kl_container *ctr; /* owned */
	size_t n_ctr;
};

struct kl_pods {
	struct kl_pod *pods; /* owned */
	size_t n;
	uint64_t cut; /* pods or containers beyond the caps */
};

struct kl_node_summary {
	char node_name[254];
	bool has_cpu, has_mem, has_fs, has_imagefs, has_rlimit;
	uint64_t cpu_usage_core_ns;
	uint64_t mem_working_set, mem_available;
	uint64_t fs_used, fs_capacity, fs_available, fs_inodes, fs_inodes_free;
	uint64_t imagefs_used, imagefs_capacity, imagefs_available;
	uint64_t rlimit_maxpid, rlimit_curproc;
};

struct kl_pod_stats {
	char uid[37];
	bool has_ephemeral;
	uint64_t ephemeral_used;
};

struct kl_summary {
	struct kl_node_summary node;
	struct kl_pod_stats *pods; /* owned */
	size_t n;
	uint64_t cut;
};

/* ---- kubelet_parse.c: JSON (json-c) → model. Every input is hostile: a wrong type is an error
 * (-EBADMSG), a missing optional field is absent, a long string is cut. ---- */
int kl_parse_pods(const char *json, size_t len, struct kl_pods *ret);
void kl_pods_free(struct kl_pods *p);
int kl_parse_summary(const char *json, size_t len, struct kl_summary *ret);
void kl_summary_free(struct kl_summary *s);
/* RFC 3339 (as the API writes metav1.Time) → ns since the epoch; -EINVAL when malformed. */
int kl_parse_time(const char *s, int64_t *ret_ns);
/* A resource quantity ("1Gi", "500M", "1000", "1e3") → bytes; -EINVAL when malformed. */
int kl_parse_quantity(const char *s, uint64_t *ret);

/* ---- kubelet_cgroup.c: a container's CPU and memory counters from its cgroup ---- */
struct kl_cpu_sample {
	bool ok;
	uint64_t nr_periods, nr_throttled, throttled_ns, usage_ns;
	int64_t quota_us; /* -1 = no limit */
	uint64_t period_us;
	uint64_t mono_ns; /* when it was read */
};
struct kl_mem_sample {
	bool ok;
	uint64_t usage, working_set;
	uint64_t limit; /* 0 = no limit */
};
/* The hierarchy roots. v2: cpu and memory under one root. v1: one root per controller. */
struct kl_cgroup_roots {
	int version; /* 1, 2, 0 = none found */
	char cpu[256], cpuacct[256], memory[256];
};
/* Find the roots under sysfs_cgroup ("/sys/fs/cgroup"): v1 when it has a cpu controller
 * mount with cpu.stat, otherwise v2 at the cgroup2 mount when its cpu.stat has nr_periods. */
int kl_cgroup_find_roots(const char *sysfs_cgroup, struct kl_cgroup_roots *ret);
/* Parse the files' text (cpu.stat, cpu.max / cfs files, memory.stat...) for one version. */
int kl_cgroup_read_cpu(const struct kl_cgroup_roots *r, const char *rel, struct kl_cpu_sample *ret);
int kl_cgroup_read_mem(const struct kl_cgroup_roots *r, const char *rel, struct kl_mem_sample *ret);
/* The index of container id → cgroup path relative to the cpu root, built by walking the tree
 * (depth ≤ 12, ≤ 65536 directories) and parsing names with cgroup_parse_path. */
struct kl_cgroup_index;
int kl_cgroup_index_new(const struct kl_cgroup_roots *r, struct kl_cgroup_index **ret);
void kl_cgroup_index_free(struct kl_cgroup_index *ix);
int kl_cgroup_index_rescan(struct kl_cgroup_index *ix);
/* The relative path of container id, NULL when not found. Borrowed until the next rescan. */
const char *kl_cgroup_index_find(const struct kl_cgroup_index *ix, const char *container_id);

/* ---- kubelet_state.c: the state table ---- */
struct kl_thresholds {
	uint32_t crash_loop_restarts;	 /* first crash_loop level */
	double throttle_ratio;		 /* throttled/periods at or above */
	double throttle_usage;		 /* usage/limit at or above */
	double memory_ratio;		 /* working set/limit at or above */
	uint64_t ephemeral_bytes;	 /* without a limit: bytes at or above */
	double ephemeral_ratio;		 /* with a limit: used/limit at or above */
	uint64_t memory_available_bytes; /* MemoryPressure below (kubelet default 100Mi) */
	double nodefs_available_ratio;	 /* DiskPressure below (kubelet default 10 %) */
	double imagefs_available_ratio;	 /* DiskPressure below (kubelet default 15 %) */
	double pid_available_ratio;	 /* PIDPressure below (share of maxpid free) */
};

/* One event the table decided on: Event.type and its payload (strings borrowed from the table
 * or the snapshot; valid during the callback). */
typedef void (*kl_emit_fn)(void *ctx, const char *type, Tapio__V1__KubeletEvent *ev);

struct kl_state;
int kl_state_new(const struct kl_thresholds *th, struct kl_state **ret);
void kl_state_free(struct kl_state *st);
/* A successful /pods poll: diff against the table, emit, forget pods and containers no longer
 * listed. A failed poll must not call this (the table survives an outage unchanged). */
void kl_state_pods(struct kl_state *st, const struct kl_pods *pods, kl_emit_fn emit, void *ctx);
/* A successful /stats/summary poll: node pressure conditions, ephemeral storage. */
void kl_state_summary(struct kl_state *st, const struct kl_summary *sum, kl_emit_fn emit,
		      void *ctx);
/* One container's cgroup samples: the table keeps the previous CPU sample and decides on the
 * deltas; cpu_throttled and memory_near_limit on entering the condition, re-armed when it
 * clears. cgroup: its path, for the event. Unknown containers are ignored. */
void kl_state_cgroup(struct kl_state *st, const char *pod_uid, const char *container,
		     const char *cgroup, int version, const struct kl_cpu_sample *cpu,
		     const struct kl_mem_sample *mem, kl_emit_fn emit, void *ctx);
/* Containers known now (for the cgroup pass): calls fn for each with a container id. */
typedef void (*kl_each_fn)(void *ctx, const char *pod_uid, const char *container,
			   const char *container_id);
void kl_state_each_container(struct kl_state *st, kl_each_fn fn, void *ctx);
size_t kl_state_containers(const struct kl_state *st);
/* The node's figures of a summary into n (strings borrowed from s): each set only when the
 * summary had its section. */
void kl_node_stats_fill(Tapio__V1__KubeletNodeStats *n, const struct kl_node_summary *s);
