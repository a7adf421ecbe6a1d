"""Recurrent products of sparse spikes, on the CPU.

Spiking neurons are silent in most steps: a neuron firing at 10 Hz spikes in 2 % of 2 ms steps. The recurrent
input of a step, ``z @ W`` for spikes ``z`` (K trials, N neurons) of zeros and ones, is then the sum of the
rows of ``W`` of the neurons that spiked, trial by trial: ``nnz * N`` additions instead of the ``K * N * N``
multiply-adds of a dense product, and likewise for the weight gradient ``z.T @ g`` of the backward pass.
:class:`SpikeLists` records which neurons spiked at each step, and :func:`add_rows_` and :func:`scatter_rows_`
(compiled with numba, so that :mod:`nwb_biornn.model.fused` can call them from its step kernels) compute both
products as sums of rows; a step whose spikes are too dense for this to pay (above ``max_density``) is
multiplied densely. The sums run in another order than a dense product's, so results agree to rounding, not bit
for bit; :func:`sparse_density_limit` keeps small networks on the dense product.

Examples
--------
>>> spikes = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])       # 2 trials, 3 neurons
>>> lists = SpikeLists(n_trials=2, n_neurons=3, n_steps=1, max_density=0.5)
>>> lists.append(spikes)
>>> weights = np.arange(6.0, dtype=np.float32).reshape(3, 2)
>>> out = np.zeros((2, 2), dtype=np.float32)
>>> lists.add_product_(out, 0, spikes.numpy(), weights)
>>> bool((out == spikes.numpy() @ weights).all())
True
"""
from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

SPARSE_DENSITY = 0.1
"""Largest fraction of (trial, neuron) pairs spiking in a step for which its products are sums of rows (they
pay below about 25 % on one core: docs/performance.md)."""
SPARSE_STEP_WORK = 2 ** 23
"""Multiply-adds of one step's dense recurrent product below which the dense product is kept."""


def sparse_density_limit(device: torch.device, spiking: bool, n_trials: int, n_neurons: int,
                         n_delays: int) -> float:
    """The spike density below which a run's products are sums of rows: :data:`SPARSE_DENSITY` for spiking
    units on the CPU whose dense product per step reaches :data:`SPARSE_STEP_WORK` multiply-adds, else 0."""
    big = n_trials * n_neurons * n_neurons * n_delays >= SPARSE_STEP_WORK
    return SPARSE_DENSITY if spiking and torch.device(device).type == "cpu" and big else 0.0


