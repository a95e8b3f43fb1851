#!/usr/bin/env bash
# Runs every test (Criterion unit tests and the integration tests that start
# the real control plane) offline with Bazel, then stops the Bazel server.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
rc=0
bazel test //... "$@" || rc=$?
bazel shutdown
exit $rc
