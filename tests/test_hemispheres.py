"""The two-hemisphere ground truth of demo:2afc: its wiring, its task, and the effects its light conditions have."""
import numpy as np
import pytest

from nwb_biornn.core.session import Condition
from nwb_biornn.synthetic import circuits, demo, hemispheres

N_TRIALS = 200


@pytest.fixture(scope="module")
def hand_built():
    return hemispheres.hand_built_circuit()


def _simulate(network, instruction, light=None):
    model, layout = network
    inputs = hemispheres.task_inputs([instruction] * N_TRIALS)
    return circuits.simulate(model, layout, inputs, [light] * N_TRIALS, 3, hemispheres.GO_ONSET)


def _correct(network, instruction, light=None):
    return hemispheres.correct_probability(_simulate(network, instruction, light), [instruction] * N_TRIALS)


def test_each_hemisphere_reads_out_to_the_contralateral_port_and_inhibits_only_itself(hand_built):
    arrays, layout = hemispheres.circuit_arrays()
    readout = arrays["readout_weights"]
    assert readout.shape == (layout.n_neurons, 2)
    for port, area in hemispheres.DRIVES.items():
        column = readout[:, hemispheres.PORTS.index(port)]
        assert (column[(layout.area == area) & layout.excitatory] > 0).all()
        assert (column[(layout.area != area) | ~layout.excitatory] == 0).all()
    weights = arrays["recurrent_weights"]
    across = layout.area[:, None] != layout.area[None, :]
    assert (weights[across] >= 0).all() and (weights[across] > 0).any()
    assert (weights[:, ~layout.excitatory] <= 0).all() and (weights[:, layout.excitatory] >= 0).all()


def test_the_right_hemisphere_is_the_mirror_image_of_the_left(hand_built):
    arrays, layout = hemispheres.circuit_arrays()
    left, right = (np.flatnonzero(layout.area == area) for area in hemispheres.AREAS)
    weights = arrays["recurrent_weights"]
    np.testing.assert_array_equal(weights[np.ix_(right, right)], weights[np.ix_(left, left)])
    np.testing.assert_array_equal(weights[np.ix_(left, right)], weights[np.ix_(right, left)])


def test_task_inputs_pulse_the_instruction_at_the_sample_and_the_go_cue_on_every_trial():
    inputs = hemispheres.task_inputs(["left", "right"])
    sample, go = round(hemispheres.SAMPLE_ONSET / hemispheres.DT), round(hemispheres.GO_ONSET / hemispheres.DT)
    assert inputs[0, sample, 0] == 1 and inputs[0, sample, 1] == 0 and inputs[1, sample, 1] == 1
    assert (inputs[:, go, 2] == 1).all() and inputs[:, :, 2].sum() == 2 * 5
    with pytest.raises(ValueError, match="unknown trial instructions"):
        hemispheres.task_inputs(["up"])


def test_the_hand_built_circuit_mostly_licks_the_instructed_port(hand_built):
    for instruction in hemispheres.INSTRUCTIONS:
        assert _correct(hand_built, instruction) > 0.6


def test_silencing_one_hemisphere_in_the_delay_biases_the_choice_to_its_side(hand_built):
    light = Condition("ALM_L", "I", -0.18, -0.10, 5.0)
    assert _correct(hand_built, "right", light) < _correct(hand_built, "right") - 0.25   # contralateral trials
    assert _correct(hand_built, "left", light) >= _correct(hand_built, "left") - 0.05    # ipsilateral trials


def test_bilateral_light_reaches_both_hemispheres(hand_built):
    model, layout = hand_built
    both = Condition("ALM_L+ALM_R", "I", -0.18, -0.10, 5.0)
    trials = _simulate(hand_built, "right", both)
    window = (-0.15 + hemispheres.GO_ONSET - circuits.STIMULUS_ONSET, -0.10 + hemispheres.GO_ONSET
              - circuits.STIMULUS_ONSET)
    for area in hemispheres.AREAS:
        assert circuits.population_rate(trials, layout, area, window=window) < 1.0


def test_the_shipped_teacher_keeps_the_ipsilateral_bias():
    teacher = demo.reference_network(demo.TWO_CHOICE)
    light = Condition("ALM_R", "I", -0.18, -0.10, 5.0)
    assert _correct(teacher, "left", light) < _correct(teacher, "left") - 0.15
