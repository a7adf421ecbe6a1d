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


def delta_response_by_type(response_light, type_light, response_off, type_off) -> dict:
    """:func:`delta_response` of each trial type of the light trials (NaN for a type without light-off trials).

    Examples
    --------
    >>> delta_response_by_type(np.array([0, 1, 1], bool), np.array(["go", "go", "nogo"]),
    ...                        np.array([1, 1, 0], bool), np.array(["go", "go", "nogo"]))
    {'go': -0.5, 'nogo': 1.0}
    """
    response_light, type_light = np.asarray(response_light, float), np.asarray(type_light)
    response_off, type_off = np.asarray(response_off, float), np.asarray(type_off)
    return {str(t): float(response_light[type_light == t].mean() - response_off[type_off == t].mean())
            if np.any(type_off == t) else float("nan") for t in np.unique(type_light)}


def delta_response_sem(response_light, type_light, response_off, type_off) -> float:
    """Standard error of :func:`delta_response` for recorded (Bernoulli) trials.

    With ``w_t`` the share of light trials of type ``t`` and ``p`` the response fractions,
    ``sem² = Σ_t w_t² (p_on,t (1 - p_on,t) / n_on,t + p_off,t (1 - p_off,t) / n_off,t)``.

    Examples
    --------
    >>> round(delta_response_sem(np.array([1, 0], bool), np.array(["go", "go"]),
    ...                          np.array([1, 1, 1, 0], bool), np.array(["go"] * 4)), 4)
    0.4146
    """
    response_light, type_light = np.asarray(response_light, float), np.asarray(type_light)
    response_off, type_off = np.asarray(response_off, float), np.asarray(type_off)
    types = [t for t in np.unique(type_light) if np.any(type_off == t)]
    if not types:
        return float("nan")
    n_light = sum(np.sum(type_light == t) for t in types)
    variance = 0.0
    for t in types:
        on, off = response_light[type_light == t], response_off[type_off == t]
        weight = len(on) / n_light
        variance += weight ** 2 * (on.mean() * (1 - on.mean()) / len(on) + off.mean() * (1 - off.mean()) / len(off))
    return float(np.sqrt(variance))


def paired_difference_sem(on, off) -> float:
    """Standard error of ``mean(on - off)`` for paired values (simulations sharing their random numbers).

    Examples
    --------
    >>> paired_difference_sem([0.5, 0.7, 0.9], [0.5, 0.5, 0.5])
    0.11547005383792516
    """
    difference = np.asarray(on, float) - np.asarray(off, float)
    return float(difference.std(ddof=1) / np.sqrt(difference.size)) if difference.size > 1 else float("nan")


def sign_agreement(recorded, predicted, threshold: float = 0.1) -> float:
    """Fraction of the clear recorded effects (``|recorded| >= threshold``) whose prediction has the same sign.

    A prediction of exactly zero agrees with nothing; NaN when no recorded effect is clear.

    Examples
    --------
    >>> sign_agreement([0.3, -0.2, 0.05, -0.4], [0.1, 0.1, -0.2, -0.01])
    0.6666666666666666
    """
    recorded, predicted = np.asarray(recorded, float), np.asarray(predicted, float)
    clear = np.isfinite(recorded) & np.isfinite(predicted) & (np.abs(recorded) >= threshold)
    return float(np.mean(np.sign(recorded[clear]) == np.sign(predicted[clear]))) if clear.any() else float("nan")


def welch_overlap(recorded, recorded_sem, predicted, predicted_sem, critical: float = 1.96) -> int:
    """How many conditions' predicted and recorded effects are indistinguishable: Welch ``|t| < critical``.

    ``t = (predicted - recorded) / sqrt(predicted_sem² + recorded_sem²)`` per condition (method.md §4.2);
    conditions with a non-finite ``t`` are not counted.

    Examples
    --------
    >>> welch_overlap([0.2, -0.3], [0.05, 0.05], [0.25, 0.1], [0.05, 0.05])
    1
    """
    recorded, predicted = np.asarray(recorded, float), np.asarray(predicted, float)
    scale = np.hypot(np.asarray(recorded_sem, float), np.asarray(predicted_sem, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (predicted - recorded) / scale
    return int(np.sum(np.isfinite(t) & (np.abs(t) < critical)))


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
