/* SPDX-License-Identifier: Apache-2.0 */
/* Container attribution from cgroups: parse a cgroup path into container id, runtime, pod uid
 * and QoS class (all common cgroupfs and systemd-driver forms), and resolve a cgroup v2 id
 * (what bpf_get_current_cgroup_id() returns: the inode number of the cgroup directory) to its
 * path, with a bounded cache. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_ID_LEN	   64 /* container ids are 64 lowercase hex characters */
#define CGROUP_POD_UID_LEN 36 /* 8-4-4-4-12 */

struct cgroup_info {
	char container_id[CGROUP_ID_LEN + 1]; /* "" when the path names no container */
	char pod_uid[CGROUP_POD_UID_LEN + 1]; /* with dashes, "" when none */
	const char *runtime;		      /* static: "containerd", "cri-o", "docker",
					       * "podman", "unknown" (bare 64-hex), or NULL */
	const char *qos;		      /* static: "guaranteed", "burstable",
					       * "besteffort", or NULL */
};

/* Parse a cgroup path (e.g. "/kubepods.slice/kubepods-burstable.slice/
 * kubepods-burstable-pod1234_5678....slice/cri-containerd-<64hex>.scope"). Recognised forms:
 * cri-containerd-<id>.scope, crio-<id>.scope, crio-conmon-<id>.scope (runtime cri-o),
 * docker-<id>.scope, a path component that is exactly 64 hex (cgroupfs driver: /kubepods/
 * burstable/pod<uid>/<id>, /docker/<id>), kubepods-<qos>-pod<uid with _>.slice,
 * kubepods-pod<uid>.slice (guaranteed), pod<uid> (cgroupfs). Ids must be exactly 64 lowercase
 * hex. Also: crio-<id> and crio-conmon-<id> (cri-o with cgroupfs), libpod-<id>[.scope] (podman),
 * "<pod slice>:cri-containerd:<id>" (containerd without SystemdCgroup under a systemd kubelet),
 * prefixed slices ("kubelet-kubepods-besteffort-pod<uid>.slice", --cgroup-root), and static
 * pods, whose uid is a 32-hex config hash. Pod uids come out lowercase with dashes. The
 * innermost match wins; a pod cgroup below a container starts over (nested clusters, kind).
 * Returns 1 when a container id or pod uid was found, 0 when neither (info zeroed),
 * -EINVAL for a NULL or over-long (>= 4096) path. Never reads the file system. */
int cgroup_parse_path(const char *path, struct cgroup_info *ret_info);

struct cgroup_entry {
	uint64_t id;
	char *path; /* owned; path relative to the cgroup2 root, starts with '/' */
	struct cgroup_info info;
};

struct cgroup_cache;

/* root: the cgroup2 mount point (NULL = find it in /proc/self/mountinfo: "/sys/fs/cgroup"
 * on pure v2 hosts, "/sys/fs/cgroup/unified" on hybrid ones). max_entries bounds memory;
 * the least recently used entries are evicted. -ENOENT if no cgroup2 mount exists. */
int cgroup_cache_new(const char *root, size_t max_entries, struct cgroup_cache **ret_cache);
void cgroup_cache_free(struct cgroup_cache *cache);
const char *cgroup_cache_root(const struct cgroup_cache *cache);

/* Resolve id. pid_hint > 0: first try /proc/<pid>/cgroup's "0::" line and confirm with the
 * directory's inode; otherwise (or on mismatch) rescan the cgroup2 tree (at most once per
 * 100 ms; misses are remembered as negative entries for 1 s). The listing of the last rescan
 * is kept and consulted (each answer re-confirmed by inode) before a new rescan, so a burst of
 * new ids costs one walk. A miss while rescans are rate limited is not remembered. The
 * returned entry is borrowed and valid until the next call. -ENOENT when unknown. Not
 * thread-safe: one cache per thread or loop. */
int cgroup_cache_lookup(struct cgroup_cache *cache, uint64_t id, pid_t pid_hint,
			const struct cgroup_entry **ret_entry);

/* Counters for stats. hits: answered from a cached entry; misses: not cached (then resolved
 * by the pid hint, the last listing or a rescan, or not at all); rescans: tree walks. */
struct cgroup_cache_stats {
	uint64_t hits, misses, rescans, evictions;
	uint64_t negative_hits; /* answered -ENOENT from a negative entry (not in misses) */
};
void cgroup_cache_get_stats(const struct cgroup_cache *cache, struct cgroup_cache_stats *ret);

/* Find the cgroup2 mount point from /proc/self/mountinfo into buf. A mount of the whole
 * hierarchy (root "/") is preferred over a bind mount of a subtree. -ENOENT when none, -ERANGE
 * when buf is too small. */
int cgroup2_find_mount(char *buf, size_t len);
/* The same from a mountinfo-format file (for tests and for reading another mount namespace's
 * /proc/<pid>/mountinfo). */
int cgroup2_find_mount_from(const char *mountinfo_path, char *buf, size_t len);
