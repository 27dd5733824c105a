#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build tapio's container image without a container daemon (umoci + skopeo): one layer with
# tapiod, tapioctl, every collector in build/bin, the shared libraries they load (and the
# dynamic loader), CA certificates and /etc/passwd, /etc/group. No shell, no package manager.
#   scripts/build-image.sh          build $BUILD/image/{oci,tapio.tar} (make image)
#   scripts/build-image.sh --check  build twice from the same tree, compare every digest
#                                   (make image-check)
# Environment (the Makefile passes them): BUILD (build), IMAGE (tapio:dev), IMAGE_VERSION,
# IMAGE_REVISION, IMAGE_SOURCE (default: from git), SOURCE_DATE_EPOCH (default: the last
# commit's time). The image is reproducible: the same binaries and the same commit give the
# same layer, config and manifest digests (fixed mtimes, sorted entries, numeric root owners,
# no atime/ctime, gzip without a name or time, fixed creation dates).
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
IMAGE=${IMAGE:-tapio:dev}
OUT=${IMAGE_OUT:-$BUILD/image}

log() { echo "build-image: $*" >&2; }
die() { log "$*"; exit 1; }

for b in umoci skopeo tar gzip ldd strip sha256sum jq; do
	command -v "$b" >/dev/null 2>&1 || die "missing $b (make deps)"
done

