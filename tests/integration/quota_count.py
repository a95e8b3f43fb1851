#!/usr/bin/env python3
"""Sends requests of one token round-robin to data planes (THREADS keep-alive
connections spread over the ports) until every connection has seen STOP
429 quota_exceeded answers in a row, or MAX requests were sent in all. Prints
one JSON object: admitted per port, total admitted, other statuses (count
by status and code), and the RateLimit header of the last 200 per port.

usage: quota_count.py TOKEN PATH THREADS STOP MAX PORT [PORT...]
env SECONDS: also stop after that long."""
import http.client
import json
import sys
import os
import threading
import time

token, path = sys.argv[1], sys.argv[2]
nthreads, stop, maxreq = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ports = sys.argv[6:]
admitted = {p: 0 for p in ports}
other, last_hdr = {}, {}
sent = [0]
deadline = time.time() + float(os.environ.get("SECONDS", "1e9"))
lock = threading.Lock()


def worker(port):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    streak = 0
    while streak < stop and time.time() < deadline:
        with lock:
            if sent[0] >= maxreq:
                return
            sent[0] += 1
        c.request("GET", path, headers={"API-Token": token})
        r = c.getresponse()
        body = r.read()
        if r.status == 200:
            streak = 0
            with lock:
                admitted[port] += 1
                last_hdr[port] = r.getheader("RateLimit")
            continue
        code = ""
        try:
            code = json.loads(body).get("code", "")
        except ValueError:
            pass
        if r.status == 429 and code == "quota_exceeded":
            streak += 1
        else:
            streak = 0
        key = f"{r.status} {code}"
        with lock:
            other[key] = other.get(key, 0) + 1


threads = [threading.Thread(target=worker, args=(ports[i % len(ports)],)) for i in range(nthreads)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"admitted": admitted, "total": sum(admitted.values()), "other": other,
                  "sent": sent[0], "ratelimit": last_hdr}))
