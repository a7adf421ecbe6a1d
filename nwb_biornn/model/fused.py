"""One step of a sparse spiking run, forward and backward, fused into one pass over the step (numba, CPU).

Each step of :class:`~nwb_biornn.model.network.BioRNN`'s time loop does about ten element-wise operations, forward
and backward, each a pass over the step's (trials, neurons) tensors; on the CPU these passes are bound by
memory traffic and by Python's dispatch of each operation, not by arithmetic (docs/performance.md, seventh
round). For the runs whose recurrent products are sums of rows (:mod:`nwb_biornn.model.sparse`: big spiking
networks on the CPU), the kernels here do a step's work in one compiled pass per trial shard, without the GIL:
:func:`integrate_step_` makes the step's drive, adds the recurrent input of the sparse delayed steps, integrates,
spikes, records the spikes and stores the surrogate slopes; :func:`backpropagate_step_` takes the step's gradient
through the readout, the reset and the slopes, and adds its terms to the parameters' gradient sums. They compute
what the time loop's tensor operations compute (:mod:`nwb_biornn.model.network`, which keeps those for GPUs and
dense runs) to rounding: the drive and the sums over trials, steps and rows are added in another order.

Arrays are one step of one shard of trials, (K, N), unless said otherwise; an optional array is given with no
rows when absent.
"""
from __future__ import annotations

import numba
import numpy as np

from nwb_biornn.model.sparse import add_row_sum_, record_trial, scatter_rows_


@numba.njit(nogil=True, cache=True)
def integrate_step_(step, inputs, input_weights, bias, light, noise, noise_std, dense_input, recurrent, sources,
                    neurons, starts, counts, row, v, previous, spikes, log_uniforms, free_from, alpha, gap,
                    escape_shift, escape_width, blocked_until, threshold, slope_at_0, slope_decay, potential, slopes):
    """Integrate one step of spiking units, in place.

    The current is ``bias + inputs @ input_weights + light + noise * noise_std`` (``inputs`` (K, n_in),
    ``input_weights`` (n_in, N), ``light`` (1 or K, N) or none, ``bias`` and ``noise_std`` (N,)) plus the recurrent
    input: ``dense_input`` (the products of the dense delayed steps) or none, and the sums of rows of block ``d``
    of ``recurrent`` (D N, N) over the neurons in row ``sources[d]`` of the lists (``neurons``, ``starts``; -1 for
    a dense step). Then ``v = current + alpha v - gap z(t-1)`` (``previous``), written to ``v`` and to
    ``potential`` (unless it has no rows). A neuron spikes if ``free_from <= step`` and ``v`` is above its
    threshold ``log_uniforms escape_width + escape_shift``; a spike blocks it until ``blocked_until + step``. The
    spikes are written to ``spikes`` and recorded in row ``row`` of the lists (their count in ``counts[row]``),
    and the surrogate slopes ``max(0, slope_at_0 - slope_decay |v - threshold|)`` of the free neurons (0 for the
    others) to ``slopes`` (unless it has no rows).
    """
    n_trials, n_neurons = v.shape
    current = np.empty(n_neurons, dtype=v.dtype)
    one, zero = v.dtype.type(1), v.dtype.type(0)
    recorded = 0
    for k in range(n_trials):
        for j in range(n_neurons):
            current[j] = bias[j]
        for c in range(inputs.shape[1]):
            x = inputs[k, c]
            for j in range(n_neurons):
                current[j] += x * input_weights[c, j]
        if light.shape[0]:
            light_k = light[min(k, light.shape[0] - 1)]
            for j in range(n_neurons):
                current[j] += light_k[j]
        for j in range(n_neurons):
            current[j] += noise[k, j] * noise_std[j]
        if dense_input.shape[0]:
            for j in range(n_neurons):
                current[j] += dense_input[k, j]
        for d in range(len(sources)):
            if sources[d] >= 0:
                add_row_sum_(current, recurrent[d * n_neurons:(d + 1) * n_neurons],
                             neurons[sources[d], starts[sources[d], k]:starts[sources[d], k + 1]])
        potentials, fired_before, spiked, logs, blocked = v[k], previous[k], spikes[k], log_uniforms[k], free_from[k]
        for j in range(n_neurons):
            value = current[j] + alpha[j] * potentials[j] - gap[j] * fired_before[j]
            potentials[j] = value
            free = blocked[j] <= step
            fired = free and value > logs[j] * escape_width + escape_shift[j]
            spiked[j] = one if fired else zero
            blocked[j] = blocked_until[j] + step if fired else blocked[j]
            if slopes.shape[0]:
                slope = max(slope_at_0 - slope_decay * abs(value - threshold[j]), zero)
                slopes[k, j] = slope if free else zero
        if potential.shape[0]:
            for j in range(n_neurons):
                potential[k, j] = potentials[j]
        recorded = record_trial(spiked, neurons[row], starts[row], k, recorded)
    starts[row, n_trials] = min(recorded, neurons.shape[1])
    counts[row] = recorded


