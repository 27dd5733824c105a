// SPDX-License-Identifier: Apache-2.0
// The resources the kubeapi collector knows, with their API paths (kubeapi_res.h).
#include "kubeapi_res.h"

#include <string.h>

const struct kres_def kubeapi_resources[KRES_COUNT] = {
	[KRES_PODS] = {"pods", "Pod", "", "/api/v1", true, false},
	[KRES_SERVICES] = {"services", "Service", "", "/api/v1", true, false},
	[KRES_ENDPOINTSLICES] = {"endpointslices", "EndpointSlice", "discovery.k8s.io",
				 "/apis/discovery.k8s.io/v1", true, false},
	[KRES_DEPLOYMENTS] = {"deployments", "Deployment", "apps", "/apis/apps/v1", true, false},
	[KRES_REPLICASETS] = {"replicasets", "ReplicaSet", "apps", "/apis/apps/v1", true, false},
	[KRES_STATEFULSETS] = {"statefulsets", "StatefulSet", "apps", "/apis/apps/v1", true, false},
	[KRES_DAEMONSETS] = {"daemonsets", "DaemonSet", "apps", "/apis/apps/v1", true, false},
	[KRES_JOBS] = {"jobs", "Job", "batch", "/apis/batch/v1", true, false},
	[KRES_CRONJOBS] = {"cronjobs", "CronJob", "batch", "/apis/batch/v1", true, false},
	[KRES_NODES] = {"nodes", "Node", "", "/api/v1", false, false},
	[KRES_NAMESPACES] = {"namespaces", "Namespace", "", "/api/v1", false, false},
	[KRES_EVENTS] = {"events", "Event", "", "/api/v1", true, false},
	[KRES_CONFIGMAPS] = {"configmaps", "ConfigMap", "", "/api/v1", true, true},
	[KRES_SECRETS] = {"secrets", "Secret", "", "/api/v1", true, true},
	[KRES_NETWORKPOLICIES] = {"networkpolicies", "NetworkPolicy", "networking.k8s.io",
				  "/apis/networking.k8s.io/v1", true, false},
};

int kubeapi_resource_find(const char *name)
{
	for (int i = 0; i < KRES_COUNT; i++)
		if (strcmp(kubeapi_resources[i].name, name) == 0)
			return i;
	return -1;
}
