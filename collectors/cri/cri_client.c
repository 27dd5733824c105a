// SPDX-License-Identifier: Apache-2.0
// CRI v1 client: unary gRPC calls on the runtime's unix socket, through the shared gRPC
// client (common/grpc_client.c).
#include "cri_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "grpc_client.h"

const char *const cri_default_sockets[] = {
	"/run/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/run/k3s/containerd/containerd.sock",
	NULL,
};

struct cri_client {
	struct grpc_client *g;
	char path[108];
};

int cri_client_connect(const char *path, uint32_t timeout_ms, struct cri_client **ret_client)
{
	struct cri_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int r = grpc_client_connect_unix(path, timeout_ms, &c->g);
	if (r < 0) {
		free(c);
		return r;
	}
	grpc_client_set_agent(c->g, "tapio-cri/1");
	snprintf(c->path, sizeof(c->path), "%s", path);
	*ret_client = c;
	return 0;
}

void cri_client_free(struct cri_client *c)
{
	if (!c)
		return;
	grpc_client_free(c->g);
	free(c);
}

int cri_client_fd(const struct cri_client *c)
{
	return grpc_client_fd(c->g);
}

const char *cri_client_path(const struct cri_client *c)
{
	return c->path;
}

int cri_client_last_status(const struct cri_client *c)
{
	return grpc_client_last_status(c->g);
}

const char *cri_client_last_error(const struct cri_client *c)
{
	return grpc_client_last_error(c->g);
}

int cri_client_pump(struct cri_client *c)
{
	return grpc_client_pump(c->g);
}

int cri_client_call(struct cri_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp)
{
	return grpc_client_call(c->g, method, req, resp_desc, ret_resp);
}

/* ---- typed helpers ------------------------------------------------------------------------ */

#define RS "/runtime.v1.RuntimeService/"

int cri_version(struct cri_client *c, Runtime__V1__VersionResponse **ret)
{
	Runtime__V1__VersionRequest q = RUNTIME__V1__VERSION_REQUEST__INIT;
	q.version = "v1";
	return cri_client_call(c, RS "Version", &q.base, &runtime__v1__version_response__descriptor,
			       (ProtobufCMessage **)ret);
}

int cri_list_sandboxes(struct cri_client *c, Runtime__V1__ListPodSandboxResponse **ret)
{
	Runtime__V1__ListPodSandboxRequest q = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	return cri_client_call(c, RS "ListPodSandbox", &q.base,
			       &runtime__v1__list_pod_sandbox_response__descriptor,
			       (ProtobufCMessage **)ret);
}

int cri_list_containers(struct cri_client *c, Runtime__V1__ListContainersResponse **ret)
{
	Runtime__V1__ListContainersRequest q = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	return cri_client_call(c, RS "ListContainers", &q.base,
			       &runtime__v1__list_containers_response__descriptor,
			       (ProtobufCMessage **)ret);
}

int cri_container_status(struct cri_client *c, const char *id,
			 Runtime__V1__ContainerStatusResponse **ret)
{
	Runtime__V1__ContainerStatusRequest q = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	q.container_id = (char *)id;
	return cri_client_call(c, RS "ContainerStatus", &q.base,
			       &runtime__v1__container_status_response__descriptor,
			       (ProtobufCMessage **)ret);
}
