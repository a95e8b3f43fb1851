#!/usr/bin/env python3
"""Propagation: from apictl's successful return to every data plane
enforcing the change. Each round flips whether profile `main` may call
collection `other` and waits until every node answers the new way to a real
request (a keep-alive connection per node, polled as fast as it answers).
Prints p50/p99/max in ms; exits 1 if a round does not propagate in 5 s.

usage: propagation.py ROUNDS TOKEN APICTL PORT [PORT...]"""
import http.client
import subprocess
import sys
import time

rounds, token, apictl, ports = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
conns = {p: http.client.HTTPConnection("127.0.0.1", int(p), timeout=5) for p in ports}


def status(port):
    c = conns[port]
    try:
        c.request("GET", "/api/other-v1/x", headers={"API-Token": token})
        r = c.getresponse()
        r.read()
        return r.status
    except (http.client.HTTPException, OSError):
        c.close()
        conns[port] = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
        return None


lat = []
for i in range(rounds):
    allowed = i % 2 == 0
    cols = "shop,other" if allowed else "shop"
    want = 200 if allowed else 403
    subprocess.run([apictl, "profile", "update", "main", "--collections", cols],
                   check=True, stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    pending = set(ports)
    while pending:
        for p in list(pending):
            if status(p) == want:
                pending.discard(p)
        if time.monotonic() - t0 > 5:
            print(f"round {i}: nodes {sorted(pending)} did not enforce within 5 s", file=sys.stderr)
            sys.exit(1)
    lat.append((time.monotonic() - t0) * 1000)

print("# rounds (ms): " + " ".join(f"{x:.1f}" for x in lat))
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"# propagation over {rounds} changes to {len(ports)} nodes: "
      f"p50 {pct(0.50):.2f} ms, p99 {pct(0.99):.2f} ms, max {lat[-1]:.2f} ms")
