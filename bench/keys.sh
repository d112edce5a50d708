#!/usr/bin/env bash
# Key management benchmark: key generation rate against raw aws-lc-rs (same run), and the time
# from `keys publish` (RFC 2136 to the lab's Knot) to a verified `keys activate` (every
# authoritative server asked directly, then the validating lookup), with no waiting period.
# Needs root and the lab's packages; not run in CI.
#
#   bench/keys.sh [ROUNDS]      # default 10 publish/activate rounds
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
cargo build --release --locked --ignore-rust-version --quiet -p mailtrust --bin mailtrust -p mailtrust-keys --example keygen_bench
target=${CARGO_TARGET_DIR:-$PWD/target}
mt="$target/release/mailtrust"
"$target/release/examples/keygen_bench" 8

. bench/lib.sh
bench_workdir keys-bench
"$mt" lab up --state "$state" > /dev/null
(umask 077; head -c 32 /dev/urandom > "$work/kek")   # a secret: 0600 from the start
tsig=$(python3 -c "import json,sys; z=[z for z in json.load(open('$state/lab.json'))['zones'] if z['name']=='signed.test.'][0]; t=z['tsig']; print(f\"{t['algorithm']}:{t['name']}:{t['secret']}\")")
keys() { "$mt" lab exec --state "$state" -- "$mt" keys --store "$work/keys.db" --kek-file "$work/kek" "$@"; }
total=0
for i in $(seq 1 "$rounds"); do
    keys generate --domain signed.test --selector "b$i" > /dev/null
    start=$(date +%s%N)
    keys publish "signed.test/b$i" --server 127.0.0.4 --tsig "$tsig" > /dev/null
    mid=$(date +%s%N)
    keys activate "signed.test/b$i" --resolver 127.0.0.1:53 --trust-anchor "$state/trust-anchor.key" > /dev/null
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    total=$((total + ms))
    echo "round $i: publish -> verified activate in ${ms} ms (publish $(( (mid - start) / 1000000 )) ms, activate $(( (end - mid) / 1000000 )) ms)"
done
echo "mean publish -> verified activate: $((total / rounds)) ms over $rounds rounds (two process starts, one RFC 2136 update, two direct queries, one validated lookup each)"