class SpikeLists:
    """Which neurons spiked at each step of a run, as lists for products with the spikes.

    Parameters
    ----------
    n_trials, n_neurons : int
        Shape (K, N) of one step's spikes.
    n_steps : int
        Steps to hold.
    max_density : float
        Largest fraction of (trial, neuron) pairs spiking in a step whose products are sums of rows; the
        products of denser steps are dense (:func:`sparse_density_limit`).

    Attributes
    ----------
    neurons : ndarray, shape (n_steps, capacity), int32
        The neurons that spiked at each step, trial after trial (``capacity`` = the most a sparse step has).
    starts : ndarray, shape (n_steps, K + 1), int64
        Where each trial's neurons start in its step's row of ``neurons`` (the last: where they end).
    counts : ndarray, shape (n_steps,), int64
        Spikes of each step (above ``capacity``, the step is dense and its row incomplete).
    """

    def __init__(self, n_trials: int, n_neurons: int, n_steps: int, max_density: float = 1.0):
        self.n_trials, self.n_neurons = n_trials, n_neurons
        self.capacity = int(max_density * n_trials * n_neurons)
        self.neurons = np.empty((n_steps, self.capacity), dtype=np.int32)
        self.starts = np.empty((n_steps, n_trials + 1), dtype=np.int64)
        self.counts = np.zeros(n_steps, dtype=np.int64)
        self._recorded = 0

    def __len__(self) -> int:
        return self._recorded

    def take_row(self) -> int:
        """The row of the next step, counted as recorded (for a kernel that records the step itself)."""
        if self._recorded == len(self.counts):
            raise IndexError(f"the lists hold {len(self.counts)} steps")
        self._recorded += 1
        return self._recorded - 1

    def append(self, spikes: Tensor) -> None:
        """Record the next step's spikes (K, N) of zeros and ones (a CPU tensor)."""
        row = self.take_row()
        self.counts[row] = record_spikes(spikes.detach().numpy(), self.neurons[row], self.starts[row])

    def is_sparse(self, step: int) -> bool:
        """Whether ``step``'s products are sums of rows."""
        return self.counts[step] <= self.capacity

    def density(self, step: int) -> float:
        """Fraction of (trial, neuron) pairs that spiked at ``step``."""
        return int(self.counts[step]) / (self.n_trials * self.n_neurons)

    def add_product_(self, out: np.ndarray, step: int, spikes: np.ndarray, weights: np.ndarray) -> None:
        """``out += spikes @ weights`` for the ``spikes`` (K, N) recorded at ``step``, ``weights`` (N, M), ``out``
        (K, M) (arrays, as the time loop's kernels take them)."""
        if self.is_sparse(step):
            add_rows_(out, weights, self.neurons[step], self.starts[step])
        else:
            torch.from_numpy(out).addmm_(torch.from_numpy(spikes), torch.from_numpy(weights))

    def add_transposed_product_(self, out: np.ndarray, step: int, spikes: np.ndarray, grad: np.ndarray) -> None:
        """``out += spikes.T @ grad`` for the ``spikes`` (K, N) recorded at ``step``, ``grad`` (K, M), ``out``
        (N, M) (arrays)."""
        if self.is_sparse(step):
            scatter_rows_(out, grad, self.neurons[step], self.starts[step])
        else:
            torch.from_numpy(out).addmm_(torch.from_numpy(spikes).T, torch.from_numpy(grad))


@numba.njit(nogil=True, cache=True)
def record_spikes(spikes, neurons, starts):
    """Write the neurons that spiked (``spikes`` (K, N) above 0.5) into ``neurons``, trial after trial, as far as
    it holds them, and where each trial's start into ``starts`` (K + 1); returns how many spiked."""
    count = 0
    for k in range(spikes.shape[0]):
        count = record_trial(spikes[k], neurons, starts, k, count)
    starts[spikes.shape[0]] = min(count, len(neurons))
    return count


@numba.njit(nogil=True, cache=True)
def record_trial(spikes, neurons, starts, trial, count):
    """Write the neurons that spiked in trial ``trial`` (``spikes`` (N,)) into ``neurons`` from position ``count``
    on, as far as it holds them, and that position into ``starts[trial]``; returns ``count`` plus how many
    spiked."""
    starts[trial] = min(count, len(neurons))
    for j in range(len(spikes)):
        if spikes[j] > 0.5:
            if count < len(neurons):
                neurons[count] = j
            count += 1
    return count


@numba.njit(nogil=True, cache=True)
def add_rows_(out, weights, neurons, starts):
    """``out[k] += sum of weights[i]`` over the neurons ``i`` of trial ``k``'s list (``neurons[starts[k]:
    starts[k + 1]]``): the product of a step's sparse spikes (K, N) with ``weights`` (N, M), added to ``out``
    (K, M)."""
    for k in range(out.shape[0]):
        add_row_sum_(out[k], weights, neurons[starts[k]:starts[k + 1]])


@numba.njit(nogil=True, cache=True)
def add_row_sum_(out, weights, rows):
    """``out += sum of weights[i] for i in rows`` (``out`` (M,), ``weights`` (N, M))."""
    for i in rows:
        source = weights[i]
        for m in range(len(out)):
            out[m] += source[m]


@numba.njit(nogil=True, cache=True)
def scatter_rows_(out, grad, neurons, starts):
    """``out[i] += grad[k]`` for every neuron ``i`` in trial ``k``'s list: the product ``spikes.T @ grad`` of a
    step's sparse spikes (K, N) with ``grad`` (K, M), added to ``out`` (N, M)."""
    for k in range(grad.shape[0]):
        source = grad[k]
        for s in range(starts[k], starts[k + 1]):
            row = out[neurons[s]]
            for m in range(out.shape[1]):
                row[m] += source[m]
