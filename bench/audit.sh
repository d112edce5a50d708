#!/usr/bin/env bash
# Audit benchmark (DNS checks only): N generated lab domains audited by mailtrust, against the
# bound of the lab's resolver for the same query mix (a plain concurrent client), and, on a
# sample, against checkdmarc and trustymail (installed from PyPI into a private virtualenv; they
# are peers for this benchmark only, never runtime dependencies). Needs root and the lab's
# packages; not run in CI.
#
#   bench/audit.sh [N] [PEER_SAMPLE]     # default 10000 domains, peers on 500 of them
#
# Equal checks: mailtrust runs with --only mx,spf,dmarc (plus domain.exists), what checkdmarc and
# trustymail (--mx --spf --dmarc) also check. The domains are subdomains in one unsigned lab zone,
# each with MX, the MX host's A record, SPF (with a shared include) and DMARC.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
sample=${2:-500}
concurrency=200
cargo build --release --locked --ignore-rust-version --quiet -p mailtrust --bin mailtrust -p mailtrust-dns --example resolve_bench
target=${CARGO_TARGET_DIR:-$PWD/target}
mt="$target/release/mailtrust"
rb="$target/release/examples/resolve_bench"

. bench/lib.sh
bench_workdir audit-bench
mkdir -p "$work/scenarios"
python3 - "$n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/scenarios/bench.test.zone", "w") as z, open(f"{work}/domains.txt", "w") as d, open(f"{work}/queries.txt", "w") as q:
    z.write("; bench.test: generated domains for bench/audit.sh\n;! dnssec: unsigned\n\n")
    z.write('_spf TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"\n')
    for i in range(n):
        dom = f"d{i}"
        z.write(f"{dom} MX 10 mail.{dom}\nmail.{dom} A 192.0.{(i // 250) % 250}.{i % 250 + 1}\n")
        z.write(f'{dom} TXT "v=spf1 mx include:_spf.bench.test -all"\n')
        z.write(f'_dmarc.{dom} TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{dom}.bench.test"\n')
        full = f"{dom}.bench.test"
        d.write(full + "\n")
        # The lookups an mx+spf+dmarc audit makes per domain (the shared include is cached).
        for name, t in [(full, "SOA"), (full, "MX"), (full, "A"), (full, "AAAA"), (full, "TXT"),
                        (f"mail.{full}", "A"), (f"mail.{full}", "AAAA"), (f"_dmarc.{full}", "TXT")]:
            q.write(f"{name} {t}\n")
PY
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB; $(date -u +%Y-%m-%dT%H:%MZ); $n domains, 8 queries each"
"$mt" lab up --state "$state" --scenarios "$work/scenarios" > /dev/null
anchor="$state/trust-anchor.key"
inlab() { "$mt" lab exec --state "$state" -- "$@"; }

# Warm the lab resolver's cache for everyone alike (its TTL cap makes this partly moot), then
# measure the bound.
inlab "$rb" --resolver 127.0.0.1:53 --queries "$work/queries.txt" --concurrency "$concurrency" > /dev/null
bound=$(inlab "$rb" --resolver 127.0.0.1:53 --queries "$work/queries.txt" --concurrency "$concurrency")
echo "$bound"
qps=$(echo "$bound" | sed -E 's/.*: ([0-9]+) queries\/s/\1/')
bound_dps=$((qps / 8))
echo "bound: $bound_dps domains/s (queries/s / 8)"

run_mt() { # $1 = domain list; prints "seconds peakKB"
    inlab /usr/bin/time -f "%e %M" -o "$work/time.txt" "$mt" audit --input "$1" --jsonl -o "$work/out.jsonl" \
        --only mx,spf,dmarc --resolver 127.0.0.1:53 --trust-anchor "$anchor" --concurrency "$concurrency" || true
    cat "$work/time.txt"
}
read -r secs kb < <(run_mt "$work/domains.txt")
done_n=$(wc -l < "$work/out.jsonl")
mt_dps=$(python3 -c "print(round($done_n / $secs))")
echo "mailtrust: $done_n domains in ${secs}s = $mt_dps domains/s, peak RSS $((kb / 1024)) MiB"
echo "mailtrust / bound: $(python3 -c "print(round($mt_dps / $bound_dps, 2))")"
head -n $((n / 4)) "$work/domains.txt" > "$work/quarter.txt"
read -r secs_q kb_q < <(run_mt "$work/quarter.txt")
echo "memory as the list grows: $((n / 4)) domains peak $((kb_q / 1024)) MiB, $n domains peak $((kb / 1024)) MiB"
bad=$(grep -c '"fail":[1-9]' "$work/out.jsonl" || true)
echo "sanity: domains with a failure in the last run: $bad (expected 0)"

# Peers, on a sample.
venv=${MAILTRUST_BENCH_VENV:-/opt/mailtrust-bench-venv}
if [ ! -x "$venv/bin/checkdmarc" ] || [ ! -x "$venv/bin/trustymail" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet checkdmarc trustymail publicsuffixlist || {
        echo "peers: could not install checkdmarc/trustymail; skipped"; exit 0; }
fi
head -n "$sample" "$work/domains.txt" > "$work/sample.txt"
mkdir -p "$work/peer"
# Both peers use port 53 of the system resolver for some lookups: give them a mount namespace
# whose resolv.conf names the lab resolver.
echo "nameserver 127.0.0.1" > "$work/resolv.conf"
cp "$(find "$venv" -name public_suffix_list.dat | head -n 1)" "$work/peer/public_suffix_list.dat" 2>/dev/null || true
touch "$work/peer/public_suffix_list.dat"
peer() { inlab unshare -m sh -c "mount --bind '$work/resolv.conf' /etc/resolv.conf && cd '$work/peer' && /usr/bin/time -f '%e %M' -o '$work/ptime.txt' $*" > /dev/null 2>&1 || true; cat "$work/ptime.txt"; }
read -r cs ckb < <(peer "'$venv/bin/checkdmarc' '$work/sample.txt' -n 127.0.0.1 -o '$work/peer/checkdmarc.json'")
echo "checkdmarc: $sample domains in ${cs}s = $(python3 -c "print(round($sample / $cs, 1))") domains/s, peak RSS $((ckb / 1024)) MiB"
read -r ts tkb < <(peer "'$venv/bin/trustymail' --mx --spf --dmarc --json --dns=127.0.0.1 -o '$work/peer/trustymail' \$(cat '$work/sample.txt')")
echo "trustymail: $sample domains in ${ts}s = $(python3 -c "print(round($sample / $ts, 1))") domains/s, peak RSS $((tkb / 1024)) MiB"
echo "mailtrust / checkdmarc: $(python3 -c "print(round($mt_dps / ($sample / $cs), 1))")x; mailtrust / trustymail: $(python3 -c "print(round($mt_dps / ($sample / $ts), 1))")x"
