#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# A protocol-faithful kube-apiserver stand-in for the kubeapi collector's tests (no
# kube-apiserver is packaged for these machines). It is not a kube-apiserver; it follows its
# wire protocol: TLS, bearer tokens (401 Status otherwise), the API paths per group/version,
# list with limit/continue and a resourceVersion in ListMeta, field selectors (metadata.name,
# metadata.namespace, spec.nodeName for pods; = and !=), chunked watch streams of
# {"type","object"} lines with resourceVersion history, BOOKMARK events when asked for,
# a too-old resourceVersion answered as an ERROR event with a 410 Status inside the stream
# (or as an HTTP 410, by request), PartialObjectMetadata(List) for the as=... Accept header,
# Status objects for errors. Objects are whatever the test applies (real field names).
#
# The test drives it on a second, plain-HTTP port on 127.0.0.1 (POST JSON):
#   /apply {"resource":R,"object":{...}}   create or replace (uid and resourceVersion assigned)
#   /delete {"resource":R,"namespace":N,"name":X}
#          with "silent":true neither reaches the watch history (a change lost to compaction)
#   /compact {}                  history before now is gone (older resourceVersions → 410)
#   /expire {}                   every open watch gets ERROR 410 in its stream and ends
#   /cut {}                      every open watch is cut mid-object (no chunked terminator)
#   /bookmark {}                 every open watch (that allowed them) gets a BOOKMARK
#   /mode {"deny":{R:403},"unauthorized":bool,"slow_ms":N,"gone_as_status":bool}
#          deny {"R/watch":403} denies one verb only (list or watch) as RBAC does
#          "watch_list":false answers like a kube-apiserver without the WatchList feature
#          gate: a watch with sendInitialEvents is 422 Invalid (true, the default: with it)
#   /requests {}                 → the requests seen: [{"path","query","accept","status"}]
# Python standard library only.
import argparse
import base64
import copy
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# plural → (kind, prefix, namespaced)
RESOURCES = {
    "pods": ("Pod", "/api/v1", True),
    "services": ("Service", "/api/v1", True),
    "endpointslices": ("EndpointSlice", "/apis/discovery.k8s.io/v1", True),
    "deployments": ("Deployment", "/apis/apps/v1", True),
    "replicasets": ("ReplicaSet", "/apis/apps/v1", True),
    "statefulsets": ("StatefulSet", "/apis/apps/v1", True),
    "daemonsets": ("DaemonSet", "/apis/apps/v1", True),
    "jobs": ("Job", "/apis/batch/v1", True),
    "cronjobs": ("CronJob", "/apis/batch/v1", True),
    "nodes": ("Node", "/api/v1", False),
    "namespaces": ("Namespace", "/api/v1", False),
    "events": ("Event", "/api/v1", True),
    "configmaps": ("ConfigMap", "/api/v1", True),
    "secrets": ("Secret", "/api/v1", True),
    "networkpolicies": ("NetworkPolicy", "/apis/networking.k8s.io/v1", True),
}


def api_version(prefix):
    return prefix[len("/apis/"):] if prefix.startswith("/apis/") else "v1"


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 100
        self.objects = {r: {} for r in RESOURCES}  # resource → {(ns,name): obj}
        self.history = []                          # (rv, resource, type, obj)
        self.compacted = 0                         # watches from rv < compacted → 410
        self.expire_gen = 0
        self.cut_gen = 0
        self.bookmark_gen = 0
        self.mode = {"deny": {}, "unauthorized": False, "slow_ms": 0, "gone_as_status": False}
        self.mode["watch_list"] = True  # the WatchList feature gate (sendInitialEvents)
        self.requests = []

    def apply(self, res, obj, silent=False):
        kind, prefix, namespaced = RESOURCES[res]
        obj = copy.deepcopy(obj)
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", api_version(prefix))
        md = obj.setdefault("metadata", {})
        key = (md.get("namespace", "") if namespaced else "", md["name"])
        with self.lock:
            old = self.objects[res].get(key)
            md["uid"] = old["metadata"]["uid"] if old else md.get("uid") or str(uuid.uuid4())
            md.setdefault("creationTimestamp", "2026-12-06T10:00:00Z")
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            self.objects[res][key] = obj
            if not silent:
                self.history.append((self.rv, res, "MODIFIED" if old else "ADDED",
                                     copy.deepcopy(obj)))
            self.lock.notify_all()
            return obj

    def delete(self, res, ns, name, silent=False):
        with self.lock:
            obj = self.objects[res].pop((ns or "", name), None)
            if obj is None:
                return None
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            if not silent:
                self.history.append((self.rv, res, "DELETED", obj))
            self.lock.notify_all()
            return obj


