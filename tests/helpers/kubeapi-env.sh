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

case "$cmd" in
start)
	command -v openssl >/dev/null || die "missing openssl"
	command -v python3 >/dev/null || die "missing python3"
	mkdir -p "$dir"
	for ca in ca other-ca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$dir/$ca.key" -out "$dir/$ca.crt" -subj "/CN=tapio-kubeapi-$ca" -days 2 \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || die "openssl: CA"
	done
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/server.key" \
		-out "$dir/server.csr" -subj "/CN=kube-apiserver" 2>/dev/null || die "openssl: csr"
	printf 'subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
		> "$dir/server.ext"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -out "$dir/server.crt" -days 2 -extfile "$dir/server.ext" 2>/dev/null ||
		die "openssl: server certificate"
	mkdir -p "$dir/sa"
	head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$dir/sa/token"
	chmod 755 "$dir" "$dir/sa"
	chmod 644 "$dir/sa/token" "$dir/ca.crt" "$dir/other-ca.crt"
	rm -f "$dir/port"
	setsid python3 "$here/kubeapi_test_server.py" --cert "$dir/server.crt" \
		--key "$dir/server.key" --token-file "$dir/sa/token" --port-file "$dir/port" \
		</dev/null >"$dir/server.log" 2>&1 &
	echo $! > "$dir/server.pid"
	i=0
	while [ ! -s "$dir/port" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && die "server did not start: $(cat "$dir/server.log")"
		kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || die "server died: $(cat "$dir/server.log")"
		sleep 0.05
	done
	cat "$dir/port"
	;;
stop)
	if [ -s "$dir/server.pid" ]; then
		pid=$(cat "$dir/server.pid")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$dir/server.pid"
	fi
	;;
*) die "unknown command $cmd" ;;
esac
