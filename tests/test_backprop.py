"""The hand-written backpropagation through time of BioRNN against autograd on a plain step-by-step loop."""
import math
from operator import attrgetter

import pytest
import torch
from reference_draws import simulation_draws

from nwb_biornn.core.config import ModelConfig
from nwb_biornn.model import network as network_module
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.network import CHUNK_ELEMENTS, ESCAPE_WIDTH, SURROGATE_DAMPENING, BioRNN

PARAMETERS = ("weight", "input_weights", "resting_potential", "noise", "readout_weights", "readout_bias")


def reference_run(model, inputs, seed, light=None):
    """Spikes (K, T, N) and behaviour (K, T, P) of a plain loop: one dense product per delay and step, autograd
    for the gradient, the surrogate derivative attached with the straight-through trick; ``light`` (K or 1, T, N)
    or None."""
    config, dt_ms, gap0 = model.config, model.dt * 1000, model.config.threshold
    k, n_time, n_in = inputs.shape
    n_warm = round(config.warmup / model.dt)
    noise, log_uniform = simulation_draws(model, k, n_time, seed)
    x = torch.cat([torch.zeros(k, n_warm, n_in, dtype=torch.float64), inputs], 1)
    w = model.recurrent_weights()
    blocks = {d: (w * (model.delays == d)).T / dt_ms for d in torch.unique(model.delays).tolist()}
    alpha = torch.exp(-model.dt / model.tau)
    rest, theta = model.resting_potential, model.threshold
    gap = theta - rest
    sigma = model.noise * gap * math.sqrt(dt_ms)
    v = rest.detach().expand(k, -1)
    refractory = torch.zeros(k, model.n_neurons, dtype=torch.long)
    z_all, behaviour = [], []
    kappa, trace = math.exp(-model.dt / config.tau_readout), torch.zeros(k, model.n_ports, dtype=torch.float64)
    for t in range(n_warm + n_time):
        with torch.set_grad_enabled(t >= n_warm):
            if t == n_warm:
                v, z_all, trace = v.detach(), [z.detach() for z in z_all], trace.detach()
            recurrent = sum(z_all[t - d] @ block for d, block in blocks.items() if t - d >= 0)
            lit = 0 if light is None or t < n_warm else light[:, t - n_warm]
            v = alpha * v + (1 - alpha) * (recurrent + x[:, t] @ model.input_weights.T + rest + lit) + sigma * noise[t]
            if config.spiking:
                if t:
                    v = v - gap * z_all[-1]
                crit = theta + gap0 * ESCAPE_WIDTH * (log_uniform[t] - math.log(dt_ms))
                free = refractory == 0
                hard = ((v > crit) & free).double()
                slope = (SURROGATE_DAMPENING / gap0 - SURROGATE_DAMPENING / gap0 ** 2 * (v - theta).abs()).clamp(min=0)
                z = hard + (v - v.detach()) * (slope * free).detach()
                refractory = torch.where(hard > 0, model.refractory_steps, (refractory - 1).clamp(min=0))
            else:
                z = torch.sigmoid(config.temperature * (v - theta) / gap0) * dt_ms / 2
            z_all.append(z)
            trace = kappa * trace + (1 - kappa) * (z @ (model.readout_weights * model.excitatory[:, None])) / model.dt
            behaviour.append(torch.nn.functional.softplus(model.readout_bias + trace))
    return torch.stack(z_all[n_warm:], 1), torch.stack(behaviour[n_warm:], 1)


def network(config, dt, seed=5):
    layout = NeuronLayout.hidden({"A": 6, "B": 5})
    model = BioRNN(config, layout, 2, dt, seed=seed).double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.weight.add_(torch.rand(model.weight.shape, generator=generator, dtype=torch.float64) * 0.4)
        model.resting_potential.uniform_(0.0, 0.08, generator=generator)
        model.constrain_(model.snapshot(), 0.0)
    return model


SPIKING_CASES = [
    (ModelConfig(warmup=0.006), 0.002),                                     # one delay of one step
    (ModelConfig(warmup=0.006, delay_min=0.002, delay_max=0.003), 0.001),   # delays 2-3: two steps per product
    (ModelConfig(warmup=0.006, delay_min=0.001, delay_max=0.004), 0.001),   # delays 1-4 stacked
]


