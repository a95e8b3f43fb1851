#!/usr/bin/env bash
# Graceful shutdown: SIGTERM while calls are in flight lets them finish and the
# process exits 0; the config file and flags are honoured.
source tests/integration/lib.sh

cat >"$WORK/cp.conf" <<CONF
# comments and blank lines are fine

log-level = debug
fsync = false
CONF
start_cp --config "$WORK/cp.conf"
grep -q "fsync=false" "$CP_LOG" && ok "config file read" || not_ok "config file read"
(
    for i in $(seq 1 200); do apictl client create "s$i" >/dev/null 2>&1 || exit 0; done
) &
writer=$!
sleep 0.3
stop_cp
wait "$writer" || true
ok "SIGTERM during writes exits 0"
grep -q "event=stopped" "$CP_LOG" && ok "logged stop" || not_ok "logged stop"
expect_error "bad flag value" "fsync" "true or false" "$CP_BIN" --fsync maybe
"$CP_BIN" --help | grep -q -- "--data-dir" && ok "--help" || not_ok "--help"
finish
