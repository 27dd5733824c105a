# SPDX-License-Identifier: Apache-2.0
# Extra libraries of the CRI collector (gRPC over HTTP/2: the shared client also does TLS).
cri_LIBS := -lnghttp2 -lssl -lcrypto
