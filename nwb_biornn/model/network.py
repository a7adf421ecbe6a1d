"""The biologically informed recurrent network :class:`BioRNN` (method.md §2.3-2.4).

Discrete-time leaky integrate-and-fire neurons with escape noise. Per step ``t`` and neuron ``j``::

    v_j(t) = a_j v_j(t-1) + (1 - a_j) [R_j(t) + X_j(t) + L_j(t) + v_rest_j] + xi_j(t) - gap_j z_j(t-1)
    R_j(t) = sum_i W_ji z_i(t - d_ji) / dt_ms            recurrent charge, W signed by the presynaptic type
    X_j(t) = sum_k W_in_jk x_k(t)                        task inputs (pulses of height 1)
    P(z_j(t) = 1) = dt_ms exp((v_j(t) - theta_j) / (2/25 * theta))   escape noise, 0 while refractory

with ``a_j = exp(-dt / tau_j)``, ``gap_j = theta_j - v_rest_j`` (reset by subtraction), membrane noise
``xi_j ~ N(0, (noise_j gap_j sqrt(dt_ms))^2)`` and the surrogate gradient ``dz/du = 0.3 max(0, 1 - |u|)`` of
``u = (v - theta) / theta`` (``theta`` = ``ModelConfig.threshold``, the fixed threshold gap at rest, 0.1 ≙ 25 mV).
``L`` is the optogenetic current (:mod:`nwb_biornn.model.light`): a constant current ``c`` moves the steady
potential by ``c``. Sigmoid units (``spiking=False``) emit ``sigmoid(temperature u) dt_ms / 2`` per step
(at most 500 Hz) and have no reset or refractoriness. The behaviour readout has one output per port (one lick
port for go/no-go, two for a two-choice task): ``softplus(b_p + trace_p(t))``, where ``trace_p`` leaks with
``tau_readout`` towards ``sum_{i in E} w_ip z_i(t) / dt`` (a weighted population rate in Hz), so each output is
non-negative and in Hz like a lick rate.

Deliberate differences from the reference code (method.md §9): inhibitory synapses are active at every drawn
delay, "same area" means the same area name, and self-connections are absent in every preset.

Speed (docs/performance.md): all synapses have a delay of at least ``d_min`` steps, so the recurrent input of
``d_min`` consecutive steps depends only on spikes that are already known and is computed by one matrix product (one
weight block per distinct delay, stacked). Each step's external drive (inputs, light, membrane noise) and spike
thresholds are made as the loop reaches the step, from random draws made a few steps at a time
(:mod:`nwb_biornn.model.draws`: keyed by seed, step and trial, so they do not depend on who draws them); the trials
of a big CPU run are split into one shard per thread, each integrated and backpropagated by its own thread
(:mod:`nwb_biornn.model.threads`). The spikes are written into one preallocated (time, trial, neuron) buffer, and
the time loop has a hand-written backward pass (:class:`_Recurrence`) that takes the gradients of the linear
summaries the readout and the losses read and sums those of the drive's parameters step by step. A step is taken in
one of two ways. Big spiking networks on the CPU take each step of a shard in one compiled pass
(:mod:`nwb_biornn.model.fused`), forward and backward, with the products of sparse spikes as sums of the weight rows
of the neurons that spiked (:mod:`nwb_biornn.model.sparse`); the forward pass stores the surrogate slopes. Other
runs (GPUs, small networks, sigmoid units) take it in tensor operations; the forward pass stores the potentials and
a refractory mask, the backward pass recomputes the slopes from them and forms the weight gradient as one product
over all steps. Besides the draws, the spikes, the potentials (or slopes) and their gradient, no full-size (time,
trial, neuron) tensor is made.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from nwb_biornn.core.config import ModelConfig
from nwb_biornn.core.errors import UserError
from nwb_biornn.model import fused
from nwb_biornn.model.draws import Draws, simulation_seed, start_drawing
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.sparse import SpikeLists, sparse_density_limit
from nwb_biornn.model.threads import available_threads, in_shards, one_thread, run_shards, single_thread_if_small

ESCAPE_WIDTH = 2 / 25
"""Width of the exponential escape rate in units of the threshold gap (2 mV of 25 mV)."""
SURROGATE_DAMPENING = 0.3
WEIGHT_FLOOR = 1e-7
"""Weights with a magnitude at or below this are left alone by the L1/2 step."""
CHUNK_ELEMENTS = 2 ** 16
"""Trials x neurons x steps that the time loop prepares (drive, thresholds) or finishes (slopes, gradient sums) at
once on the CPU: at most a step for big runs, so the step stays in cache, and many steps for small ones, so the
work is not spread over many small operations."""
DEVICE_CHUNK_STEPS = 128
"""Steps that the time loop prepares or finishes at once on a GPU, where each operation costs a kernel launch."""


@dataclass
class Simulation:
    """Output of :meth:`BioRNN.simulate`.

    Attributes
    ----------
    spikes : Tensor, shape (K, T, N)
        Spikes (0/1) per step or, for sigmoid units, expected spikes per step.
    behaviour : Tensor, shape (K, T, P)
        Behaviour readout of each of the ``P`` ports, in the units of ``Session.behaviour`` (Hz for a lick rate).
    voltage : Tensor, shape (K, T, N), optional
        Membrane potential that each step's spike is drawn from, when asked for.
    group_rates : Tensor, shape (K, T, G), optional
        ``spikes @ averaging``, when an ``averaging`` matrix is given (mean activity of neuron groups).
    neuron_mean : Tensor, shape (T, N), optional
        Mean of the spikes over trials, when an ``averaging`` matrix is given.
    """

    spikes: Tensor
    behaviour: Tensor
    voltage: Tensor | None = None
    group_rates: Tensor | None = None
    neuron_mean: Tensor | None = None


class _Recurrence(torch.autograd.Function):
    """The time loop of :class:`_Loop` with a hand-written backward pass (backpropagation through time).

    Differentiable in the parameters of the external drive (:class:`_Drive`: input weights, bias, noise scale and
    light), the stacked recurrent blocks, the reset gap and the readout weights ``(N, P)``. Returns the spikes
    (T, K, N), their weighted sums (T, K, P) and, with ``trial_mean``, their mean over trials (T, N) (else None).
    The readout and the losses of a fit read the spikes only through such linear summaries (``readout`` then also
    holds the columns of the group averages), so their gradients reach the spikes inside the backward loop, step
    by step, instead of as full-size gradients of the spikes that autograd would add (the spikes' own gradient is
    None when nothing else reads them). Likewise the drive of each step is made when the loop reaches it, and the
    gradients of its parameters are summed step by step. The forward pass keeps the spikes (which are also the
    output) and what the slopes ``dz/dv`` need (see :meth:`_Loop.run`); the backward pass needs one product per
    block of ``d_min`` steps for the gradient of the spikes and, for the gradient of the weights, one product
    over all steps per delay or, with sparse spikes, sums of rows step by step.
    """

    @staticmethod
    def forward(ctx, inputs, input_weights, bias, noise_std, light, recurrent, gap, readout, loop, trial_mean):
        drive = _Drive(inputs, input_weights, bias, noise_std, light)
        outputs = loop.run(drive, recurrent, gap, readout, trial_mean, keep=True)
        ctx.loop = loop
        ctx.save_for_backward(recurrent, gap, readout)
        ctx.set_materialize_grads(False)
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_spikes, grad_sums, grad_mean):
        recurrent, gap, readout = ctx.saved_tensors
        grads = ctx.loop.backward(grad_spikes, grad_sums, grad_mean, recurrent, gap, readout, ctx.needs_input_grad)
        del ctx.loop
        return (None,) + grads + (None, None)


@dataclass
class _Drive:
    """The external current of a run's steps, ``(inputs @ weights + bias + light) + noise * noise_std``, all
    already times ``1 - a``: task ``inputs`` (T, K, n_in), ``weights`` (n_in, N), ``bias`` (N,), ``noise_std``
    (N,) and ``light`` (T, K or 1, N) or None. The time loop makes each step's current as it reaches it, so no
    full-size tensor of it is made.
    """

    inputs: Tensor
    weights: Tensor
    bias: Tensor
    noise_std: Tensor
    light: Tensor | None

    def block(self, steps: slice, trials: slice, noise: Tensor) -> Tensor:
        """The current (B, K', N) of ``steps`` (B of them) of ``trials`` (K'), with their ``noise`` (B, K', N)."""
        inputs = self.inputs[steps, trials]
        b, k, n_in = inputs.shape
        current = torch.addmm(self.bias, inputs.reshape(b * k, n_in), self.weights).view(b, k, -1)
        if self.light is not None:
            current.add_(self.light_of(trials)[steps])
        return current.addcmul_(noise, self.noise_std)

    def light_of(self, trials: slice) -> Tensor | None:
        """The light (T, K' or 1, N) of ``trials``: theirs, or the one light of all trials (None without light)."""
        if self.light is None or self.light.shape[1] == 1:
            return self.light
        return self.light[:, trials]


@dataclass
class _Step:
    """Per-call quantities derived from the parameters (kept in the autograd graph)."""

    delays: list
    recurrent: Tensor      # (D*N, N): per-delay blocks of W^T, scaled by (1 - a) / dt_ms
    input_weights: Tensor  # (n_in, N)
    alpha: Tensor
    one_minus_alpha: Tensor
    resting: Tensor
    gap: Tensor
    noise_std: Tensor
    threshold: Tensor
    refractory_steps: Tensor


@dataclass
class _State:
    v: Tensor
    free_from: Tensor  # (K, N), whole numbers: first step (of the next run) at which each neuron may spike again
    history: Tensor  # (max delay, K, N): the spikes of the last steps, oldest first


def _shrunk(values: Tensor, shrink: Tensor) -> Tensor:
    """``values`` moved towards zero by ``shrink`` (>= 0), stopping at zero."""
    return values.sign() * (values.abs() - shrink).clamp(min=0)


class BioRNN(torch.nn.Module):
    """Biologically informed RNN of ``layout.n_neurons`` neurons (presets via :class:`ModelConfig` flags).

    Parameters
    ----------
    config : ModelConfig
    layout : NeuronLayout
        Area and cell type of every neuron.
    n_inputs : int
        Task input channels (``Session.inputs.shape[2]``).
    dt : float
        Step in seconds.
    seed : int
        Seed of the initial weights and synaptic delays.
    n_ports : int
        Behaviour outputs (``len(Session.ports)``: 1 for go/no-go, 2 for a two-choice task).

    Examples
    --------
    >>> from nwb_biornn.core.config import ModelConfig
    >>> layout = NeuronLayout.hidden({"A": 10, "B": 10})
    >>> model = BioRNN(ModelConfig(), layout, n_inputs=1, dt=0.002)
    >>> sim = model.simulate(torch.zeros(3, 50, 1), seed=0)
    >>> sim.spikes.shape, sim.behaviour.shape
    (torch.Size([3, 50, 20]), torch.Size([3, 50, 1]))
    """

    def __init__(self, config: ModelConfig, layout: NeuronLayout, n_inputs: int, dt: float, seed: int = 0,
                 n_ports: int = 1):
        super().__init__()
        if not dt > 0:
            raise ValueError(f"dt must be positive, not {dt}")
        self.config, self.layout, self.dt = config, layout, float(dt)
        n = layout.n_neurons
        generator = torch.Generator().manual_seed(seed)
        excitatory = torch.as_tensor(layout.excitatory)
        area = torch.as_tensor(layout.area_index)
        across = area[:, None] != area[None, :]
        mask = ~torch.eye(n, dtype=torch.bool)
        if config.local_inhibition:
            mask &= ~(across & ~excitatory[None, :])
        sign = torch.where(excitatory, 1.0, -1.0) if config.dale else torch.ones(n)
        self.register_buffer("excitatory", excitatory)
        self.register_buffer("across", across)
        self.register_buffer("mask", mask)
        self.register_buffer("sign", sign)
        self.register_buffer("delays", _draw_delays(config, dt, n, generator))
        self.register_buffer("tau", torch.where(excitatory, config.tau_e, config.tau_i).float())
        self.register_buffer("threshold", torch.full((n,), config.threshold))
        self.register_buffer("refractory_steps",
                             torch.full((n,), round(config.refractory / dt) if config.spiking else 0))
        magnitude = _initial_weights(mask & ~across, mask, excitatory, generator)
        cell_sign = torch.where(excitatory, 1.0, -1.0)
        self.weight = torch.nn.Parameter(magnitude if config.dale else magnitude * cell_sign[None, :])
        bound = 1 / math.sqrt(max(n_inputs, 1))
        self.input_weights = torch.nn.Parameter(torch.rand(n, n_inputs, generator=generator) * bound)
        n_exc = max(int(excitatory.sum()), 1)
        self.readout_weights = torch.nn.Parameter(torch.rand(n, n_ports, generator=generator) * (2 / n_exc)
                                                  * excitatory[:, None])
        self.readout_bias = torch.nn.Parameter(torch.zeros(n_ports))
        self.resting_potential = torch.nn.Parameter(torch.zeros(n))
        self.noise = torch.nn.Parameter(torch.full((n,), config.noise), requires_grad=config.train_noise)
        self.constraints: list = []
        """Further constraints, functions of the network that change its parameters in place, applied in order at
        the end of :meth:`constrain_` (e.g. a connectivity imposed on a teacher,
        :mod:`nwb_biornn.synthetic.teachers`)."""

    @property
    def n_neurons(self) -> int:
        return self.layout.n_neurons

    @property
    def n_inputs(self) -> int:
        return self.input_weights.shape[1]

    @property
    def n_ports(self) -> int:
        return self.readout_weights.shape[1]

    def delay_steps(self) -> list:
        """The distinct synaptic delays, in steps, in increasing order (one weight block each in the time loop)."""
        return torch.bincount(self.delays.view(-1)).nonzero().view(-1).tolist()

    def recurrent_weights(self) -> Tensor:
        """Signed effective weights ``W[post, pre]`` (zero outside the connectivity mask)."""
        return self.weight * self.sign[None, :] * self.mask

    def simulate(self, inputs: Tensor, light: Tensor | None = None, seed: int | None = None,
                 record_voltage: bool = False, averaging: Tensor | None = None) -> Simulation:
        """Simulate ``K`` trials.

        Parameters
        ----------
        inputs : Tensor, shape (K, T, n_inputs)
            Task inputs per step.
        light : Tensor, shape (T, N) or (K, T, N), optional
            Optogenetic current added to the input current of each neuron (threshold gap = 0.1).
        seed : int, optional
            Makes membrane noise and spikes a deterministic function of the seed (torch's global RNG if None).
        record_voltage : bool
            Also return the membrane potential of every step.
        averaging : Tensor, shape (N, G), optional
            Also return the group rates ``spikes @ averaging`` and the trial mean of the spikes, the summaries
            a fit's losses read: their gradients reach the time loop without a full-size gradient of the spikes.

        Returns
        -------
        Simulation
            A warm-up of ``config.warmup`` seconds from rest, without input and without gradient, runs first.
        """
        k, n_time, n_in = inputs.shape
        if n_in != self.n_inputs:
            raise ValueError(f"inputs have {n_in} channels, the model has {self.n_inputs}")
        if light is not None:
            if light.shape[-2:] != (n_time, self.n_neurons) or light.dim() not in (2, 3):
                raise ValueError(f"light must have shape (T, N) or (K, T, N), not {tuple(light.shape)}")
            light = light.unsqueeze(0) if light.dim() == 2 else light
        with single_thread_if_small(self, k):
            return self._simulate(inputs, light, seed, record_voltage, averaging)

    def _simulate(self, inputs, light, seed, record_voltage, averaging) -> Simulation:
        k, n_time, n_in = inputs.shape
        device, dtype = self.weight.device, self.weight.dtype
        seed = simulation_seed(seed)
        step = self._step_parameters()
        n_warm = round(self.config.warmup / self.dt)
        shards = run_shards(device, k, self.n_neurons, len(step.delays))
        warm_draws, draws = (Draws((length, k, self.n_neurons), seed, run, self.config.spiking, device, dtype)
                             for run, length in enumerate((n_warm, n_time)))
        start_drawing(warm_draws, draws, background=device.type == "cpu" and len(shards) == 1
                      and available_threads() > 1)
        trace = torch.zeros(k, self.n_ports, device=device, dtype=dtype)
        with torch.no_grad():
            state = self._rest_state(k, step)
            _, warm_rate, _, state, _ = self._run(torch.zeros(k, n_warm, n_in, device=device, dtype=dtype), None,
                                                  state, warm_draws, step, shards)
            if n_warm:
                trace = self._readout_trace(warm_rate, trace)[:, -1]
        state = _State(state.v.detach(), state.free_from, state.history.detach())
        spikes, sums, neuron_mean, _, voltage = self._run(inputs.to(device, dtype), light, state, draws, step,
                                                          shards, record_voltage, averaging)
        rate, group_rates = sums[..., :self.n_ports], None if averaging is None else sums[..., self.n_ports:]
        behaviour = torch.nn.functional.softplus(self.readout_bias + self._readout_trace(rate, trace))
        return Simulation(spikes=spikes, behaviour=behaviour, voltage=voltage, group_rates=group_rates,
                          neuron_mean=neuron_mean)

    def snapshot(self) -> dict:
        """Copies of the parameters :meth:`constrain_` needs from before an optimizer step."""
        return {name: getattr(self, name).detach().clone() for name in ("weight", "input_weights", "readout_weights")}

    @torch.no_grad()
    def constrain_(self, before: dict, lr: float) -> None:
        """Apply the constraints after an optimizer step (in place).

        Dale's law (non-negative magnitudes, input and readout weights), the connectivity mask, the resting
        potential clamp to ``[-theta, 0.99 theta]``, non-negative noise, and the L1/2 proximal step
        ``|W| -= lr * (sparsity_within + sparsity_across * across) / sqrt(|W_before|)`` on weights with
        ``|W_before| > 1e-7`` (a weight the step would take through zero becomes zero); with
        ``config.sparsity_inputs``, ``|W_in| -= lr * sparsity_across / sqrt(|W_in_before|)`` likewise and
        ``|w_out| -= 10 * sparsity_across * lr * |w_out_before|`` (method.md §2); then :attr:`constraints`.

        Parameters
        ----------
        before : dict
            :meth:`snapshot` taken before the optimizer step.
        lr : float
            Learning rate of the step (not scaled by the optimizer's statistics).
        """
        config = self.config
        if config.dale:
            self.weight.clamp_(min=0)
            self.input_weights.clamp_(min=0)
            self.readout_weights.clamp_(min=0)
        if config.sparsity_within > 0 or config.sparsity_across > 0:
            strength = config.sparsity_within + config.sparsity_across * self.across
            old = before["weight"].abs()
            shrink = lr * strength * old.clamp(min=WEIGHT_FLOOR).rsqrt() * (old > WEIGHT_FLOOR)
            self.weight.copy_(_shrunk(self.weight, shrink))
        if config.sparsity_inputs and config.sparsity_across > 0:
            old = before["input_weights"].abs()
            shrink = lr * config.sparsity_across * old.clamp(min=WEIGHT_FLOOR).rsqrt() * (old > WEIGHT_FLOOR)
            self.input_weights.copy_(_shrunk(self.input_weights, shrink))
            shrink = 10 * config.sparsity_across * lr * before["readout_weights"].abs()
            self.readout_weights.copy_(_shrunk(self.readout_weights, shrink))
        self.weight.mul_(self.mask)
        self.readout_weights.mul_(self.excitatory[:, None])
        self.resting_potential.clamp_(-config.threshold, 0.99 * config.threshold)
        self.noise.clamp_(min=0)
        for constraint in self.constraints:
            constraint(self)

    def to_arrays(self) -> dict:
        """The fitted network as plain arrays (the keys of the model file, see docs/architecture.md)."""
        def numpy(t, dtype=np.float32):
            return t.detach().cpu().numpy().astype(dtype)
        return {
            "recurrent_weights": numpy(self.recurrent_weights()),
            "connectivity_mask": numpy(self.mask, bool),
            "delays": numpy(self.delays, np.int64),
            "input_weights": numpy(self.input_weights),
            "readout_weights": numpy(self.readout_weights),
            "readout_bias": numpy(self.readout_bias),
            "resting_potential": numpy(self.resting_potential),
            "threshold": numpy(self.threshold),
            "tau": numpy(self.tau),
            "noise": numpy(self.noise),
            "refractory_steps": numpy(self.refractory_steps, np.int64),
        }

    @classmethod
    def from_arrays(cls, config: ModelConfig, layout: NeuronLayout, dt: float, arrays: dict) -> "BioRNN":
        """Rebuild a network from :meth:`to_arrays`; it re-simulates identically for the same seed."""
        missing = set(cls._ARRAY_KEYS) - set(arrays)
        if missing:
            raise UserError(f"the stored model lacks {sorted(missing)}; the file is incomplete or not a bioRNN model")
        n_inputs = np.asarray(arrays["input_weights"]).shape[1]
        readout = np.asarray(arrays["readout_weights"])
        model = cls(config, layout, n_inputs, dt, n_ports=readout.shape[1] if readout.ndim == 2 else 1)
        n = layout.n_neurons
        if np.asarray(arrays["recurrent_weights"]).shape != (n, n):
            raise UserError(f"the stored model has {np.asarray(arrays['recurrent_weights']).shape[0]} neurons but "
                            f"its layout has {n}; the file is inconsistent")
        if np.any(np.asarray(arrays["delays"]) < 1):
            raise UserError("the stored model has synaptic delays below one step; the file is inconsistent")
        with torch.no_grad():
            model.mask.copy_(torch.as_tensor(np.asarray(arrays["connectivity_mask"], dtype=bool)))
            model.delays.copy_(torch.as_tensor(np.asarray(arrays["delays"], dtype=np.int64)))
            model.refractory_steps.copy_(torch.as_tensor(np.asarray(arrays["refractory_steps"], dtype=np.int64)))
            signed = torch.as_tensor(np.asarray(arrays["recurrent_weights"], dtype=np.float32))
            model.weight.copy_(signed * model.sign[None, :] * model.mask)
            for name in ("input_weights", "readout_weights", "readout_bias", "resting_potential", "threshold", "tau",
                         "noise"):
                parameter = getattr(model, name)
                parameter.copy_(torch.as_tensor(np.asarray(arrays[name], dtype=np.float32)).reshape(parameter.shape))
        return model

    _ARRAY_KEYS = ("recurrent_weights", "connectivity_mask", "delays", "input_weights", "readout_weights",
                   "readout_bias", "resting_potential", "threshold", "tau", "noise", "refractory_steps")

    def _step_parameters(self) -> _Step:
        dt_ms = self.dt * 1000
        alpha = torch.exp(-self.dt / self.tau)
        one_minus_alpha = 1 - alpha
        weights = self.recurrent_weights() * (one_minus_alpha / dt_ms)[:, None]
        delays = self.delay_steps()
        blocks = [(weights * (self.delays == d)).T for d in delays] if len(delays) > 1 else [weights.T]
        gap = self.threshold - self.resting_potential
        return _Step(delays=delays, recurrent=torch.cat(blocks, dim=0), input_weights=self.input_weights.T,
                     alpha=alpha, one_minus_alpha=one_minus_alpha, resting=self.resting_potential, gap=gap,
                     noise_std=self.noise * gap * math.sqrt(dt_ms), threshold=self.threshold,
                     refractory_steps=self.refractory_steps)

    def _rest_state(self, k: int, step: _Step) -> _State:
        n, device = self.n_neurons, self.weight.device
        zeros = torch.zeros(k, n, device=device, dtype=self.weight.dtype)
        return _State(v=zeros + step.resting.detach(), free_from=zeros.clone(),
                      history=zeros.expand(max(step.delays), k, n))

    def _run(self, inputs: Tensor, light: Tensor | None, state: _State, draws: Draws, step: _Step, shards: list,
             record_voltage: bool = False, averaging: Tensor | None = None):
        """Integrate ``inputs`` (K, T, n_in) from ``state`` with the run's ``draws``, split into the trial
        ``shards`` (:func:`~nwb_biornn.model.threads.run_shards`); returns spikes (K, T, N), their weighted sums
        by the readout and, if given, by the columns of ``averaging`` (K, T, P + G), with ``averaging`` their
        trial mean (T, N) (else None), the final state and, if ``record_voltage``, the membrane potential of every
        step (K, T, N) (else None)."""
        k, n_time, _ = inputs.shape
        scale = step.one_minus_alpha
        drive = _Drive(inputs.transpose(0, 1).contiguous(), (step.input_weights * scale).contiguous(),
                       step.resting * scale, step.noise_std, None if light is None else light.transpose(0, 1) * scale)
        gap0, dt_ms = self.config.threshold, self.dt * 1000
        width = gap0 * ESCAPE_WIDTH
        loop = _Loop(spiking=self.config.spiking, delays=step.delays, alpha=step.alpha, threshold=step.threshold,
                     v=state.v, free_from=state.free_from, history=state.history,
                     blocked_until=step.refractory_steps + 1, threshold_gap=gap0, temperature=self.config.temperature,
                     rate_scale=dt_ms / 2, draws=draws, escape_width=width,
                     escape_shift=(step.threshold - width * math.log(dt_ms)).detach(), shards=shards,
                     sparse_density=sparse_density_limit(scale.device, self.config.spiking, k, self.n_neurons,
                                                         len(step.delays)), record_voltage=record_voltage)
        weights = self.readout_weights * self.excitatory[:, None]
        if averaging is not None:
            weights = torch.cat([weights, averaging.to(weights)], 1)
        differentiable = (drive.weights, drive.bias, drive.noise_std, drive.light, step.recurrent, step.gap, weights)
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in differentiable):
            spikes, sums, mean = _Recurrence.apply(drive.inputs, *differentiable, loop, averaging is not None)
        else:
            spikes, sums, mean = loop.run(drive, step.recurrent, step.gap, weights, averaging is not None,
                                          keep=record_voltage)
        prefix = len(state.history)
        final = _State(loop.v, loop.free_from - n_time, loop.buffer[-prefix:].detach())
        voltage = loop.potentials.transpose(0, 1).clone() if record_voltage else None
        return spikes.transpose(0, 1), sums.transpose(0, 1), mean, final, voltage

    def _readout_trace(self, weighted: Tensor, start: Tensor) -> Tensor:
        """Leaky trace (K, T, P) of the weighted excitatory rates (``weighted`` spikes per step, (K, T, P), over
        ``dt``), starting from ``start`` (K, P)."""
        n_time = weighted.shape[1]
        kappa = math.exp(-self.dt / self.config.tau_readout)
        lag = torch.arange(n_time, device=weighted.device)
        diff = (lag[:, None] - lag[None, :]).to(weighted.dtype)
        kernel = torch.where(diff >= 0, (1 - kappa) * torch.exp(diff.clamp(min=0) * math.log(kappa)), 0.0)
        decay = torch.exp((lag + 1).to(weighted.dtype) * math.log(kappa))
        return kernel @ (weighted / self.dt) + start[:, None, :] * decay[:, None]


