/* SPDX-License-Identifier: Apache-2.0 */
/* The API resources the kubeapi collector can watch: plural name, kind, group, URL prefix.
 * Linked into the collector table too (the config check of collectors.kubeapi.resources). */
#pragma once
#include <stdbool.h>

/* The resources the collector knows, in the order of kubeapi_resources[]. */
enum kres {
	KRES_PODS,
	KRES_SERVICES,
	KRES_ENDPOINTSLICES,
	KRES_DEPLOYMENTS,
	KRES_REPLICASETS,
	KRES_STATEFULSETS,
	KRES_DAEMONSETS,
	KRES_JOBS,
	KRES_CRONJOBS,
	KRES_NODES,
	KRES_NAMESPACES,
	KRES_EVENTS,
	KRES_CONFIGMAPS,
	KRES_SECRETS,
	KRES_NETWORKPOLICIES,
	KRES_COUNT,
};

struct kres_def {
	const char *name;   /* plural, as in the URL and in RBAC rules */
	const char *kind;   /* of its objects */
	const char *group;  /* API group for RBAC ("" = core) */
	const char *prefix; /* "/api/v1", "/apis/apps/v1" */
	bool namespaced;
	bool metadata_only; /* listed/watched as PartialObjectMetadata: never any data */
};
extern const struct kres_def kubeapi_resources[KRES_COUNT];
/* The resource of a plural name, or -1. */
int kubeapi_resource_find(const char *name);