commit_epoch() { git log -1 --format=%ct 2>/dev/null || echo 0; }
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(commit_epoch)}
export SOURCE_DATE_EPOCH
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
IMAGE_REVISION=${IMAGE_REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
IMAGE_VERSION=${IMAGE_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
IMAGE_SOURCE=${IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || echo unknown)}

# The rootfs tree: every file root's, nothing writable by group or others.
populate() {
	root=$1
	mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/tapio" "$root/etc/tapio" \
		"$root/etc/ssl/certs" "$root/run/tapio" "$root/proc" "$root/sys" "$root/dev" \
		"$root/tmp"
	bins="$BUILD/bin/tapiod $BUILD/bin/tapioctl"
	install -m 0755 "$BUILD/bin/tapiod" "$BUILD/bin/tapioctl" "$root/usr/local/bin/"
	n=0
	for c in "$BUILD"/bin/tapio-collector-*; do
		[ -x "$c" ] || continue
		install -m 0755 "$c" "$root/usr/local/lib/tapio/"
		bins="$bins $c"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || die "no collector in $BUILD/bin (make first)"
	# Debug info stays in build/bin; the image gets stripped copies.
	strip --strip-unneeded "$root"/usr/local/bin/* "$root"/usr/local/lib/tapio/*
	# The libraries the binaries load, at the paths the loader resolves them to (the loader
	# itself at its PT_INTERP path), copied as files, not as symlinks.
	# shellcheck disable=SC2086
	libs=$(ldd $bins | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		sort -u)
	for l in $libs; do
		mkdir -p "$root$(dirname "$l")"
		install -m 0755 "$(readlink -f "$l")" "$root$l"
	done
	# shellcheck disable=SC2086
	if ldd $bins | grep -q 'not found'; then die "unresolved libraries: $(ldd $bins | grep 'not found')"; fi
	install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/:/nonexistent\n' \
		>"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	chmod 0644 "$root/etc/passwd" "$root/etc/group"
	chmod -R go-w "$root"
	find "$root" -type d -exec chmod 0755 {} +
}

# Build the image at $1 (OCI layout $1/oci, docker-archive $1/tapio.tar).
build() {
	out=$1
	work=$(mktemp -d "${TMPDIR:-/tmp}/tapio-image.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	populate "$work/rootfs"
	# One deterministic layer: sorted names, the commit's mtime everywhere, uid/gid 0 by
	# number, no atime/ctime, no xattrs.
	tar --create --file "$work/layer.tar" --directory "$work/rootfs" --sort=name \
		--mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --owner=0 --group=0 --numeric-owner \
		--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		--no-acls --no-xattrs --no-selinux .
	rm -rf "$out.new"
	mkdir -p "$out.new"
	umoci init --layout "$out.new/oci" >&2
	umoci new --image "$out.new/oci:tapio" >&2
	umoci raw add-layer --image "$out.new/oci:tapio" --history.created "$CREATED" \
		--history.created_by "scripts/build-image.sh" "$work/layer.tar" >&2
	umoci config --image "$out.new/oci:tapio" --created "$CREATED" \
		--history.created "$CREATED" --history.created_by "scripts/build-image.sh" \
		--author "" --architecture "$(go_arch)" --os linux \
		--config.entrypoint /usr/local/bin/tapiod \
		--config.cmd=--config --config.cmd=/etc/tapio/tapio.yaml \
		--config.env PATH=/usr/local/bin \
		--config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
		--config.workingdir / \
		--config.label "org.opencontainers.image.title=tapio" \
		--config.label "org.opencontainers.image.version=$IMAGE_VERSION" \
		--config.label "org.opencontainers.image.revision=$IMAGE_REVISION" \
		--config.label "org.opencontainers.image.source=$IMAGE_SOURCE" \
		--config.label "org.opencontainers.image.created=$CREATED" \
		--config.label "org.opencontainers.image.licenses=Apache-2.0" >&2
	umoci gc --layout "$out.new/oci" >&2
	verify "$work/layer.tar"
	skopeo copy --quiet "oci:$out.new/oci:tapio" "docker-archive:$out.new/tapio.tar:$IMAGE" >&2
	rm -rf "$work"
	trap - EXIT
	rm -rf "$out"
	mv "$out.new" "$out"
}

# What the layer must be: every entry root's by number, nothing writable by group or others,
# no setuid/setgid file, no shell.
verify() {
	bad=$(tar -tvf "$1" --numeric-owner | awk '
		$2 != "0/0" { print "owner " $2 ": " $6; next }
		substr($1, 6, 1) == "w" || substr($1, 9, 1) == "w" { print "writable: " $1 " " $6; next }
		$1 ~ /[sS]/ { print "set-id: " $1 " " $6 }')
	[ -z "$bad" ] || die "the layer breaks its rules: $bad"
	if tar -tf "$1" | grep -Eq '^\./(usr/)?s?bin/(sh|bash|dash|busybox)$'; then
		die "the layer holds a shell"
	fi
}

go_arch() {
	case $(uname -m) in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	*) uname -m ;;
	esac
}

# The digests that make the image: manifest, config, layers (from the OCI layout).
digests() {
	dir=$1/oci
	m=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "tapio") | .digest' "$dir/index.json")
	echo "manifest $m"
	f="$dir/blobs/sha256/${m#sha256:}"
	echo "config $(jq -r .config.digest "$f")"
	jq -r '.layers[].digest' "$f" | sed 's/^/layer /'
	# The docker-archive keeps the uncompressed layer: its digest is the layer's diff id.
	tar -xOf "$1/tapio.tar" manifest.json | jq -r '.[0].Layers[]' | while read -r l; do
		echo "archive-layer $(tar -xOf "$1/tapio.tar" "$l" | sha256sum | cut -d' ' -f1)"
	done
}

report() {
	dir=$1/oci
	m=$(jq -r '.manifests[0].digest' "$dir/index.json")
	f="$dir/blobs/sha256/${m#sha256:}"
	size=$(jq '[.layers[].size] | add' "$f")
	log "$IMAGE: $(awk -v s="$size" 'BEGIN { printf "%.1f MiB", s / 1048576 }') compressed" \
		"($size bytes), manifest $m"
	log "OCI layout $dir (tag tapio), docker-archive $1/tapio.tar"
}

case "${1:-}" in
"")
	build "$OUT"
	report "$OUT"
	;;
--check)
	# Image A from $BUILD/bin; image B from a second, clean build of the same tree in
	# $BUILD/repro (compiled again from scratch, packed again a while later).
	a=$(mktemp -d "${TMPDIR:-/tmp}/tapio-image-a.XXXXXX")
	b=$(mktemp -d "${TMPDIR:-/tmp}/tapio-image-b.XXXXXX")
	build "$a/img"
	rm -rf "$BUILD/repro"
	log "second build of the tree in $BUILD/repro"
	${MAKE:-make} --no-print-directory -s BUILD="$BUILD/repro" all >&2
	top=$BUILD
	BUILD=$top/repro
	build "$b/img"
	BUILD=$top
	digests "$a/img" >"$a/digests"
	digests "$b/img" >"$b/digests"
	if cmp -s "$a/digests" "$b/digests"; then
		sed 's/^/build-image: same /' "$a/digests" >&2
		log "reproducible: two builds, identical digests"
		rm -rf "$a" "$b" "$BUILD/repro"
	else
		diff "$a/digests" "$b/digests" >&2 || true
		log "NOT reproducible: the digests above differ (kept: $a, $b, $BUILD/repro)"
		exit 1
	fi
	;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac
