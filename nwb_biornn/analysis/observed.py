"""Score a model against perturbation effects measured elsewhere (e.g. behaviour-only inactivation sessions).

The paper's in-vivo test (method.md §4.2) compares the model's predicted change in response probability with
inactivation effects measured in other mice. ``evaluate --observed TABLE.csv`` does the same for any table::

    area,start,stop,power,delta,n
    ALM,0.0,0.5,5.0,-0.30,9
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nwb_biornn.analysis import metrics
from nwb_biornn.analysis.evaluate import HeldOut, predict_condition
from nwb_biornn.analysis.perturb import DEFAULT_TRIALS
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import Condition

_ALIASES = {"area": ("area",), "start": ("start", "window_start", "onset"), "stop": ("stop", "window_stop", "offset"),
            "power": ("power", "power_mw"), "delta": ("delta", "observed", "observed_delta", "delta_behaviour"),
            "n": ("n", "n_trials", "n_mice"), "cell_type": ("cell_type",)}
REQUIRED = ("area", "start", "stop", "power", "delta")


@dataclass(frozen=True)
class ObservedEffect:
    """One measured condition and its observed change in response probability."""

    condition: Condition
    delta: float
    n: int | None


def read_observed(path) -> list:
    """Read an observed-effects CSV; a missing column or a bad number raises :class:`UserError` naming it."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = {name.strip().lower(): name for name in reader.fieldnames or ()}
            columns = {key: next((header[a] for a in aliases if a in header), None) for key, aliases in _ALIASES.items()}
            missing = [key for key in REQUIRED if columns[key] is None]
            if missing:
                raise UserError(f"{path}: missing column(s) {', '.join(missing)}; expected area,start,stop,power,delta[,n]")
            return [_effect(row, columns, path, line) for line, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise UserError(f"observed-effects table {path} does not exist") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text CSV file") from None


def _effect(row: dict, columns: dict, path: Path, line: int) -> ObservedEffect:
    try:
        cell_type = (row[columns["cell_type"]].strip().upper() if columns["cell_type"] else "") or "I"
        condition = Condition(row[columns["area"]].strip(), cell_type, float(row[columns["start"]]),
                              float(row[columns["stop"]]), float(row[columns["power"]]))
        n = int(row[columns["n"]]) if columns["n"] and row[columns["n"]].strip() else None
        return ObservedEffect(condition, float(row[columns["delta"]]), n)
    except (TypeError, ValueError) as err:
        raise UserError(f"{path} line {line}: {err}") from None


def score_observed(held_out: HeldOut, effects: list, seed: int = 0, n_trials: int = DEFAULT_TRIALS,
                   mw_to_current: float | None = None) -> dict:
    """Predicted vs observed change in response probability: mean |difference|, cosine, per condition.

    ``mw_to_current`` is the light's mW -> current factor (default: the fixed one).
    """
    areas = held_out.network.layout.areas
    unknown = sorted({e.condition.area for e in effects} - set(areas))
    if unknown:
        raise UserError(f"observed effects name area(s) {', '.join(unknown)} that the model does not have "
                        f"(model areas: {', '.join(areas)})")
    rows = []
    for effect in effects:
        prediction = predict_condition(held_out, effect.condition, n_trials=n_trials, seed=seed,
                                       mw_to_current=mw_to_current)
        rows.append({"label": effect.condition.label, "observed": effect.delta, "n": effect.n,
                     "predicted": prediction.predicted_delta_behaviour})
    observed = np.array([r["observed"] for r in rows])
    predicted = np.array([r["predicted"] for r in rows])
    return {"abs_error": metrics.mean_abs_error(observed, predicted),
            "cosine_similarity": metrics.cosine_similarity(observed, predicted),
            "n_conditions": len(rows), "conditions": rows}
