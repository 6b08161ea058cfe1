#!/usr/bin/env python3
"""Writes the results table of benches/README.md from criterion's output.

Reads target/criterion/<group>/<bench>/new/{estimates,benchmark}.json (and the
notes the bench binary leaves in target/criterion/<group>/notes/<crate>.txt for
cells it skipped, e.g. a stack overflow on W2's 2 MiB stack) and replaces the text
between the two marker comments in benches/README.md with a markdown table:
median ns per object for each workload row and crate, and the ratio to gc-core.

Usage:
    python3 benches/report.py            # update benches/README.md
    python3 benches/report.py --stdout   # print the section instead
    python3 benches/report.py --load-before '0.27 0.81 0.95' --load-after '1.02 0.97 0.90'

W9 (group W9_mt_churn, bench ids <crate>/<threads>) gets its own table, with the
unfreed-node notes the bench leaves in target/criterion/W9_mt_churn/notes/.

Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
WORKSPACE = BENCHES.parent
START = "<!-- bench-results:start -->"
END = "<!-- bench-results:end -->"
BIG_STACK = " (1GiB stack)"

# Column order and headings; the ids are `Collector::ID` in benches/src.
CRATES = [
    ("gc-core", "gc-core (ours)"),
    ("Rc", "Rc (manual cycle break)"),
    ("gcmodule", "gcmodule 0.3.3"),
    ("dumpster", "dumpster::unsync 2.1.0"),
    ("rust-cc", "rust-cc 0.6.2"),
    ("bacon_rajan_cc", "bacon_rajan_cc 0.4.0"),
    ("rust-gc", "rust-gc (gc) 0.5.1"),
]
OURS = "gc-core"

# Row order and what "objects" means (the bench divides nothing: criterion's
# throughput is the object count, and ns per object = median / objects).
ROWS = [
    ("W1_acyclic_churn", "W1 acyclic_churn", "n"),
    ("W2_chain_drop", "W2 chain_drop: drop (2 MiB stack)", "n"),
    ("W3_small_cycles_create", "W3 small_cycles: create", "n"),
    ("W3_small_cycles_drop_collect", "W3 small_cycles: drop + collect", "n"),
    ("W4_big_ring", "W4 big_ring: drop + collect", "n"),
    ("W5_live_scan", "W5 live_scan: 10 collections, all live", "n"),
    ("W6_binary_trees", "W6 binary_trees: whole run", "nodes"),
    ("W7_random_graph_drop_collect_10_roots_live",
     "W7 random_graph: drop + collect, 10 roots live", "n"),
    ("W7_random_graph_drop_roots_collect", "W7 random_graph: drop roots + collect", "n"),
    ("W8_young_in_old", "W8 young_in_old: old = 10 × young", "young cycles"),
    ("W8_young_no_old", "W8 young_in_old: old = 0", "young cycles"),
]
ROW_GROUPS = {group for group, _, _ in ROWS}
FULL_W1 = 1_000_000

# W9 (benches/src/mt.rs): group W9_mt_churn, bench id <crate>/<threads>.
W9_GROUP = "W9_mt_churn"
MT_CRATES = [
    ("gc-core", "gc-core::sync (ours)"),
    ("Arc", "Arc (leaks cycles)"),
    ("dumpster-sync", "dumpster::sync 2.1.0"),
    ("gcmodule-threaded", "gcmodule 0.3.3 ThreadedCc"),
    ("gc-core-bin-held", "gc-core::sync, bin held across `read()`"),
]
W9_THREADS = ["1", "2"]


def criterion_dir(arg):
    if arg:
        return Path(arg)
    if os.environ.get("CRITERION_HOME"):
        return Path(os.environ["CRITERION_HOME"])
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"]) / "criterion"
    return WORKSPACE / "target" / "criterion"


def load_cells(root):
    """{(group, crate id): cell}, the newest result per cell."""
    cells = {}
    for estimates in root.glob("*/*/new/estimates.json"):
        bench_dir = estimates.parent
        try:
            meta = json.loads((bench_dir / "benchmark.json").read_text())
            est = json.loads(estimates.read_text())
        except (OSError, ValueError) as err:
            print(f"skipping {bench_dir}: {err}", file=sys.stderr)
            continue
        function = meta.get("function_id") or ""
        big = function.endswith(BIG_STACK)
        crate = function[: -len(BIG_STACK)] if big else function
        objects = (meta.get("throughput") or {}).get("Elements")
        cell = {
            "median_ns": est["median"]["point_estimate"],
            "objects": objects,
            "big_stack": big,
            "mtime": estimates.stat().st_mtime,
        }
        if meta["group_id"] not in ROW_GROUPS:
            continue  # another bench target's group (sync_lock): not a table row
        key = (meta["group_id"], crate)
        if key not in cells or cells[key]["mtime"] < cell["mtime"]:
            cells[key] = cell
    for note in root.glob("*/notes/*.txt"):
        key = (note.parent.parent.name, note.stem)
        mtime = note.stat().st_mtime
        if key not in cells or cells[key]["mtime"] < mtime:
            cells[key] = {"note": note.read_text().strip(), "mtime": mtime}
    return cells


def load_w9(root):
    """({(crate id, threads): cell}, {(crate id, threads): unfreed note})."""
    cells, notes = {}, {}
    for estimates in (root / W9_GROUP).glob("*/*/new/estimates.json"):
        bench_dir = estimates.parent
        try:
            meta = json.loads((bench_dir / "benchmark.json").read_text())
            est = json.loads(estimates.read_text())
        except (OSError, ValueError) as err:
            print(f"skipping {bench_dir}: {err}", file=sys.stderr)
            continue
        key = (meta.get("function_id"), meta.get("value_str"))
        cell = {
            "median_ns": est["median"]["point_estimate"],
            "objects": (meta.get("throughput") or {}).get("Elements"),
            "mtime": estimates.stat().st_mtime,
        }
        if key not in cells or cells[key]["mtime"] < cell["mtime"]:
            cells[key] = cell
    for note in (root / W9_GROUP / "notes").glob("*.unfreed"):
        crate, _, threads = note.stem.rpartition("_")
        notes[(crate, threads)] = note.read_text().strip()
    return cells, notes


def render_w9(cells, notes):
    if not cells:
        return []
    lines = [
        "",
        "W9 mt_churn (`benches/src/mt.rs`): cell = criterion's median of the timed part "
        "÷ operations = **ns per operation**, then that crate's time ÷ gc-core's "
        "(clone-out column). Every gc-core run is checked to free every node; `Arc` "
        "leaks its cycles (counted, see notes); the peers' counts are recorded, not "
        "checked.",
        "",
        "| threads | " + " | ".join(name for _, name in MT_CRATES) + " |",
        "|---|" + "---|" * len(MT_CRATES),
    ]
    footnotes = []
    for threads in W9_THREADS:
        row = [cells.get((crate, threads)) for crate, _ in MT_CRATES]
        if not any(row):
            continue
        counts = sorted({c["objects"] for c in row if c and c.get("objects")})
        label = f"{threads} thread{'s' if threads != '1' else ''}"
        if len(counts) == 1:
            label += f" (ops = {counts[0]:,})"
        ours = cells.get(("gc-core", threads))
        ours_ns = ours["median_ns"] / ours["objects"] if ours and ours.get("objects") else None
        out = []
        for (crate, _), cell in zip(MT_CRATES, row):
            if cell is None:
                out.append("—")
                continue
            ns = cell["median_ns"] / cell["objects"]
            text = f"{fmt_ns(ns)} ns"
            if crate != "gc-core" and ours_ns:
                text += f" ({ns / ours_ns:.2f}×)"
            note = notes.get((crate, threads))
            if note:
                footnotes.append(f"{len(footnotes) + 1}. {crate}, {label}: {note}.")
                text += f" [{len(footnotes)}]"
            out.append(text)
        lines.append(f"| {label} | " + " | ".join(out) + " |")
    if footnotes:
        lines.append("")
        lines.extend(footnotes)
    return lines


def fmt_ns(ns):
    if ns >= 100:
        return f"{ns:,.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    if ns >= 0.01:
        return f"{ns:.3g}"
    return f"{ns:.2g}"


def git(*args):
    try:
        out = subprocess.run(["git", *args], cwd=WORKSPACE, capture_output=True,
                             text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine():
    model, cpus = "unknown CPU", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                cpus += 1
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                mem = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError):
        pass
    return f"{cpus or os.cpu_count()}-core {platform.machine()} ({model}){mem}, Linux {platform.release()}"


def rustc_version():
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "rustc (unknown version)"


def load_line(before, after):
    if not before and not after:
        return []
    def one_minute(x):
        # Accepts "0.27 0.81 0.95", "0.27, 0.81, 0.95" or uptime's "load average: …".
        m = re.search(r"(\d+(?:\.\d+)?)", x.split("average:")[-1]) if x else None
        return float(m.group(1)) if m else None

    def clean(x):
        return x.split("average:")[-1].strip() if x else "not recorded"

    b, a = one_minute(before), one_minute(after)
    # The run itself keeps one core busy (two during W9), so only a load above 1
    # before it, or above 2 after it, means other processes were competing.
    busy = (b is not None and b > 1) or (a is not None and a > 2)
    line = f"- Load average (1/5/15 min): before {clean(before)}, after {clean(after)}"
    if busy:
        line += (". **Other processes (fuzzing, Miri, builds) were probably running during "
                 "the run on this 2-core machine and may have slowed some cells.**")
    return [line]


def render(cells, w9=({}, {}), load=(None, None)):
    if not cells and not w9[0]:
        return "No results yet: run `cargo bench -p benches`, then `python3 benches/report.py`.\n"
    times = [c["mtime"] for c in cells.values()] + [c["mtime"] for c in w9[0].values()]
    utc = datetime.timezone.utc
    first = datetime.datetime.fromtimestamp(min(times), utc).strftime("%Y-%m-%d %H:%M")
    last = datetime.datetime.fromtimestamp(max(times), utc).strftime("%Y-%m-%d %H:%M")
    commit = git("rev-parse", "--short", "HEAD") or "no commit yet"
    if git("status", "--porcelain", "--", "gc-core", "gc-derive", "benches"):
        commit += " + uncommitted changes in gc-core/gc-derive/benches"
    w1 = cells.get(("W1_acyclic_churn", OURS), {}).get("objects")
    if w1 == FULL_W1:
        sizes = "full sizes (peer-benchmarks.md)"
    elif w1:
        sizes = "**quick sizes (`BENCH_QUICK=1`, about 1/100 of the work): a smoke run, not a measurement**"
    else:
        sizes = "sizes: see the rows"

    lines = [
        f"- Date: {first} – {last} UTC (file times of criterion's estimates)",
        f"- Commit: {commit}",
        f"- Machine: {machine()}",
        f"- Toolchain: {rustc_version()}, `cargo bench` profile (workspace `[profile.bench]`)",
        f"- Sizes: {sizes}",
        *load_line(*load),
        "",
        "Cell = criterion's median of the timed part ÷ objects = **ns per object**, then "
        "(in parentheses) that crate's time ÷ gc-core's: above 1× gc-core is faster. "
        "10 samples per cell; see § Method.",
        "",
        "| workload | " + " | ".join(name for _, name in CRATES) + " |",
        "|---|" + "---|" * len(CRATES),
    ]
    footnotes = []
    for group, label, unit in ROWS:
        row_cells = [cells.get((group, crate)) for crate, _ in CRATES]
        if not any(row_cells):
            continue
        counts = sorted({c["objects"] for c in row_cells if c and c.get("objects")})
        if len(counts) == 1:
            label = f"{label} ({unit} = {counts[0]:,})"
        elif counts:
            label = f"{label} (mixed sizes: {', '.join(f'{n:,}' for n in counts)})"
        ours = cells.get((group, OURS))
        ours_ns = ours["median_ns"] / ours["objects"] if ours and ours.get("objects") else None
        out = []
        for (crate, _), cell in zip(CRATES, row_cells):
            if cell is None:
                out.append("—")
            elif "note" in cell:
                out.append(cell["note"])
            else:
                ns = cell["median_ns"] / cell["objects"]
                text = f"{fmt_ns(ns)} ns"
                if crate != OURS and ours_ns:
                    ratio = ns / ours_ns
                    text += f" ({ratio:.2f}×)" if ratio >= 0.01 else f" ({ratio:.1g}×)"
                if cell["big_stack"]:
                    text += " ‡"
                    footnotes.append(f"{crate} / {group}")
                out.append(text)
        lines.append(f"| {label} | " + " | ".join(out) + " |")
    if footnotes:
        lines.append("")
        lines.append("‡ overflowed the 8 MiB stack in a probe run, measured on a 1 GiB stack "
                     "(bench id `<crate> (1GiB stack)`): " + ", ".join(footnotes) + ".")
    lines.extend(render_w9(*w9))
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion-dir", help="default: target/criterion of the workspace")
    parser.add_argument("--readme", default=str(BENCHES / "README.md"))
    parser.add_argument("--stdout", action="store_true", help="print, do not write")
    parser.add_argument("--load-before", help="`uptime` load averages before the run, "
                        "e.g. '0.27 0.81 0.95'")
    parser.add_argument("--load-after", help="the same after the run")
    args = parser.parse_args()

    root = criterion_dir(args.criterion_dir)
    section = render(load_cells(root), load_w9(root), (args.load_before, args.load_after))
    if args.stdout:
        print(section, end="")
        return
    readme = Path(args.readme)
    text = readme.read_text() if readme.exists() else ""
    block = f"{START}\n{section}{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text,
                      count=1, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Results\n\n" + block + "\n"
    readme.write_text(text)
    print(f"wrote the results table to {readme}")


if __name__ == "__main__":
    main()
