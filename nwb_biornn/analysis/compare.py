"""Compare model files across presets and seeds: which model should I trust?

Each model file carries the evaluation made when it was fitted (in its training summary), so comparing many
fits reads only their summaries: no network is rebuilt and nothing is re-simulated.
"""
from __future__ import annotations

from collections import defaultdict

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





def reference_summary(rows: list) -> dict | None:
    """Spread of the reference circuit's scores (the noise floor), when the sessions are synthetic."""
    keys = [f"{block}.{name}" for block, name in SCORES]
    with_reference = [r for r in rows if f"reference.{keys[0]}" in r]
    if not with_reference:
        return None
    return {key: metrics.spread([r[f"reference.{key}"] for r in with_reference]) for key in keys}
