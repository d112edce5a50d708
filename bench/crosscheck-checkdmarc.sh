#!/usr/bin/env bash
# Cross-check with a peer: run checkdmarc (installed from PyPI into a private virtualenv; never a
# runtime dependency) and `mailtrust audit` on the lab's scenario domains through the same lab
# resolver, and compare what both report: SPF DNS lookup counts, the DMARC policy as parsed, and
# the MX hosts. Prints one line per disagreement; docs/crosscheck-checkdmarc.md explains each
# with the RFC section that decides it. Needs root and the lab's packages; not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --ignore-rust-version --quiet --bin mailtrust
mt="${CARGO_TARGET_DIR:-$PWD/target}/debug/mailtrust"
venv=${MAILTRUST_BENCH_VENV:-/opt/mailtrust-bench-venv}
if [ ! -x "$venv/bin/checkdmarc" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet checkdmarc
fi
. bench/lib.sh
bench_workdir crosscheck
"$mt" lab up --state "$state" --json > "$work/lab.json"
python3 -c "
import json; z = json.load(open('$work/lab.json'))['zones']
print('\n'.join(x['name'].rstrip('.') for x in z if x['name'] not in ('.', 'test.') and x['dnssec'] != 'lame'))" > "$work/domains.txt"
echo "nameserver 127.0.0.1" > "$work/resolv.conf"
"$mt" lab exec --state "$state" -- "$mt" audit --json --only mx,spf,dmarc --resolver 127.0.0.1 \
    --trust-anchor "$state/trust-anchor.key" --timeout 2 --deadline 6 --input "$work/domains.txt" > "$work/mailtrust.json" || true
"$mt" lab exec --state "$state" -- unshare -m sh -c "mount --bind '$work/resolv.conf' /etc/resolv.conf && \
    '$venv/bin/checkdmarc' '$work/domains.txt' -n 127.0.0.1 -t 3 -o '$work/checkdmarc.json'" > /dev/null 2>&1 || true
python3 - "$work/mailtrust.json" "$work/checkdmarc.json" <<'PY'
import json, re, sys
mt = {d["domain"]: d for d in json.load(open(sys.argv[1]))["domains"]}
cd = json.load(open(sys.argv[2]))
cd = {d["domain"]: d for d in (cd if isinstance(cd, list) else [cd])}

def finding(d, fid):
    return next((f for f in d["findings"] if f["id"] == fid), None)

def mt_lookups(d):
    f = finding(d, "spf.lookups")
    if not f or f["status"] in ("not-applicable", "inconclusive"):
        return None
    if any(finding(d, i) and finding(d, i)["status"] == "fail" for i in ("spf.syntax", "spf.single")):
        return "invalid"
    if finding(d, "spf.void-lookups") and finding(d, "spf.void-lookups")["status"] == "fail":
        return "void>2"
    m = re.match(r"(\d+) of 10", f["summary"])
    return int(m.group(1)) if m else ">10"

def mt_policy(d):
    f = finding(d, "dmarc.policy")
    if not f or f["status"] in ("not-applicable", "inconclusive"):
        return None
    m = re.search(r"effective policy: (\w+)", f["summary"])
    return m.group(1) if m else "invalid"

def mt_mx(d):
    f = finding(d, "mx.present")
    if not f or f["status"] != "pass" or "MX host" not in f["summary"]:
        return []
    return sorted(h.strip() for h in f["summary"].split(":", 1)[1].split(","))

rows, agree = [], 0
for dom in sorted(set(mt) & set(cd)):
    m, c = mt[dom], cd[dom]
    spf = c.get("spf", {})
    err = str(spf.get("error", "")).lower()
    c_lookups = (spf.get("dns_lookups") if spf.get("valid") else
                 "void>2" if "void" in err else ">10" if "lookup" in err else "invalid" if spf.get("record") or "multiple" in err else None)
    dm = c.get("dmarc", {})
    c_policy = dm.get("tags", {}).get("p", {}).get("value") if dm.get("valid") else None
    c_mx = sorted(h["hostname"].rstrip(".") for h in c.get("mx", {}).get("hosts", []))
    for what, a, b in (("SPF lookups", mt_lookups(m), c_lookups), ("DMARC p", mt_policy(m), c_policy), ("MX hosts", mt_mx(m), c_mx)):
        if a == b:
            agree += 1
        else:
            rows.append(f"{dom:22} {what:12} mailtrust={a!s:24} checkdmarc={b!s}")
print(f"{len(set(mt) & set(cd))} domains compared, {agree} values agree, {len(rows)} differ:")
print("\n".join(rows))
PY
