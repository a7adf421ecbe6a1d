import math

import numpy as np
import pytest
import torch
from reference_draws import simulation_draws

from nwb_biornn.core.config import ModelConfig
from nwb_biornn.model import threads
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.network import ESCAPE_WIDTH, SURROGATE_DAMPENING, BioRNN

DT = 0.002
QUIET = ModelConfig(noise=0.0, warmup=0.0)


def build(layout, config=QUIET, dt=DT, n_inputs=1, **arrays):
    """A float64 network whose arrays are overridden by ``arrays``."""
    model = BioRNN(config, layout, n_inputs, dt)
    values = model.to_arrays()
    values.update({key: np.asarray(value) for key, value in arrays.items()})
    return BioRNN.from_arrays(config, layout, dt, values).double()


def one_neuron(**arrays):
    return build(NeuronLayout.hidden({"A": 1}, excitatory_fraction=1.0), **arrays)


def test_leak_matches_hand_computed_trace(time_loop):
    model = one_neuron(input_weights=[[0.05]], resting_potential=[-0.02])
    inputs = torch.zeros(1, 20, 1, dtype=torch.float64)
    inputs[0, 2:7, 0] = 1
    sim = model.simulate(inputs, seed=0, record_voltage=True)
    alpha, v, expected = math.exp(-DT / 0.03), -0.02, []
    for x in inputs[0, :, 0].tolist():
        v = alpha * v + (1 - alpha) * (0.05 * x - 0.02)
        expected.append(v)
    assert torch.allclose(sim.voltage[0, :, 0], torch.tensor(expected, dtype=torch.float64))
    assert sim.spikes.sum() == 0


def test_escape_probability_is_dt_ms_times_exponential(time_loop):
    target = 0.2
    u = ESCAPE_WIDTH * math.log(target / (DT * 1000))
    layout = NeuronLayout.hidden({"A": 1}, excitatory_fraction=1.0)
    model = build(layout, input_weights=[[0.0]], resting_potential=[0.1 + 0.1 * u])
    spikes = model.simulate(torch.zeros(20000, 1, 1, dtype=torch.float64), seed=1).spikes
    assert spikes.mean().item() == pytest.approx(target, abs=5 * math.sqrt(target * (1 - target) / 20000))
    certain = build(layout, input_weights=[[0.0]], resting_potential=[0.0995])
    assert certain.simulate(torch.zeros(500, 1, 1, dtype=torch.float64), seed=1).spikes.min() == 1


def test_reset_by_subtraction_and_refractory_period(time_loop):
    model = one_neuron(input_weights=[[5.0]])
    assert model.refractory_steps.item() == 2
    sim = model.simulate(torch.ones(1, 12, 1, dtype=torch.float64), seed=0, record_voltage=True)
    spikes = sim.spikes[0, :, 0]
    assert spikes.tolist() == [1.0, 0, 0] * 4
    alpha, v, expected = math.exp(-DT / 0.03), 0.0, []
    for t in range(12):
        v = alpha * v + (1 - alpha) * 5.0 - 0.1 * (spikes[t - 1].item() if t else 0)
        expected.append(v)
    assert torch.allclose(sim.voltage[0, :, 0], torch.tensor(expected, dtype=torch.float64))
    assert sim.voltage.min() > 0.1  # only refractoriness kept the neuron from spiking


def test_synaptic_delay_shifts_the_postsynaptic_response(time_loop):
    layout = NeuronLayout.hidden({"A": 2}, excitatory_fraction=1.0)
    model = build(layout, recurrent_weights=[[0.0, 0.0], [1.0, 0.0]], connectivity_mask=[[False, False], [True, False]],
                  delays=np.full((2, 2), 3), input_weights=[[2.0], [0.0]])
    inputs = torch.zeros(1, 14, 1, dtype=torch.float64)
    inputs[0, 5, 0] = 1
    sim = model.simulate(inputs, seed=0, record_voltage=True)
    assert sim.spikes[0, :, 0].nonzero().flatten().tolist() == [5]
    alpha = math.exp(-DT / 0.03)
    expected = [0.0] * 8 + [(1 - alpha) * 1.0 / 2 * alpha ** k for k in range(6)]
    assert torch.allclose(sim.voltage[0, :, 1], torch.tensor(expected, dtype=torch.float64))


