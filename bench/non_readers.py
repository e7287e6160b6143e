#!/usr/bin/env python3
"""Clients that stop reading, measured from the server's side (docs/benchmarks.md, "Clients
that stop reading").

Starts a qa-hub binary on a fresh SQLite file, posts ANSWERS answers of about 120 KB (emoji
bodies) to one question, then opens CLIENTS WebSockets and CLIENTS event streams from
127.0.2.x / 127.0.3.x with a 4 KiB receive buffer that subscribe from seq 0 and never read.
Every second it samples the server's RSS (/proc/PID/status) and how many of those connections
the server still holds (its socket inodes in /proc/net/tcp), and prints the peak, the time until
it held none, and the RSS after. Loopback only; it stops by itself after --limit seconds.

    bench/non_readers.py target/release/qa-hub [--clients 40] [--answers 60]
"""

import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def held(pid, clients):
    """How many of `clients` ((ip, port) pairs) the server process holds a socket for."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    wanted = {f"{int.from_bytes(socket.inet_aton(ip), 'little'):08X}:{port:04X}" for ip, port in clients}
    count = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] in wanted and fields[9] in inodes:
                count += 1
    return count


def stalled(addr, source, request):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((source, 0))
    s.connect(addr)
    s.sendall(request)
    return s


def ws_request(host, q):
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    payload = json.dumps({"type": "subscribe", "topic": f"question:{q}", "after_seq": 0}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + masked  # payloads here are < 126 bytes
    return head + frame


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--clients", type=int, default=40, help="non-reading WebSockets")
    p.add_argument("--streams", type=int, default=None, help="non-reading event streams (default: --clients)")
    p.add_argument("--answers", type=int, default=60)
    p.add_argument("--limit", type=int, default=120)
    p.add_argument("--hub-args", default="")
    args = p.parse_args()
    if args.streams is None:
        args.streams = args.clients

    tmp = tempfile.mkdtemp()
    env = dict(os.environ, RUST_LOG="info", NO_COLOR="1", QA_HUB_POSTS_PER_MINUTE="0",
               QA_HUB_ANONYMOUS_WRITES="true", QA_HUB_MAX_CONNECTIONS_PER_IP="10")
    log = open(f"{tmp}/server.log", "w+")
    server = subprocess.Popen(
        [args.binary, "--bind", "127.0.0.1:0", "--database-url", f"sqlite://{tmp}/hub.db"] + args.hub_args.split(),
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        addr = None
        for _ in range(200):
            log.seek(0)
            m = re.search(r"qa-hub listening.*addr=([0-9.]+):(\d+)", log.read())
            if m:
                addr = (m.group(1), int(m.group(2)))
                break
            time.sleep(0.1)
        assert addr, "the server did not start"
        base = f"http://{addr[0]}:{addr[1]}"

        def post(path, body):
            req = urllib.request.Request(base + path, json.dumps(body, ensure_ascii=False).encode(),
                                         {"content-type": "application/json"})
            with urllib.request.urlopen(req) as res:
                return json.loads(res.read())

        q = post("/api/questions", {"title": "Non-readers", "body": "b", "author": "bench"})["id"]
        body = "😀" * 29_000  # about 116 KB of UTF-8
        for i in range(args.answers):
            post(f"/api/questions/{q}/answers", {"body": f"{i} {body}", "author": "bench"})

        before = rss_kib(server.pid)
        host = f"{addr[0]}:{addr[1]}"
        sse = f"GET /sse?topics=question:{q}&last_event_id=question:{q}=0 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        sockets, clients = [], []
        started = time.monotonic()
        opens = [(f"127.0.2.{i % 250 + 1}", ws_request(host, q)) for i in range(args.clients)]
        opens += [(f"127.0.3.{i % 250 + 1}", sse) for i in range(args.streams)]
        for source, request in opens:
            s = stalled(addr, source, request)
            sockets.append(s)
            clients.append(s.getsockname())
        peak, let_go = before, None
        while time.monotonic() - started < args.limit:
            time.sleep(1)
            rss, n = rss_kib(server.pid), held(server.pid, clients)
            peak = max(peak, rss)
            print(f"{time.monotonic() - started:6.1f} s  rss {rss / 1024:7.1f} MiB  held {n}", flush=True)
            if n == 0:
                let_go = time.monotonic() - started
                break
        after = rss_kib(server.pid)
        total = args.clients + args.streams
        print(f"non-readers: {total} ({args.clients} WebSockets, {args.streams} event streams), "
              f"{args.answers} answers of ~116 KB")
        print(f"rss before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB "
              f"(+{(peak - before) / total:.0f} KiB per client), after {after / 1024:.1f} MiB")
        print(f"all let go after {let_go:.1f} s" if let_go is not None else f"still held after {args.limit} s")
        for s in sockets:
            s.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
