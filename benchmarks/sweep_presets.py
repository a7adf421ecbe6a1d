"""Wall time of the presets x seeds of ``demo``: one ``nwb-biornn sweep`` on a local pool against the same fits run
one after another with ``nwb-biornn fit``.

Both run the same jobs (the 7 presets x 2 seeds, the preset's steps unless ``--steps``) through the command line,
into fresh folders under ``--out`` (removed first), so neither reuses the other's fits. The sweep's workers share the
machine's cores (torch threads per worker = cores / workers); the sequential fits each use every core.

    python benchmarks/sweep_presets.py --out bench-sweep --workers 2            # long: 14 full fits, twice
    python benchmarks/sweep_presets.py --out bench-sweep --steps 20 --seeds 0 1  # a quick look
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nwb_biornn.core.config import PRESETS


def command(*args) -> list[str]:
    return [sys.executable, "-m", "nwb_biornn", *map(str, args)]


def timed(args: list[str]) -> float:
    """Seconds that the command ``args`` took (its output is dropped; a failure shows its stderr and stops)."""
    start = time.perf_counter()
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-sweep"))
    parser.add_argument("--source", default="demo")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, help="Training steps (default: each preset's).")
    args = parser.parse_args()
    steps = ["--steps", args.steps] if args.steps else []
    shutil.rmtree(args.out, ignore_errors=True)
    timed(command("fit", args.source, "--steps", 1, "--out", args.out / "warm-up"))   # generates the demo once

    sweep = timed(command("sweep", args.source, "--models", ",".join(args.presets),
                          "--seeds", ",".join(map(str, args.seeds)), "--executor", "local", "--workers", args.workers,
                          "--device", "cpu", "--out", args.out / "sweep", *steps))
    print(f"sweep, local executor, {args.workers} workers: {sweep:.0f} s", flush=True)

    sequential = 0.0
    for preset in args.presets:
        for seed in args.seeds:
            seconds = timed(command("fit", args.source, "--model", preset, "--seed", seed, "--device", "cpu",
                                    "--out", args.out / "one-by-one" / f"{preset}-seed{seed}", *steps))
            sequential += seconds
            print(f"  fit {preset} seed {seed}: {seconds:.0f} s", flush=True)
    print(f"one after another ({len(args.presets) * len(args.seeds)} fits): {sequential:.0f} s; "
          f"the sweep took {sweep / sequential:.0%} of that")


if __name__ == "__main__":
    main()
