"""Training a reference circuit's teacher: connectivity imposed, activation trials left out, a usable network."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nwb_biornn.core.config import ModelConfig
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.network import BioRNN
from nwb_biornn.synthetic import circuits, teachers

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "regenerate_teachers.py"


def _blocks(model):
    w = model.to_arrays()["recurrent_weights"]
    area = model.layout.area
    return w[np.outer(area == "A", area == "B")], w[np.outer(area == "B", area == "A")]


@pytest.mark.parametrize("name", circuits.CIRCUITS)
def test_a_short_teacher_fit_keeps_the_circuit_connectivity(name):
    teacher = teachers.train_teacher(name, steps=3, n_trials=40)
    feedback, feedforward = _blocks(teacher)
    assert teacher.layout.n_neurons == 2 * circuits.scale(name).per_area
    assert teacher.dt == circuits.scale(name).dt
    assert feedforward.sum() > 0
    if circuits.base_circuit(name) == "refcirc1":
        assert not feedback.any()
    else:
        assert feedback.sum() == pytest.approx(feedforward.sum(), rel=1e-4)


def test_matched_feedback_survives_every_constraint_step_even_when_pruned_to_zero():
    layout = NeuronLayout.hidden({"A": 10, "B": 10})
    model = BioRNN(ModelConfig(), layout, n_inputs=1, dt=0.002, seed=0)
    teachers.impose_connectivity(model, "refcirc2")
    area = layout.area
    feedback = np.outer(area == "A", area == "B")
    allowed = feedback & model.mask.numpy()
    model.weight.data[feedback] = 0.0  # pruned (and across-area weights start at zero)
    model.weight.data[feedback.T & model.mask.numpy()] = 0.01
    before = model.snapshot()
    model.constrain_(before, 1e-3)
    feedback_weights, feedforward_weights = _blocks(model)
    assert feedback_weights.sum() == pytest.approx(feedforward_weights.sum(), rel=1e-4)
    assert np.count_nonzero(feedback_weights) == allowed.sum()


def test_the_recording_holds_every_neuron_and_excludes_only_activation_trials():
    session = teachers.teacher_recording("refcirc1", n_trials=60)
    assert session.n_units == 2 * circuits.DEMO_SCALE.per_area
    lit = session.condition >= 0
    activation = lit & np.array([c >= 0 and session.conditions[c].cell_type == "E" for c in session.condition])
    assert activation.any() and (lit & ~activation).any()
    assert not session.usable[activation].any() and (session.excluded[activation] == teachers.NOT_FITTED).any()
    assert not (session.excluded[~activation] == teachers.NOT_FITTED).any()
    assert session.usable[lit & ~activation].any()


def _regenerate(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_the_script_trains_the_named_circuits(tmp_path):
    names = ("refcirc1", "refcirc2", "2afc")
    result = _regenerate(*names, "--steps", "1", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{name}.npz" for name in names)
    for name in names:
        model, layout = circuits.load_circuit(tmp_path / f"{name}.npz")
        assert model.n_neurons == layout.n_neurons == 150
    assert "wrote" in result.stdout


def test_the_script_refuses_an_unknown_circuit(tmp_path):
    result = _regenerate("refcirc3", "--out", str(tmp_path))
    assert result.returncode != 0 and "no circuit named 'refcirc3'" in result.stderr
    assert not any(tmp_path.iterdir())
