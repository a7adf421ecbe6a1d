import numpy as np
import pytest
import torch
from choice_sessions import choice_teacher, make_choice_session
from synthetic_sessions import make_session, teacher_model

from nwb_biornn.analysis.evaluate import (
    HeldOut,
    evaluate,
    predict_condition,
    psth_time,
    score_trials,
    summarize_perturbed,
)
from nwb_biornn.analysis.perturb import SimulatedTrials
from nwb_biornn.analysis.predictions import ConditionPrediction
from nwb_biornn.core.config import FitConfig
from nwb_biornn.core.session import Condition
from nwb_biornn.fit import losses
from nwb_biornn.model.fitted import FittedNetwork
from nwb_biornn.model.layout import NeuronLayout

CONDITION = Condition("A", "I", -0.01, 0.05, 1.0, power_unit="model")


@pytest.fixture(scope="module")
def lit_session():
    return make_session(n_trials=40, n_time=100, conditions=(CONDITION,), light_fraction=0.3)


def _network(session, teacher=teacher_model):
    layout = NeuronLayout(area=session.unit_area, cell_type=session.unit_cell_type,
                          session=np.zeros(session.n_units, int), unit=np.arange(session.n_units),
                          areas=session.areas)
    return FittedNetwork(teacher(layout, session.dt), layout, 0)


def _held_out(session, split=None, teacher=teacher_model):
    return HeldOut(_network(session, teacher), session, _split(session) if split is None else split, FitConfig())


def _split(session):
    split = np.full(session.n_trials, "train", dtype="<U12")
    split[session.condition >= 0] = "perturbation"
    split[np.flatnonzero(session.condition < 0)[::4]] = "test"
    return split


def test_psth_time_matches_box_filter_bins(lit_session):
    for width in (1, 2, 4, 5):
        filtered = losses.box_filter(torch.zeros(1, lit_session.n_time, 1), width)
        assert len(psth_time(lit_session, width)) == filtered.shape[1]
    np.testing.assert_allclose(psth_time(lit_session, 4)[:2],
                               lit_session.t_start + lit_session.dt * np.array([1.0, 3.0]))


def test_recorded_trials_match_themselves_perfectly(lit_session):
    trials = np.flatnonzero(lit_session.unperturbed)[:10]
    own = SimulatedTrials(lit_session.spikes[trials].astype(np.float32), lit_session.behaviour[trials],
                          lit_session.trial_type[trials])
    scores = score_trials(own, lit_session, trials, FitConfig())
    assert scores["trial_matching_loss"] == pytest.approx(0.0, abs=1e-6)
    assert scores["psth_error"] == pytest.approx(0.0, abs=1e-6)


def test_trials_are_matched_and_psths_compared_within_trial_types(lit_session):
    """A model that answers the go stimulus with the no-go response (and vice versa) must not score as well."""
    trials = np.flatnonzero(lit_session.unperturbed)[:20]
    relabelled = np.where(lit_session.trial_type[trials] == "go", "nogo", "go")
    swapped = SimulatedTrials(lit_session.spikes[trials].astype(np.float32), lit_session.behaviour[trials], relabelled)
    scores = score_trials(swapped, lit_session, trials, FitConfig())
    assert scores["trial_matching_loss"] > 0.3
    assert scores["psth_error"] > 0.3


def test_trial_matching_scores_neural_features_not_the_lick_trace(lit_session):
    trials = np.flatnonzero(lit_session.unperturbed)[:10]
    spikes = lit_session.spikes[trials].astype(np.float32)
    other_licks = SimulatedTrials(spikes, lit_session.behaviour[trials] + 50.0, lit_session.trial_type[trials])
    scores = score_trials(other_licks, lit_session, trials, FitConfig())
    assert scores["trial_matching_loss"] == pytest.approx(0.0, abs=1e-6)
    assert scores["psth_error"] > 1.0
    silent = SimulatedTrials(np.zeros_like(spikes), lit_session.behaviour[trials], lit_session.trial_type[trials])
    assert score_trials(silent, lit_session, trials, FitConfig())["trial_matching_loss"] > 0.1


def test_recorded_change_in_behaviour_has_its_closed_form(lit_session):
    prediction = predict_condition(_held_out(lit_session), CONDITION, 0, n_trials=20)
    lit = np.flatnonzero(lit_session.condition == 0)
    control = np.flatnonzero(lit_session.unperturbed)
    expected = np.mean([lit_session.response[lit][lit_session.trial_type[lit] == t].mean()
                        - lit_session.response[control][lit_session.trial_type[control] == t].mean()
                        for t in lit_session.trial_type[lit]])
    assert prediction.recorded_delta_behaviour == pytest.approx(expected)
    assert prediction.n_heldout_trials == len(lit)
    assert prediction.predicted_area_psth.shape == (len(prediction.time), 2)
    assert prediction.recorded_unit_psth.shape == (len(prediction.time), lit_session.n_units)


