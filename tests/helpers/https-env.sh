#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A TLS test environment for the Kubernetes clients: a CA made here with the openssl CLI, a
# server certificate for 127.0.0.1 signed by it, a client certificate, a second unrelated CA
# (for "wrong CA" tests), a bearer token, and tests/helpers/https_test_server.py serving DIR/root.
#   https-env.sh start DIR [--client-ca]   make the files, start the server; prints the port
#   https-env.sh stop DIR                  stop the server (DIR stays: the test removes it)
# Needs python3 and openssl (Debian packages python3, openssl).
set -eu

log() { echo "https-env: $*" >&2; }
die() { log "$*"; exit 1; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop DIR [--client-ca]"
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=tests/helpers/tls-server-lib.sh
. "$here/tls-server-lib.sh"

case "$cmd" in
start)
	command -v openssl >/dev/null || die "missing openssl"
	command -v python3 >/dev/null || die "missing python3"
	mkdir -p "$dir/root"
	tls_make_cas tapio-test
	tls_cert server 127.0.0.1 "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubelet.test
extendedKeyUsage=serverAuth"
	tls_cert client tapio "extendedKeyUsage=clientAuth"
	head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$dir/token"
	extra=""
	[ "${3:-}" = "--client-ca" ] && extra="--client-ca $dir/ca.crt"
	# shellcheck disable=SC2086
	tls_server_start python3 "$here/https_test_server.py" --cert "$dir/server.crt" \
		--key "$dir/server.key" --token-file "$dir/token" --root "$dir/root" \
		--port-file "$dir/port" $extra
	;;
stop) tls_server_stop ;;
*) die "unknown command $cmd" ;;
esac
