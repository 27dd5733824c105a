# SPDX-License-Identifier: Apache-2.0
# Extra libraries of the kubelet collector (JSON; libcurl is in PKGS for common/httpc.c).
kubelet_LIBS := -ljson-c