def reference_simulation(model: BioRNN, inputs: torch.Tensor, seed: int):
    """Step-by-step, synapse-by-synapse simulation of the documented equations with the same random draws."""
    config, dt_ms = model.config, model.dt * 1000
    k, n_time, _ = inputs.shape
    n = model.n_neurons
    n_warm = round(config.warmup / model.dt)
    noise, log_uniform = simulation_draws(model, k, n_time, seed)
    x = torch.cat([torch.zeros(k, n_warm, inputs.shape[2], dtype=torch.float64), inputs], 1)
    with torch.no_grad():
        w, delays = model.recurrent_weights(), model.delays
        alpha = torch.exp(-model.dt / model.tau)
        rest, threshold = model.resting_potential, model.threshold
        gap = threshold - rest
        sigma = model.noise * gap * math.sqrt(dt_ms)
        kappa = math.exp(-model.dt / config.tau_readout)
        v = rest.expand(k, n).clone()
        refractory = torch.zeros(k, n, dtype=torch.long)
        z_all, trace, behaviour = [], torch.zeros(k, model.n_ports, dtype=torch.float64), []
        for t in range(n_warm + n_time):
            recurrent = torch.zeros(k, n, dtype=torch.float64)
            for post in range(n):
                for pre in range(n):
                    if t - delays[post, pre] >= 0:
                        recurrent[:, post] += w[post, pre] * z_all[t - delays[post, pre]][:, pre] / dt_ms
            drive = recurrent + x[:, t] @ model.input_weights.T + rest
            v = alpha * v + (1 - alpha) * drive + sigma * noise[t]
            if config.spiking:
                if t:
                    v = v - gap * z_all[-1]
                crit = threshold + config.threshold * ESCAPE_WIDTH * (log_uniform[t] - math.log(dt_ms))
                z = ((v > crit) & (refractory == 0)).double()
                refractory = torch.where(z > 0, model.refractory_steps, (refractory - 1).clamp(min=0))
            else:
                z = torch.sigmoid(config.temperature * (v - threshold) / config.threshold) * dt_ms / 2
            z_all.append(z)
            trace = kappa * trace + (1 - kappa) * (z @ (model.readout_weights * model.excitatory[:, None])) / model.dt
            behaviour.append(torch.nn.functional.softplus(model.readout_bias + trace))
    return torch.stack(z_all[n_warm:], 1), torch.stack(behaviour[n_warm:], 1)


def trained_looking(config, dt=DT, seed=3):
    """A small two-area network with across-area and random weights (as after some training), and two ports."""
    layout = NeuronLayout.hidden({"A": 5, "B": 4})
    model = BioRNN(config, layout, 2, dt, seed=seed, n_ports=2).double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.weight.add_(torch.rand(model.weight.shape, generator=generator, dtype=torch.float64) * 0.3)
        model.resting_potential.uniform_(-0.02, 0.05, generator=generator)
        model.readout_bias.fill_(-1.0)
        model.constrain_(model.snapshot(), 0.0)
    return model


SPIKING_CASES = [
    (ModelConfig(warmup=0.01), DT),                                     # one delay of 1 step
    (ModelConfig(warmup=0.01, delay_min=0.001, delay_max=0.003), 0.001),  # delays 1-3: stacked blocks
    (ModelConfig(warmup=0.01, delay_min=0.002, delay_max=0.003), 0.001),  # delays 2-3: 2 steps per product
]


@pytest.mark.parametrize("config, dt", SPIKING_CASES + [
    (ModelConfig(warmup=0.01, spiking=False, dale=False, local_inhibition=False, delay_max=0.004), DT),
])
def test_blocked_simulation_equals_step_by_step_reference(config, dt):
    model = trained_looking(config, dt)
    inputs = torch.zeros(3, 40, 2, dtype=torch.float64)
    inputs[:, 5:10, 0] = 1
    sim = model.simulate(inputs, seed=11)
    spikes, behaviour = reference_simulation(model, inputs, seed=11)
    assert sim.spikes.sum() > 0
    assert torch.allclose(sim.spikes, spikes) and torch.allclose(sim.behaviour, behaviour)


@pytest.mark.parametrize("config, dt", SPIKING_CASES)
@pytest.mark.parametrize("mixed", [False, True], ids=["all sparse", "sparse and dense steps"])
def test_sparse_products_equal_step_by_step_reference(config, dt, mixed, sparse_products):
    model = trained_looking(config, dt)
    inputs = torch.zeros(3, 40, 2, dtype=torch.float64)
    inputs[:, 5:10, 0] = 1
    spikes, behaviour = reference_simulation(model, inputs, seed=11)
    density = spikes.mean((0, 2))
    limit = density.median().item() if mixed else 1.0
    assert (density > 0).any() and (density <= limit).any()
    assert (density > limit).any() == mixed
    sparse_products(limit)
    sim = model.simulate(inputs, seed=11)
    assert torch.allclose(sim.spikes, spikes) and torch.allclose(sim.behaviour, behaviour)


