import numpy as np
import pytest
from choice_sessions import make_choice_session
from synthetic_sessions import make_session, teacher_model

from nwb_biornn.analysis.perturb import ResponseRule, replay_trials, simulate_trials
from nwb_biornn.core.session import Condition
from nwb_biornn.model.layout import NeuronLayout


@pytest.fixture(scope="module")
def session():
    return make_session(n_trials=20, n_time=80)


def _layout_of(session):
    return NeuronLayout(area=session.unit_area, cell_type=session.unit_cell_type,
                        session=np.zeros(session.n_units, int), unit=np.arange(session.n_units),
                        areas=session.areas)


def test_response_rule_learns_the_bout_size_per_trial_type(session):
    session.behaviour[:] = 0.0
    go = session.trial_type == "go"
    session.behaviour[go, 60:70] = 100.0        # 100 Hz over 10 bins of 2 ms: 2 licks per go trial
    session.behaviour[~go, 60:65] = 20.0        # 0.2 licks per no-go trial
    session.choice[:] = "none"
    session.choice[np.flatnonzero(go)[:8]] = "lick"      # 8 of 10 go trials respond
    session.choice[np.flatnonzero(~go)[:1]] = "lick"     # 1 of 10 no-go trials
    session.response_window = (session.time[55], session.time[79] + session.dt)
    rule = ResponseRule.learn(session, np.ones(session.n_trials, bool))
    assert (rule.start, rule.stop) == (55, 80)
    expected = (2.0 + 0.2) / (-np.log(1 - 0.8) - np.log(1 - 0.1))
    assert rule.licks_per_bout == pytest.approx(expected)
    np.testing.assert_allclose(rule.outcome_probability(session.behaviour[:2], session.trial_type[:2]),
                               1 - np.exp(-np.array([2.0, 0.2]) / expected))


def test_response_rule_without_licks_predicts_no_response(session):
    session.behaviour[:] = 0.0
    session.choice[:] = "none"
    rule = ResponseRule.learn(session, np.ones(session.n_trials, bool))
    assert rule.licks_per_bout == 1.0
    assert np.all(rule.outcome_probability(session.behaviour, session.trial_type) == 0)


def test_two_choice_outcome_is_the_probability_of_a_first_lick_at_the_instructed_port():
    choice = make_choice_session(n_trials=4, n_time=80)
    choice.behaviour[:] = 0.0
    choice.behaviour[:, 40:50, 0] = 100.0      # 2 left licks in every trial, then
    choice.behaviour[:, 50:60, 1] = 100.0      # 2 right licks
    choice.response_window = (choice.time[40], choice.time[79] + choice.dt)
    rule = ResponseRule(40, 80, choice.dt, 1.0, choice.ports)
    left_first = 1 - np.exp(-2.0)
    right_first = np.exp(-2.0) * (1 - np.exp(-2.0))
    np.testing.assert_allclose(rule.outcome_probability(choice.behaviour, np.array(["lick left", "lick right",
                                                                                     "catch", "L"])),
                               [left_first, right_first, np.nan, left_first])


def test_replay_trials_cycles_in_order():
    np.testing.assert_array_equal(replay_trials(np.array([3, 1]), 3), [3, 1, 3])
    with pytest.raises(ValueError):
        replay_trials(np.array([], int), 2)


def test_simulate_trials_places_each_neuron_on_its_unit_and_is_reproducible(session):
    layout = _layout_of(session)
    model = teacher_model(layout)
    permuted = np.random.default_rng(0).permutation(session.n_units)
    shuffled = NeuronLayout(area=layout.area, cell_type=layout.cell_type, session=layout.session,
                            unit=permuted, areas=layout.areas)
    plain = simulate_trials(model, layout, session, 0, np.arange(4), 6, seed=3)
    moved = simulate_trials(model, shuffled, session, 0, np.arange(4), 6, seed=3)
    np.testing.assert_array_equal(moved.spikes[..., permuted], plain.spikes)
    again = simulate_trials(model, layout, session, 0, np.arange(4), 6, seed=3)
    np.testing.assert_array_equal(again.spikes, plain.spikes)
    np.testing.assert_array_equal(plain.trial_type, session.trial_type[[0, 1, 2, 3, 0, 1]])


def test_light_changes_only_the_simulation_with_light(session):
    layout = _layout_of(session)
    model = teacher_model(layout)
    silence_a = Condition("A", "I", session.time[0], session.time[-1] + session.dt, 1.0, power_unit="model")
    off = simulate_trials(model, layout, session, 0, np.arange(6), 6, seed=1)
    lit = simulate_trials(model, layout, session, 0, np.arange(6), 6, condition=silence_a, seed=1)
    excitatory_a = (session.unit_area == "A") & (session.unit_cell_type == "E")
    assert lit.spikes[..., excitatory_a].sum() < off.spikes[..., excitatory_a].sum()