def parse_selector(sel, res):
    """[(field, op, value)] or raises ValueError like the API server does."""
    out = []
    if not sel:
        return out
    for term in sel.split(","):
        if "!=" in term:
            f, v = term.split("!=", 1)
            op = "!="
        elif "==" in term:
            f, v = term.split("==", 1)
            op = "="
        elif "=" in term:
            f, v = term.split("=", 1)
            op = "="
        else:
            raise ValueError("invalid selector: '%s'" % term)
        allowed = {"metadata.name", "metadata.namespace"}
        if res == "pods":
            allowed |= {"spec.nodeName", "status.phase", "spec.serviceAccountName"}
        if f not in allowed:
            raise ValueError('"%s" is not a known field selector: only "%s"' %
                             (f, '", "'.join(sorted(allowed))))
        out.append((f, op, v))
    return out


def field(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    return cur if isinstance(cur, str) else ""


def matches(obj, sel):
    for f, op, v in sel:
        got = field(obj, f)
        if (got == v) != (op == "="):
            return False
    return True


def as_metadata(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": copy.deepcopy(obj["metadata"])}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tapio-test-kube-apiserver"

    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("kubeapi_test_server: " + (fmt % args) + "\n")

    def record(self, code):
        st = self.server.state
        with st.lock:
            u = urllib.parse.urlsplit(self.path)
            st.requests.append({"path": u.path, "query": u.query,
                                "accept": self.headers.get("Accept", ""), "status": code})

    def send_json(self, code, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.record(code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def route(self, path):
        """(resource, namespace) of an API path, or None."""
        for res, (kind, prefix, namespaced) in RESOURCES.items():
            if not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1:].split("/")
            if rest == [res]:
                return res, None
            if namespaced and len(rest) == 3 and rest[0] == "namespaces" and rest[2] == res:
                return res, rest[1]
        return None

    def do_GET(self):
        st = self.server.state
        opts = self.server.opts
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        with open(opts.token_file) as f:
            want = "Bearer " + f.read().strip()
        if st.mode["unauthorized"] or self.headers.get("Authorization", "") != want:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        r = self.route(u.path)
        if r is None:
            return self.send_json(404, status(404, "NotFound", "the server could not find "
                                              "the requested resource"))
        res, ns = r
        kind, prefix, namespaced = RESOURCES[res]
        verb = "watch" if q.get("watch") in ("1", "true") else "list"
        deny = st.mode["deny"].get(res) or st.mode["deny"].get(res + "/" + verb)
        if deny:
            return self.send_json(deny, status(
                deny, "Forbidden", '%s is forbidden: User "system:serviceaccount:tapio:tapio" '
                'cannot %s resource "%s" in API group "%s" at the cluster scope' %
                (res, verb, res, api_version(prefix).rsplit("/", 1)[0]
                 if "/" in api_version(prefix) else "")))
        try:
            sel = parse_selector(q.get("fieldSelector", ""), res)
        except ValueError as e:
            return self.send_json(400, status(400, "BadRequest", str(e)))
        if ns:
            sel.append(("metadata.namespace", "=", ns))
        accept = self.headers.get("Accept", "")
        if verb == "watch":
            return self.watch(res, sel, q, "as=PartialObjectMetadata" in accept)
        return self.list(res, kind, prefix, sel, q, "as=PartialObjectMetadataList" in accept)

    def list(self, res, kind, prefix, sel, q, meta):
        st = self.server.state
        limit = int(q.get("limit") or 0)
        with st.lock:
            if q.get("continue"):
                tok = json.loads(base64.b64decode(q["continue"]))
                list_rv, start = tok["rv"], tok["start"]
                if list_rv < st.compacted:
                    return self.send_json(410, status(
                        410, "Expired", "The provided continue parameter is too old to "
                        "display a consistent list result."))
            else:
                list_rv, start = st.rv, 0
            items = sorted((o for o in st.objects[res].values() if matches(o, sel)),
                           key=lambda o: (o["metadata"].get("namespace", ""),
                                          o["metadata"]["name"]))
            total = len(items)
            page = [copy.deepcopy(o) for o in
                    (items[start:start + limit] if limit else items[start:])]
        md = {"resourceVersion": str(list_rv)}
        if limit and start + limit < total:
            md["continue"] = base64.b64encode(json.dumps(
                {"rv": list_rv, "start": start + limit}).encode()).decode()
            md["remainingItemCount"] = total - start - limit
        if meta:
            out = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                   "metadata": md, "items": [as_metadata(o) for o in page]}
        else:
            for o in page:
                o.pop("kind", None)
                o.pop("apiVersion", None)
            out = {"kind": kind + "List", "apiVersion": api_version(prefix), "metadata": md,
                   "items": page}
        body = json.dumps(out, separators=(",", ":")).encode()
        self.record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # the body in pieces, as a real server flushes a long list
        for i in range(0, len(body), 65536):
            self.chunk(body[i:i + 65536])
        self.chunk(b"")

    def watch_list_options(self, q):
        """As kube-apiserver's SetListOptionsDefaults + validateWatchOptions
        (apimachinery/pkg/apis/meta/internalversion): (send_initial_events, Status or None)."""
        enabled = self.server.state.mode["watch_list"]
        sie = q.get("sendInitialEvents")
        match = q.get("resourceVersionMatch", "")
        if enabled and sie is None and not match and q.get("resourceVersion", "") in ("", "0"):
            # the feature on: a legacy watch from ""/"0" streams its initial state likewise
            sie, match = "true", "NotOlderThan"
        errs = []
        if sie is not None:
            if match != "NotOlderThan":
                errs.append(("resourceVersionMatch", "FieldValueForbidden", "Forbidden: "
                             "sendInitialEvents requires setting resourceVersionMatch to "
                             "NotOlderThan"))
            if not enabled:
                errs.append(("sendInitialEvents", "FieldValueForbidden", "Forbidden: "
                             "sendInitialEvents is forbidden for watch unless the WatchList "
                             "feature gate is enabled"))
        if match:
            if sie is None:
                errs.append(("resourceVersionMatch", "FieldValueForbidden", "Forbidden: "
                             "resourceVersionMatch is forbidden for watch unless "
                             "sendInitialEvents is provided"))
            if match != "NotOlderThan":
                errs.append(("resourceVersionMatch", "FieldValueNotSupported",
                             'Unsupported value: "%s": supported values: "NotOlderThan"' % match))
        if errs:
            # errors.NewInvalid(GroupKind{meta.k8s.io, ListOptions}, "", errs): 422
            st = status(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: ' +
                        ", ".join("%s: %s" % (f, m) for f, _, m in errs))
            st["details"] = {"group": "meta.k8s.io", "kind": "ListOptions", "causes": [
                {"reason": r, "message": m, "field": f} for f, r, m in errs]}
            return False, st
        return sie == "true", None

    def initial_events(self, res, sel, meta, bookmarks):
        """The watch cache's answer to sendInitialEvents=true: ADDED for the current state (in
        key order, whatever resourceVersion was asked: NotOlderThan), then, when bookmarks are
        allowed, a BOOKMARK annotated k8s.io/initial-events-end at the state's resourceVersion.
        Returns that resourceVersion: the watch goes on from there."""
        st = self.server.state
        kind, prefix, _ = RESOURCES[res]
        with st.lock:
            cur = st.rv
            objs = sorted((copy.deepcopy(o) for o in st.objects[res].values() if matches(o, sel)),
                          key=lambda o: (o["metadata"].get("namespace", ""),
                                         o["metadata"]["name"]))
        for o in objs:
            self.send_event("ADDED", as_metadata(o) if meta else o)
        if bookmarks:
            md = {"resourceVersion": str(cur), "creationTimestamp": None,
                  "annotations": {"k8s.io/initial-events-end": "true"}}
            self.send_event("BOOKMARK", {"kind": "PartialObjectMetadata", "apiVersion":
                                         "meta.k8s.io/v1", "metadata": md} if meta else
                            {"kind": kind, "apiVersion": api_version(prefix), "metadata": md})
        return cur

    def watch(self, res, sel, q, meta):
        st = self.server.state
        initial, invalid = self.watch_list_options(q)
        if invalid:
            return self.send_json(422, invalid)
        try:
            since = int(q.get("resourceVersion") or 0)
        except ValueError:
            return self.send_json(400, status(400, "BadRequest", "invalid resourceVersion"))
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        with st.lock:
            too_old = since < st.compacted and not initial
            gone_as_status = st.mode["gone_as_status"]
            expire_gen, cut_gen, bm_gen = st.expire_gen, st.cut_gen, st.bookmark_gen
        if too_old and gone_as_status:
            return self.send_json(410, status(410, "Gone", "too old resource version: %d (%d)"
                                              % (since, st.compacted)))
        self.record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json;stream=watch" if not meta else
                         "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if too_old:
            self.send_event("ERROR", status(410, "Expired", "too old resource version: %d (%d)"
                                            % (since, st.compacted)))
            self.chunk(b"")
            return
        deadline = time.monotonic() + timeout
        pos = since
        kind, prefix, _ = RESOURCES[res]
        try:
            if initial:
                pos = self.initial_events(res, sel, meta, bookmarks)
            while time.monotonic() < deadline:
                with st.lock:
                    evs = [(rv, t, o) for rv, r, t, o in st.history if r == res and rv > pos]
                    if not evs and st.expire_gen == expire_gen and st.cut_gen == cut_gen and \
                            st.bookmark_gen == bm_gen:
                        st.lock.wait(0.2)
                        continue
                    expired = st.expire_gen != expire_gen
                    cut = st.cut_gen != cut_gen
                    bm = st.bookmark_gen != bm_gen
                    bm_gen = st.bookmark_gen
                    cur_rv = st.rv
                for rv, t, o in evs:
                    pos = rv
                    if matches(o, sel):
                        self.send_event(t, as_metadata(o) if meta else o)
                if cut:
                    # half an event, then the connection drops without the last chunk
                    half = json.dumps({"type": "MODIFIED", "object": {
                        "kind": kind, "metadata": {"name": "cut-in-half"}}}).encode()
                    self.chunk(half[:len(half) // 2])
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if expired:
                    self.send_event("ERROR", status(410, "Expired", "too old resource version"))
                    break
                if bm and bookmarks:
                    pos = max(pos, cur_rv)
                    self.send_event("BOOKMARK", {"kind": kind, "apiVersion": api_version(prefix),
                                                 "metadata": {"resourceVersion": str(pos)}})
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def send_event(self, t, obj):
        line = json.dumps({"type": t, "object": obj}, separators=(",", ":")).encode() + b"\n"
        slow = self.server.state.mode["slow_ms"]
        if slow:
            for i in range(0, len(line), 7):
                self.chunk(line[i:i + 7])
                time.sleep(slow / 1000.0)
        else:
            self.chunk(line)


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            body = {}
        out = {"ok": True}
        cmd = self.path
        if cmd == "/apply":
            objs = body["objects"] if "objects" in body else [body["object"]]
            last = None
            for o in objs:
                last = st.apply(body["resource"], o, body.get("silent", False))
            out = last
        elif cmd == "/delete":
            out = st.delete(body["resource"], body.get("namespace"), body["name"],
                            body.get("silent", False)) or {}
        elif cmd in ("/compact", "/expire", "/cut", "/bookmark"):
            with st.lock:
                if cmd == "/compact":
                    st.compacted = st.rv + 1
                    st.history = []
                elif cmd == "/expire":
                    st.expire_gen += 1
                elif cmd == "/cut":
                    st.cut_gen += 1
                else:
                    st.bookmark_gen += 1
                st.lock.notify_all()
                out = {"rv": st.rv}
        elif cmd == "/mode":
            with st.lock:
                st.mode.update(body)
                out = st.mode
        elif cmd == "/requests":
            with st.lock:
                out = list(st.requests)
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()
    state = State()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.opts = opts
    srv.state = state
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    ctl = ThreadingHTTPServer(("127.0.0.1", 0), ControlHandler)
    ctl.daemon_threads = True
    ctl.state = state
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (srv.server_address[1], ctl.server_address[1]))
    os.rename(tmp, opts.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