INPUTS = torch.zeros(3, 45, 2, dtype=torch.float64)
INPUTS[:, 4:12, 0] = 1
BEHAVIOUR_TARGET = 0.01 * torch.randn(45, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def assert_gradients_equal_reference(config, dt, inputs=INPUTS, light_trials=None):
    """Every parameter gradient and, with ``light_trials`` (1: one light for all trials, K: one per trial), the
    gradient of a light current, against :func:`reference_run`, through a loss that reads the spikes and the
    behaviour."""
    model = network(config, dt)
    target = torch.randn(*inputs.shape[:2], model.n_neurons, generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    light = None
    if light_trials is not None:
        shape = (light_trials, inputs.shape[1], model.n_neurons)
        light = (0.02 * torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    gradients = []
    for simulate in (lambda lit: attrgetter("spikes", "behaviour")(model.simulate(inputs, lit, seed=9)),
                     lambda lit: reference_run(model, inputs, 9, lit)):
        model.zero_grad()
        lit = None if light is None else light.clone().requires_grad_()
        spikes, behaviour = simulate(lit)
        ((spikes * target).sum() + (behaviour * BEHAVIOUR_TARGET).sum()).backward()
        gradients.append({name: getattr(model, name).grad.clone() for name in PARAMETERS}
                         | ({} if lit is None else {"light": lit.grad}))
    assert torch.allclose(spikes.detach(), model.simulate(inputs, light, seed=9).spikes, rtol=1e-12, atol=1e-15)
    if config.spiking:
        assert 0 < spikes.detach().mean() < 0.5
    fast, reference = gradients
    for name, expected in reference.items():
        assert expected.abs().max() > 0, name
        assert torch.allclose(fast[name], expected, rtol=1e-9, atol=1e-12), name


@pytest.mark.parametrize("config, dt", SPIKING_CASES + [
    (ModelConfig(warmup=0.006, spiking=False, dale=False, local_inhibition=False, delay_max=0.006), 0.002),
])
@pytest.mark.parametrize("chunk_elements", [1, 100, CHUNK_ELEMENTS], ids=["step by step", "3 steps", "all steps"])
def test_gradients_equal_autograd_of_a_step_by_step_loop(config, dt, chunk_elements, monkeypatch):
    monkeypatch.setattr(network_module, "CHUNK_ELEMENTS", chunk_elements)  # 3 trials x 11 neurons per step
    assert_gradients_equal_reference(config, dt)


@pytest.mark.parametrize("config, dt", SPIKING_CASES)
@pytest.mark.parametrize("mixed", [False, True], ids=["all sparse", "sparse and dense steps"])
def test_sparse_products_give_the_gradients_of_a_step_by_step_loop(config, dt, mixed, sparse_products):
    density = reference_run(network(config, dt), INPUTS, seed=9)[0].detach().mean((0, 2))
    limit = density.median().item() if mixed else 1.0
    assert (density > limit).any() == mixed
    sparse_products(limit)
    assert_gradients_equal_reference(config, dt)


@pytest.mark.parametrize("config, dt", SPIKING_CASES[:2] + [
    (ModelConfig(warmup=0.006, spiking=False, dale=False, local_inhibition=False, delay_max=0.006), 0.002),
])
@pytest.mark.parametrize("limit", [0.0, 1.0], ids=["dense products", "sparse products"])
def test_trials_split_between_threads_give_the_gradients_of_a_step_by_step_loop(config, dt, limit, sparse_products,
                                                                                sharded_runs):
    inputs = INPUTS[:1].expand(35, -1, -1)  # shards of unequal sizes
    sparse_products(limit)
    sharded_runs(2)
    assert_gradients_equal_reference(config, dt, inputs)


@pytest.mark.parametrize("light_trials", ["shared", "per trial"])
@pytest.mark.parametrize("n_shards", [1, 2])
def test_light_gradients_equal_autograd_of_a_step_by_step_loop(light_trials, n_shards, time_loop, sharded_runs,
                                                               monkeypatch):
    inputs = INPUTS[:1].expand(35, -1, -1)
    monkeypatch.setattr(network_module, "CHUNK_ELEMENTS", 1000)  # 2-3 steps of a shard at a time
    sharded_runs(n_shards)
    assert_gradients_equal_reference(*SPIKING_CASES[1], inputs, 1 if light_trials == "shared" else len(inputs))
