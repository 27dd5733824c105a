#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The kubeapi collector's test environment: a CA made here with the openssl CLI, a server
# certificate for 127.0.0.1 signed by it, a second unrelated CA (bad-CA tests), a bearer token,
# and tests/helpers/kubeapi_test_server.py (the API on TLS, its control port on plain HTTP).
#   kubeapi-env.sh start DIR   make the files, start the server; prints "PORT CONTROL_PORT"
#   kubeapi-env.sh stop DIR    stop the server (DIR stays: the test removes it)
# Needs python3 and openssl.
set -eu

log() { echo "kubeapi-env: $*" >&2; }
die() { log "$*"; exit 1; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop DIR"
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=tests/helpers/tls-server-lib.sh
. "$here/tls-server-lib.sh"

case "$cmd" in
start)
	command -v openssl >/dev/null || die "missing openssl"
	command -v python3 >/dev/null || die "missing python3"
	mkdir -p "$dir"
	tls_make_cas tapio-kubeapi
	tls_cert server kube-apiserver "subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
	mkdir -p "$dir/sa"
	head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$dir/sa/token"
	chmod 755 "$dir" "$dir/sa"
	chmod 644 "$dir/sa/token" "$dir/ca.crt" "$dir/other-ca.crt"
	tls_server_start python3 "$here/kubeapi_test_server.py" --cert "$dir/server.crt" \
		--key "$dir/server.key" --token-file "$dir/sa/token" --port-file "$dir/port"
	;;
stop) tls_server_stop ;;
*) die "unknown command $cmd" ;;
esac
