# SPDX-License-Identifier: Apache-2.0
# Extra libraries of the kubeapi collector: json-c (objects), libcurl (HTTPS, common/httpc.c).
kubeapi_LIBS := -ljson-c
