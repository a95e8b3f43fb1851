#!/usr/bin/env bash
# Concurrent writers: 8 apictl loops x 500 creates each end with exactly 4000
# more revisions and 4000 clients: no lost or doubled writes.
source tests/integration/lib.sh
WRITERS=${WRITERS:-8}
EACH=${EACH:-500}

start_cp
rev0=$(apictl revision)
t0=$(date +%s.%N)
for w in $(seq 1 "$WRITERS"); do
    (
        for i in $(seq 1 "$EACH"); do
            apictl client create "w$w-c$i" >/dev/null || { echo "writer $w failed at $i" >&2; exit 1; }
        done
    ) &
done
fails=0
for job in $(jobs -p); do [ "$job" == "$CP_PID" ] && continue; wait "$job" || fails=$((fails + 1)); done
t1=$(date +%s.%N)
total=$((WRITERS * EACH))
eq "every writer succeeded" 0 "$fails"
eq "revision grew by exactly $total" $((rev0 + total)) "$(apictl revision)"
eq "$total clients listed" "$total" "$(apictl -o json client list | json 'len(j)')"
eq "names are all distinct" "$total" "$(apictl -o json client list | json 'len(set(c["name"] for c in j))')"
echo "# $total creates by $WRITERS concurrent apictl loops in $("$PY" -c "print(round($t1-$t0,2))") s (fsync on)"
stop_cp
finish
