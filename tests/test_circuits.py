"""The reference circuits: the hand-built wiring, the shipped teachers, and perturbation effects that tell
feedforward from feedback."""
import numpy as np
import pytest

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import Condition
from nwb_biornn.model.light import MW_TO_CURRENT
from nwb_biornn.synthetic import circuits

N_TRIALS = 40
DT = circuits.DEMO_SCALE.dt
STIMULUS_STEP = round(circuits.STIMULUS_ONSET / DT)
PAIRS = [("refcirc1", "refcirc2"), ("paper-refcirc1", "paper-refcirc2")]
"""The feedforward and the feedback circuit of each size."""


def _blocks(layout, weights, post, pre):
    rows = (layout.area == post[0]) & (layout.cell_type == post[1])
    cols = (layout.area == pre[0]) & (layout.cell_type == pre[1])
    return weights[np.ix_(rows, cols)]


@pytest.fixture(scope="module")
def arrays():
    return {name: circuits.circuit_arrays(name, seed=0) for name in circuits.CIRCUITS}


@pytest.fixture(scope="module", params=["hand-built", "teacher"])
def models(request):
    """The hand-built circuits, then the shipped teachers fitted to them (what ``demo`` records)."""
    if request.param == "hand-built":
        return {name: circuits.hand_built_circuit(name, seed=0) for name in circuits.CIRCUITS}
    return {name: circuits.reference_circuit(name) for name in circuits.CIRCUITS}


@pytest.mark.parametrize("pair", PAIRS)
def test_feedback_is_the_only_difference(arrays, pair):
    (first, layout), (second, _) = (arrays[name] for name in pair)
    w1, w2 = first["recurrent_weights"], second["recurrent_weights"]
    feedback = np.outer(layout.area == "A", layout.area == "B")
    assert not w1[feedback].any()
    assert (_blocks(layout, w2, ("A", "E"), ("B", "E")) > 0).sum() > 100
    assert (_blocks(layout, w2, ("A", "I"), ("B", "E")) > 0).sum() > 10
    np.testing.assert_array_equal(w1[~feedback], w2[~feedback])
    for key in ("input_weights", "readout_weights", "resting_potential", "tau", "noise", "delays"):
        np.testing.assert_array_equal(first[key], second[key])


@pytest.mark.parametrize("name", ["refcirc2", "paper-refcirc2"])
def test_dale_law_local_inhibition_and_readout_from_b(arrays, name):
    weights, layout = arrays[name]
    w = weights["recurrent_weights"]
    assert (w[:, layout.excitatory] >= 0).all() and (w[:, ~layout.excitatory] <= 0).all()
    across = layout.area[:, None] != layout.area[None, :]
    assert not w[across & ~layout.excitatory[None, :]].any()
    assert not np.diag(w).any()
    np.testing.assert_array_equal(weights["connectivity_mask"], w != 0)
    assert set(np.flatnonzero(weights["readout_weights"])) == set(np.flatnonzero((layout.area == "B") & layout.excitatory))
    assert not weights["input_weights"][layout.area == "B"].any()


@pytest.mark.parametrize("name", ["refcirc1", "paper-refcirc1"])
def test_block_strength_is_the_mean_depolarization_per_hz(name):
    """sum_i W_ji * dt / dt_ms over a block equals J on average over postsynaptic neurons (jitter has mean 1)."""
    wiring = circuits.Wiring()
    weights, layout = circuits.circuit_arrays(name, seed=3, wiring=wiring)
    dt = circuits.scale(name).dt
    per_hz = _blocks(layout, weights["recurrent_weights"], ("B", "E"), ("A", "E")).sum(1) * dt / (dt * 1000)
    assert per_hz.mean() == pytest.approx(wiring.ab_e, rel=0.1)


