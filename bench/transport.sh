#!/usr/bin/env bash
# Transport benchmark: a full audit (DNS checks and probes of every MX address) of N generated
# lab domains that share 20 MX hosts (as customers of a provider do), and of the lab's transport
# scenarios; in the same run, checkdmarc --check-mx-tls on the same domains (installed from PyPI
# into a private virtualenv; a peer for this benchmark only). Needs root and the lab's packages;
# not run in CI.
#
#   bench/transport.sh [N]        # default 1000 domains
#
# Prints domains/s, p50/p99 per-domain latency (mailtrust's elapsed_ms per domain), checkdmarc's
# rate on the same list, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
concurrency=200
cargo build --release --locked --ignore-rust-version --quiet -p mailtrust --bin mailtrust
target=${CARGO_TARGET_DIR:-$PWD/target}
mt="$target/release/mailtrust"

. bench/lib.sh
bench_workdir transport-bench
mkdir -p "$work/scenarios"
python3 - "$n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/scenarios/bench.test.zone", "w") as z, open(f"{work}/domains.txt", "w") as d:
    z.write("; bench.test: generated domains for bench/transport.sh\n;! dnssec: signed\n\n")
    # 20 shared MX hosts on the lab's Postfix addresses (good, expired, wrong name, expiring).
    for j in range(20):
        last = 20 + j % 4
        z.write(f"mx{j} A 127.0.0.{last}\nmx{j} AAAA fd00:6d74::{last}\n")
    for i in range(n):
        dom = f"d{i}"
        z.write(f"{dom} MX 10 mx{i % 20}\n")
        z.write(f'{dom} TXT "v=spf1 mx -all"\n')
        z.write(f'_dmarc.{dom} TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{dom}.bench.test"\n')
        d.write(f"{dom}.bench.test\n")
PY
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB; $(date -u +%Y-%m-%dT%H:%MZ); $n domains, 20 MX hosts on 4 IPv4 + 4 IPv6 addresses"
"$mt" lab up --state "$state" --scenarios "$work/scenarios" > /dev/null
anchor="$state/trust-anchor.key"
ca="$state/tls/ca.pem"
inlab() { "$mt" lab exec --state "$state" -- "$@"; }

run_mt() { # $1 = domain list, $2 = output; prints "seconds peakKB"
    inlab /usr/bin/time -f "%e %M" -o "$work/time.txt" "$mt" audit --input "$1" --jsonl -o "$2" \
        --only mx,spf,dmarc,transport --resolver 127.0.0.1:53 --trust-anchor "$anchor" \
        --ca-file "$ca" --concurrency "$concurrency" || true
    tail -n 1 "$work/time.txt"
}
stats() { # $1 = jsonl; prints "p50 p99" of elapsed_ms
    python3 - "$1" <<'PY'
import json, sys
v = sorted(json.loads(l)["elapsed_ms"] for l in open(sys.argv[1]) if l.strip())
pick = lambda q: v[min(len(v) - 1, int(q * len(v)))] if v else 0
print(pick(0.50), pick(0.99))
PY
}
read -r secs kb < <(run_mt "$work/domains.txt" "$work/out.jsonl")
done_n=$(wc -l < "$work/out.jsonl")
read -r p50 p99 < <(stats "$work/out.jsonl")
mt_dps=$(python3 -c "print(round($done_n / $secs, 1))")
echo "mailtrust: $done_n domains in ${secs}s = $mt_dps domains/s; per domain p50 ${p50} ms, p99 ${p99} ms; peak RSS $((kb / 1024)) MiB"
starttls=$(python3 - "$work/out.jsonl" <<'PY'
import json, sys, collections
c = collections.Counter()
for l in open(sys.argv[1]):
    for f in json.loads(l)["findings"]:
        if f["id"] == "smtp.starttls":
            c[f["status"]] += 1
print(dict(c))
PY
)
echo "sanity: smtp.starttls statuses over all domains and addresses: $starttls"

# The lab's own transport scenarios, in one run.
scen="tlsgood.test tlsexpired.test tlsname.test tlssoon.test tlsold.test tlsweak.test nostarttls.test danebad.test daneta.test danenotls.test daneunsigned.test tlsabogus.test stsuncovered.test stsredirect.test stsbig.test ststesting.test imapplain.test subauth.test tarpit.test ehloflood.test bigchain.test tlsalert.test"
printf '%s\n' $scen > "$work/scenarios.txt"
read -r ssecs _ < <(inlab /usr/bin/time -f "%e %M" -o "$work/time.txt" "$mt" audit --input "$work/scenarios.txt" --jsonl -o "$work/scen.jsonl" \
    --resolver 127.0.0.1:53 --trust-anchor "$anchor" --ca-file "$ca" --probe-timeout 3 --connect-timeout 2 > /dev/null 2>&1 || true; tail -n 1 "$work/time.txt")
read -r sp50 sp99 < <(stats "$work/scen.jsonl")
echo "lab scenarios (full audit, probe timeout 3 s, tarpit included): $(wc -l < "$work/scen.jsonl") domains in ${ssecs}s; per domain p50 ${sp50} ms, p99 ${sp99} ms"

# The peer, on the same generated list.
venv=${MAILTRUST_BENCH_VENV:-/opt/mailtrust-bench-venv}
if [ ! -x "$venv/bin/checkdmarc" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet checkdmarc || {
        echo "peer: could not install checkdmarc; skipped"; exit 0; }
fi
mkdir -p "$work/peer"
echo "nameserver 127.0.0.1" > "$work/resolv.conf"
peer() { inlab unshare -m sh -c "mount --bind '$work/resolv.conf' /etc/resolv.conf && cd '$work/peer' && /usr/bin/time -f '%e %M' -o '$work/ptime.txt' $*" > "$work/peer/log.txt" 2>&1 || true; tail -n 1 "$work/ptime.txt"; }
# Both tools trust the lab CA: mailtrust through --ca-file, checkdmarc (Python's ssl module)
# through SSL_CERT_FILE.
read -r cs ckb < <(peer "env SSL_CERT_FILE='$ca' '$venv/bin/checkdmarc' '$work/domains.txt' --check-mx-tls -n 127.0.0.1 -o '$work/peer/checkdmarc.json'")
cd_dps=$(python3 -c "print(round($n / $cs, 1))")
echo "checkdmarc --check-mx-tls: $n domains in ${cs}s = $cd_dps domains/s, peak RSS $((ckb / 1024)) MiB"
python3 - "$work/peer/checkdmarc.json" <<'PY'
import json, sys, collections
def walk(o, c):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("starttls", "tls") and isinstance(v, bool):
                c[f"{k}={v}"] += 1
            else:
                walk(v, c)
    elif isinstance(o, list):
        for v in o:
            walk(v, c)
c = collections.Counter()
try:
    walk(json.load(open(sys.argv[1])), c)
except Exception as e:
    print(f"sanity: checkdmarc output unreadable: {e}")
else:
    print(f"sanity: checkdmarc MX host verdicts over all domains: {dict(c)}")
    doc = json.load(open(sys.argv[1]))
    first = doc[0] if isinstance(doc, list) else doc
    print("sanity: checkdmarc's MX warnings for the first domain:", json.dumps(first.get("mx", {}).get("warnings", []))[:300])
PY
echo "mailtrust / checkdmarc: $(python3 -c "print(round($mt_dps / $cd_dps, 1))")x"
