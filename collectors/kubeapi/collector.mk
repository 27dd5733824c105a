# SPDX-License-Identifier: Apache-2.0
# Extra libraries of the kubeapi collector: json-c (objects), libcurl (HTTPS, common/httpc.c).
kubeapi_LIBS := -ljson-c
# The check of collectors.kubeapi.resources (kubeapi_def.c) knows the resource names.
kubeapi_DEF_SRCS := collectors/kubeapi/kubeapi_res.c
