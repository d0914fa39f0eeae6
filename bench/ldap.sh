#!/usr/bin/env bash
# LDAP benchmarks against a throwaway slapd (needs: apt-get install -y slapd ldap-utils).
#  1. the periodic sync's read of USERS users in GROUPS groups (paged), wall time and peak RSS,
#     and the whole sync through the provisioning engine (first run, no-change rerun);
#  2. api/authz/check for a fresh LDAP user's token vs a local user's, interleaved in one run;
#  3. 1,000 concurrent requests with one stale LDAP user's token: exactly one LDAP look-up.
# See bench/README.md ("LDAP") for the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
export GATEHOUSE_BENCH_LDAP=1
export GATEHOUSE_BENCH_LDAP_USERS="${USERS:-50000}" GATEHOUSE_BENCH_LDAP_GROUPS="${GROUPS_N:-2000}"
echo "== read of ${GATEHOUSE_BENCH_LDAP_USERS} users, ${GATEHOUSE_BENCH_LDAP_GROUPS} groups"
/usr/bin/time -v go test -run '^$' -bench 'LDAPRead50k' -benchtime "${READS:-3}x" -cpu 2 -timeout 30m -v ./internal/server/ 2>&1 |
	grep -E 'Benchmark|loaded|Maximum resident|Elapsed' || true
echo "== periodic sync through the provisioning engine into SQLite: first run and no-change rerun"
/usr/bin/time -v go test -run '^$' -bench 'LDAPSync50k' -benchtime 1x -cpu 2 -timeout 30m -v ./internal/server/ 2>&1 |
	grep -E 'Benchmark|loaded|Maximum resident|Elapsed' || true
echo "== freshness check on the decision path (fresh cache)"
go test -run '^$' -bench 'LDAPFreshCheck' -benchtime "${CHECKS:-200000}x" -count "${COUNT:-3}" -cpu 1 ./internal/server/ | grep Benchmark
echo "== 1,000 concurrent requests, one stale token"
go test -run 'TestLDAPStaleTokenOneLookup' -count 1 -v ./internal/server/ | grep -E '^(--- |ok|FAIL)'
