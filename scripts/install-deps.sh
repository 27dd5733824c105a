#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages tapio's build, run and tests need. Idempotent and quiet when
# everything is present. Debian 12 (bookworm) package names.
set -eu

BUILD_PKGS="make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev libnghttp2-dev \
libuv1-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev libyaml-dev \
libseccomp-dev libcap-dev ca-certificates jq libcurl4-openssl-dev libssl-dev libmnl-dev libjson-c-dev \
libsystemd-dev libnats-dev"
TEST_PKGS="libcriterion-dev libjson-c-dev locales dnsmasq dnsutils containerd runc umoci skopeo docker-registry busybox-static containernetworking-plugins gcc-aarch64-linux-gnu libclang-rt-14-dev procps iproute2 \
util-linux python3 openssl etcd-server etcd-client systemd-container nats-server qemu-system-x86 cpio kmod \
xz-utils"
# Only for `make test-kernels-arm64` (scripts/test-kernels-arm64.sh; CI does not run it):
# TAPIO_DEPS_ARM64=1 scripts/install-deps.sh, or scripts/install-deps.sh --arm64.
ARM64_PKGS="qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross cpio python3"
[ "${1:-}" = "--arm64" ] && TAPIO_DEPS_ARM64=1
[ "${TAPIO_DEPS_ARM64:-0}" = 1 ] || ARM64_PKGS=""

missing=""
for p in $BUILD_PKGS ${TAPIO_DEPS_BUILD_ONLY:+} $TEST_PKGS $ARM64_PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "install-deps: missing packages:$missing; run as root or install sudo" >&2
		exit 1
	fi
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
