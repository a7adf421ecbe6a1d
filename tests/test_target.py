"""Gradient-targeted micro-stimulation: the light gradient, set choice, predicted vs simulated effects, the
transfer to a ground-truth circuit, and the ``target`` command on a real (tiny) demo model file."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from choice_sessions import choice_teacher, make_choice_session
from click.testing import CliRunner
from pynwb import NWBHDF5IO
from synthetic_sessions import make_session, teacher_model

from nwb_biornn.analysis.target import (
    choose_sets,
    default_window,
    light_gradient,
    objective_function,
    stimulation,
    target,
)
from nwb_biornn.cli import main
from nwb_biornn.core.config import ModelConfig, preset
from nwb_biornn.core.errors import UserError
from nwb_biornn.fit.trainer import fit
from nwb_biornn.model.fitted import FittedNetwork
from nwb_biornn.model.layout import NeuronLayout, layout_for_sessions
from nwb_biornn.model.network import BioRNN
from nwb_biornn.nwbio import write_model_file
from nwb_biornn.nwbio.ground_truth import read_reference_network
from nwb_biornn.recordings.nwbfile import load_session
from nwb_biornn.synthetic import demo


def smooth_network(recurrent_scale=0.3):
    """A session simulated by the conftest teacher, and a float64 sigmoid-unit copy of the teacher fitted to it
    (every neuron stands for one unit), whose gradients are exact."""
    session = make_session(n_trials=10, n_time=100)
    layout = layout_for_sessions([session])
    arrays = teacher_model(NeuronLayout.hidden({"A": 10, "B": 10})).to_arrays()
    arrays["recurrent_weights"] *= recurrent_scale
    model = BioRNN.from_arrays(ModelConfig(spiking=False), layout, session.dt, arrays).double()
    return FittedNetwork(model, layout, 0), session


def smooth_choice_network():
    """A two-choice session and a float64 sigmoid-unit copy of its teacher (exact gradients)."""
    session = make_choice_session(n_trials=10, n_time=100)
    layout = layout_for_sessions([session])
    arrays = choice_teacher(layout).to_arrays()
    arrays["recurrent_weights"] *= 0.3
    model = BioRNN.from_arrays(ModelConfig(spiking=False), layout, session.dt, arrays).double()
    return FittedNetwork(model, layout, 0), session


@pytest.mark.parametrize("name", ["behaviour", "lick_right", "correct"])
def test_light_gradient_matches_finite_differences_per_trial(name):
    network, session = smooth_network() if name == "behaviour" else smooth_choice_network()
    inputs = torch.as_tensor(session.inputs[:2], dtype=torch.float64)
    objective = objective_function(name, session, np.arange(2))
    value, gradient = light_gradient(network.model, inputs, objective, seed=0)
    assert gradient.shape == (2, session.n_time, 20)
    eps = 1e-5
    for k, t, i in [(0, 20, 0), (0, 30, 12), (1, 45, 18), (1, 60, 3), (0, 55, 15)]:
        shifted = []
        for sign in (1, -1):
            light = torch.zeros(2, session.n_time, 20, dtype=torch.float64)
            light[k, t, i] = sign * eps
            with torch.no_grad():
                shifted.append(objective(network.model.simulate(inputs, light, seed=0).behaviour).numpy())
        finite = (shifted[0] - shifted[1]) / (2 * eps)
        assert finite[k] == pytest.approx(gradient[k, t, i], rel=1e-4, abs=1e-9)
        assert finite[1 - k] == pytest.approx(0, abs=1e-9)  # trials are independent
    assert abs(gradient[:, 50 if name == "behaviour" else 0:, :]).max() > 1e-3  # a first lick ends the choice
    with torch.no_grad():
        assert value == pytest.approx(objective(network.model.simulate(inputs, seed=0).behaviour).numpy())


def test_spiking_gradient_flows_through_the_surrogate():
    session = make_session(n_trials=4, n_time=100)
    model = BioRNN.from_arrays(ModelConfig(), layout_for_sessions([session]), session.dt,
                               teacher_model(NeuronLayout.hidden({"A": 10, "B": 10})).to_arrays())
    objective = objective_function("behaviour", session, np.arange(session.n_trials))
    _, gradient = light_gradient(model, torch.as_tensor(session.inputs), objective, 0)
    assert np.isfinite(gradient).all()
    assert np.abs(gradient[:, session.time < 0.1]).sum() > 0
    assert np.abs(gradient[:, session.time >= 0.1]).max() == 0  # nothing after the response window counts


def test_sets_are_ranked_among_targetable_neurons_only():
    score = np.array([5.0, 4.0, -3.0, 10.0, -10.0, 0.5])
    targetable = np.array([True, True, True, False, False, True])
    sets = choose_sets(score, targetable, 2, np.random.default_rng(1))
    assert sets["positive"].tolist() == [0, 1]
    assert sets["negative"].tolist() == [2, 5]
    assert len(set(sets["random"])) == 2 and targetable[sets["random"]].all()
    with pytest.raises(UserError, match="--neurons must be between 1 and 2"):
        choose_sets(score, targetable, 3, np.random.default_rng(1))


def test_stimulation_puts_the_power_on_the_set_inside_the_window():
    light = stimulation(5, 4, np.array([1, 3]), np.array([False, True, True, False, False]), 0.2)
    expected = np.zeros((5, 4), np.float32)
    expected[1:3][:, [1, 3]] = 0.2
    np.testing.assert_array_equal(light.numpy(), expected)


def test_default_window_is_the_last_100_ms_before_the_response_window():
    session = make_session(n_trials=2, n_time=200)
    assert default_window(session) == pytest.approx((-0.1, 0.0))
    assert default_window(dataclasses.replace(session, t_start=-0.04)) == pytest.approx((-0.04, 0.0))
    with pytest.raises(UserError, match="--window"):
        default_window(dataclasses.replace(session, t_start=0.0))


def test_small_stimulation_effects_match_the_first_order_prediction_and_order():
    network, session = smooth_network()
    power = 1e-5
    result = target(network, session, n_neurons=3, window=(-0.02, 0.02), power=power, n_trials=20, seed=2)
    sets = result.sets
    assert sets["positive"].simulated_effect > sets["random"].simulated_effect > sets["negative"].simulated_effect
    assert sets["positive"].predicted_effect > 0 > sets["negative"].predicted_effect
    for target_set in sets.values():
        np.testing.assert_allclose(target_set.simulated, target_set.predicted, rtol=0.02, atol=1e-3 * power)
        assert target_set.power == power and (target_set.onset, target_set.offset) == (-0.02, 0.02)
    assert result.baseline.shape == (20,) and result.mean_gradient.shape == (session.n_time, 20)


def test_transfer_to_an_identical_circuit_reproduces_the_model_effect():
    network, session = smooth_network()
    result = target(network, session, n_neurons=2, power=0.05, n_trials=6, transfer_to=network)
    for name, own in result.sets.items():
        transferred = result.transfer[name]
        np.testing.assert_array_equal(transferred.neurons, own.neurons)
        np.testing.assert_allclose(transferred.simulated, own.simulated)
    np.testing.assert_allclose(result.transfer_baseline, result.baseline)


def test_hidden_neurons_are_targetable_only_when_asked():
    network, session = smooth_network()
    hidden = dataclasses.replace(network.layout, session=np.where(np.arange(20) < 6, 0, -1))
    network = FittedNetwork(network.model, hidden, 0)
    only_mapped = target(network, session, n_neurons=3, n_trials=2)
    assert all(s.neurons.max() < 6 for s in only_mapped.sets.values())
    everyone = target(network, session, n_neurons=3, n_trials=2, include_hidden=True)
    assert max(s.neurons.max() for s in everyone.sets.values()) >= 6


@pytest.fixture(scope="module")
def demo_recording(tmp_path_factory):
    """A tiny demo session, with its ground-truth circuit."""
    root = demo.write_demo_dandiset(tmp_path_factory.mktemp("demo"), "refcirc1", n_trials=40,
                                    perturbed_fraction=0.25, units_per_area=5)
    return load_session(next(root.glob("sub-*/*.nwb")))


@pytest.fixture(scope="module")
def demo_model_file(demo_recording, tmp_path_factory):
    """A model file of the tiny demo session (1 training step), with its ground-truth circuit."""
    session = demo_recording
    model_config, fit_config = preset("biornn")
    result = fit([session], model_config, dataclasses.replace(fit_config, steps=1, batch_size=4))
    reference = read_reference_network(session)
    return write_model_file(tmp_path_factory.mktemp("out"), session, result, 0, [], reference=reference.model)


def test_target_command_reports_sets_transfer_and_stores_them(demo_model_file, tmp_path):
    plot = tmp_path / "targets.png"
    run = CliRunner().invoke(main, ["target", str(demo_model_file), "--neurons", "2", "--trials", "6", "--json",
                                    "--plot", str(plot)])
    assert run.exit_code == 0, run.output
    document = json.loads(run.stdout)
    assert document["window"] == pytest.approx([-0.1, 0.0]) and document["power"] == 0.1
    assert set(document["sets"]) == set(document["transfer"]) == {"positive", "negative", "random"}
    for name, entry in document["sets"].items():
        neurons = entry["neurons"]
        assert len(neurons["model_ids"]) == len(neurons["unit_ids"]) == 2 and None not in neurons["unit_ids"]
        assert sorted(document["transfer"][name]["neurons"]["unit_ids"]) == sorted(neurons["unit_ids"])
        assert all(np.isfinite(entry[key]) for key in ("predicted", "simulated", "predicted_std", "simulated_std"))
        assert document["transfer"][name]["predicted"] == entry["predicted"]
    assert document["sets"]["positive"]["predicted"] >= document["sets"]["negative"]["predicted"]
    assert plot.stat().st_size > 0 and document["plot"] == str(plot)
    with NWBHDF5IO(str(demo_model_file), "r", load_namespaces=True) as io:
        table = io.read().processing["biornn"]["targeted_neuron_sets"]
        names = list(table["set_name"][:])
        assert names[:3] == ["positive", "negative", "random"] and len(names) == 6
        assert list(table["neurons"][0].index) == document["sets"]["positive"]["neurons"]["model_ids"]
        assert table["simulated_effect"][3] == pytest.approx(document["transfer"]["positive"]["simulated"])
        assert table["objective"][0] == document["objective_description"]
    assert "expected licks in the response window" in document["objective_description"]
    assert document["objective_description"].endswith("0..0.3 s")


def test_target_command_text_and_errors(demo_model_file):
    run = CliRunner().invoke(main, ["target", str(demo_model_file), "--neurons", "1", "--trials", "2", "--no-save"])
    assert run.exit_code == 0, run.output
    assert "window -0.100..0.000 s" in run.stdout and "neurons in ground-truth circuit" in run.stdout
    assert "stored" not in run.stdout
    too_many = CliRunner().invoke(main, ["target", str(demo_model_file), "--neurons", "50", "--trials", "2"])
    assert too_many.exit_code == 1 and "error: --neurons must be between 1 and 5" in too_many.output
    empty = CliRunner().invoke(main, ["target", str(demo_model_file), "--window", "1,2", "--trials", "2"])
    assert empty.exit_code == 1 and "holds no bin" in empty.output


def test_transfer_to_a_model_file_of_the_same_recording_stimulates_the_same_units(demo_model_file, demo_recording,
                                                                                   tmp_path):
    """The paper's transfer check: sets chosen on one fit are stimulated in another fit through their units."""
    session = demo_recording
    model_config, fit_config = preset("biornn")
    result = fit([session], model_config, dataclasses.replace(fit_config, steps=1, batch_size=4, seed=1))
    other = write_model_file(tmp_path / "seed1", session, result, 0, [])
    run = CliRunner().invoke(main, ["target", str(demo_model_file), "--neurons", "2", "--trials", "6", "--json",
                                    "--no-save", "--transfer-to", str(other)])
    assert run.exit_code == 0, run.output
    document = json.loads(run.stdout)
    assert document["transfer_to"] == other.name
    for name, entry in document["sets"].items():
        transferred = document["transfer"][name]["neurons"]
        assert sorted(transferred["unit_ids"]) == sorted(entry["neurons"]["unit_ids"])
        assert transferred["areas"] == [entry["neurons"]["areas"][entry["neurons"]["unit_ids"].index(u)]
                                        for u in transferred["unit_ids"]]
    itself = CliRunner().invoke(main, ["target", str(demo_model_file), "--neurons", "2", "--trials", "6", "--json",
                                       "--no-save", "--transfer-to", str(demo_model_file)])
    same = json.loads(itself.stdout)
    for name, entry in same["sets"].items():
        assert same["transfer"][name]["simulated"] == pytest.approx(entry["simulated"])


def test_transfer_to_a_model_of_another_session_is_refused(demo_model_file, tmp_path):
    root = demo.write_demo_dandiset(tmp_path / "other", "refcirc1", seed=5, n_trials=20, perturbed_fraction=0.25,
                                    units_per_area=5)
    session = load_session(next(root.glob("sub-*/*.nwb")))
    model_config, fit_config = preset("biornn")
    result = fit([session], model_config, dataclasses.replace(fit_config, steps=1, batch_size=4))
    elsewhere = write_model_file(tmp_path / "out", session, result, 0, [])
    before = demo_model_file.read_bytes()
    run = CliRunner().invoke(main, ["target", str(demo_model_file), "--trials", "2", "--transfer-to", str(elsewhere)])
    assert run.exit_code == 1 and run.output.count("error:") == 1 and "same recording" in run.output
    assert demo_model_file.read_bytes() == before
