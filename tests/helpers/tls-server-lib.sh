# shellcheck shell=sh disable=SC2154
# SPDX-License-Identifier: Apache-2.0
# Sourced by https-env.sh and kubeapi-env.sh: the CAs and certificates of a TLS test server made
# with the openssl CLI, and the server run in the background until it writes its port file.
# The caller sets $dir (SC2154 above) and defines die().

# Two unrelated CAs, DIR/ca.{key,crt} and DIR/other-ca.{key,crt} (the second for "wrong CA"
# tests); $1 names them in their subjects.
tls_make_cas() {
	for ca in ca other-ca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$dir/$ca.key" -out "$dir/$ca.crt" -subj "/CN=$1-$ca" -days 2 \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || die "openssl: CA"
	done
}

# DIR/NAME.{key,crt} for CN, signed by DIR/ca: tls_cert NAME CN EXTENSIONS (openssl extfile
# lines).
tls_cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$1.key" \
		-out "$dir/$1.csr" -subj "/CN=$2" 2>/dev/null || die "openssl: $1 request"
	printf '%s\n' "$3" > "$dir/$1.ext"
	openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -out "$dir/$1.crt" -days 2 -extfile "$dir/$1.ext" 2>/dev/null ||
		die "openssl: $1 certificate"
}

# Run COMMAND... in its own session (DIR/server.pid, DIR/server.log) and wait until it has
# written DIR/port (10 s at most); print that file.
tls_server_start() {
	rm -f "$dir/port"
	setsid "$@" </dev/null >"$dir/server.log" 2>&1 &
	echo $! > "$dir/server.pid"
	i=0
	while [ ! -s "$dir/port" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && die "server did not start: $(cat "$dir/server.log")"
		kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || die "server died: $(cat "$dir/server.log")"
		sleep 0.05
	done
	cat "$dir/port"
}

# SIGTERM, 5 s, then SIGKILL.
tls_server_stop() {
	[ -s "$dir/server.pid" ] || return 0
	pid=$(cat "$dir/server.pid")
	kill "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/server.pid"
}
