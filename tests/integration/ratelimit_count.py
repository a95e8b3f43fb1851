#!/usr/bin/env python3
"""Floods data planes round-robin (keep-alive connections) for whole
calendar windows (seconds by default) and counts the 200s per window by
arrival time. Prints the per-window counts and their mean, the 429s and
their Retry-After range; exit 1 on a request that is neither 200 nor 429, or
a 429 without Retry-After.

usage: ratelimit_count.py [--window W] [--lead L] [--pace P] WINDOWS CONNS TOKEN PATH PORT [PORT...]
  --window W  window length in seconds, counted from calendar boundaries
              (multiples of W since the epoch, as the limiter's are); default 1
  --lead L    start flooding L seconds before the first counted window, so
              the limiter has a previous window (not counted); default 0
  --pace P    each connection waits P seconds between requests; default 0"""
import argparse
import http.client
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--window", type=int, default=1)
ap.add_argument("--lead", type=float, default=0)
ap.add_argument("--pace", type=float, default=0)
ap.add_argument("windows", type=int)
ap.add_argument("conns", type=int)
ap.add_argument("token")
ap.add_argument("path")
ap.add_argument("ports", nargs="+")
a = ap.parse_args()
W = a.window
start = (int(time.time() + a.lead) // W + 1) * W  # the next whole window at least `lead` away
end = start + a.windows * W
slice_ = W / 6 if W > 1 else W  # the spread inside a window, printed for long windows
counts, slices, bad, lock = {}, {}, [], threading.Lock()
rejected, no_retry_after, retry_after = [0], [0], []


def worker(port):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    time.sleep(max(0.0, start - a.lead - time.time()))
    while True:
        now = time.time()
        if now >= end:
            break
        c.request("GET", a.path, headers={"API-Token": a.token})
        r = c.getresponse()
        r.read()
        ra = r.getheader("Retry-After")
        with lock:
            if now < start:
                pass  # the lead-in: not counted
            elif r.status == 200:
                w = int((now - start) // W)
                counts[w] = counts.get(w, 0) + 1
                s = int((now - start) // slice_)
                slices[s] = slices.get(s, 0) + 1
            elif r.status == 429:
                rejected[0] += 1
                if ra is None or not ra.isdigit():
                    no_retry_after[0] += 1
                else:
                    retry_after.append(int(ra))
            else:
                bad.append(r.status)
        if a.pace:
            time.sleep(a.pace)


threads = [threading.Thread(target=worker, args=(a.ports[i % len(a.ports)],)) for i in range(a.conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
unit = {1: "second", 60: "minute", 3600: "hour"}.get(W, f"{W} s window")
per = [counts.get(w, 0) for w in range(a.windows)]
print(f"# admitted per {unit} over {a.windows * W} s on {len(a.ports)} nodes: {per}; mean {sum(per) / a.windows:.1f}")
if W > 1:
    spread = [slices.get(s, 0) for s in range(int(a.windows * W / slice_))]
    print(f"# admitted per {slice_:g} s: {spread}")
ra = f"Retry-After {min(retry_after)}..{max(retry_after)} s" if retry_after else "none with Retry-After"
print(f"# 429s: {rejected[0]} ({ra}); without Retry-After: {no_retry_after[0]}; other statuses: {sorted(set(bad))}")
sys.exit(1 if bad or no_retry_after[0] else 0)
