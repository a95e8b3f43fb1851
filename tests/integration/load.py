#!/usr/bin/env python3
"""Steady load for a fixed time: CONNS keep-alive connections spread
round-robin over the given data-plane ports, each sending GET PATH with the
token as fast as answers come. Prints the counts by status; exits 1 if any
request failed (non-200 or a broken connection).

usage: load.py SECONDS CONNS TOKEN PATH PORT [PORT...]"""
import http.client
import sys
import threading
import time

secs, nconn, token, path, ports = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
counts, lock = {}, threading.Lock()
deadline = time.monotonic() + secs


def worker(port):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    while time.monotonic() < deadline:
        try:
            c.request("GET", path, headers={"API-Token": token})
            r = c.getresponse()
            r.read()
            key = r.status
        except (http.client.HTTPException, OSError) as e:
            key = type(e).__name__
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
        with lock:
            counts[key] = counts.get(key, 0) + 1


threads = [threading.Thread(target=worker, args=(ports[i % len(ports)],)) for i in range(nconn)]
for t in threads:
    t.start()
for t in threads:
    t.join()
total = sum(counts.values())
print(f"# {total} requests in {secs:.0f} s over {len(ports)} nodes: {counts}")
sys.exit(0 if set(counts) == {200} else 1)
