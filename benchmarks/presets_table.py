"""The paper's synthetic table at CPU size: every preset fitted to the demo of each reference circuit.

Fits each (circuit, preset, seed) with the default settings of ``nwb-biornn fit demo`` (the circuit's size),
scores it on the held-out trials, and prints a markdown table of mean ± std over seeds next to the ground-truth
circuit (the noise floor); "inactivation" and "activation" are the mean light-on TM of the 8 and 6 conditions.
Finished fits are reused, so an interrupted run continues where it stopped.

    python benchmarks/presets_table.py --out bench-presets --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nwb_biornn import api
from nwb_biornn.core.config import PRESETS


def _score(block, key):
    return lambda document: document[block][key]


def _condition_mean(cell_type):
    """Mean trial-matching loss of the model's conditions that light ``cell_type`` (I: inactivation)."""
    return lambda document: float(np.mean([c["trial_matching_loss"] for c in document["conditions"]
                                           if c["cell_type"] == cell_type]))


SCORES = (("TM light-off", _score("unperturbed", "trial_matching_loss")),
          ("PSTH light-off", _score("unperturbed", "psth_error")),
          ("TM light-on", _score("perturbed", "trial_matching_loss")),
          ("inactivation", _condition_mean("I")), ("activation", _condition_mean("E")),
          ("|Δ behaviour| error", _score("perturbed", "delta_behaviour_abs_error")))
REFERENCE_SCORES = SCORES[:3] + SCORES[5:]


def run_one(sessions, circuit: str, preset: str, seed: int, root: Path) -> dict:
    out = root / circuit / preset / f"seed{seed}"
    record = out / "evaluation.json"
    if record.exists():
        return json.loads(record.read_text())
    start = time.perf_counter()
    model_config, fit_config = api.configure(preset, seed=seed, source=f"demo:{circuit}")
    result = api.fit(sessions, model_config, fit_config, out=out, resume=(out / "checkpoints" / "last.pt").exists(),
                     device="cpu")
    predicted = api.predict(result, sessions)
    api.save(result, sessions, predicted, out)
    documents = [found.evaluation for found in predicted]
    entry = {"circuit": circuit, "preset": preset, "seed": seed, "seconds": time.perf_counter() - start,
             "evaluation": documents[0]}
    record.write_text(json.dumps(entry, indent=1))
    return entry


def table(entries: list, circuit: str) -> str:
    rows = [e for e in entries if e["circuit"] == circuit]
    header = "| model | " + " | ".join(label for label, _ in SCORES) + " | fit time (s) |"
    lines = [f"**{circuit}**", "", header, "|" + "---|" * (len(SCORES) + 2)]

    def cell(values):
        values = np.asarray(values, float)
        return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 else f"{values.mean():.3f}"

    for preset in PRESETS:
        members = [e for e in rows if e["preset"] == preset]
        if members:
            scores = [cell([score(m["evaluation"]) for m in members]) for _, score in SCORES]
            lines.append(f"| {preset} | " + " | ".join(scores) + f" | {np.mean([m['seconds'] for m in members]):.0f} |")
    if rows:
        reference = {label: cell([score(e["evaluation"]["reference"]) for e in rows])
                     for label, score in REFERENCE_SCORES}
        lines.append("| ground-truth circuit | " + " | ".join(reference.get(label, "") for label, _ in SCORES) + " | |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-presets"))
    parser.add_argument("--circuits", nargs="+", default=["refcirc1", "refcirc2"])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    entries = []
    for circuit in args.circuits:
        sessions = api.load_sessions(f"demo:{circuit}")
        for preset in args.presets:
            for seed in args.seeds:
                entries.append(run_one(sessions, circuit, preset, seed, args.out))
                print(f"{circuit} {preset} seed {seed}: {entries[-1]['seconds']:.0f} s", flush=True)
    print("\n\n".join(table(entries, circuit) for circuit in args.circuits))


if __name__ == "__main__":
    main()