def test_ground_truth_predicts_its_own_perturbation(lit_session):
    """The network that generated the session is the best possible model: its prediction error is small."""
    split = _split(lit_session)
    document, predictions = evaluate(_held_out(lit_session, split), n_trials=100)
    assert document["perturbed"]["n_conditions"] == 1
    assert document["perturbed"]["n_trials"] == int(np.sum(split == "perturbation"))
    assert document["unperturbed"]["n_trials"] == int(np.sum(split == "test"))
    assert document["perturbed"]["delta_behaviour_abs_error"] < 0.35
    again, _ = evaluate(_held_out(lit_session, split), n_trials=100)
    assert again == document


def test_evaluation_without_perturbation_trials_says_nothing_was_held_out():
    session = make_session(n_trials=12, n_time=60)
    document, predictions = evaluate(_held_out(session), n_trials=10)
    assert predictions == [] and document["perturbed"]["n_conditions"] == 0
    assert "nothing was held out" in document["note"]


def test_calibration_conditions_are_left_out_of_the_summary():
    def prediction(error, calibration):
        return ConditionPrediction(CONDITION, 5, 0.0, error, 1.0, np.zeros(1), ("A",), np.zeros((1, 1)), None,
                                   np.zeros(1), np.zeros((1, 1)), None, calibration)
    summary = summarize_perturbed([prediction(0.2, False), prediction(0.8, True)])
    assert summary["n_conditions"] == 1 and summary["delta_behaviour_abs_error"] == pytest.approx(0.2)


def test_perturbed_block_compares_the_change_vectors_over_conditions():
    """Cosine, sign agreement and Welch overlap of the document are those of its per-condition rows."""
    conditions = (CONDITION, Condition("B", "I", -0.01, 0.05, 1.0, power_unit="model"),
                  Condition("A", "E", -0.01, 0.05, 1.0, power_unit="model"))
    session = make_session(n_trials=60, n_time=100, conditions=conditions, light_fraction=0.5)
    document, predictions = evaluate(_held_out(session), n_trials=40)
    rows = document["conditions"]
    recorded = np.array([r["recorded_delta_behaviour"] for r in rows])
    predicted = np.array([r["predicted_delta_behaviour"] for r in rows])
    perturbed = document["perturbed"]
    assert perturbed["delta_behaviour_cosine"] == pytest.approx(recorded @ predicted / np.linalg.norm(recorded)
                                                                / np.linalg.norm(predicted))
    t = (predicted - recorded) / np.hypot([r["recorded_delta_behaviour_sem"] for r in rows],
                                          [r["predicted_delta_behaviour_sem"] for r in rows])
    assert perturbed["delta_behaviour_overlap"] == int(np.sum(np.abs(t) < 1.96))
    clear = np.abs(recorded) >= 0.1
    if clear.any():
        assert perturbed["delta_behaviour_sign_agreement"] == pytest.approx(
            np.mean(np.sign(recorded[clear]) == np.sign(predicted[clear])))
    assert all(r["recorded_delta_behaviour_sem"] > 0 and r["predicted_delta_behaviour_sem"] >= 0 for r in rows)


def test_conditions_report_the_change_within_each_trial_type(lit_session):
    """The per-type changes of a condition average, weighted by light trials, to its overall change."""
    document, _ = evaluate(_held_out(lit_session), n_trials=60)
    (row,) = document["conditions"]
    lit = np.flatnonzero(lit_session.condition == 0)
    types, counts = np.unique(lit_session.trial_type[lit], return_counts=True)
    by_type = row["delta_by_trial_type"]
    assert set(by_type) == set(types.tolist())
    recorded = sum(c * by_type[t]["recorded"] for t, c in zip(types, counts)) / counts.sum()
    assert recorded == pytest.approx(row["recorded_delta_behaviour"])
    assert all(np.isfinite(entry["predicted"]) for entry in by_type.values())


def test_a_choice_session_compares_the_changes_per_condition_and_trial_type():
    """Averaged over lick-left and lick-right trials an ipsilateral bias cancels; the vectors keep both sides."""
    session = make_choice_session(n_trials=80, n_time=100, light_fraction=0.5)
    document, predictions = evaluate(_held_out(session, teacher=choice_teacher), n_trials=40)
    (row,) = document["conditions"]
    assert document["behaviour"] == "choice" and set(row["delta_by_trial_type"]) == {"lick left", "lick right"}
    lit = (session.condition == 0) & np.isfinite(session.outcome)
    control = session.unperturbed & np.isfinite(session.outcome)
    for trial_type, entry in row["delta_by_trial_type"].items():
        on, off = session.outcome[lit & (session.trial_type == trial_type)], \
            session.outcome[control & (session.trial_type == trial_type)]
        assert entry["recorded"] == pytest.approx(on.mean() - off.mean())
        assert entry["recorded_sem"] == pytest.approx(np.sqrt(on.var() / len(on) + off.var() / len(off)))
    perturbed = document["perturbed"]
    assert perturbed["delta_behaviour_compared"] == "condition and trial type" and perturbed["n_compared"] == 2
    recorded = np.array([e["recorded"] for e in row["delta_by_trial_type"].values()])
    predicted = np.array([e["predicted"] for e in row["delta_by_trial_type"].values()])
    assert perturbed["delta_behaviour_abs_error"] == pytest.approx(np.abs(recorded - predicted).mean())
    assert perturbed["delta_behaviour_cosine"] == pytest.approx(recorded @ predicted / np.linalg.norm(recorded)
                                                                / np.linalg.norm(predicted))
