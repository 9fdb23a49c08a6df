#!/bin/sh
# Instructions per beamr:call fac(5.0), per hb_beamr:call fac(5.0) and per import round
# trip, counted by callgrind over the whole BEAM (one scheduler): the run of 2N operations minus the run of N,
# divided by N. Unlike wall-clock figures these do not move with a noisy machine.
# Needs valgrind. Usage: scripts/icount.sh [N] (default 50000).
set -eu
cd "$(dirname "$0")/.."
n=${1:-50000}
count() {
  valgrind --tool=callgrind --trace-children=yes --smc-check=all \
    --callgrind-out-file=/dev/null \
    erl +S 1 +SDcpu 1 +SDio 1 -noshell -pa _build/default/lib/beamr/ebin \
    -eval "{ok, _} = application:ensure_all_started(beamr), ok." \
    -run escript start -extra scripts/icount.escript "$1" "$2" 2>&1 |
    grep "I   refs" | awk '{gsub(",", "", $4); print $4}' | sort -n | tail -1
}
for kind in ${KINDS:-call hb_call import}; do
  one=$(count "$kind" "$n")
  two=$(count "$kind" $((2 * n)))
  echo "$kind: $(( (two - one) / n )) instructions"
done
