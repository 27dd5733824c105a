/* SPDX-License-Identifier: Apache-2.0 */
/* What the etcd collector understands of the bytes it reads from etcd: Kubernetes storage keys
 * (/registry/<resource>/<ns>/<name>, cluster-scoped, group resources and CRDs) and values
 * (the Kubernetes protobuf envelope, JSON, the encryption-at-rest prefix). Pure, bounded, no
 * allocation (JSON values use json-c's tokener, freed before return); fuzzed. Nothing here
 * copies a byte of an object's data: only its type and ObjectMeta. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_KEY_MAX	1024 /* longest key we parse (Kubernetes keys are far shorter) */
#define ETCD_STR_MAX	256  /* any one name, namespace, label key or value we keep */
#define ETCD_SHORT_MAX	64   /* group, resource, kind, apiVersion, uid, provider... */
#define ETCD_LABELS_MAX 16
#define ETCD_OWNERS_MAX 4
#define ETCD_K8S_MAGIC	"k8s\x00"
#define ETCD_ENC_PREFIX "k8s:enc:"

/* ---- keys ----------------------------------------------------------------------------------- */

struct etcd_key {
	char group[ETCD_SHORT_MAX];    /* "" = core; "apps", "stable.example.com" */
	char resource[ETCD_SHORT_MAX]; /* plural: "pods", "deployments", "crontabs" */
	char kind[ETCD_SHORT_MAX];     /* "Pod"; "" for CRDs (the value says) */
	char namespace[ETCD_STR_MAX];  /* "" for cluster-scoped objects */
	char name[ETCD_STR_MAX];
	bool secret; /* core secrets: the value never leaves the worker */
};

/* Parse `key` (len bytes, not NUL-terminated) below `prefix` (e.g. "/registry/"). 0 and *ret
 * filled; -ENOENT: not below the prefix; -EINVAL: below it but not a Kubernetes object key
 * (ret->resource, ret->secret may still be set: a Secret key is recognised by its first
 * segment alone); -ENAMETOOLONG: key over ETCD_KEY_MAX. Every string in *ret is printable
 * ASCII and NUL-terminated. */
int etcd_key_parse(const uint8_t *key, size_t len, const char *prefix, struct etcd_key *ret);

/* ---- values --------------------------------------------------------------------------------- */

enum etcd_value_format {
	ETCD_VALUE_EMPTY = 0,
	ETCD_VALUE_PROTOBUF = 1,  /* "k8s\0" + runtime.Unknown */
	ETCD_VALUE_JSON = 2,	  /* a JSON object */
	ETCD_VALUE_ENCRYPTED = 3, /* "k8s:enc:<provider>:<version>:<key name>:" */
	ETCD_VALUE_OTHER = 4,	  /* none of the above (kept as size and digest only) */
};

struct etcd_owner {
	char api_version[ETCD_SHORT_MAX];
	char kind[ETCD_SHORT_MAX];
	char name[ETCD_STR_MAX];
	char uid[ETCD_SHORT_MAX];
	bool controller;
};

struct etcd_label {
	char key[ETCD_STR_MAX];
	char value[ETCD_STR_MAX];
};

struct etcd_value {
	enum etcd_value_format format;
	/* ETCD_VALUE_ENCRYPTED: "aescbc", "aesgcm", "secretbox", "kms"; the key name in it */
	char enc_provider[ETCD_SHORT_MAX];
	char enc_key[ETCD_SHORT_MAX];
	/* PROTOBUF / JSON: */
	char api_version[ETCD_SHORT_MAX];
	char kind[ETCD_SHORT_MAX];
	char name[ETCD_STR_MAX];
	char namespace[ETCD_STR_MAX];
	char uid[ETCD_SHORT_MAX];
	char resource_version[ETCD_SHORT_MAX];
	int64_t generation;
	struct etcd_label labels[ETCD_LABELS_MAX];
	unsigned n_labels;
	unsigned labels_dropped; /* over ETCD_LABELS_MAX */
	struct etcd_owner owners[ETCD_OWNERS_MAX];
	unsigned n_owners;
	unsigned owners_dropped;
	bool truncated; /* some string was cut at its bound */
};

/* Decode what a value says about its object. 0 with *ret filled (format EMPTY, ENCRYPTED,
 * OTHER included); -EBADMSG when it claims a format (magic, '{', the encryption prefix) and
 * breaks it: ret->format says which, the fields read so far stay. */
int etcd_value_decode(const uint8_t *v, size_t len, struct etcd_value *ret);

const char *etcd_value_format_name(enum etcd_value_format f);

/* Copy up to len bytes into dst (cap bytes), printable ASCII only: other bytes become '?'.
 * Returns true when the input was cut. dst is always NUL-terminated. */
bool etcd_copy_printable(char *dst, size_t cap, const uint8_t *s, size_t len);
