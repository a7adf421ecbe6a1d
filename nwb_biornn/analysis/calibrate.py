"""Opt-in calibration of the light: the mW -> model-current factor that best reproduces named conditions.

By default light power maps to model current through the fixed factor
:data:`nwb_biornn.model.light.MW_TO_CURRENT`. With ``fit --calibrate-on LABEL`` the factor is instead chosen
from :data:`FACTORS` (multiples of the default) to match the recorded change in behaviour of the named
conditions; those conditions are then marked ``calibration`` and left out of every held-out score.
"""
from __future__ import annotations

import numpy as np

from nwb_biornn.analysis.evaluate import HeldOut, predict_condition
from nwb_biornn.analysis.perturb import DEFAULT_TRIALS
from nwb_biornn.core.errors import UserError
from nwb_biornn.model.light import MW_TO_CURRENT

FACTORS = MW_TO_CURRENT * np.array([0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
"""Candidate mW -> current factors."""


def calibration_indices(session, labels: tuple) -> list:
    """Indices of the session's conditions named by ``labels`` (as printed by ``Condition.label``)."""
    known = {c.label: i for i, c in enumerate(session.conditions)}
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise UserError(f"--calibrate-on names unknown condition(s) {unknown}; the session's conditions are: "
                        f"{', '.join(known) or 'none'}")
    return [known[label] for label in labels]


def calibrate_light(held_out: HeldOut, labels: tuple, seed: int = 0, n_trials: int = DEFAULT_TRIALS) -> float:
    """The factor of :data:`FACTORS` minimizing the summed |recorded - predicted| change of the named conditions."""
    conditions = held_out.session.conditions
    indices = calibration_indices(held_out.session, labels)
    errors = []
    for factor in FACTORS:
        predictions = [predict_condition(held_out, conditions[i], i, n_trials=n_trials, seed=seed,
                                         mw_to_current=float(factor)) for i in indices]
        errors.append(sum(abs(p.recorded_delta_behaviour - p.predicted_delta_behaviour) for p in predictions))
    if not np.all(np.isfinite(errors)):
        raise UserError("the calibration conditions have no held-out trials with a recorded behaviour change")
    return float(FACTORS[int(np.argmin(errors))])
