"""The evaluation tells the right model from wrong ones.

On a small ``demo`` session (real NWB files of the feedforward reference circuit, loaded as a user's would be),
the ground-truth circuit scored by :func:`nwb_biornn.analysis.evaluate.evaluate` must beat networks that are
wrong in known ways: untrained, silent (never spikes, never licks), without recurrence, and (for the trial-matching
loss) one that swaps the two stimuli. The bounds come from the recorded trials, computed here with numpy:

* the silent network predicts no change in behaviour, so its error is the mean |recorded change| over the
  conditions, exactly; its light-on trial-matching loss is the mean squared z-scored recorded feature;
* the ground truth differs from the recorded changes by no more than their sampling noise.
"""
import numpy as np
import pytest
from demo_sessions import ground_truth, silent, small_demo, swapped_stimuli, untrained, without_recurrence

from nwb_biornn.analysis.evaluate import HeldOut, evaluate, predict_condition
from nwb_biornn.core.config import FitConfig
from nwb_biornn.core.session import Condition
from nwb_biornn.fit.trainer import split_trials

SIMULATED_TRIALS = 60
CONFIG = FitConfig()
WRONG = ("untrained", "silent", "without recurrence", "swapped stimuli")


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    session, path = small_demo(tmp_path_factory.mktemp("demo"))
    split = split_trials(session, CONFIG.test_fraction, seed=0)
    truth = ground_truth(session, path)
    networks = {"truth": truth, "untrained": untrained(truth), "silent": silent(truth),
                "without recurrence": without_recurrence(truth), "swapped stimuli": swapped_stimuli(truth)}
    documents = {name: evaluate(HeldOut(network, session, split, CONFIG), n_trials=SIMULATED_TRIALS)
                 for name, network in networks.items()}
    return session, split, documents, networks


def _recorded_changes(session, split):
    """Per held-out condition: (recorded change in response probability, its standard error, trials), within trial
    types and weighted by each type's light trials."""
    control = session.unperturbed
    rows = {}
    for index in range(len(session.conditions)):
        lit = (split == "perturbation") & (session.condition == index)
        if not lit.any():
            continue
        change, variance, total = 0.0, 0.0, lit.sum()
        for trial_type in np.unique(session.trial_type[lit]):
            on = session.response[lit & (session.trial_type == trial_type)].astype(float)
            off = session.response[control & (session.trial_type == trial_type)].astype(float)
            weight = len(on) / total
            change += weight * (on.mean() - off.mean())
            variance += weight ** 2 * (on.var() / len(on) + off.var() / len(off))
        rows[index] = (change, np.sqrt(variance), int(lit.sum()))
    return rows


