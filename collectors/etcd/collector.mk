# SPDX-License-Identifier: Apache-2.0
# Extra libraries of the etcd collector: gRPC over HTTP/2, JSON values, sha256 digests.
etcd_LIBS := -lnghttp2 -lssl -lcrypto -ljson-c
