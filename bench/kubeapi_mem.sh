#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The kubeapi worker's memory per object: tapiod runs the kubeapi collector against the
# kube-apiserver stand-in (tests/helpers/kubeapi_test_server.py) loaded with N pods shaped like
# real ones (labels, an owner, volumes, env from ConfigMaps/Secrets, status with conditions;
# about 2.5 KiB of JSON each) watched cluster-wide (pods_all_nodes), or N services. Prints the
# worker's RSS once the initial list is in the store, the RSS of the same worker with an
# empty cluster, and (RSS - empty) / N as bytes per object; also the store's own record bytes,
# and the worker's peak RSS (VmHWM: what the initial state cost on the way).
#   bench/kubeapi_mem.sh [RES:COUNT[:MODE]...]   default: pods:0 pods:1000 pods:10000 services:10000
# MODE: list (paged list + watch, watch_list: off; the default) or watchlist (the initial state
# streamed by the watch, sendInitialEvents; watch_list: on).
# (pods:0, the empty worker, first: the others are measured against it). Measured 2026-12-06:
# pods 1000: 684 B/pod; 10000: 544; 100000: 505 (RSS 61 MiB); services 10000: 304 B/service.
# List vs watch-list: bench/results/2026-12-07-kubeapi-watchlist.md.
# Needs root (tapiod), python3, openssl; builds nothing (run `make` first).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/bin
[ -x "$bin/tapiod" ] && [ -x "$bin/tapio-collector-kubeapi" ] || { echo "run make first" >&2; exit 1; }
[ $# -gt 0 ] || set -- pods:0 pods:1000 pods:10000 services:10000

work=$(mktemp -d /tmp/tapio-kubeapi-bench-XXXXXX)
chmod 755 "$work" # the worker (uid 65534) reads the token and CA below it
cleanup() {
	[ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null || true
	"$here/tests/helpers/kubeapi-env.sh" stop "$work/env" || true
	rm -rf "$work"
}
trap cleanup EXIT

load() { # resource count port
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys, urllib.request
res, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def pod(i):
    ns = "ns-%d" % (i % 50)
    app = "app-%d" % (i // 10)
    return {"metadata": {"name": "%s-7c9f8d6b5-%05d" % (app, i), "namespace": ns,
        "generateName": "%s-7c9f8d6b5-" % app,
        "labels": {"app": app, "pod-template-hash": "7c9f8d6b5", "tier": "backend"},
        "annotations": {"kubernetes.io/psp": "restricted", "prometheus.io/scrape": "true"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "%s-7c9f8d6b5" % app, "uid": "5f1c6f2e-8a4b-4c1d-9e7f-%012d" % (i // 10),
            "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"nodeName": "node-%d" % (i % 100), "serviceAccountName": "%s-sa" % app,
            "volumes": [{"name": "config", "configMap": {"name": "%s-config" % app}},
                {"name": "tls", "secret": {"secretName": "%s-tls" % app, "defaultMode": 420}},
                {"name": "kube-api-access", "projected": {"sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "containers": [{"name": "app", "image": "registry.example/%s:1.4.2" % app,
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "%s-db" % app, "key": "password"}}},
                        {"name": "LOG_LEVEL", "value": "info"}],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}, {"name": "tls", "mountPath": "/etc/tls", "readOnly": True}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler"},
        "status": {"phase": "Running", "podIP": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255),
            "hostIP": "192.168.0.%d" % (i % 100), "qosClass": "Burstable", "startTime": "2026-12-06T10:00:00Z",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-12-06T10:00:05Z"}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "started": True,
                "image": "registry.example/%s:1.4.2" % app, "imageID": "registry.example/%s@sha256:%064x" % (app, i),
                "containerID": "containerd://%064x" % i, "state": {"running": {"startedAt": "2026-12-06T10:00:04Z"}}}]}}
def svc(i):
    return {"metadata": {"name": "svc-%05d" % i, "namespace": "ns-%d" % (i % 50),
        "labels": {"app": "app-%d" % i}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.%d.%d" % (i >> 8 & 255, i & 255),
            "selector": {"app": "app-%d" % i}, "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}
make = pod if res == "pods" else svc
for start in range(0, n, 500):
    objs = [make(i) for i in range(start, min(n, start + 500))]
    req = urllib.request.Request("http://127.0.0.1:%d/apply" % port, method="POST",
        data=json.dumps({"resource": res, "objects": objs}).encode())
    urllib.request.urlopen(req).read()
PY
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

printf '%-10s %8s %-9s %10s %10s %10s %13s %15s %9s\n' resource count mode rss_kib peak_kib \
	empty_kib bytes/object store_bytes/obj sync_ms
for spec in "$@"; do
	res=${spec%%:*}
	n=${spec#*:}
	mode=list
	case "$n" in *:*) mode=${n#*:} n=${n%%:*} ;; esac
	case "$mode" in
	list) wl=off want="kubeapi: $n objects .*watches 1," ;;
	watchlist) wl=on want="kubeapi: $n objects .*(synced 1," ;;
	*) echo "unknown mode $mode (list, watchlist)" >&2; exit 1 ;;
	esac
	"$here/tests/helpers/kubeapi-env.sh" stop "$work/env" 2>/dev/null || true
	rm -rf "$work/env"
	set -- $("$here/tests/helpers/kubeapi-env.sh" start "$work/env")
	port=$1 ctl=$2
	[ "$n" -gt 0 ] && load "$res" "$n" "$ctl"
	cat > "$work/tapio.yaml" <<YAML
node_name: node-0
collectors:
  process:
    enabled: false
  kubeapi:
    enabled: true
    api_server: https://127.0.0.1:$port
    token_file: $work/env/sa/token
    ca_file: $work/env/ca.crt
    resources: [$res]
    pods_all_nodes: true
    watch_list: "$wl"
YAML
	t0=$(date +%s%N)
	"$bin/tapiod" --config "$work/tapio.yaml" >/dev/null 2>"$work/log" &
	tpid=$!
	# the initial state is in when the worker logs "N objects" and its watch runs
	i=0
	while ! grep -q "$want" "$work/log"; do
		i=$((i + 1))
		if [ $i -gt 1200 ] || grep -q "state=FAILED" "$work/log"; then
			echo "no list; log:" >&2; grep -v "stats kubeapi" "$work/log" | tail -5 >&2; exit 1
		fi
		sleep 0.1
	done
	sync_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	sleep 1
	wpid=$(pgrep -P "$tpid" -f tapio-collector-kubeapi | head -1)
	rss=$(rss_kib "$wpid")
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$wpid/status")
	store=$(sed -n "s/.*kubeapi: $n objects (\([0-9]*\) KiB).*/\1/p" "$work/log" | tail -1)
	kill "$tpid"; wait "$tpid" 2>/dev/null || true; tpid=""
	[ "$n" -eq 0 ] && empty=$rss
	if [ "$n" -gt 0 ]; then
		per=$(( (rss - ${empty:-0}) * 1024 / n ))
		sper=$(( store * 1024 / n ))
	else
		per=- sper=-
	fi
	printf '%-10s %8s %-9s %10s %10s %10s %13s %15s %9s\n' "$res" "$n" "$mode" "$rss" "$hwm" \
		"${empty:--}" "$per" "$sper" "$sync_ms"
done