def _box(x, width):
    """Box average along axis 1 with stride ``width // 2`` and ``(width - 1) // 2`` bins of uncounted padding."""
    stride, pad = max(width // 2, 1), (width - 1) // 2
    n_out = (x.shape[1] + 2 * pad - width) // stride + 1
    starts = np.arange(n_out) * stride - pad
    return np.stack([x[:, max(s, 0):min(s + width, x.shape[1])].mean(1) for s in starts], axis=1)


def _area_features(session, trials):
    """Per-area population rate of recorded trials, box-filtered twice (method.md §3.1), shape (trials, bins,
    areas)."""
    rates = np.stack([session.spikes[trials][..., session.unit_area == area].mean(-1) for area in session.areas], -1)
    widths = round(CONFIG.psth_filter / session.dt), 2 * CONFIG.pop_avg_resample
    return _box(_box(rates.astype(float), widths[0]), widths[1])


def _silent_trial_matching(session, split):
    """Light-on trial-matching loss of a network without spikes: features z-scored with the light-off trials'
    per-bin mean and per-area std are ``-mean/std`` for the model, so every pairing costs the recorded trial's
    mean squared ``feature/std``; averaged over each condition's trials, then over conditions."""
    control = _area_features(session, np.flatnonzero(session.unperturbed))
    std = np.sqrt(((control - control.mean(0)) ** 2).mean((0, 1))).clip(min=1e-3)
    losses = []
    for index in range(len(session.conditions)):
        lit = np.flatnonzero((split == "perturbation") & (session.condition == index))
        if len(lit):
            losses.append(((_area_features(session, lit) / std) ** 2).mean())
    return float(np.mean(losses))


def test_every_condition_is_scored_and_the_recorded_changes_have_their_closed_form(scored):
    session, split, documents, _ = scored
    document, predictions = documents["truth"]
    recorded = _recorded_changes(session, split)
    assert document["perturbed"]["n_conditions"] == len(recorded) == len(session.conditions) == 14
    for prediction in predictions:
        index = session.conditions.index(prediction.condition)
        change, _, n_trials = recorded[index]
        assert prediction.recorded_delta_behaviour == pytest.approx(change, abs=1e-12)
        assert prediction.n_heldout_trials == n_trials
    for name in WRONG:   # every network is scored against the same recorded changes
        assert [p.recorded_delta_behaviour for p in documents[name][1]] == \
            [p.recorded_delta_behaviour for p in predictions]


def test_the_silent_network_scores_what_the_data_say_it_must(scored):
    session, split, documents, _ = scored
    document, predictions = documents["silent"]
    assert all(p.predicted_delta_behaviour == 0.0 for p in predictions)
    mean_abs_change = np.mean([abs(change) for change, _, _ in _recorded_changes(session, split).values()])
    assert document["perturbed"]["delta_behaviour_abs_error"] == pytest.approx(mean_abs_change, abs=1e-9)
    assert document["perturbed"]["trial_matching_loss"] == pytest.approx(_silent_trial_matching(session, split),
                                                                          rel=1e-5)


def test_ground_truth_change_in_behaviour_is_within_the_recording_noise(scored):
    session, split, documents, _ = scored
    recorded = _recorded_changes(session, split)
    noise = np.mean([standard_error for _, standard_error, _ in recorded.values()])
    mean_abs_change = np.mean([abs(change) for change, _, _ in recorded.values()])
    assert noise < mean_abs_change   # the session's effects stand out of its noise, or this test says nothing
    truth = documents["truth"][0]["perturbed"]["delta_behaviour_abs_error"]
    assert truth <= noise   # E|N(0, s)| = 0.8 s: recording noise plus a little simulation noise
    assert truth < 0.5 * mean_abs_change


@pytest.mark.parametrize("wrong", ["untrained", "silent", "without recurrence"])
def test_ground_truth_predicts_the_change_in_behaviour_better_than(scored, wrong):
    documents = scored[2]
    truth = documents["truth"][0]["perturbed"]["delta_behaviour_abs_error"]
    assert truth < 0.7 * documents[wrong][0]["perturbed"]["delta_behaviour_abs_error"]


@pytest.mark.parametrize("wrong", WRONG)
def test_ground_truth_matches_light_on_and_light_off_trials_better_than(scored, wrong):
    documents = scored[2]
    for block in ("perturbed", "unperturbed"):
        truth = documents["truth"][0][block]["trial_matching_loss"]
        assert truth < 0.5 * documents[wrong][0][block]["trial_matching_loss"], block


def test_ground_truth_trial_matching_is_far_below_the_silent_bound(scored):
    session, split, documents, _ = scored
    assert documents["truth"][0]["perturbed"]["trial_matching_loss"] < _silent_trial_matching(session, split) / 3


def test_light_of_zero_power_predicts_no_change_at_all(scored):
    """Light-on and light-off simulations share their random numbers, so a light that injects nothing predicts
    exactly no change (not a change of the size of the simulation noise)."""
    session, split, _, networks = scored
    nothing = Condition("B", "I", -0.02, 0.1, 0.0)
    prediction = predict_condition(HeldOut(networks["truth"], session, split, CONFIG), nothing,
                                   n_trials=SIMULATED_TRIALS)
    assert prediction.n_heldout_trials == 0 and np.isnan(prediction.recorded_delta_behaviour)
    assert prediction.predicted_delta_behaviour == 0.0
