"""Score a fitted model on the trials it never saw: held-out light-off trials and every perturbation condition.

Every number is computed the same way for the fitted model and, for synthetic sessions, for the ground-truth
reference circuit re-simulated against the same recorded trials (the noise floor).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from nwb_biornn.analysis import metrics
from nwb_biornn.analysis.perturb import DEFAULT_TRIALS, ResponseRule, SimulatedTrials, simulate_trials
from nwb_biornn.analysis.predictions import ConditionPrediction
from nwb_biornn.core.config import FitConfig
from nwb_biornn.core.session import Condition, Session
from nwb_biornn.core.split import Split
from nwb_biornn.fit import losses
from nwb_biornn.model.fitted import FittedNetwork


@dataclass(frozen=True)
class HeldOut:
    """A network with the session it is scored on: the fit's split of the session's trials and its configuration.

    What every scorer takes, so that a fitted model and a ground-truth circuit (:meth:`with_network`) are scored
    on the same trials by the same code.

    Attributes
    ----------
    network : FittedNetwork
    session : Session
    split : ndarray of str, shape (trials,)
        The :class:`~nwb_biornn.core.split.Split` of every trial.
    fit_config : FitConfig
        The fit's configuration (its PSTH filters define the scores' features).
    """

    network: FittedNetwork
    session: Session
    split: np.ndarray
    fit_config: FitConfig

    @cached_property
    def rule(self) -> ResponseRule:
        """The response rule learned on the training trials (:meth:`ResponseRule.learn`)."""
        return ResponseRule.learn(self.session, self.split == Split.TRAIN)

    def with_network(self, network: FittedNetwork) -> "HeldOut":
        """The same trials, scored for another network (e.g. the ground-truth circuit)."""
        return dataclasses.replace(self, network=network)


def psth_time(session: Session, width: int) -> np.ndarray:
    """Centre (s, relative to the alignment event) of every bin of :func:`nwb_biornn.fit.losses.box_filter`.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> psth_time(SimpleNamespace(t_start=0.0, dt=0.5, n_time=4), 2)
    array([0.5, 1. , 1.5])
    """
    stride, pad = max(width // 2, 1), (width - 1) // 2
    n_bins = (session.n_time + 2 * pad - width) // stride + 1
    return session.t_start + session.dt * (np.arange(n_bins) * stride - pad + width / 2)


def area_groups(session: Session) -> list:
    """Unit columns of each area of the session, in :attr:`Session.areas` order."""
    return [np.flatnonzero(session.unit_area == area) for area in session.areas]


def score_trials(simulated: SimulatedTrials, session: Session, trials: np.ndarray, fit_config: FitConfig,
                 seed: int = 0) -> dict:
    """Trial-matching loss and z-scored PSTH error of simulated trials against recorded ``trials`` (indices).

    The features are the per-area population rates of the fit (method.md §3.2), doubly box-filtered, then
    z-scored with the statistics of the session's usable light-off trials, so that light-on and light-off
    scores share one scale (a light that silences an area leaves its recorded features with no variance of
    their own); trials are paired by the Hungarian algorithm within each trial type, as in the fit. As in the
    paper's perturbation test (method.md §4.1) the behaviour trace is left out: single-trial lick counts are
    mostly Poisson noise, which would set the floor of the score, and behaviour has its own score (the change
    in P(lick) or P(correct)). The PSTH error is the z-scored PSTH loss of each trial type (behaviour traces
    included when they were recorded), on the scale of the recorded trials' PSTH over all types, averaged over
    types weighted by their recorded trials.
    """
    widths = losses.filter_widths(fit_config.psth_filter, fit_config.pop_avg_resample, session.dt)
    groups = area_groups(session)

    def features(spikes):
        return losses.population_features(torch.as_tensor(spikes, dtype=torch.float32), None, groups, widths)

    def psth(spikes, behaviour):
        traces = session.behaviour_name != "none"
        channels = np.concatenate([spikes, behaviour], -1) if traces else spikes
        return losses.psth(torch.as_tensor(channels, dtype=torch.float32), widths[0])

    control = np.flatnonzero(session.unperturbed)
    recorded_type = session.trial_type[trials]
    model, data = features(simulated.spikes), features(session.spikes[trials])
    both, _ = losses.zscore_features(torch.cat([model, data]), features(session.spikes[control]))
    tm = losses.trial_matching_loss(both[:len(model)], both[len(model):], "hungarian", np.random.default_rng(seed),
                                    simulated.trial_type, recorded_type)
    scale = psth(session.spikes[trials], session.behaviour[trials]).std(0, unbiased=False)
    errors, counts = [], []
    for trial_type in np.intersect1d(simulated.trial_type, recorded_type):
        own, theirs = simulated.trial_type == trial_type, trials[recorded_type == trial_type]
        errors.append(float(losses.psth_loss(psth(simulated.spikes[own], simulated.behaviour[own]),
                                             psth(session.spikes[theirs], session.behaviour[theirs]), scale)))
        counts.append(len(theirs))
    return {"trial_matching_loss": float(tm), "psth_error": float(np.average(errors, weights=counts))}


def rate_psth(spikes: np.ndarray, width: int, dt: float) -> np.ndarray:
    """Trial-averaged, box-filtered rate (Hz) of every column of ``spikes`` (trials, time, columns)."""
    return losses.psth(torch.as_tensor(spikes, dtype=torch.float32), width).numpy() / dt


def area_rate_psth(spikes: np.ndarray, groups: list, width: int, dt: float) -> np.ndarray:
    """:func:`rate_psth` of the population mean of each group of columns, shape (bins, groups)."""
    return rate_psth(np.stack([spikes[..., g].mean(-1) for g in groups], -1), width, dt)


def predict_condition(held_out: HeldOut, condition: Condition, condition_index: int | None = None, *,
                      n_trials: int = DEFAULT_TRIALS, seed: int = 0, mw_to_current: float | None = None,
                      calibration: bool = False) -> ConditionPrediction:
    """Predict one light condition and compare it with its held-out recorded trials, when there are any.

    ``condition_index`` is the condition's position in ``session.conditions`` when it was recorded.

    Simulated trials replay the inputs of the held-out trials of the condition (or, for a condition that was
    never recorded, of every usable light-off trial). Light-on and light-off simulations share their random
    numbers (same seed), and the change in the outcome's probability (:attr:`Session.outcome`: P(lick), or
    P(correct) in a two-choice task) is compared within trial types. The recorded change is measured against
    every usable light-off trial (training and test: nothing is fitted to a recorded rate), and only trials
    whose outcome is known count on either side.
    """
    network, session, split, fit_config, rule = (held_out.network, held_out.session, held_out.split,
                                                 held_out.fit_config, held_out.rule)
    heldout = np.array([], dtype=np.int64)
    if condition_index is not None:
        heldout = np.flatnonzero((split == Split.PERTURBATION) & (session.condition == condition_index))
    control = np.flatnonzero(session.unperturbed)
    replay = heldout if len(heldout) else control
    args = (network.model, network.layout, session, network.session_index, replay, n_trials)
    lit = simulate_trials(*args, condition=condition, seed=seed, mw_to_current=mw_to_current)
    off = simulate_trials(*args, condition=None, seed=seed)
    lit_probability = rule.outcome_probability(lit.behaviour, lit.trial_type)
    off_probability = rule.outcome_probability(off.behaviour, off.trial_type)
    scored = np.isfinite(lit_probability) & np.isfinite(off_probability)
    lit_probability, off_probability = lit_probability[scored], off_probability[scored]
    lit_type, off_type = lit.trial_type[scored], off.trial_type[scored]
    predicted = metrics.delta_response(lit_probability, lit_type, off_probability, off_type)
    width = losses.filter_widths(fit_config.psth_filter, fit_config.pop_avg_resample, session.dt)[0]
    groups = area_groups(session)
    recorded_delta, recorded_sem, tm, recorded_area, recorded_unit = float("nan"), float("nan"), float("nan"), None, None
    recorded = None
    if len(heldout):
        outcome = session.outcome
        known_heldout, known_control = heldout[np.isfinite(outcome[heldout])], control[np.isfinite(outcome[control])]
        recorded = (outcome[known_heldout], session.trial_type[known_heldout],
                    outcome[known_control], session.trial_type[known_control])
        recorded_delta, recorded_sem = metrics.delta_response(*recorded), metrics.delta_response_sem(*recorded)
        tm = score_trials(lit, session, heldout, fit_config, seed)["trial_matching_loss"]
        spikes = session.spikes[heldout].astype(np.float32)
        recorded_area = area_rate_psth(spikes, groups, width, session.dt)
        recorded_unit = rate_psth(spikes, width, session.dt)
    return ConditionPrediction(
        condition=condition, n_heldout_trials=len(heldout), predicted_delta_behaviour=predicted,
        recorded_delta_behaviour=recorded_delta, trial_matching_loss=tm, time=psth_time(session, width),
        areas=session.areas, predicted_area_psth=area_rate_psth(lit.spikes, groups, width, session.dt),
        recorded_area_psth=recorded_area, unit_ids=session.unit_ids,
        predicted_unit_psth=rate_psth(lit.spikes, width, session.dt), recorded_unit_psth=recorded_unit,
        calibration=calibration, predicted_delta_sem=metrics.paired_difference_sem(lit_probability, off_probability),
        recorded_delta_sem=recorded_sem,
        delta_by_trial_type=_deltas_by_type((lit_probability, lit_type, off_probability, off_type), recorded))


def _deltas_by_type(simulated: tuple, recorded: tuple | None) -> dict:
    """``{trial type: {"recorded", "predicted", "recorded_sem", "predicted_sem"}}`` for the trial types of the
    simulated trials; each tuple is (light-on outcomes, their types, light-off outcomes, their types), the
    simulated ones paired trial by trial."""
    lit, lit_type, off, off_type = simulated
    entries = {}
    for trial_type in map(str, np.unique(lit_type)):
        on = lit_type == trial_type
        entry = {"recorded": float("nan"), "predicted": float(np.mean(lit[on]) - np.mean(off[off_type == trial_type])),
                 "recorded_sem": float("nan"), "predicted_sem": metrics.paired_difference_sem(lit[on], off[on])}
        if recorded is not None:
            outcome_on, type_on, outcome_off, type_off = recorded
            mine = (outcome_on[type_on == trial_type], type_on[type_on == trial_type],
                    outcome_off[type_off == trial_type], type_off[type_off == trial_type])
            entry["recorded"], entry["recorded_sem"] = metrics.delta_response(*mine), metrics.delta_response_sem(*mine)
        entries[trial_type] = entry
    return entries


def predict_recorded_conditions(held_out: HeldOut, n_trials: int = DEFAULT_TRIALS, seed: int = 0,
                                calibrate_on: tuple = (), mw_to_current: float | None = None) -> list:
    """One :class:`ConditionPrediction` per recorded condition that has held-out trials."""
    session, split = held_out.session, held_out.split
    return [predict_condition(held_out, condition, index, n_trials=n_trials, seed=seed, mw_to_current=mw_to_current,
                              calibration=condition.label in calibrate_on)
            for index, condition in enumerate(session.conditions)
            if np.any((split == Split.PERTURBATION) & (session.condition == index))]


def score_unperturbed(held_out: HeldOut, seed: int = 0) -> dict:
    """Scores on the held-out light-off (test) trials; NaN scores when there are none."""
    network, session = held_out.network, held_out.session
    test = np.flatnonzero(held_out.split == Split.TEST)
    if not len(test):
        return {"trial_matching_loss": float("nan"), "psth_error": float("nan"), "n_trials": 0}
    simulated = simulate_trials(network.model, network.layout, session, network.session_index, test, len(test),
                                seed=seed)
    return {**score_trials(simulated, session, test, held_out.fit_config, seed), "n_trials": int(len(test))}


COMPARED = {"lick": "condition", "choice": "condition and trial type"}
"""What one entry of the compared change vectors is, per kind of behaviour (``perturbed.delta_behaviour_compared``)."""


def summarize_perturbed(predictions: list, behaviour_kind: str = "lick") -> dict:
    """The ``perturbed`` block of the evaluation: held-out conditions only (calibration ones left out).

    Besides the mean trial-matching loss and the mean |recorded - predicted| change in behaviour, the paper's
    in-vivo comparison of the change vectors (method.md §4.2): their cosine, the fraction of clear recorded
    effects (|Δ| >= 0.1) predicted with the right sign, and how many entries' predicted and recorded changes a
    Welch test cannot tell apart (|t| < 1.96). An entry is a condition for lick sessions, and a (condition, trial
    type) pair for choice sessions: averaged over the two instructed sides, the ipsilateral bias that defines
    these experiments (P(correct) down on one side, up on the other) cancels, and a model predicting no change
    would score as well as one predicting the bias (docs/decisions.md).
    """
    scored = [p for p in predictions if p.n_heldout_trials and not p.calibration]
    if behaviour_kind == "choice":
        entries = [entry for p in scored for entry in p.delta_by_trial_type.values()]
        recorded, recorded_sem = [e["recorded"] for e in entries], [e["recorded_sem"] for e in entries]
        predicted, predicted_sem = [e["predicted"] for e in entries], [e["predicted_sem"] for e in entries]
    else:
        recorded, recorded_sem = [p.recorded_delta_behaviour for p in scored], [p.recorded_delta_sem for p in scored]
        predicted = [p.predicted_delta_behaviour for p in scored]
        predicted_sem = [p.predicted_delta_sem for p in scored]
    return {
        "trial_matching_loss": float(np.mean([p.trial_matching_loss for p in scored])) if scored else float("nan"),
        "delta_behaviour_compared": COMPARED[behaviour_kind],
        "delta_behaviour_abs_error": metrics.mean_abs_error(recorded, predicted),
        "delta_behaviour_cosine": metrics.cosine_similarity(recorded, predicted),
        "delta_behaviour_sign_agreement": metrics.sign_agreement(recorded, predicted),
        "delta_behaviour_overlap": metrics.welch_overlap(recorded, recorded_sem, predicted, predicted_sem),
        "n_compared": len(recorded),
        "n_trials": int(sum(p.n_heldout_trials for p in scored)),
        "n_conditions": len(scored),
    }


def condition_rows(predictions: list) -> list:
    """The per-condition entries of the evaluation document."""
    return [{
        "label": p.condition.label, "area": p.condition.area, "cell_type": p.condition.cell_type,
        "window": [p.condition.onset, p.condition.offset], "power": p.condition.power,
        "power_unit": p.condition.power_unit, "waveform": p.condition.waveform, "n_trials": p.n_heldout_trials,
        "recorded_delta_behaviour": p.recorded_delta_behaviour,
        "predicted_delta_behaviour": p.predicted_delta_behaviour,
        "recorded_delta_behaviour_sem": p.recorded_delta_sem, "predicted_delta_behaviour_sem": p.predicted_delta_sem,
        "delta_by_trial_type": p.delta_by_trial_type,
        "trial_matching_loss": p.trial_matching_loss, "calibration": p.calibration,
    } for p in predictions]


def evaluate(held_out: HeldOut, seed: int = 0, n_trials: int = DEFAULT_TRIALS, reference: FittedNetwork | None = None,
             calibrate_on: tuple = (), mw_to_current: float | None = None) -> tuple[dict, list]:
    """The evaluation document (see docs/usage.md) and the fitted model's condition predictions.

    With ``reference`` (the ground-truth circuit of a synthetic session), its scores on the same trials are
    added under ``"reference"``.
    """
    predictions = predict_recorded_conditions(held_out, n_trials, seed, calibrate_on, mw_to_current)
    split = held_out.split
    document = {
        "session": held_out.session.session_id or held_out.session.identifier,
        "behaviour": held_out.session.behaviour_kind,
        "held_out": {"test_trials": int(np.sum(split == Split.TEST)),
                     "perturbation_trials": int(np.sum(split == Split.PERTURBATION)),
                     "calibration_conditions": list(calibrate_on)},
        "unperturbed": score_unperturbed(held_out, seed),
        "perturbed": summarize_perturbed(predictions, held_out.session.behaviour_kind),
        "conditions": condition_rows(predictions),
    }
    if not document["perturbed"]["n_conditions"]:
        document["note"] = "nothing was held out: the session has no usable perturbation trials"
    if reference is not None:
        truth = held_out.with_network(reference)
        reference_predictions = predict_recorded_conditions(truth, n_trials, seed, calibrate_on)
        document["reference"] = {
            "unperturbed": score_unperturbed(truth, seed),
            "perturbed": summarize_perturbed(reference_predictions, held_out.session.behaviour_kind),
        }
    return document, predictions
