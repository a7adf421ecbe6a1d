"""The paper's synthetic table at CPU size: every preset fitted to the demo of each reference circuit.

One ``nwb-biornn sweep`` per circuit (local executor) fits each (preset, seed) with the default settings of
``nwb-biornn fit demo`` (one model neuron per recorded unit) into ``OUT/<circuit>/``; the table is read from the evaluation each
model file stores. It prints a markdown table of mean ± std over seeds next to the ground-truth circuit (the noise
floor); "inactivation" and "activation" are the mean light-on TM of the 8 and 6 conditions; "cosine" and "right
sign" compare the recorded and predicted changes in behaviour over the conditions (method.md §4.2). The sweep
skips finished fits and resumes unfinished ones, so an interrupted run continues where it stopped.

    python benchmarks/presets_table.py --out bench-presets --seeds 0 1 --workers 2
    python benchmarks/presets_table.py --out bench-paper --circuits paper-refcirc1 paper-refcirc2 --steps 300

The second is the paper's Table 1 at the paper's size (500 neurons, every one recorded, 1 ms steps, 2000 trials).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from nwb_biornn.core.config import PRESETS
from nwb_biornn.nwbio import describe_model_file
from nwb_biornn.sweep import ExecutorOptions, run_sweep


def _score(block, key):
    return lambda document: document[block][key]


def _condition_mean(field, value):
    """Mean trial-matching loss of the model's conditions whose ``field`` is ``value`` (cell type I: inactivation)."""
    return lambda document: float(np.mean([c["trial_matching_loss"] for c in document["conditions"]
                                           if c[field] == value]))


SCORES = (("TM light-off", _score("unperturbed", "trial_matching_loss")),
          ("PSTH light-off", _score("unperturbed", "psth_error")),
          ("TM light-on", _score("perturbed", "trial_matching_loss")),
          ("inactivation", _condition_mean("cell_type", "I")), ("activation", _condition_mean("cell_type", "E")),
          ("\\|Δ behaviour\\| error", _score("perturbed", "delta_behaviour_abs_error")),
          ("cosine", _score("perturbed", "delta_behaviour_cosine")),
          ("right sign", _score("perturbed", "delta_behaviour_sign_agreement")))
REFERENCE_SCORES = SCORES[:3] + SCORES[5:]
AREA_SCORES = (("light on A", _condition_mean("area", "A")), ("light on B", _condition_mean("area", "B")))
"""Light-on TM split by the lit area (``--by-area``): the paper's Table 1 scores the trials with light on B."""


def sweep_circuit(circuit: str, presets: list, seeds: list, root: Path, executor: ExecutorOptions,
                  steps: int | None) -> list:
    """Fit every (preset, seed) of a circuit's demo with one sweep (``steps``: the presets' when None); one entry
    per model file."""
    document = run_sweep(f"demo:{circuit}", root / circuit, models=presets, seeds=seeds, device="cpu", steps=steps,
                         executor=executor)
    entries = []
    for job in document["jobs"]:
        if job["status"] == "failed":
            raise SystemExit(f"{circuit} {job['preset']} seed {job['seed']} failed: {job['error']}")
        evaluation = describe_model_file(job["model_files"][0])["scores"]["evaluation"]
        entries.append({"circuit": circuit, "preset": job["preset"], "seed": job["seed"],
                        "seconds": job["seconds"] if job["status"] == "done" else float("nan"),
                        "evaluation": evaluation})
    return entries


def finished_fits(circuit: str, root: Path) -> list:
    """The entries of the model files already in ``root/<circuit>`` (no fit run; fit times unknown)."""
    entries = []
    for path in sorted((root / circuit).glob("sub-*/sub-*_desc-*.nwb")):
        described = describe_model_file(path)
        entries.append({"circuit": circuit, "preset": described["preset"], "seed": described["seed"],
                        "seconds": float("nan"), "evaluation": described["scores"]["evaluation"]})
    return entries


def table(entries: list, circuit: str, scores=SCORES) -> str:
    """The markdown table of a circuit's fits: mean ± std over seeds (a preset with fewer seeds than the others
    says how many it has)."""
    rows = [e for e in entries if e["circuit"] == circuit]
    header = "| model | " + " | ".join(label for label, _ in scores) + " | fit time (s) |"
    lines = [f"**{circuit}**", "", header, "|" + "---|" * (len(scores) + 2)]
    most_seeds = max((sum(e["preset"] == preset for e in rows) for preset in PRESETS), default=0)

    def cell(values):
        values = np.asarray(values, float)
        return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 else f"{values.mean():.3f}"

    for preset in PRESETS:
        members = [e for e in rows if e["preset"] == preset]
        if members:
            cells = [cell([score(m["evaluation"]) for m in members]) for _, score in scores]
            seconds = np.mean([m["seconds"] for m in members])
            label = preset if len(members) == most_seeds else f"{preset} ({len(members)} seed{'s' * (len(members) > 1)})"
            lines.append(f"| {label} | " + " | ".join(cells) + (" | – |" if np.isnan(seconds) else f" | {seconds:.0f} |"))
    if rows:
        reference = {label: cell([score(e["evaluation"]["reference"]) for e in rows])
                     for label, score in REFERENCE_SCORES}
        lines.append("| ground-truth circuit | " + " | ".join(reference.get(label, "") for label, _ in scores) + " | |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-presets"))
    parser.add_argument("--circuits", nargs="+", default=["refcirc1", "refcirc2"])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads of each fit (default: cores / workers)")
    parser.add_argument("--steps", type=int, help="training steps of every fit (default: each preset's)")
    parser.add_argument("--table-only", action="store_true", help="print the table of the fits already in --out")
    parser.add_argument("--by-area", action="store_true", help="add the light-on TM of the conditions on A and on B")
    args = parser.parse_args()
    start = time.monotonic()
    executor = ExecutorOptions("local", workers=args.workers, cpus_per_job=args.threads)
    if args.table_only:
        entries = [entry for circuit in args.circuits for entry in finished_fits(circuit, args.out)]
    else:
        entries = [entry for circuit in args.circuits
                   for entry in sweep_circuit(circuit, args.presets, args.seeds, args.out, executor, args.steps)]
    scores = SCORES + AREA_SCORES if args.by_area else SCORES
    print("\n\n".join(table(entries, circuit, scores) for circuit in args.circuits))
    print(f"\n({time.monotonic() - start:.0f} s wall, {args.workers} workers)")


if __name__ == "__main__":
    main()