def test_paper_size_circuits_have_the_papers_size_step_and_delays(arrays):
    weights, layout = arrays["paper-refcirc2"]
    assert layout.n_neurons == 500 and (layout.area == "A").sum() == 250 and layout.excitatory.sum() == 400
    assert set(np.unique(weights["delays"])) == {2, 3}   # 2 to 3 ms at 1 ms steps
    model, _ = circuits.hand_built_circuit("paper-refcirc2")
    assert model.dt == 0.001 and (model.config.delay_min, model.config.delay_max) == (0.002, 0.003)
    assert np.all(arrays["refcirc2"][0]["delays"] == 1)
    assert _blocks(layout, weights["recurrent_weights"], ("A", "E"), ("B", "E")).sum() == pytest.approx(
        circuits.PAPER_WIRING.ba_e / circuits.Wiring().ba_e * _blocks(
            layout, circuits.circuit_arrays("paper-refcirc2", wiring=circuits.Wiring())[0]["recurrent_weights"],
            ("A", "E"), ("B", "E")).sum())


def test_unknown_circuit_is_a_user_error():
    for make in (circuits.reference_circuit, circuits.hand_built_circuit):
        with pytest.raises(UserError, match="refcirc1, refcirc2"):
            make("refcirc3")


@pytest.mark.parametrize("name", circuits.CIRCUITS)
def test_shipped_teachers_keep_dale_local_inhibition_and_their_circuit_connectivity(name):
    model, layout = circuits.reference_circuit(name)
    w = model.to_arrays()["recurrent_weights"]
    assert (w[:, layout.excitatory] >= 0).all() and (w[:, ~layout.excitatory] <= 0).all()
    across = layout.area[:, None] != layout.area[None, :]
    assert not w[across & ~layout.excitatory[None, :]].any()
    feedback = np.outer(layout.area == "A", layout.area == "B")
    feedforward = feedback.T
    assert w[feedforward].sum() > 1.0
    if circuits.base_circuit(name) == "refcirc1":
        assert not w[feedback].any()
    else:
        assert w[feedback].sum() == pytest.approx(w[feedforward].sum(), rel=1e-4)
    assert model.layout.n_neurons == 2 * circuits.scale(name).per_area
    assert model.dt == circuits.scale(name).dt


def test_saved_circuit_reloads_and_resimulates_identically(tmp_path):
    model, layout = circuits.hand_built_circuit("refcirc2", seed=2)
    circuits.save_circuit(model, tmp_path / "circuit.npz")
    loaded, loaded_layout = circuits.load_circuit(tmp_path / "circuit.npz")
    np.testing.assert_array_equal(loaded_layout.area, layout.area)
    np.testing.assert_array_equal(loaded_layout.cell_type, layout.cell_type)
    assert loaded.config == model.config and loaded.dt == model.dt
    first = circuits.simulate_trials(model, layout, ["go", "nogo"], [None, None], seed=4)
    again = circuits.simulate_trials(loaded, loaded_layout, ["go", "nogo"], [None, None], seed=4)
    np.testing.assert_array_equal(first.spikes, again.spikes)
    np.testing.assert_array_equal(first.lick_rate, again.lick_rate)


@pytest.mark.parametrize("dt", [DT, 0.001])
def test_stimulus_inputs_are_one_pulse_on_the_instruction_channel(dt):
    inputs = circuits.stimulus_inputs(["go", "nogo"], dt)
    pulse = round(circuits.STIMULUS_DURATION / dt)
    assert inputs.shape == (2, round(circuits.TRIAL_DURATION / dt), 2)
    onset = round(circuits.STIMULUS_ONSET / dt)
    np.testing.assert_array_equal(np.flatnonzero(inputs[0, :, 0]), onset + np.arange(pulse))
    assert not inputs[0, :, 1].any() and inputs[1, :, 1].sum() == pulse and not inputs[1, :, 0].any()


def test_simulation_is_reproducible_from_the_seed(models):
    model, layout = models["refcirc1"]
    first = circuits.simulate_trials(model, layout, ["go"] * 4, [None] * 4, seed=5)
    again = circuits.simulate_trials(model, layout, ["go"] * 4, [None] * 4, seed=5)
    other = circuits.simulate_trials(model, layout, ["go"] * 4, [None] * 4, seed=6)
    np.testing.assert_array_equal(first.spikes, again.spikes)
    np.testing.assert_array_equal(first.licks, again.licks)
    assert (first.spikes != other.spikes).any()


