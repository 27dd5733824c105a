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

cert() { # name cn ext
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$1.key" \
		-out "$dir/$1.csr" -subj "/CN=$2" 2>/dev/null
	printf '%s\n' "$3" > "$dir/$1.ext"
	openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -out "$dir/$1.crt" -days 2 -extfile "$dir/$1.ext" 2>/dev/null
}

case "$cmd" in
start)
	command -v openssl >/dev/null || die "missing openssl"
	command -v python3 >/dev/null || die "missing python3"
	mkdir -p "$dir/root"
	for ca in ca other-ca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$dir/$ca.key" -out "$dir/$ca.crt" -subj "/CN=tapio-test-$ca" -days 2 \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || die "openssl: CA"
	done
	cert server 127.0.0.1 "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubelet.test
extendedKeyUsage=serverAuth" || die "openssl: server certificate"
	cert client tapio "extendedKeyUsage=clientAuth" || die "openssl: client certificate"
	head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$dir/token"
	extra=""
	[ "${3:-}" = "--client-ca" ] && extra="--client-ca $dir/ca.crt"
	rm -f "$dir/port"
	# shellcheck disable=SC2086
	setsid python3 "$here/https_test_server.py" --cert "$dir/server.crt" --key "$dir/server.key" \
		--token-file "$dir/token" --root "$dir/root" --port-file "$dir/port" $extra \
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
