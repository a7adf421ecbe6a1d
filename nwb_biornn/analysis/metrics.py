"""Pure scoring functions over arrays: behaviour changes and how well predictions match recordings.

Each function has a closed form and is tested against it (``tests/test_metrics.py``).
"""
from __future__ import annotations

import numpy as np


def response_probability(response: np.ndarray, trial_type: np.ndarray, weights: dict | None = None) -> float:
    """Probability of the behavioural response, averaged over trial types.

    Parameters
    ----------
    response : ndarray of bool or float, shape (trials,)
        Whether (or with which probability) each trial showed the response.
    trial_type : ndarray, shape (trials,)
    weights : dict, optional
        Weight of each trial type; by default each type present counts in proportion to its trials, which
        makes the result the plain fraction of responding trials.

    Examples
    --------
    >>> response_probability(np.array([1, 0, 1, 1], bool), np.array(["go", "go", "nogo", "nogo"]),
    ...                      weights={"go": 1, "nogo": 1})
    0.75
    """
    response = np.asarray(response, dtype=float)
    trial_type = np.asarray(trial_type)
    if weights is None:
        return float(response.mean()) if response.size else float("nan")
    total = sum(weights.values())
    return float(sum(w * response[trial_type == t].mean() for t, w in weights.items()) / total)


def delta_response(response_light, type_light, response_off, type_off) -> float:
    """Change in response probability under light, compared within trial types.

    The light-off probability of each trial type is weighted by how many light trials that type has, so a
    change in the mix of trial types between light and light-off trials is not counted as an effect.

    Examples
    --------
    >>> delta_response(np.array([0, 0], bool), np.array(["go", "go"]),
    ...                np.array([1, 1, 0, 0], bool), np.array(["go", "go", "nogo", "nogo"]))
    -1.0
    """
    type_light = np.asarray(type_light)
    if len(type_light) == 0:
        return float("nan")
    types, counts = np.unique(type_light, return_counts=True)
    weights = {t: c for t, c in zip(types, counts) if np.any(np.asarray(type_off) == t)}
    if not weights:
        return float("nan")
    keep = np.isin(type_light, list(weights))
    on = response_probability(np.asarray(response_light)[keep], type_light[keep], weights)
    off = response_probability(response_off, type_off, weights)
    return on - off


def mean_abs_error(recorded, predicted) -> float:
    """Mean of ``|recorded - predicted|`` over entries where both are finite.

    Examples
    --------
    >>> mean_abs_error([0.1, -0.3, np.nan], [0.0, -0.1, 0.2])
    0.15
    """
    recorded, predicted = np.asarray(recorded, float), np.asarray(predicted, float)
    ok = np.isfinite(recorded) & np.isfinite(predicted)
    return float(np.round(np.abs(recorded[ok] - predicted[ok]).mean(), 12)) if ok.any() else float("nan")


def cosine_similarity(a, b) -> float:
    """Cosine of the angle between two effect vectors (NaN entries dropped; NaN if either is zero).

    Examples
    --------
    >>> cosine_similarity([1.0, 0.0], [1.0, 1.0])
    0.7071067811865475
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    norm = np.linalg.norm(a[ok]) * np.linalg.norm(b[ok])
    return float(a[ok] @ b[ok] / norm) if norm > 0 else float("nan")


def spread(values) -> dict:
    """Mean, standard deviation (ddof=1) and count of the finite values.

    Examples
    --------
    >>> spread([1.0, 2.0, 3.0])
    {'mean': 2.0, 'std': 1.0, 'n': 3}
    """
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    std = float(values.std(ddof=1)) if values.size > 1 else float("nan")
    return {"mean": float(values.mean()) if values.size else float("nan"), "std": std, "n": int(values.size)}
