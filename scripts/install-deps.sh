#!/usr/bin/env bash
# Installs every Debian 12 package the platform needs to build, run and test.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
PKGS=(bazel-bootstrap libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
      libh2o-evloop-dev librocksdb-dev libcriterion-dev libssl-dev
      libjansson-dev libyaml-dev liburcu-dev zlib1g-dev gcc curl python3 procps openssl python3-jsonschema)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
