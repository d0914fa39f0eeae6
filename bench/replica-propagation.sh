#!/usr/bin/env bash
# replica-propagation.sh: how fast two real Gatehouse replicas on one
# PostgreSQL see each other's changes, and what following the peer costs the
# other replica's api/authz/check (issue #7 item 2).
#
# Builds cmd/gatehouse (from the commit REF when set, e.g. REF=c60ed1d for a
# before/after comparison; the working tree otherwise) and
# bench/replica-propagation, which loads dataset.Standard into a fresh schema,
# starts two `gatehouse serve` processes on loopback over it and measures, idle
# and under RATE writes/s on replica A: membership added, membership removed,
# token created and token revoked on A until replica B's answer shows it
# (p50/p90/p99/max), and B's api/authz/check latency meanwhile.
#
# Environment: DATABASE_URL (GATEHOUSE_TEST_POSTGRES, else
# postgres://postgres@127.0.0.1:5432/test?sslmode=disable), N (100 probes of
# each kind per phase), RATE (20), CHECK_CONNS (2), SMALL=1 for a small data
# set, REF (see above).
set -euo pipefail

cd "$(dirname "$0")/.."
DATABASE_URL=${DATABASE_URL:-${GATEHOUSE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building"
if [[ -n "${REF:-}" ]]; then
	mkdir "$work/src"
	git archive "$REF" | tar -x -C "$work/src"
	(cd "$work/src" && go build -o "$work/gatehouse" ./cmd/gatehouse)
	echo "gatehouse at $(git rev-parse --short "$REF")"
else
	go build -o "$work/gatehouse" ./cmd/gatehouse
	echo "gatehouse at $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')"
fi
go build -o "$work/replica-propagation" ./bench/replica-propagation
echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"

"$work/replica-propagation" -database-url "$DATABASE_URL" -gatehouse "$work/gatehouse" \
	-n "${N:-100}" -rate "${RATE:-20}" -check-conns "${CHECK_CONNS:-2}" ${SMALL:+-small}