@pytest.mark.parametrize("config, dt", SPIKING_CASES[:2])
@pytest.mark.parametrize("n_shards", [2, 3])
@pytest.mark.parametrize("limit", [0.0, 1.0], ids=["dense products", "sparse products"])
def test_trials_split_between_threads_equal_step_by_step_reference(config, dt, n_shards, limit, sparse_products,
                                                                  sharded_runs):
    model = trained_looking(config, dt)
    inputs = torch.zeros(35, 40, 2, dtype=torch.float64)  # shards of unequal sizes
    inputs[:, 5:10, 0] = 1
    spikes, behaviour = reference_simulation(model, inputs, seed=11)
    sparse_products(limit)
    sharded_runs(n_shards)
    assert len(threads.run_shards("cpu", len(inputs), model.n_neurons, 1)) == n_shards
    sim = model.simulate(inputs, seed=11)
    assert sim.spikes.sum() > 0
    assert torch.allclose(sim.spikes, spikes) and torch.allclose(sim.behaviour, behaviour)


def smoothed_spike(u):
    """Pseudo-primitive of the surrogate derivative 0.3 max(0, 1 - |u|)."""
    return SURROGATE_DAMPENING * np.where(u < -1, 0, np.where(u < 0, (u + 1) ** 2 / 2,
                                                               np.where(u < 1, 1 - (1 - u) ** 2 / 2, 1)))


def test_surrogate_gradient_matches_finite_differences_of_smoothed_spike(time_loop):
    n = 9
    rest = np.linspace(-0.02, 0.18, n)
    layout = NeuronLayout.hidden({"A": n}, excitatory_fraction=1.0)
    model = build(layout, input_weights=np.zeros((n, 1)), resting_potential=rest,
                  recurrent_weights=np.zeros((n, n)))
    light = torch.zeros(1, n, dtype=torch.float64, requires_grad=True)
    model.simulate(torch.zeros(1, 1, 1, dtype=torch.float64), light=light, seed=0).spikes.sum().backward()
    alpha = math.exp(-DT / 0.03)
    u, h = (rest - 0.1) / 0.1, 1e-6
    expected = (smoothed_spike(u + h) - smoothed_spike(u - h)) / (2 * h) / 0.1 * (1 - alpha)
    assert np.allclose(light.grad[0].numpy(), expected, atol=1e-6)
    assert (expected > 0).any() and (expected == 0).any()


@pytest.mark.parametrize("delay_max", [0.002, 0.008])
def test_backpropagation_through_time_matches_finite_differences(delay_max):
    config = ModelConfig(warmup=0.0, spiking=False, dale=False, local_inhibition=False, delay_max=delay_max)
    model = trained_looking(config)
    inputs = torch.zeros(2, 30, 2, dtype=torch.float64)
    inputs[:, 3:8, 0] = 1
    target = torch.rand(2, 30, model.n_neurons, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def loss():
        sim = model.simulate(inputs, seed=4)
        return (sim.spikes * target).sum() + (sim.behaviour * torch.tensor([1.0, -2.0], dtype=torch.float64)).sum()

    loss().backward()
    for param, index in ((model.weight, (7, 1)), (model.input_weights, (2, 0)), (model.noise, (3,)),
                         (model.readout_weights, (1, 1)), (model.readout_bias, (0,))):
        with torch.no_grad():
            param[index] += 1e-6
            up = loss().item()
            param[index] -= 2e-6
            down = loss().item()
            param[index] += 1e-6
        assert param.grad[index].item() == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-8)


def test_same_seed_reproduces_and_other_seed_differs():
    model = BioRNN(ModelConfig(), NeuronLayout.hidden({"A": 10, "B": 10}), 1, DT)
    inputs = torch.zeros(4, 60, 1)
    first, again, other = (model.simulate(inputs, seed=s) for s in (5, 5, 6))
    assert torch.equal(first.spikes, again.spikes) and torch.equal(first.behaviour, again.behaviour)
    assert not torch.equal(first.spikes, other.spikes)


def test_initial_weights_local_zero_across_and_balanced():
    model = BioRNN(ModelConfig(), NeuronLayout.hidden({"A": 20, "B": 20}), 2, DT, seed=1)
    w = model.recurrent_weights().detach()
    assert torch.all(w[model.across] == 0) and torch.all(w.diagonal() == 0)
    exc = model.excitatory
    assert torch.allclose(w[:, exc].sum(1), -w[:, ~exc].sum(1))
    assert torch.all(model.input_weights >= 0) and model.input_weights.max() <= 1 / math.sqrt(2)
    assert set(model.delays.unique().tolist()) == {1}


