#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# An HTTPS test server for the Kubernetes clients (httpc, the kubelet collector). It follows the
# wire format of the kubelet's read-only API (TLS, bearer tokens, JSON bodies, Status objects
# on errors); it is not a kubelet. The responses are files the test writes into --root and
# changes over time: GET /a/b serves ROOT/a-b.json byte for byte. ROOT/.mode (re-read on every
# request) makes it misbehave: "ok", "stall" (answer nothing for 60 s), "500", "truncated" (half
# the body, then close), "401", "reset" (close the connection without an answer, as a kubelet
# that died mid-request). Test endpoints for the client itself: /bytes/N (N bytes with a
# length), /chunked/N (N bytes, chunked, no length), /stream (three JSON lines, 100 ms apart,
# chunked), /status/N, /whoami (the bearer token it got). Python standard library only.
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def status_obj(code, reason, message):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tapio-test-kubelet"

    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("https_test_server: " + (fmt % args) + "\n")

    def send_body(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def count(self):
        with self.server.lock:
            self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
            hits = dict(self.server.hits)
        try:
            with open(os.path.join(self.server.opts.root, ".hits.tmp"), "w") as f:
                json.dump(hits, f)
            os.rename(os.path.join(self.server.opts.root, ".hits.tmp"),
                      os.path.join(self.server.opts.root, ".hits"))
        except OSError:
            pass

    def token_ok(self):
        want_file = self.server.opts.token_file
        if not want_file:
            return True
        with open(want_file) as f:
            want = f.read().strip()
        got = self.headers.get("Authorization", "")
        return got == "Bearer " + want

    def do_GET(self):
        opts = self.server.opts
        self.count()
        mode = "ok"
        try:
            with open(os.path.join(opts.root, ".mode")) as f:
                mode = f.read().strip() or "ok"
        except OSError:
            pass
        path = self.path.split("?", 1)[0]
        if path == "/whoami":
            got = self.headers.get("Authorization", "")
            return self.send_body(200, json.dumps({"authorization": got}).encode())
        if mode == "401" or not self.token_ok():
            return self.send_body(401, status_obj(401, "Unauthorized", "Unauthorized"))
        if mode == "stall":
            time.sleep(60)
            return
        if mode == "500":
            return self.send_body(500, b"Internal Server Error", "text/plain")
        if mode == "reset":
            self.close_connection = True
            return
        if path.startswith("/bytes/"):
            n = int(path[7:])
            return self.send_body(200, b"a" * n, "application/octet-stream")
        if path.startswith("/chunked/"):
            n = int(path[9:])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = 1 << 16
            while n > 0:
                k = min(n, piece)
                self.wfile.write(b"%x\r\n" % k + b"a" * k + b"\r\n")
                n -= k
            self.wfile.write(b"0\r\n\r\n")
            return
        if path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(1, 4):
                line = json.dumps({"type": "ADDED", "n": i}).encode() + b"\n"
                self.wfile.write(b"%x\r\n" % len(line) + line + b"\r\n")
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
            return
        if path.startswith("/status/"):
            code = int(path[8:])
            return self.send_body(code, status_obj(code, "Test", "status %d" % code))
        if path == "/healthz":
            return self.send_body(200, b"ok", "text/plain")
        name = path.strip("/").replace("/", "-")
        fpath = os.path.join(opts.root, name + ".json")
        if not name or "." in name or not os.path.isfile(fpath):
            return self.send_body(404, status_obj(404, "NotFound", "not found: " + path))
        with open(fpath, "rb") as f:
            body = f.read()
        if mode == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        return self.send_body(200, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca", help="require a client certificate signed by this CA")
    ap.add_argument("--token-file", help="the bearer token every request must carry")
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True, help="the port is written here when ready")
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.opts = opts
    srv.lock = threading.Lock()
    srv.hits = {}
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    if opts.client_ca:
        ctx.load_verify_locations(opts.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, opts.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
