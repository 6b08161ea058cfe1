#!/usr/bin/env bash
# Peak memory of every workload x crate: runs the `peak` binary (benches/src/bin/peak.rs)
# once per run in a fresh process, which reads its own VmHWM (peak resident set size,
# the figure GNU `time -f %M` reports) at the end; the cell is the median over RUNS
# runs, in MiB, of the whole process. The binary first makes every page of itself and
# its libraries resident, so that every run starts at the same resident set (~3.1 MiB)
# and the cells differ by what the workloads hold (see peak.rs).
#
#   benches/peak.sh            # print the tables (RUNS=3 runs per cell)
#   benches/peak.sh --readme   # also write them into benches/README.md (between the
#                              # peak-memory markers)
#   RUNS=1 ONLY='W4|W9' benches/peak.sh   # one run, some workloads (regex on the name)
#
# Stacks as in the benchmark: W2 on 2 MiB (a crate that overflows reads "stack
# overflow"); W4 and W7 on 8 MiB, and a crate that overflows there is rerun on a 1 GiB
# stack (marked ‡; the touched part of that stack counts in its RSS); the rest on 8 MiB.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
ONLY=${ONLY:-.}
README=benches/README.md
write_readme=0
[[ ${1:-} == --readme ]] && write_readme=1

exe=$(cargo build --profile bench -p benches --bin peak --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\/peak\)".*/\1/p' | tail -1)
[[ -x $exe ]] || { echo "could not build the peak binary" >&2; exit 1; }

workloads=(W1_acyclic_churn W2_chain_drop W3_small_cycles W4_big_ring W5_live_scan
    W6_binary_trees W7_random_graph W8_young_in_old W8_young_no_old)
crates=(gc-core Rc gcmodule dumpster rust-cc bacon_rajan_cc rust-gc)
mt_crates=(gc-core Arc dumpster-sync gcmodule-threaded gc-core-bin-held)
MIB2=$((2 << 20))
MIB8=$((8 << 20))
GIB1=$((1 << 30))

results=$(mktemp)
trap 'rm -f "$results" "$results.err"' EXIT

# One run: prints the peak in KiB, or "overflow", or "fail".
one() {
    local out
    if out=$("$exe" "$@" 2>"$results.err"); then
        sed -n 's/.*peak_kib=\([0-9]*\).*/\1/p' <<<"$out"
    elif grep -q "has overflowed its stack" "$results.err"; then
        echo overflow
    else
        echo "peak $*: failed: $(tail -3 "$results.err")" >&2
        echo fail
    fi
}

# A cell: RUNS runs; appends "<row>\t<crate>\t<mark>\t<kib> <kib> ..." to $results.
cell() {
    local row=$1 crate=$2 mark=$3
    shift 3
    local kibs=() r
    for ((i = 0; i < RUNS; i++)); do
        r=$(one "$@")
        [[ $r =~ ^[0-9]+$ ]] || { kibs=("$r"); break; }
        kibs+=("$r")
    done
    printf '%s\t%s\t%s\t%s\n' "$row" "$crate" "$mark" "${kibs[*]}" >>"$results"
    echo "$row / $crate: ${kibs[*]}${mark:+ ($mark)}" >&2
}

for w in "${workloads[@]}"; do
    [[ $w =~ $ONLY ]] || continue
    for c in "${crates[@]}"; do
        case $w in
        W2_chain_drop) stack=$MIB2 ;;
        *) stack=$MIB8 ;;
        esac
        mark=""
        if [[ $w == W2_chain_drop || $w == W4_big_ring || $w == W7_random_graph ]]; then
            first=$(one "$c" "$w" --stack "$stack")
            if [[ $first == overflow && $w != W2_chain_drop ]]; then
                stack=$GIB1
                mark="1GiB stack"
            elif [[ $first == overflow ]]; then
                printf '%s\t%s\t\t%s\n' "$w" "$c" overflow >>"$results"
                echo "$w / $c: stack overflow (2 MiB)" >&2
                continue
            fi
        fi
        cell "$w" "$c" "$mark" "$c" "$w" --stack "$stack"
    done
done

if [[ W9_mt_churn =~ $ONLY ]]; then
    for c in "${mt_crates[@]}"; do
        for t in 1 2; do
            cell "W9_mt_churn_$t" "$c" "" "$c" W9_mt_churn --threads "$t"
        done
    done
fi

