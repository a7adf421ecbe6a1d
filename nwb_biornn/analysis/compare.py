"""Compare model files across presets and seeds: which model should I trust?

Each model file carries the evaluation made when it was fitted (in its training summary), so comparing many
fits reads only their summaries: no network is rebuilt and nothing is re-simulated.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from nwb_biornn.analysis import metrics
from nwb_biornn.core.errors import UserError

SCORES = (("unperturbed", "trial_matching_loss"), ("unperturbed", "psth_error"),
          ("perturbed", "trial_matching_loss"), ("perturbed", "delta_behaviour_abs_error"))


def score_rows(descriptions: list) -> list:
    """One row per model file (:func:`nwb_biornn.nwbio.describe_model_file`): preset, seed, session and the
    held-out scores of its stored evaluation."""
    rows = []
    for description in descriptions:
        evaluation = description["scores"].get("evaluation")
        if evaluation is None:
            raise UserError(f"{description['path']} has no stored evaluation; refit it with this version of nwb-biornn")
        row = {"path": str(description["path"]), "preset": description["preset"], "seed": description["seed"],
               "session": description["session_id"]}
        for block, name in SCORES:
            row[f"{block}.{name}"] = evaluation[block][name]
        if "reference" in evaluation:
            for block, name in SCORES:
                row[f"reference.{block}.{name}"] = evaluation["reference"][block][name]
        rows.append(row)
    return rows


def summarize_by_preset(rows: list) -> dict:
    """Mean, spread (std over seeds and sessions) and count of every score, per preset."""
    groups = defaultdict(list)
    for row in rows:
        groups[row["preset"]].append(row)
    keys = [f"{block}.{name}" for block, name in SCORES]
    return {preset: {key: metrics.spread([r[key] for r in members]) for key in keys}
            for preset, members in groups.items()}


def format_table(summary: dict, reference: dict | None = None) -> str:
    """A text table of :func:`summarize_by_preset` (mean ± std, n)."""
    keys = [f"{block}.{name}" for block, name in SCORES]
    short = ["TM light-off", "PSTH light-off", "TM light-on", "|Δ behaviour|"]
    lines = [f"{'preset':<22}" + "".join(f"{name:>20}" for name in short)]

    def cell(stat):
        if not np.isfinite(stat["mean"]):
            return f"{'n/a':>20}"
        spread = f" ± {stat['std']:.3f}" if np.isfinite(stat["std"]) else ""
        return f"{stat['mean']:.3f}{spread} ({stat['n']})".rjust(20)

    for preset, stats in sorted(summary.items(), key=lambda kv: kv[1][keys[2]]["mean"]):
        lines.append(f"{preset:<22}" + "".join(cell(stats[key]) for key in keys))
    if reference:
        lines.append(f"{'reference circuit':<22}" + "".join(cell(reference[key]) for key in keys))
    return "\n".join(lines)


def reference_summary(rows: list) -> dict | None:
    """Spread of the reference circuit's scores (the noise floor), when the sessions are synthetic."""
    keys = [f"{block}.{name}" for block, name in SCORES]
    with_reference = [r for r in rows if f"reference.{keys[0]}" in r]
    if not with_reference:
        return None
    return {key: metrics.spread([r[f"reference.{key}"] for r in with_reference]) for key in keys}


def plot_comparison(summary: dict, path) -> None:
    """Bar chart of light-off and light-on trial-matching loss per preset, with the spread as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = sorted(summary)
    x = np.arange(len(presets))
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.4 * len(presets)), 3.2))
    for ax, (block, name), title in zip(axes, (SCORES[0], SCORES[2]), ("held-out light-off", "held-out light-on")):
        stats = [summary[p][f"{block}.{name}"] for p in presets]
        ax.bar(x, [s["mean"] for s in stats], yerr=[0 if not np.isfinite(s["std"]) else s["std"] for s in stats],
               color="tab:gray", capsize=3)
        ax.set_xticks(x, presets, rotation=30, ha="right", fontsize=8)
        ax.set(title=title, ylabel="trial-matching loss")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
