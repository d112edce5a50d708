#!/usr/bin/env bash
# DNS benchmark: validated lookups through mailtrust against plain lookups of the same names
# through the same Unbound (the peer), in one run, inside the lab. Prints lookups/s and the ratio.
# Needs root and the lab's packages (`bin/setup lab` installs them). Not run in CI.
#
#   bench/dns.sh [NAMES] [CONCURRENCY]      # default 3000 names, concurrency 200
set -euo pipefail
cd "$(dirname "$0")/.."
names=${1:-3000}
concurrency=${2:-200}
cargo build --release --locked --ignore-rust-version --quiet -p mailtrust --bin mailtrust -p mailtrust-dns --example resolve_bench
target=${CARGO_TARGET_DIR:-$PWD/target}
mt="$target/release/mailtrust"
bench="$target/release/examples/resolve_bench"

. bench/lib.sh
bench_workdir bench
mkdir -p "$work/scenarios"
{
    echo "; bench.test: $names names with one A record each, signed by Knot."
    echo ";! dnssec: signed"
    for ((i = 0; i < names; i++)); do
        echo "h$i A 192.0.$(((i / 250) % 250)).$((i % 250 + 1))"
    done
} > "$work/scenarios/bench.test.zone"
"$mt" lab up --state "$state" --scenarios "$work/scenarios" > /dev/null
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
"$mt" lab exec --state "$state" -- "$bench" --resolver 127.0.0.1:53 \
    --trust-anchor "$state/trust-anchor.key" --zone bench.test --names "$names" --concurrency "$concurrency" --rounds 5