@dataclass
class _Loop:
    """One run of the time loop: its constants, and what it leaves (``v``, ``free_from``, ``buffer`` and, when
    kept, ``potentials``, ``free``, ``drive`` and ``noise``).

    ``draws`` hold the membrane noise, which the loop adds to the external drive (:class:`_Drive`), and the
    log-uniforms it turns into spike thresholds ``escape_shift + escape_width log(u)`` (the potential above which
    each spiking neuron spikes), a chunk of steps at a time while they are in cache (released after the
    run); ``history`` (P, K, N) holds the spikes of the ``P`` (largest delay) steps before the run. The trials
    are split into ``shards``, each integrated and backpropagated in its own thread
    (:func:`~nwb_biornn.model.threads.in_shards`). A run with ``sparse_density`` (big spiking runs on the CPU)
    takes each step of a shard in one compiled kernel (:mod:`nwb_biornn.model.fused`), whose recurrent products
    are sums of the weight rows of the neurons that spiked (:mod:`nwb_biornn.model.sparse`, one list of them per
    shard) in steps whose spike density is at most ``sparse_density``, and dense products in the others; other
    runs take their steps in tensor operations, with dense products.
    """

    spiking: bool
    delays: list
    alpha: Tensor
    threshold: Tensor
    v: Tensor
    free_from: Tensor
    history: Tensor
    blocked_until: Tensor
    threshold_gap: float
    temperature: float
    rate_scale: float
    draws: Draws | None
    escape_width: float
    escape_shift: Tensor
    shards: list
    sparse_density: float = 0.0
    record_voltage: bool = False
    buffer: Tensor | None = None
    spike_lists: list | None = None
    potentials: Tensor | None = None
    free: Tensor | None = None
    slopes: Tensor | None = None
    drive: _Drive | None = None
    noise: Tensor | None = None

    def run(self, drive: _Drive, recurrent: Tensor, gap: Tensor, readout: Tensor, trial_mean: bool = False,
            keep: bool = False) -> tuple:
        """Integrate the steps of ``drive``; returns the spikes (T, K, N) (the end of ``buffer``, which starts with
        the history), their weighted sums ``spikes @ readout`` (T, K, P) and, with ``trial_mean``, their mean over
        trials (T, N) (else None).

        With ``keep``, also stores what the backward pass needs: the ``drive`` and its ``noise`` and, in tensor
        operations, the membrane potential of every step in ``potentials`` (T, K, N) and, for spiking units, whether
        each neuron was free to spike (not refractory) in ``free`` (T, K, N), written over each step's spike
        thresholds once they are used, or, in fused steps, the surrogate slopes in ``slopes`` (T, K, N) (and the
        potentials only with ``record_voltage``).
        """
        n_time, k, _ = drive.inputs.shape
        n = recurrent.shape[1]
        prefix, fused_steps = len(self.history), self.sparse_density > 0
        self.buffer = recurrent.new_empty(prefix + n_time, k, n)
        self.buffer[:prefix] = self.history
        if keep:
            self.drive, self.noise = drive, self.draws.noise
            if fused_steps:
                self.slopes = recurrent.new_empty(n_time, k, n)
            else:
                self.free = self.draws.log_uniforms
        if keep and (self.record_voltage or not fused_steps):
            self.potentials = recurrent.new_empty(n_time, k, n)
        v, free_from = recurrent.new_empty(k, n), self.free_from.clone()
        lists, totals = [None] * len(self.shards), [None] * len(self.shards)
        sums = recurrent.new_zeros(n_time, k, readout.shape[1]) if fused_steps else None

        def integrate_shard(index: int, trials: slice) -> None:
            if fused_steps:
                v[trials], lists[index], totals[index] = self._integrate_sparse(
                    trials, drive, recurrent, gap, free_from[trials], keep, readout, sums, trial_mean)
            else:
                v[trials] = self._integrate(trials, drive, recurrent, gap, free_from[trials], keep)

        with one_thread(fused_steps):  # no dense products: leave the other cores to the draws
            in_shards(integrate_shard, self.shards)
        self.v, self.free_from, self.draws = v, free_from, None
        self.spike_lists = lists if keep and fused_steps else None
        spikes = self.buffer[prefix:]
        if fused_steps:
            return spikes, sums, sum(totals) / k if trial_mean else None
        return spikes, _weighted_sum(spikes, readout), spikes.mean(1) if trial_mean else None

    def _integrate(self, trials: slice, drive: _Drive, recurrent: Tensor, gap: Tensor, free_from: Tensor,
                   keep: bool):
        """Integrate the ``trials`` of the run in tensor operations (updating their ``free_from`` in place); returns
        their final potential."""
        n_time = len(drive.inputs)
        prefix, d_min, spiking = len(self.history), self.delays[0], self.spiking
        buffer, noise = self.buffer[:, trials], self.draws.noise[:, trials]
        potentials = self.potentials[:, trials] if keep else None
        thresholds = self.draws.log_uniforms[:, trials] if spiking else None
        v = self.v[trials]
        blocked = self.blocked_until.to(buffer.dtype)
        gain = self.temperature / self.threshold_gap
        chunk = d_min * max(1, _chunk_steps(v) // d_min)  # whole blocks of d_min steps
        for b0 in range(0, n_time, d_min):
            b1 = min(n_time, b0 + d_min)
            if b0 % chunk == 0:
                c0, c1 = b0, min(n_time, b0 + chunk)
                self.draws.wait(c1, trials)
                external = drive.block(slice(c0, c1), trials, noise[c0:c1])
                if spiking:
                    thresholds[c0:c1].mul_(self.escape_width).add_(self.escape_shift)
            current = _delayed_product(buffer, prefix + b0, self.delays, recurrent, external[b0 - c0:b1 - c0])
            for t in range(b0, b1):
                v = torch.addcmul(current[t - b0], self.alpha, v, out=potentials[t] if keep else None)
                z = buffer[prefix + t]
                if spiking:
                    v.addcmul_(gap, buffer[prefix + t - 1], value=-1)
                    torch.gt(v, thresholds[t], out=z)
                    z.mul_(torch.le(free_from, t, out=thresholds[t]))  # a used threshold makes way for the mask
                    free_from.addcmul_(z, torch.rsub(free_from, blocked + t))
                else:
                    torch.sigmoid((v - self.threshold) * gain, out=z).mul_(self.rate_scale)
        return v

    def _integrate_sparse(self, trials: slice, drive: _Drive, recurrent: Tensor, gap: Tensor, free_from: Tensor,
                          keep: bool, readout: Tensor, sums: Tensor, trial_mean: bool):
        """:meth:`_integrate` for spiking units with sparse products, a step at a time in
        :func:`~nwb_biornn.model.fused.integrate_step_`, adding the weighted sums of each step's spikes by
        ``readout`` to ``sums`` (T, K, P) from its lists; returns the final potential, the lists of spikes and,
        with ``trial_mean``, how many of the trials spiked, per step and neuron (T, N) (else None)."""
        n_time, n = len(drive.inputs), recurrent.shape[1]
        prefix = len(self.history)
        buffer = self.buffer[:, trials]
        lists = SpikeLists(buffer.shape[1], n, len(buffer), self.sparse_density)
        for row in range(prefix):
            lists.append(buffer[row])
        v, chunk = self.v[trials].clone(), _chunk_steps(buffer[0])
        no_steps = buffer.new_empty(n_time, 0, n)
        light = no_steps if drive.light is None else drive.light_of(trials)
        arrays = _numpy(buffer=buffer, log_uniforms=self.draws.log_uniforms[:, trials],
                        noise=self.draws.noise[:, trials], inputs=drive.inputs[:, trials], light=light, v=v,
                        free_from=free_from, recurrent=recurrent, gap=gap, input_weights=drive.weights,
                        bias=drive.bias, noise_std=drive.noise_std, alpha=self.alpha,
                        escape_shift=self.escape_shift, threshold=self.threshold,
                        blocked_until=self.blocked_until.to(buffer.dtype),
                        slopes=self.slopes[:, trials] if keep else no_steps,
                        potentials=self.potentials[:, trials] if self.potentials is not None else no_steps)
        scalar = arrays["buffer"].dtype.type
        no_rows = np.empty((0, n), dtype=scalar)
        totals = buffer.new_zeros(n_time, n, 1) if trial_mean else None
        sums, readout = sums[:, trials].numpy(), readout.detach().contiguous().numpy()
        each_trial, counted = np.ones((len(v), 1), dtype=scalar), None if totals is None else totals.numpy()
        slope_at_0, slope_decay = _slope_constants(self.threshold_gap, scalar)
        sources = np.empty(len(self.delays), dtype=np.int64)
        for t in range(n_time):
            if t % chunk == 0:
                self.draws.wait(min(n_time, t + chunk), trials)
            dense_input = no_rows
            for j in _sparse_sources(sources, lists, prefix + t, self.delays):
                product = buffer[prefix + t - self.delays[j]] @ recurrent[j * n:(j + 1) * n]
                dense_input = product.numpy() if dense_input is no_rows else dense_input + product.numpy()
            fused.integrate_step_(
                scalar(t), arrays["inputs"][t], arrays["input_weights"], arrays["bias"], arrays["light"][t],
                arrays["noise"][t], arrays["noise_std"], dense_input, arrays["recurrent"], sources, lists.neurons,
                lists.starts, lists.counts, lists.take_row(), arrays["v"], arrays["buffer"][prefix + t - 1],
                arrays["buffer"][prefix + t], arrays["log_uniforms"][t], arrays["free_from"], arrays["alpha"],
                arrays["gap"], arrays["escape_shift"], scalar(self.escape_width), arrays["blocked_until"],
                arrays["threshold"], slope_at_0, slope_decay, arrays["potentials"][t], arrays["slopes"][t])
            lists.add_product_(sums[t], prefix + t, arrays["buffer"][prefix + t], readout)
            if trial_mean:
                lists.add_transposed_product_(counted[t], prefix + t, arrays["buffer"][prefix + t], each_trial)
        return v, lists, totals[..., 0] if trial_mean else None

    def _slopes(self, potentials: Tensor, free: Tensor | None) -> Tensor:
        """The (surrogate) derivative of some steps' spikes w.r.t. their ``potentials`` (S, K, N), times whether
        each neuron was ``free`` to spike.

        Computed in place of the stored potentials, which are no longer needed once the backward pass is here.
        """
        u = potentials.sub_(self.threshold)
        if self.spiking:
            slope_at_0, slope_decay = _slope_constants(self.threshold_gap)
            return u.abs_().mul_(-slope_decay).add_(slope_at_0).clamp_(min=0).mul_(free)
        gain = self.temperature / self.threshold_gap
        rate = torch.sigmoid(u.mul_(gain))
        return torch.rsub(rate, 1).mul_(rate).mul_(gain * self.rate_scale)

    def backward(self, grad_spikes: Tensor | None, grad_weighted: Tensor | None, grad_mean: Tensor | None,
                 recurrent: Tensor, gap: Tensor, readout: Tensor, needs_grad) -> tuple:
        """Gradients w.r.t. the drive's input weights, bias, noise scale and light, ``recurrent``, ``gap`` and
        ``readout`` of :meth:`run` (with ``keep``), :func:`_weighted_sum` of its spikes and their trial mean,
        given those of the spikes (T, K, N), of the sums (T, K, P) and of the mean (T, N), each None where nothing
        read it; ``needs_grad`` says which of :class:`_Recurrence`'s inputs need one."""
        (n_time, k, _), n = self.drive.inputs.shape, self.buffer.shape[2]
        buffer, light = self.buffer, self.drive.light
        prefix = len(buffer) - n_time
        transposed = torch.cat([block.T for block in recurrent.split(n)], dim=0)
        if grad_weighted is None:
            grad_weighted = buffer.new_zeros(n_time, k, readout.shape[1])
        grad_weighted = grad_weighted.contiguous()
        per_trial = None if grad_mean is None else (grad_mean / k).unsqueeze(1).contiguous()
        grad_v = buffer.new_empty(n_time + self.delays[-1], k, n)
        grad_v[n_time:] = 0
        summed = {name for name, wanted in (
            ("input_weights", needs_grad[1]), ("bias", needs_grad[2]), ("noise_std", needs_grad[3]),
            ("light", needs_grad[4] and light.shape[1] == 1), ("gap", self.spiking and needs_grad[6]),
            ("recurrent", needs_grad[5] and self.spike_lists is not None),
            ("readout", needs_grad[7] and self.spike_lists is not None)) if wanted}
        partial = [None] * len(self.shards)

        def backpropagate(index: int, trials: slice) -> None:
            if self.spike_lists is None:
                partial[index] = self._backpropagate(trials, grad_spikes, grad_weighted, per_trial, grad_v,
                                                     transposed, gap, readout, summed)
            else:
                partial[index] = self._backpropagate_sparse(trials, grad_spikes, grad_weighted, per_trial, grad_v,
                                                            transposed, gap, readout, self.spike_lists[index], summed)

        in_shards(backpropagate, self.shards)
        self.potentials = self.free = self.slopes = self.spike_lists = self.drive = self.noise = None
        total = {name: sum(part[name] for part in partial) for name in summed}
        grad_v = grad_v[:n_time]
        grad_recurrent = total.get("recurrent")
        if needs_grad[5] and grad_recurrent is None:
            flat = grad_v.reshape(n_time * k, n)
            grad_recurrent = torch.cat([buffer[prefix - d:prefix - d + n_time].reshape(n_time * k, n).T @ flat
                                        for d in self.delays])
        grad_light = None
        if needs_grad[4]:
            grad_light = total["light"].unsqueeze(1) if "light" in total else grad_v
        grad_readout = total.get("readout")
        if needs_grad[7] and grad_readout is None:  # (P, T K) x (T K, N) streams the spikes once, in memory order
            grad_readout = (grad_weighted.reshape(n_time * k, -1).T @ buffer[prefix:].reshape(n_time * k, n)).T
        return (total.get("input_weights"), total.get("bias"), total.get("noise_std"), grad_light, grad_recurrent,
                -total["gap"] if "gap" in total else None, grad_readout)

    def _backpropagate(self, trials: slice, grad_spikes: Tensor | None, grad_weighted: Tensor,
                       per_trial: Tensor | None, grad_v: Tensor, transposed: Tensor, gap: Tensor, readout: Tensor,
                       summed: set) -> dict:
        """Fill ``grad_v`` (T + max delay, K, N) of the ``trials``, block by block in reverse, from the gradients
        of their spikes (or None), of the weighted sums and of the trial mean, divided by the trials (T, 1, N)
        (``per_trial``, or None). Returns the sums over their steps (and trials) that the gradients named in
        ``summed`` need, taken a chunk of steps at a time (:func:`_chunk_steps`): ``input_weights``
        (n_in, N), ``bias`` (N,), ``noise_std`` (N,), ``light`` (T, N) for light shared by all trials, ``gap``
        (the sum of ``grad_v(t) z(t - 1)``, (N,)), in tensor operations."""
        n_time, d_min, spiking = len(grad_weighted), self.delays[0], self.spiking
        grad_weighted, grad_v = grad_weighted[:, trials], grad_v[:, trials]
        grad_spikes = None if grad_spikes is None else grad_spikes[:, trials]
        buffer, potentials = self.buffer[:, trials], self.potentials[:, trials]
        inputs, noise = self.drive.inputs[:, trials], self.noise[:, trials]
        free = self.free[:, trials] if spiking else None
        prefix, lags = len(buffer) - n_time, [-d for d in self.delays]
        sums = {name: grad_v.new_zeros(grad_v.shape[1:]) for name in summed & _SUMMED_PER_TRIAL}
        if "input_weights" in summed:
            sums["input_weights"] = grad_v.new_zeros(inputs.shape[2], grad_v.shape[2])
        if "light" in summed:
            sums["light"] = grad_v.new_zeros(n_time, grad_v.shape[2])
        chunk = _chunk_steps(grad_v[0])
        c0 = c1 = n_time
        for b0 in reversed(range(0, n_time, d_min)):
            b1 = min(n_time, b0 + d_min)
            addend = torch.matmul(grad_weighted[b0:b1], readout.T)
            if grad_spikes is not None:
                addend.add_(grad_spikes[b0:b1])
            if per_trial is not None:
                addend.add_(per_trial[b0:b1])
            grad_z = _delayed_product(grad_v, b0, lags, transposed, addend)
            for t in reversed(range(b0, b1)):
                if t < c0:  # the steps c0:c1 are done; take the slopes of the next steps back
                    if c1 > c0:
                        _add_chunk_sums_(sums, slice(c0, c1), grad_v, inputs, noise, buffer[prefix - 1:])
                    c0, c1 = max(0, t + 1 - chunk), t + 1
                    slopes = self._slopes(potentials[c0:c1], free[c0:c1] if spiking else None)
                g = grad_z[t - b0]
                if spiking:
                    g.addcmul_(gap, grad_v[t + 1], value=-1)
                torch.addcmul(g.mul_(slopes[t - c0]), self.alpha, grad_v[t + 1], out=grad_v[t])
        _add_chunk_sums_(sums, slice(c0, c1), grad_v, inputs, noise, buffer[prefix - 1:])
        return {name: value.sum(0) if name in _SUMMED_PER_TRIAL else value for name, value in sums.items()}


    def _backpropagate_sparse(self, trials: slice, grad_spikes: Tensor | None, grad_weighted: Tensor,
                              per_trial: Tensor | None, grad_v: Tensor, transposed: Tensor, gap: Tensor,
                              readout: Tensor, lists: SpikeLists, summed: set) -> dict:
        """:meth:`_backpropagate` for spiking units with sparse products, a step at a time in
        :func:`~nwb_biornn.model.fused.backpropagate_step_`. Its sums are over the trials too, and, if in
        ``summed``, ``recurrent`` is the stacked weights' gradient and ``readout`` the readout's (N, P), sums of rows
        with the spike ``lists``."""
        n_time, n, d_min = len(grad_weighted), grad_v.shape[2], self.delays[0]
        buffer, grad_v, grad_weighted = self.buffer[:, trials], grad_v[:, trials], grad_weighted[:, trials]
        prefix, lags = len(buffer) - n_time, [-d for d in self.delays]
        sums = {name: grad_v.new_zeros(n) for name in ("bias", "noise_std", "gap")}
        # each optional sum's shape, and the shape of the empty array the kernel gets when the sum is not wanted
        optional = {"input_weights": ((self.drive.inputs.shape[2], n), (0, n)), "light": ((n_time, n), (n_time, 0)),
                    "recurrent": (tuple(transposed.shape), (0, n))}
        sums.update({name: grad_v.new_zeros(shape) for name, (shape, _) in optional.items() if name in summed})
        if "readout" in summed:
            sums["readout"] = grad_v.new_zeros(readout.shape)
        readout_sum = sums["readout"].numpy() if "readout" in sums else None
        arrays = _numpy(buffer=buffer, grad_v=grad_v, grad_weighted=grad_weighted, readout=readout.T.contiguous(),
                        slopes=self.slopes[:, trials], gap=gap, alpha=self.alpha, noise=self.noise[:, trials],
                        inputs=self.drive.inputs[:, trials],
                        per_trial=grad_v.new_empty(n_time, 0, n) if per_trial is None else per_trial,
                        sum_bias=sums["bias"], sum_noise=sums["noise_std"], sum_gap=sums["gap"],
                        **{f"sum_{name}": sums.get(name, grad_v.new_empty(absent))
                           for name, (_, absent) in optional.items()})
        sources = np.empty(len(self.delays), dtype=np.int64)
        for b0 in reversed(range(0, n_time, d_min)):
            b1 = min(n_time, b0 + d_min)
            addend = None if grad_spikes is None else grad_spikes[b0:b1, trials]
            grad_z = _delayed_product(grad_v, b0, lags, transposed, addend, b1 - b0).numpy()
            for t in reversed(range(b0, b1)):
                dense = _sparse_sources(sources, lists, prefix + t, self.delays)
                fused.backpropagate_step_(
                    grad_z[t - b0], arrays["grad_weighted"][t], arrays["readout"], arrays["per_trial"][t],
                    arrays["grad_v"][t + 1], arrays["slopes"][t], arrays["gap"], arrays["alpha"], arrays["grad_v"][t],
                    arrays["noise"][t], arrays["buffer"][prefix + t - 1], arrays["inputs"][t], arrays["sum_bias"],
                    arrays["sum_noise"], arrays["sum_gap"], arrays["sum_input_weights"], arrays["sum_light"][t],
                    arrays["sum_recurrent"], sources, lists.neurons, lists.starts)
                if "recurrent" in sums:
                    for j in dense:
                        sums["recurrent"][j * n:(j + 1) * n].addmm_(buffer[prefix + t - self.delays[j]].T, grad_v[t])
                if readout_sum is not None:
                    lists.add_transposed_product_(readout_sum, prefix + t, arrays["buffer"][prefix + t],
                                                  arrays["grad_weighted"][t])
        return {name: sums[name] for name in summed}


_SUMMED_PER_TRIAL = frozenset({"bias", "noise_std", "gap"})
"""The gradient sums of :meth:`_Loop._backpropagate` kept per trial (K, N) over the steps, then summed over trials."""


def _chunk_steps(step: Tensor) -> int:
    """How many steps of the size of ``step`` (one step's (trials, neurons) tensor) the time loop prepares or
    finishes at once: :data:`CHUNK_ELEMENTS` worth on the CPU, :data:`DEVICE_CHUNK_STEPS` elsewhere."""
    return max(1, CHUNK_ELEMENTS // step.numel()) if step.device.type == "cpu" else DEVICE_CHUNK_STEPS


def _add_chunk_sums_(sums: dict, steps: slice, grad_v: Tensor, inputs: Tensor, noise: Tensor,
                     previous: Tensor) -> None:
    """Add the terms of ``steps`` to the gradient ``sums`` of :meth:`_Loop._backpropagate`, from ``grad_v``, task
    ``inputs``, ``noise`` and the ``previous`` steps' spikes (each indexed by step: (T, K, N), (T, K, n_in))."""
    grad_v, previous, noise = grad_v[steps], previous[steps], noise[steps]
    for name, other in (("bias", None), ("noise_std", noise), ("gap", previous)):
        if name in sums:
            _add_sum_over_steps_(sums[name], grad_v, other)
    if "input_weights" in sums:
        sums["input_weights"].add_(torch.einsum("ski,skn->in", inputs[steps], grad_v))
    if "light" in sums:
        torch.sum(grad_v, 1, out=sums["light"][steps])


def _add_sum_over_steps_(total: Tensor, values: Tensor, weights: Tensor | None) -> None:
    """``total += sum over steps of values (* weights)``, for ``values`` and ``weights`` (S, K, N) and a ``total``
    (K, N): in place for one step, through one temporary for more."""
    if len(values) > 1:
        total.add_((values if weights is None else values * weights).sum(0))
    elif weights is None:
        total.add_(values[0])
    else:
        total.addcmul_(values[0], weights[0])


def _slope_constants(threshold_gap: float, cast=float) -> tuple:
    """The surrogate slope's value at the threshold and its decay per unit of potential away from it: the slope
    is ``max(0, slope_at_0 - slope_decay |v - threshold|)``, as ``cast`` (the numbers' type)."""
    return cast(SURROGATE_DAMPENING / threshold_gap), cast(SURROGATE_DAMPENING / threshold_gap ** 2)


def _sparse_sources(sources: np.ndarray, lists: SpikeLists, now: int, delays: list) -> list:
    """Set ``sources[j]`` to the row of ``lists`` of the step ``now - delays[j]`` if that step is sparse, else to
    -1; returns the ``j`` of the dense steps."""
    dense = []
    for j, delay in enumerate(delays):
        sparse = lists.is_sparse(now - delay)
        sources[j] = now - delay if sparse else -1
        if not sparse:
            dense.append(j)
    return dense


def _numpy(**tensors: Tensor) -> dict:
    """The CPU ``tensors`` as numpy arrays that share their memory (for :mod:`nwb_biornn.model.fused`)."""
    return {name: tensor.detach().numpy() for name, tensor in tensors.items()}


def _weighted_sum(spikes: Tensor, weights: Tensor) -> Tensor:
    """``spikes @ weights`` for time-major spikes (T, K, N) and weights (N, P), shape (T, K, P)."""
    n_time, k, n = spikes.shape
    return (spikes.reshape(n_time * k, n) @ weights).view(n_time, k, weights.shape[1])


def _delayed_product(buffer: Tensor, now: int, lags: list, stacked: Tensor, addend: Tensor | None = None,
                     steps: int | None = None) -> Tensor:
    """The product of ``buffer`` rows ``now - lag ...`` with the stacked blocks, plus ``addend`` (B, K, N) if given.

    Row ``i`` of the result (B = ``len(addend)`` or ``steps`` rows) is ``addend[i] + sum_j buffer[now + i -
    lags[j]] @ stacked[j N:(j + 1) N]``.
    """
    b, (_, k, n) = addend.shape[0] if addend is not None else steps, buffer.shape  # len() of a tensor is slow
    if b == 1 and len(lags) == 1:  # one step: no reshapes (this runs once per step of small networks)
        past = buffer[now - lags[0]]
        return (past @ stacked if addend is None else torch.addmm(addend[0], past, stacked)).unsqueeze(0)
    if len(lags) == 1:
        past = buffer[now - lags[0]:now - lags[0] + b].reshape(b * k, n)
    else:
        past = torch.cat([buffer[now - lag:now - lag + b] for lag in lags], dim=-1).reshape(b * k, -1)
    if addend is None:
        return (past @ stacked).view(b, k, -1)
    return torch.addmm(addend.reshape(b * k, -1), past, stacked).view(b, k, -1)


def _draw_delays(config: ModelConfig, dt: float, n: int, generator: torch.Generator) -> Tensor:
    """Per-synapse delays in steps, uniform over the whole steps in ``[delay_min, delay_max]`` (at least 1)."""
    low = max(1, math.ceil(config.delay_min / dt - 1e-9))
    high = math.floor(config.delay_max / dt + 1e-9)
    if high < low:
        low = high = max(1, round(config.delay_min / dt))
    return torch.randint(low, high + 1, (n, n), generator=generator)


def _initial_weights(within: Tensor, allowed: Tensor, excitatory: Tensor, generator: torch.Generator) -> Tensor:
    """Log-normal magnitudes ``20 * 2^N(0,1) / K_j`` on within-area synapses, E and I sums balanced per row.

    ``K_j`` counts all allowed presynaptic partners of ``j``; across-area weights start at exactly zero.
    """
    n = len(excitatory)
    partners = allowed.sum(1, keepdim=True).clamp(min=1)
    weights = torch.exp(math.log(20) + math.log(2) * torch.randn(n, n, generator=generator)) / partners * within
    exc_sum = (weights * excitatory).sum(1, keepdim=True)
    inh_sum = (weights * ~excitatory).sum(1, keepdim=True)
    target = torch.minimum(exc_sum, inh_sum)
    both = (exc_sum > 0) & (inh_sum > 0)
    scale = torch.where(excitatory[None, :], target / exc_sum.clamp(min=1e-30), target / inh_sum.clamp(min=1e-30))
    return torch.where(both, weights * scale, weights)
