import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from choice_sessions import make_choice_session
from synthetic_sessions import make_session

from nwb_biornn.core.config import FitConfig, ModelConfig
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import Condition
from nwb_biornn.fit.trainer import evaluate_losses, fit, split_trials
from nwb_biornn.model.network import BioRNN

QUICK = FitConfig(steps=6, batch_size=16, eval_every=3, checkpoint_every=3, lr=2e-3)


@pytest.fixture(scope="module")
def session():
    return make_session(n_trials=32, n_time=60, units_per_area=(6, 2))


def test_split_is_stratified_and_holds_out_perturbation_and_excluded_trials():
    lit = make_session(n_trials=40, n_time=20, conditions=(Condition("B", "I", 0.0, 0.01, 0.5, power_unit="model"),),
                       light_fraction=0.25)
    lit.excluded[0] = "early lick"
    split = split_trials(lit, 0.25, seed=0)
    assert split[0] == "excluded" and np.all(split[30:] == "perturbation")
    usable_off = (lit.excluded == "") & (lit.condition == -1)
    for kind in ("go", "nogo"):
        of_kind = usable_off & (lit.trial_type == kind)
        assert np.sum(split[of_kind] == "test") == round(0.25 * of_kind.sum())
    assert np.array_equal(split, split_trials(lit, 0.25, seed=0))
    assert not np.array_equal(split, split_trials(lit, 0.25, seed=1))
    with_light = split_trials(lit, 0.25, seed=0, train_on_perturbed=True)
    assert "perturbation" not in with_light and with_light[0] == "excluded"


def test_fit_lowers_every_loss_and_beats_the_untrained_model_on_held_out_trials():
    data = make_session(n_trials=80, n_time=100, units_per_area=(24, 6), seed=1)  # 60 neurons, 2 areas
    config = FitConfig(steps=60, batch_size=40, eval_every=20, lr=5e-3)
    result = fit([data], ModelConfig(), config)
    history = result.history
    assert result.steps == 60 and len(history) == 60 and "test_total" in history[19]
    for term in ("trial", "psth", "rate", "total"):
        early = np.mean([h[term] for h in history[:5]])
        late = np.mean([h[term] for h in history[-5:]])
        assert late < early, term
    untrained = BioRNN(result.model_config, result.layout, 2, data.dt, seed=config.seed)
    before = evaluate_losses(untrained, [data], result.splits, config)
    after = evaluate_losses(result.model, [data], result.splits, config)
    assert after["total"] < before["total"]
    assert after["total"] == pytest.approx(min(h["test_total"] for h in history if "test_total" in h))


def test_checkpoints_resume_at_the_right_step_and_reproduce_an_uninterrupted_run(session, tmp_path):
    reference = fit([session], ModelConfig(), QUICK, out_dir=tmp_path / "straight")

    class Interrupt(Exception):
        pass

    def stop_after_four(step, metrics):
        if step == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit([session], ModelConfig(), QUICK, out_dir=tmp_path / "cut", progress=stop_after_four)
    last = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)
    assert last["step"] == 3
    seen = []
    resumed = fit([session], ModelConfig(), QUICK, out_dir=tmp_path / "cut", resume=True,
                  progress=lambda step, metrics: seen.append((step, metrics.get("resumed", False))))
    assert seen[0] == (3, True) and [s for s, _ in seen[1:]] == [4, 5, 6]
    assert [h["step"] for h in resumed.history] == list(range(1, 7))
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 7))
    for name, value in reference.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert (tmp_path / "cut" / "checkpoints" / "best.pt").exists()
    assert not list((tmp_path / "cut" / "checkpoints").glob("*.tmp"))


def test_resume_refuses_a_checkpoint_of_another_configuration(session, tmp_path):
    fit([session], ModelConfig(), QUICK, out_dir=tmp_path)
    with pytest.raises(UserError, match="another configuration"):
        fit([session], ModelConfig(tau_e=0.02), QUICK, out_dir=tmp_path, resume=True)


