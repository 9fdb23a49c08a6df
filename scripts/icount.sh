#!/bin/sh
# Instructions per beamr:call fac(5.0), per hb_beamr:call fac(5.0) and per import round
# trip, counted by callgrind over the whole BEAM (one scheduler): the run of 2N operations
# minus the run of N, divided by N. Unlike wall-clock figures these do not move with a
# noisy machine. Needs valgrind. Usage: scripts/icount.sh [N] (default 50000).
#
# OTP 25's JIT BEAM sometimes dies under callgrind during the escript's start-up
# (SIGSEGV in its garbage collector or in JIT code), with beamr's NIF library absent
# too. A run that did not finish is run again.
set -eu
cd "$(dirname "$0")/.."
n=${1:-50000}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
count() {
  for _ in 1 2 3 4 5; do
    if valgrind --tool=callgrind --trace-children=yes --smc-check=all \
         --callgrind-out-file=/dev/null \
         erl +S 1 +SDcpu 1 +SDio 1 -noshell -pa _build/default/lib/beamr/ebin \
         -eval "{ok, _} = application:ensure_all_started(beamr), ok." \
         -run escript start -extra scripts/icount.escript "$1" "$2" >"$out" 2>&1; then
      grep -a "I   refs" "$out" | awk '{gsub(",", "", $4); print $4}' | sort -n | tail -1
      return 0
    fi
    echo "($1 $2: the BEAM died under callgrind; running it again)" >&2
  done
  echo "($1 $2: no run finished)" >&2
  return 1
}
for kind in ${KINDS:-call hb_call import}; do
  one=$(count "$kind" "$n")
  two=$(count "$kind" $((2 * n)))
  echo "$kind: $(( (two - one) / n )) instructions"
done
