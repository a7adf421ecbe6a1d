"""What a fitted model predicts for one perturbation condition, and how it compares with the recording."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nwb_biornn.core.session import Condition


@dataclass
class ConditionPrediction:
    """Predicted (and, where trials were recorded, observed) effect of one light condition.

    Attributes
    ----------
    condition : Condition
    n_heldout_trials : int
        Recorded perturbation trials of this condition that were held out of fitting (0 for a condition that
        was only simulated).
    predicted_delta_behaviour : float
        Predicted change in the probability of the behavioural response, light minus light-off, averaged over
        the trial types of the held-out trials.
    recorded_delta_behaviour : float
        The same change measured on the recorded trials (NaN without recorded trials).
    trial_matching_loss : float
        Trial-matching loss between simulated and recorded perturbed trials (NaN without recorded trials).
    time : ndarray, shape (bins,)
        Centre of every PSTH bin, in seconds relative to the alignment event.
    areas : tuple of str
    predicted_area_psth : ndarray, shape (bins, areas)
        Trial-averaged population rate (Hz) per area under light.
    recorded_area_psth : ndarray, shape (bins, areas) or None
    unit_ids : ndarray, shape (units,)
        Ids of the recorded units (rows of the session's Units table) whose model neurons were simulated.
    predicted_unit_psth : ndarray, shape (bins, units)
        Trial-averaged rate (Hz) of the model neuron fitted to each unit.
    recorded_unit_psth : ndarray, shape (bins, units) or None
    calibration : bool
        True when this condition was used to calibrate light power, and is therefore not a held-out score.
    delta_by_trial_type : dict
        ``{trial type: {"recorded": Δ, "predicted": Δ}}``, the change within each trial type of the held-out
        trials (recorded NaN without recorded trials).
    predicted_delta_sem, recorded_delta_sem : float
        Standard errors of the two changes (:func:`~nwb_biornn.analysis.metrics.paired_difference_sem` over the
        simulated trials, :func:`~nwb_biornn.analysis.metrics.delta_response_sem` of the recorded ones; NaN when
        not known).
    """

    condition: Condition
    n_heldout_trials: int
    predicted_delta_behaviour: float
    recorded_delta_behaviour: float
    trial_matching_loss: float
    time: np.ndarray
    areas: tuple
    predicted_area_psth: np.ndarray
    recorded_area_psth: np.ndarray | None
    unit_ids: np.ndarray
    predicted_unit_psth: np.ndarray
    recorded_unit_psth: np.ndarray | None
    calibration: bool = False
    predicted_delta_sem: float = float("nan")
    recorded_delta_sem: float = float("nan")
    delta_by_trial_type: dict = field(default_factory=dict)
