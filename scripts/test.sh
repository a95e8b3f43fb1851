#!/usr/bin/env bash
# Runs every test (Criterion unit tests and the integration tests that start
# the real control plane, data planes and demo upstream) offline with Bazel,
# prints a one-line summary, then stops the Bazel server.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
log=$(mktemp)
rc=0
bazel test //... "$@" 2>&1 | tee "$log" || rc=$?
bazel shutdown
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log" || true)
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS)' "$log" || true)
rm -f "$log"
echo "tests: $passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
