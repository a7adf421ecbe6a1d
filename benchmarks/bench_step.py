"""Medians over repeated ``nwb-biornn bench`` runs, each in a fresh process (the numbers of docs/performance.md).

Run: ``python benchmarks/bench_step.py [--repeats 3] [--threads 1] -- [bench options]``, e.g.
``python benchmarks/bench_step.py --repeats 3 -- --neurons 500 --time-steps 200 --batch 400 --steps 3``.
``--threads 1`` sets ``OMP_NUM_THREADS=1`` (steadier on a machine that others are using).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

KEYS = ("seconds_per_step", "gflops", "gemm_gflops", "floor_seconds", "peak_memory_mb")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the runs (default: torch's choice)")
    parser.add_argument("bench_options", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    options = [option for option in args.bench_options if option != "--"]
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}))
    reports = []
    for _ in range(args.repeats):
        done = subprocess.run([sys.executable, "-m", "nwb_biornn", "bench", *options, "--json"], env=env,
                              capture_output=True, text=True, check=True)
        reports.append(json.loads(done.stdout))
    first = reports[0]
    print(f"{first['neurons']} neurons x {first['time_steps']} steps x {first['batch']} trials, dt {first['dt']:g} s, "
          f"{first['delay_blocks']} delay block(s), {first['threads']} thread(s), median of {args.repeats} runs:")
    for key in KEYS:
        values = [report[key] for report in reports]
        print(f"  {key:<17} {statistics.median(values):10.3f}   (runs: {', '.join(f'{v:.3f}' for v in values)})")
    ratio = [report["gflops"] / report["gemm_gflops"] for report in reports]
    print(f"  {'of gemm rate':<17} {statistics.median(ratio):10.0%}")


if __name__ == "__main__":
    main()
