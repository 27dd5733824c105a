# SPDX-License-Identifier: Apache-2.0
# Extra libraries of the CNI collector: rtnetlink (libmnl) and the result/config JSON (json-c).
cni_LIBS := -lmnl -ljson-c