def test_population_rate_and_lick_probability_closed_forms():
    n_time = round(circuits.TRIAL_DURATION / DT)
    layout = circuits.hand_built_circuit("refcirc1")[1]
    spikes = np.zeros((2, n_time, layout.n_neurons), np.uint8)
    a_excitatory = np.flatnonzero((layout.area == "A") & layout.excitatory)
    spikes[0, STIMULUS_STEP, a_excitatory] = 1  # one spike per A-E neuron in one trial, at the stimulus onset
    lick_rate = np.zeros((2, n_time, 1))
    lick_rate[1, STIMULUS_STEP:] = 10.0  # 10 Hz over the 0.3 s response window: 3 expected licks
    trials = circuits.CircuitTrials(spikes=spikes, lick_rate=lick_rate, licks=np.zeros((2, n_time, 1), bool), dt=DT)
    assert circuits.population_rate(trials, layout, "A", "E", (0.0, 0.1)) == pytest.approx(0.5 / 0.1)
    assert circuits.population_rate(trials, layout, "A", "E", (0.002, 0.1)) == 0.0
    assert circuits.population_rate(trials, layout, "B", "E") == 0.0
    assert circuits.lick_probability(trials) == pytest.approx((1 - np.exp(-3.0)) / 2)


def _simulate(models, name, light, instruction="go"):
    model, layout = models[name]
    return circuits.simulate_trials(model, layout, [instruction] * N_TRIALS, [light] * N_TRIALS, seed=1), layout


@pytest.mark.parametrize("name", circuits.CIRCUITS)
def test_go_stimulus_drives_a_then_b_then_licks(models, name):
    go, layout = _simulate(models, name, None)
    nogo, _ = _simulate(models, name, None, "nogo")
    assert circuits.population_rate(go, layout, "A", "E") > 3 * circuits.population_rate(go, layout, "A", "E", window=(-0.1, 0.0))
    assert circuits.population_rate(go, layout, "B", "E") > 2 * circuits.population_rate(nogo, layout, "B", "E")
    assert circuits.lick_probability(go) > circuits.lick_probability(nogo) + 0.4


@pytest.mark.parametrize("name", circuits.CIRCUITS)
def test_inactivating_a_silences_a_and_suppresses_licks(models, name):
    light = Condition("A", "I", -0.02, 0.1, 1.0 / MW_TO_CURRENT)
    control, layout = _simulate(models, name, None)
    lit, _ = _simulate(models, name, light)
    assert circuits.population_rate(lit, layout, "A", "E") < 0.2 * circuits.population_rate(control, layout, "A", "E")
    before_stimulus = (-0.02, 0.0)
    assert circuits.population_rate(lit, layout, "A", "I", before_stimulus) > 5 * circuits.population_rate(control, layout, "A", "I", before_stimulus)
    assert circuits.lick_probability(lit) < circuits.lick_probability(control) - 0.4


@pytest.mark.parametrize("pair", PAIRS)
def test_inactivating_b_changes_a_only_with_feedback(models, pair):
    light = Condition("B", "I", -0.02, 0.1, 1.0 / MW_TO_CURRENT)
    area_a = {}
    for name in pair:
        control, layout = _simulate(models, name, None)
        lit, _ = _simulate(models, name, light)
        assert circuits.population_rate(lit, layout, "B", "E") < 0.2 * circuits.population_rate(control, layout, "B", "E")
        area_a[name] = (control.spikes[:, :, layout.area == "A"], lit.spikes[:, :, layout.area == "A"])
    feedforward, feedback = pair
    np.testing.assert_array_equal(*area_a[feedforward])  # same noise, no path from B to A: identical spikes
    control, lit = area_a[feedback]
    dt = circuits.scale(feedback).dt
    onset = round(circuits.STIMULUS_ONSET / dt)
    window = slice(onset, onset + round(0.1 / dt))
    assert lit[:, window].mean() < 0.8 * control[:, window].mean()


@pytest.mark.parametrize("name", ["refcirc1", "paper-refcirc1"])
def test_activating_b_makes_nogo_trials_lick(models, name):
    light = Condition("B", "E", -0.02, 0.1, 0.2 / MW_TO_CURRENT)
    control, _ = _simulate(models, name, None, "nogo")
    lit, _ = _simulate(models, name, light, "nogo")
    assert circuits.lick_probability(lit) > circuits.lick_probability(control) + 0.5
