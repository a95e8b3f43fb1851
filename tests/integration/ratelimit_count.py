#!/usr/bin/env python3
"""Floods data planes round-robin (keep-alive connections) for whole
calendar seconds and counts the 200s per second by arrival time. Prints the
per-second counts and their mean; exit 1 on a request that is neither 200
nor 429.

usage: ratelimit_count.py SECONDS CONNS TOKEN PATH PORT [PORT...]"""
import http.client
import sys
import threading
import time

secs, nconn, token, path, ports = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
start = int(time.time()) + 1  # the next whole second
end = start + secs
counts, bad, lock = {}, [], threading.Lock()


def worker(port):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    while time.time() < start:
        time.sleep(0.001)
    while True:
        now = time.time()
        if now >= end:
            break
        c.request("GET", path, headers={"API-Token": token})
        r = c.getresponse()
        r.read()
        with lock:
            if r.status == 200:
                counts[int(now)] = counts.get(int(now), 0) + 1
            elif r.status != 429:
                bad.append(r.status)


threads = [threading.Thread(target=worker, args=(ports[i % len(ports)],)) for i in range(nconn)]
for t in threads:
    t.start()
for t in threads:
    t.join()
per = [counts.get(s, 0) for s in range(start, end)]
print(f"# admitted per second over {secs} s on {len(ports)} nodes: {per}; mean {sum(per) / secs:.1f}")
sys.exit(1 if bad else 0)
