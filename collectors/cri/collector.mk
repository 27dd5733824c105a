# SPDX-License-Identifier: Apache-2.0
# Extra libraries of the CRI collector (gRPC over HTTP/2).
cri_LIBS := -lnghttp2