def test_dale_and_local_inhibition_hold_after_optimizer_steps():
    model = BioRNN(ModelConfig(), NeuronLayout.hidden({"A": 10, "B": 10}), 1, DT)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.5)
    target = torch.rand(2, 30, 20, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        optimizer.zero_grad()
        sim = model.simulate(torch.ones(2, 30, 1), seed=0)
        ((sim.spikes - target) ** 2).sum().backward()
        with torch.no_grad():  # make sure every weight gets pushed the wrong way too
            model.weight.grad += torch.randn(model.weight.shape, generator=torch.Generator().manual_seed(1))
            model.input_weights.grad += 1.0
        before = model.snapshot()
        optimizer.step()
        model.constrain_(before, 0.5)
    w = model.recurrent_weights().detach()
    exc = model.excitatory
    assert torch.all(w[:, exc] >= 0) and torch.all(w[:, ~exc] <= 0) and (w[:, ~exc] < 0).any()
    assert torch.all(w[model.across & ~exc[None, :]] == 0) and torch.all(w.diagonal() == 0)
    assert torch.all(model.input_weights >= 0) and torch.all(model.readout_weights[~exc] == 0)
    assert model.resting_potential.min() >= -0.1 and model.resting_potential.max() <= 0.099 + 1e-9


def test_without_dale_weights_change_sign():
    config = ModelConfig(dale=False, local_inhibition=False)
    model = BioRNN(config, NeuronLayout.hidden({"A": 6}), 1, DT)
    with torch.no_grad():
        model.weight.copy_(-model.weight)
        model.constrain_(model.snapshot(), 1e-3)
    w = model.recurrent_weights()
    assert (w[:, model.excitatory] < 0).any() and (w[:, ~model.excitatory] > 0).any()


def test_half_norm_step_sparsifies_across_area_weights():
    config = ModelConfig(sparsity_across=0.5, sparsity_within=0.0)
    model = BioRNN(config, NeuronLayout.hidden({"A": 5, "B": 5}), 1, DT)
    post, pre = 6, 1  # A (E) -> B
    assert model.across[post, pre] and model.weight[post, pre] == 0
    with torch.no_grad():
        model.weight[post, pre] = 0.04
        model.weight[post, 2] = 1e-4
    within = model.weight[~model.across].clone()
    model.constrain_(model.snapshot(), lr=0.01)
    assert model.weight[post, pre].item() == pytest.approx(0.04 - 0.01 * 0.5 / 0.2)
    assert model.weight[post, 2].item() == 0
    assert torch.equal(model.weight[~model.across], within)


def test_arrays_round_trip_resimulates_identically():
    model = trained_looking(ModelConfig(delay_min=0.002, delay_max=0.006)).float()
    arrays = model.to_arrays()
    assert set(arrays) == set(BioRNN._ARRAY_KEYS) and arrays["recurrent_weights"].dtype == np.float32
    rebuilt = BioRNN.from_arrays(model.config, model.layout, DT, arrays)
    for key, value in rebuilt.to_arrays().items():
        assert np.array_equal(value, arrays[key]), key
    inputs = torch.zeros(3, 50, 2)
    inputs[:, 4:9, 1] = 1
    assert torch.equal(model.simulate(inputs, seed=2).spikes, rebuilt.simulate(inputs, seed=2).spikes)


def test_light_shape_and_inputs_are_checked():
    model = BioRNN(ModelConfig(), NeuronLayout.hidden({"A": 4}), 1, DT)
    with pytest.raises(ValueError, match="channels"):
        model.simulate(torch.zeros(1, 5, 2))
    with pytest.raises(ValueError, match="light"):
        model.simulate(torch.zeros(1, 5, 1), light=torch.zeros(5, 3))
    lit = model.simulate(torch.zeros(2, 5, 1), light=torch.full((5, 4), 1.0), seed=0)
    assert lit.spikes.sum() > 0


def test_input_and_readout_steps_follow_the_reference_code_only_when_asked():
    """W_in -= lr·s/√|W_in| (L½), w_out -= 10·s·lr·|w_out| (L1), with s = sparsity_across (method.md §2)."""
    layout = NeuronLayout.hidden({"A": 5, "B": 5})
    for asked in (False, True):
        model = BioRNN(ModelConfig(sparsity_across=0.5, sparsity_within=0.0, sparsity_inputs=asked), layout, 2, DT)
        with torch.no_grad():
            model.input_weights.fill_(0.04)
            model.input_weights[0, 0] = 1e-4
            model.readout_weights.fill_(2.0)
        model.constrain_(model.snapshot(), lr=0.01)
        if asked:
            assert model.input_weights[1, 1].item() == pytest.approx(0.04 - 0.01 * 0.5 / 0.2)
            assert model.input_weights[0, 0].item() == 0
            excitatory = model.readout_weights[model.excitatory]
            assert torch.allclose(excitatory, torch.full_like(excitatory, 2.0 - 10 * 0.5 * 0.01 * 2.0))
        else:
            assert torch.all(model.input_weights[1:] == 0.04) and model.input_weights[0, 0].item() == pytest.approx(1e-4)
            assert torch.all(model.readout_weights[model.excitatory] == 2.0)