def test_non_finite_step_reloads_the_last_good_state_and_halves_the_learning_rate(session, monkeypatch):
    calls = {"n": 0}
    original = BioRNN.simulate

    def sometimes_nan(self, inputs, light=None, seed=None, record_voltage=False, averaging=None):
        simulation = original(self, inputs, light, seed, record_voltage, averaging)
        calls["n"] += 1
        if calls["n"] == 5 and torch.is_grad_enabled():
            return dataclasses.replace(simulation, behaviour=simulation.behaviour * math.nan)
        return simulation

    monkeypatch.setattr(BioRNN, "simulate", sometimes_nan)
    result = fit([session], ModelConfig(), QUICK)
    assert result.steps == 6 and [h["step"] for h in result.history] == list(range(1, 7))
    assert result.history[0]["lr"] == QUICK.lr and result.history[-1]["lr"] == QUICK.lr / 2
    assert all(math.isfinite(h["total"]) for h in result.history)


def test_incompatible_sessions_and_missing_training_trials_are_user_errors(session):
    other = make_session(n_trials=8, n_time=40, units_per_area=(6, 2))
    with pytest.raises(UserError, match="time grid"):
        fit([session, other], ModelConfig(), QUICK)
    empty = make_session(n_trials=4, n_time=20)
    empty.excluded[:] = "no response"
    with pytest.raises(UserError, match="no usable"):
        fit([empty], ModelConfig(), QUICK)


def test_training_seed_makes_cpu_runs_reproducible(session):
    first, second = (fit([session], ModelConfig(), FitConfig(steps=2, batch_size=8, test_fraction=0.0))
                     for _ in range(2))
    assert [h["total"] for h in first.history] == [h["total"] for h in second.history]


def test_early_stopping_ends_the_fit_when_the_test_loss_stops_improving(session, tmp_path):
    frozen = FitConfig(steps=30, batch_size=8, lr=1e-12, eval_every=2, early_stop=4)
    result = fit([session], ModelConfig(), frozen, out_dir=tmp_path)
    assert result.steps == 6 and [h["step"] for h in result.history if "test_total" in h] == [2, 4, 6]
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == 6


def test_training_on_perturbed_trials_simulates_them_with_their_light():
    condition = Condition("A", "E", 0.0, 0.02, 0.5, power_unit="model")
    lit = make_session(n_trials=24, n_time=40, conditions=(condition,), light_fraction=0.5)
    config = FitConfig(steps=2, batch_size=24, train_on_perturbed=True, test_fraction=0.0)
    calls = []
    original = BioRNN.simulate

    def spy(self, inputs, light=None, seed=None, record_voltage=False, averaging=None):
        calls.append(light)
        return original(self, inputs, light, seed, record_voltage, averaging)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BioRNN, "simulate", spy)
        result = fit([lit], ModelConfig(), config)
    assert "perturbation" not in result.splits[0]
    lit_rows = [light[k] for light in calls for k in range(len(light)) if light[k].abs().sum() > 0]
    assert lit_rows and all(torch.equal(row, lit_rows[0]) for row in lit_rows)


def test_sessions_with_trial_types_of_their_own_fit_together_with_small_batches(session):
    other = dataclasses.replace(make_session(n_trials=32, n_time=60, units_per_area=(6, 2), seed=3,
                                             session_id="ses-1"),
                                trial_type=np.where(session.trial_type == "go", "left", "right"))
    config = dataclasses.replace(QUICK, steps=12, batch_size=2, eval_every=6)
    result = fit([session, other], ModelConfig(), config)
    assert result.steps == 12 and all(np.isfinite(h["trial"]) for h in result.history)


@pytest.mark.parametrize("traces", [True, False], ids=["per-port lick traces", "choices from trial labels"])
def test_a_two_choice_session_fits_a_readout_per_port_to_its_behaviour(traces):
    data = make_choice_session(n_trials=80, n_time=100, traces=traces, seed=2)
    config = FitConfig(steps=60, batch_size=40, eval_every=20, lr=5e-3)
    result = fit([data], ModelConfig(), config)
    assert result.model.n_ports == 2 and result.model.readout_weights.shape == (data.n_units, 2)
    term = "behaviour" if traces else "choice"
    assert all(term in h for h in result.history) and not any(
        ("choice" if traces else "behaviour") in h for h in result.history)
    untrained = BioRNN(result.model_config, result.layout, 2, data.dt, seed=config.seed, n_ports=2)
    before = evaluate_losses(untrained, [data], result.splits, config, split="train")
    after = evaluate_losses(result.model, [data], result.splits, config, split="train")
    assert after[term] < 0.7 * before[term]
