#!/usr/bin/env python3
"""Turns the outputs of bench/run.sh into the Markdown table of bench/README.md: every figure,
its target and whether it holds. Usage: summarize.py OUT_DIR BUILD_DIR"""
import datetime
import json
import pathlib
import platform
import re
import subprocess
import sys

import h5py


def medians(path):
    """name -> (real_time in seconds, bytes_per_second) of the median aggregates."""
    out = {}
    for b in json.loads(pathlib.Path(path).read_text())["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        name = re.sub(r"/iterations:\d+/repeats:\d+.*", "", b["run_name"])
        out[name] = (b["real_time"] * scale, b.get("bytes_per_second", 0.0))
    return out


def machine(build):
    cpu = "?"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = int(line.split()[1]) / 2**20
    cxx = "?"
    cache = pathlib.Path(build) / "CMakeCache.txt"
    if cache.exists():
        for line in cache.read_text().splitlines():
            if line.startswith("CMAKE_CXX_COMPILER:"):
                cxx = line.split("=", 1)[1]
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
        cxx = version.splitlines()[0]
    except OSError:
        pass
    cores = len([c for c in pathlib.Path("/sys/devices/system/cpu").glob("cpu[0-9]*")])
    return f"{cores} cores ({cpu}), {memory:.0f} GiB RAM, {cxx}, Kokkos Serial, {platform.system()}"


def main(out_dir, build):
    out = pathlib.Path(out_dir)
    one = medians(out / "one_rank.json")
    scaling = {}
    for ranks in (1, 2):
        runs = [medians(out / f"scaling_np{ranks}_{r}.json") for r in ("a", "b")]
        scaling[ranks] = {name: sum(run[name][0] for run in runs) / len(runs) for name in runs[0]}
    mem1 = json.loads((out / "memory_np1.json").read_text())
    mem2 = json.loads((out / "memory_np2.json").read_text())
    def loop_seconds(every):
        times = []
        for r in ("a", "b"):
            with h5py.File(out / f"trace_{every}_{r}.h5", "r") as f:
                times.append(float(f.attrs["train_seconds"]))
                steps, records = int(f.attrs["iterations"]), int(f.attrs["records"])
        return sum(times) / len(times), steps, records
    traced, steps, records = loop_seconds(100)
    bare, _, bare_records = loop_seconds(1000000)

    roofline = one["BM_ReadBandwidth/134217728"][1]
    step = "BM_GrDpoStep/N:4194304/d:32/K:8/weak:0"
    weak = "BM_GrDpoStep/N:4194304/d:32/K:8/weak:1"
    t_step, bw_step = one[step]
    rows = []

    def row(label, figure, target, ok):
        rows.append(f"| {label} | {figure} | {target} | {'yes' if ok else '**no**'} |")

    row("(a) read bandwidth of one core (roofline)", f"{roofline / 1e9:.1f} GB/s", "", True)
    shared = medians(out / "roofline_np2.json")["BM_ReadBandwidth/134217728"][1]
    row("(a') the same per core while both cores stream", f"{shared / 1e9:.1f} GB/s "
        f"({2 * shared / 1e9:.1f} GB/s together)", "", True)
    ratio = bw_step / roofline
    row("(b) GR-DPO full-batch step, N = 2^22, d = 32, K = 8",
        f"{t_step * 1e3:.1f} ms, {bw_step / 1e9:.1f} GB/s = {100 * ratio:.0f} % of (a)",
        ">= 70 % of (a)", ratio >= 0.70)
    cached = one.get("BM_GrDpoStep/N:32768/d:32/K:8/weak:0")
    if cached:
        row("(b') the same step with N = 2^15 (features in cache)",
            f"{cached[0] * 1e6:.0f} us, {cached[1] / 1e9:.1f} GB/s", "(compute bound)", True)
    for closed, label in ((0, "gradient"), (1, "closed form")):
        small = one[f"BM_GrIpoStatisticsStep/N:65536/d:32/closed:{closed}"][0]
        large = one[f"BM_GrIpoStatisticsStep/N:16777216/d:32/closed:{closed}"][0]
        row(f"(c) GR-IPO {label} step from statistics, N = 2^24 vs 2^16",
            f"{large * 1e6:.2f} us vs {small * 1e6:.2f} us = {large / small:.2f}x", "<= 1.2x",
            large / small <= 1.2)
    t1, t2 = scaling[1][step], scaling[2][step]
    strong = t1 / t2
    # Two ranks read N rows through the memory bandwidth both cores share, (a') x 2: against
    # the 1-rank step's bandwidth this bounds the speedup of any step that streams its rows.
    ceiling = 2 * shared / bw_step
    row("(d) strong scaling, 2 ranks vs 1 at N = 2^22 (alternated runs)",
        f"{t2 * 1e3:.1f} ms vs {t1 * 1e3:.1f} ms = {strong:.2f}x faster; the memory bandwidth "
        f"shared when (a') was measured allows 2 x (a') / (b) = {ceiling:.2f}x", ">= 1.8x",
        strong >= 1.8)
    w1, w2 = scaling[1][weak], scaling[2][weak]
    row("(d) weak scaling, 2^22 rows per rank, 2 ranks vs 1",
        f"{w2 * 1e3:.1f} ms vs {w1 * 1e3:.1f} ms = {100 * w1 / w2:.0f} % efficiency", "", True)
    for mem in (mem1, mem2):
        limit = 1.25
        got = mem["max_rss_minus_64MiB_over_share"]
        row(f"(e) peak RSS, {mem['ranks']} rank(s), train split "
            f"{mem['dataset_bytes'] / 2**30:.2f} GiB",
            f"{mem['max_peak_rss_bytes'] / 2**20:.0f} MiB peak per rank; "
            f"(RSS - 64 MiB) / share = {got:.2f}", "<= 1.25 x share + 64 MiB", got <= limit)
    base = one[step][0]
    for k in (2, 64, 4096):
        t = one[f"BM_GrDpoStep/N:4194304/d:32/K:{k}/weak:0"][0]
        row(f"(f) the step with K = {k}", f"{t * 1e3:.1f} ms = {t / base:.2f}x K = 8",
            "<= 1.5x" if k == 4096 else "", t / base <= 1.5)
    overhead = traced / bare
    row(f"tracing: grpo train, {steps} steps, --trace-every 100 ({records} records) vs "
        f"{bare_records} records (alternated runs)",
        f"{traced:.2f} s vs {bare:.2f} s = {overhead:.3f}x; "
        f"{traced / (steps * t_step):.2f}x {steps} x (b)", "<= 1.10x", overhead <= 1.10)
    print("# grpo benchmarks\n")
    print(f"{machine(build)}; {datetime.date.today().isoformat()}; "
          "medians of 7 repetitions after a warm-up step (`bash bench/run.sh`).\n")
    print("| benchmark | measured | target | holds |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "build")
