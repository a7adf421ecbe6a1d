"""Compare model files across presets and seeds: which model should I trust?

Each model file carries the evaluation made when it was fitted (in its training summary), so comparing many
fits reads only their summaries: no network is rebuilt and nothing is re-simulated.
"""
from __future__ import annotations

import json
from collections import defaultdict

from nwb_biornn.analysis import metrics
from nwb_biornn.core.errors import UserError

SCORES = (("unperturbed", "trial_matching_loss"), ("unperturbed", "psth_error"),
          ("perturbed", "trial_matching_loss"), ("perturbed", "delta_behaviour_abs_error"),
          ("perturbed", "delta_behaviour_cosine"), ("perturbed", "delta_behaviour_sign_agreement"))
"""The held-out scores compared; a file written before a score existed counts as missing (NaN) for it."""
NOT_GRID = ("fit.seed",)
"""Configuration fields that never make a grid point (the seeds of one grid point are summarized together)."""


def score_rows(descriptions: list) -> list:
    """One row per model file (:func:`nwb_biornn.nwbio.describe_model_file`): preset, seed, session, kind of
    behaviour (``"lick"`` or ``"choice"``), grid point and the held-out scores of its stored evaluation.

    The grid point (``row["grid"]``, ``{"fit.lr": 0.001}``) holds the configuration fields whose values differ
    between the files of the same preset, the seed aside: a sweep's ``--set`` values, or whatever else two
    fits of one preset were configured with differently.
    """
    rows, configs = [], []
    for description in descriptions:
        evaluation = description["scores"].get("evaluation")
        if evaluation is None:
            raise UserError(f"{description['path']} has no stored evaluation; refit it with this version of nwb-biornn")
        row = {"path": str(description["path"]), "preset": description["preset"], "seed": description["seed"],
               "session": description["session_id"], "behaviour": evaluation.get("behaviour") or "lick", "grid": {}}
        for block, name in SCORES:
            row[f"{block}.{name}"] = evaluation[block].get(name, float("nan"))
        if "reference" in evaluation:
            for block, name in SCORES:
                row[f"reference.{block}.{name}"] = evaluation["reference"][block].get(name, float("nan"))
        rows.append(row)
        configs.append({f"{table}.{key}": value for table, values in description.get("config", {}).items()
                        for key, value in values.items()})
    by_preset = defaultdict(list)
    for row, config in zip(rows, configs):
        by_preset[row["preset"]].append((row, config))
    for members in by_preset.values():
        keys = dict.fromkeys(key for _, config in members for key in config if key not in NOT_GRID)
        varying = [key for key in keys if len({_canonical(config.get(key)) for _, config in members}) > 1]
        for row, config in members:
            row["grid"] = {key: config.get(key) for key in varying}
    return rows


def summarize(rows: list) -> list:
    """Mean, spread (std over seeds and sessions) and count of every score, per preset and grid point.

    One entry per (preset, grid point, kind of behaviour), sorted by preset then grid values: ``{"preset",
    "grid", "behaviour", "label", "n_models", "<block>.<score>": {"mean", "std", "n"}, ...}``; ``label`` is the
    preset followed by the grid's ``key=value`` pairs (and the kind of behaviour when the rows mix kinds: a
    ΔP(lick) and a ΔP(correct) are not averaged together).
    """
    groups = defaultdict(list)
    for row in rows:
        groups[row["preset"], _canonical(row.get("grid", {})), row.get("behaviour", "lick")].append(row)
    mixed = len({kind for _, _, kind in groups}) > 1
    keys = [f"{block}.{name}" for block, name in SCORES]
    entries = []
    for (preset, _, kind), members in sorted(groups.items()):
        grid = members[0].get("grid", {})
        label = " ".join([preset] + [f"{key}={value if isinstance(value, str) else _canonical(value)}"
                                     for key, value in grid.items()] + ([f"({kind})"] if mixed else []))
        entries.append({"preset": preset, "grid": grid, "behaviour": kind, "label": label, "n_models": len(members),
                        **{key: metrics.spread([r[key] for r in members]) for key in keys}})
    return entries


def _canonical(value) -> str:
    """A value's text (JSON, keys sorted), to compare and print configuration values of any type."""
    return json.dumps(value, sort_keys=True)


def reference_summary(rows: list) -> dict | None:
    """Spread of the reference circuit's scores (the noise floor), when the sessions are synthetic."""
    keys = [f"{block}.{name}" for block, name in SCORES]
    with_reference = [r for r in rows if f"reference.{keys[0]}" in r]
    if not with_reference:
        return None
    return {key: metrics.spread([r[f"reference.{key}"] for r in with_reference]) for key in keys}