tables=$(python3 - "$results" "$RUNS" <<'EOF'
import statistics, sys

rows = {}
for line in open(sys.argv[1]):
    row, crate, mark, values = line.rstrip("\n").split("\t")
    rows.setdefault(row, {})[crate] = (mark, values.split())
runs = sys.argv[2]

def fmt(mib):
    return f"{mib:.2f}" if mib < 10 else f"{mib:.1f}" if mib < 100 else f"{mib:.0f}"

def cell(entry):
    if entry is None:
        return "—", None
    mark, values = entry
    if values == ["overflow"]:
        return "stack overflow", None
    if values == ["fail"]:
        return "FAIL", None
    mib = statistics.median(int(v) for v in values) / 1024
    return f"{fmt(mib)}{' ‡' if mark else ''}", mib

def table(title_rows, crates, names, baseline):
    out = ["| workload | " + " | ".join(names) + " | gc-core ÷ best peer |",
           "|---|" + "---|" * (len(crates) + 1)]
    for row, label in title_rows:
        if row not in rows:
            continue
        texts, mibs = zip(*(cell(rows[row].get(c)) for c in crates))
        ours = mibs[0]
        peers = [m for c, m in zip(crates, mibs)
                 if m is not None and c not in ("gc-core", baseline, "gc-core-bin-held")]
        ratio = f"{ours / min(peers):.2f}×" if ours and peers else "—"
        out.append(f"| {label} | " + " | ".join(texts) + f" | {ratio} |")
    return "\n".join(out)

main = table(
    [("W1_acyclic_churn", "W1 acyclic_churn (n = 1,000,000)"),
     ("W2_chain_drop", "W2 chain_drop (2 MiB stack, n = 1,000,000)"),
     ("W3_small_cycles", "W3 small_cycles (n = 200,000)"),
     ("W4_big_ring", "W4 big_ring (n = 1,000,000)"),
     ("W5_live_scan", "W5 live_scan (n = 1,000,000)"),
     ("W6_binary_trees", "W6 binary_trees (depth 14)"),
     ("W7_random_graph", "W7 random_graph (n = 200,000)"),
     ("W8_young_in_old", "W8 young_in_old (old = 1,000,000)"),
     ("W8_young_no_old", "W8 young_in_old (old = 0)")],
    ["gc-core", "Rc", "gcmodule", "dumpster", "rust-cc", "bacon_rajan_cc", "rust-gc"],
    ["gc-core (ours)", "Rc", "gcmodule 0.3.3", "dumpster::unsync 2.1.0", "rust-cc 0.6.2",
     "bacon_rajan_cc 0.4.0", "rust-gc (gc) 0.5.1"],
    "Rc")
w9 = table(
    [("W9_mt_churn_1", "W9 mt_churn, 1 thread"), ("W9_mt_churn_2", "W9 mt_churn, 2 threads")],
    ["gc-core", "Arc", "dumpster-sync", "gcmodule-threaded", "gc-core-bin-held"],
    ["gc-core::sync (ours)", "Arc (leaks cycles)", "dumpster::sync 2.1.0",
     "gcmodule 0.3.3 ThreadedCc", "gc-core::sync, bin held across read()"],
    "Arc")
print(f"Peak RSS of the whole process (VmHWM), MiB, median of {runs} runs, the "
      "binary's and its libraries' pages all resident from the start; "
      "‡ = rerun on a 1 GiB stack after overflowing 8 MiB. "
      "Last column: gc-core ÷ the smallest peer figure (Rc, Arc and the bin-held "
      "variant excluded).\n")
print(main)
if "W9_mt_churn_1" in rows or "W9_mt_churn_2" in rows:
    print()
    print(w9)
EOF
)

echo "$tables"
if ((write_readme)); then
    TABLES=$tables python3 - "$README" <<'EOF'
import datetime, os, re, subprocess, sys
path = sys.argv[1]
text = open(path).read()
start, end = "<!-- peak-memory:start -->", "<!-- peak-memory:end -->"
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                        text=True).stdout.strip()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
block = (f"{start}\n- Measured {now}, commit {commit} (plus uncommitted changes, if any), "
         f"by `benches/peak.sh`.\n\n{os.environ['TABLES']}\n{end}")
if start in text and end in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text,
                  count=1, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n## Peak memory\n\n" + block + "\n"
open(path, "w").write(text)
print(f"wrote the peak-memory tables to {path}", file=sys.stderr)
EOF
fi