@numba.njit(nogil=True, cache=True)
def backpropagate_step_(grad_z, grad_weighted, readout, per_trial, grad_next, slopes, gap, alpha, grad_v, noise,
                        previous, inputs, sum_bias, sum_noise, sum_gap, sum_inputs, sum_light, grad_recurrent, sources,
                        neurons, starts):
    """Backpropagate one step of spiking units: the gradient ``grad_v`` of its potentials, and its terms of the
    parameters' gradient sums, added in place.

    The gradient of the step's spikes is ``grad_z`` (the products with the later steps' ``grad_v``, and any
    gradient of the spikes themselves) plus ``grad_weighted @ readout`` (``grad_weighted`` (K, P), ``readout``
    (P, N): the gradients of the readout's weighted sums) plus ``per_trial`` (1, N) or none (the trial mean's).
    Then ``grad_v = (grad_z - gap grad_next) slopes + alpha grad_next``, with ``grad_next`` the next step's and
    the ``slopes`` of :func:`integrate_step_`. Sums, added to: ``sum_bias`` (N,) of ``grad_v``, ``sum_noise`` of
    ``grad_v noise``, ``sum_gap`` of ``grad_v previous`` (the previous step's spikes), ``sum_inputs`` (n_in, N) of
    ``inputs.T @ grad_v`` (``inputs`` (K, n_in)), ``sum_light`` (N,) of ``grad_v`` unless it has no rows (light
    shared by the trials), and, unless it has no rows, the stacked recurrent blocks' gradient ``grad_recurrent``
    (D N, N) of ``z(t - d).T @ grad_v`` for each delay ``d`` whose step is sparse: row ``sources[d]`` of the lists
    (``neurons``, ``starts``; -1: dense, left to the caller).
    """
    n_trials, n_neurons = grad_v.shape
    g = np.empty(n_neurons, dtype=grad_v.dtype)
    for k in range(n_trials):
        for j in range(n_neurons):
            g[j] = grad_z[k, j]
        for p in range(readout.shape[0]):
            w = grad_weighted[k, p]
            for j in range(n_neurons):
                g[j] += w * readout[p, j]
        if per_trial.shape[0]:
            for j in range(n_neurons):
                g[j] += per_trial[0, j]
        out, following, slope, membrane, fired_before = grad_v[k], grad_next[k], slopes[k], noise[k], previous[k]
        for j in range(n_neurons):
            value = (g[j] - gap[j] * following[j]) * slope[j] + alpha[j] * following[j]
            out[j] = value
            sum_bias[j] += value
            sum_noise[j] += value * membrane[j]
            sum_gap[j] += value * fired_before[j]
        if sum_light.shape[0]:
            for j in range(n_neurons):
                sum_light[j] += out[j]
        for c in range(sum_inputs.shape[0]):
            x = inputs[k, c]
            for j in range(n_neurons):
                sum_inputs[c, j] += x * out[j]
    if grad_recurrent.shape[0]:
        for d in range(len(sources)):
            if sources[d] >= 0:
                scatter_rows_(grad_recurrent[d * n_neurons:(d + 1) * n_neurons], grad_v, neurons[sources[d]],
                              starts[sources[d]])
