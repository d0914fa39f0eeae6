#!/usr/bin/env bash
# authz-check.sh: load-test GET /api/authz/check on the standard data set.
#
# Builds bench/serve-dataset and bench/loadgen, starts a server on 127.0.0.1
# over a fresh SQLite store loaded with dataset.Standard (10,000 users, 1,000
# groups, 5,000 projects, 100k memberships, 200k grants, one user token per
# user), then runs the load generator against
#   GET /api/authz/check?permission=scan&projectKey=<key>
# with user-token bearers and project keys drawn at random from the data set.
# It prints throughput, latency percentiles and the CPU split between server
# and load generator over the measured window (utime+stime from
# /proc/<pid>/stat of both processes, read by the load generator at the
# window's start and end).
#
# The load runs once per value of CONNS: by default a low-concurrency run
# (latency) and a high-concurrency one (throughput), since on a small machine
# the generator and the server share the cores and one cannot have both.
#
# Environment: CONNS ("8 16"), DURATION (10s), WARMUP (15s), LOADGEN_PROCS (2),
# PORT (9123), SERVER_PROCS (GOMAXPROCS of the server; all cores when empty),
# PERMISSION (scan), CPUPROFILE (a file for the server's CPU profile),
# LOADGEN=wrk to use wrk instead (if installed), PIN (1 by default on 2+ cores)
# pins the server to core 0 (GOMAXPROCS=1) and the load generator to core 1, so that neither
# preempts the other: without it the OS scheduler, not the server, makes the
# latency tail (a bare net/http handler shows the same ~4 ms p99 unpinned).
set -euo pipefail

cd "$(dirname "$0")/.."
CONNS=${CONNS:-8 16}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-15s}
if [[ -z "${PIN:-}" ]]; then
	PIN=0
	[[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null && PIN=1
fi
LOADGEN_PROCS=${LOADGEN_PROCS:-2}
PORT=${PORT:-9123}
PERMISSION=${PERMISSION:-scan}

work=$(mktemp -d)
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid"
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building"
go build -o "$work/serve-dataset" ./bench/serve-dataset
go build -o "$work/loadgen" ./bench/loadgen

echo "== loading dataset.Standard into a fresh SQLite store and starting the server"
pin_server=() pin_load=()
if [[ "${PIN:-}" == 1 ]]; then
	command -v taskset >/dev/null || { echo "PIN=1 needs taskset (util-linux)"; exit 1; }
	pin_server=(taskset -c 0) pin_load=(taskset -c 1) SERVER_PROCS=1 LOADGEN_PROCS=1
fi
GOMAXPROCS=${SERVER_PROCS:-$(nproc)} "${pin_server[@]}" "$work/serve-dataset" -addr "127.0.0.1:$PORT" -data-dir "$work/data" ${CPUPROFILE:+-cpuprofile "$CPUPROFILE"} >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
	grep -q '^serving on' "$work/server.log" && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
	sleep 0.2
done
grep -q '^serving on' "$work/server.log" || { echo "server did not start"; cat "$work/server.log"; exit 1; }
cat "$work/server.log"
echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3), $(uname -sr)"

path="/api/authz/check?permission=$PERMISSION&projectKey=%KEY%"
if [[ "${LOADGEN:-}" == wrk ]]; then
	command -v wrk >/dev/null || { echo "wrk is not installed"; exit 1; }
	cat >"$work/check.lua" <<LUA
local keys, secrets = {}, {}
for l in io.lines("$work/data/keys.txt") do keys[#keys+1] = l end
for l in io.lines("$work/data/secrets.txt") do secrets[#secrets+1] = l end
request = function()
  local k = keys[math.random(#keys)]:gsub(":", "%%3A")
  return wrk.format("GET", "/api/authz/check?permission=$PERMISSION&projectKey=" .. k,
    { ["Authorization"] = "Bearer " .. secrets[math.random(#secrets)] })
end
LUA
	# Warm-up: the first use of each of the 10,000 tokens records its
	# last-used time in the store; that belongs to start-up, not to the
	# steady state measured below.
	"${pin_load[@]}" wrk -t 1 -c 4 -d "$WARMUP" -s "$work/check.lua" "http://127.0.0.1:$PORT" >/dev/null
	s0=$(awk '{print $14+$15}' "/proc/$server_pid/stat")
	"${pin_load[@]}" wrk -t "$LOADGEN_PROCS" -c "${CONNS##* }" -d "$DURATION" --latency -s "$work/check.lua" "http://127.0.0.1:$PORT"
	s1=$(awk '{print $14+$15}' "/proc/$server_pid/stat")
	echo "server cpu: $(( (s1 - s0) * 10 )) ms over $DURATION"
else
	for c in $CONNS; do
		echo "== load: GET $path, $c connections, $DURATION"
		"${pin_load[@]}" "$work/loadgen" -url "http://127.0.0.1:$PORT" -path "$path" -c "$c" -d "$DURATION" -warmup "$WARMUP" \
			-procs "$LOADGEN_PROCS" -keys "$work/data/keys.txt" -secrets "$work/data/secrets.txt" -server-pid "$server_pid"
	done
fi
