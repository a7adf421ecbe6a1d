"""Recurrent products of sparse spikes, on the CPU.

Spiking neurons are silent in most steps: a neuron firing at 10 Hz spikes in 2 % of 2 ms steps. The recurrent
input of a step, ``z @ W`` for spikes ``z`` (K trials, N neurons) of zeros and ones, is then the sum of the
rows of ``W`` of the neurons that spiked, trial by trial: ``nnz * N`` additions instead of the ``K * N * N``
multiply-adds of a dense product, and likewise for the weight gradient ``z.T @ g`` of the backward pass.
:class:`SpikeLists` records which neurons spiked at each step and computes both products as sums of rows
(:func:`torch.nn.functional.embedding_bag`); a step whose spikes are too dense for this to pay (above
``max_density``) is multiplied densely. The sums run in another order than a dense product's, so results agree to rounding, not bit for bit;
:func:`sparse_density_limit` keeps small networks on the dense product.

Examples
--------
>>> spikes = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])       # 2 trials, 3 neurons
>>> lists = SpikeLists(n_trials=2, n_neurons=3, max_density=0.5)
>>> lists.append(spikes)
>>> weights = torch.arange(6.0).view(3, 2)
>>> out = torch.zeros(2, 2)
>>> lists.add_product_(out, 0, spikes, weights)
>>> torch.equal(out, spikes @ weights)
True
"""
from __future__ import annotations

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
    max_density : float
        Largest fraction of (trial, neuron) pairs spiking in a step whose products are sums of rows; the
        products of denser steps are dense (:func:`sparse_density_limit`).
    """

    def __init__(self, n_trials: int, n_neurons: int, max_density: float = 1.0):
        self.n_trials, self.n_neurons, self.max_density = n_trials, n_neurons, max_density
        self._flags = np.empty((n_trials, n_neurons), dtype=bool)
        self._trial_starts = np.arange(n_trials) * n_neurons
        self._neurons = np.arange(n_neurons)
        self._steps: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._steps)

    def append(self, spikes: Tensor) -> None:
        """Record the next step's spikes (K, N) of zeros and ones (a CPU tensor)."""
        self._steps.append(np.flatnonzero(np.greater(spikes.numpy(), 0.5, out=self._flags)))

    def density(self, step: int) -> float:
        """Fraction of (trial, neuron) pairs that spiked at ``step``."""
        return len(self._steps[step]) / (self.n_trials * self.n_neurons)

    def add_product_(self, out: Tensor, step: int, spikes: Tensor, weights: Tensor) -> None:
        """``out += spikes @ weights`` for the ``spikes`` (K, N) recorded at ``step``, ``weights`` (N, M), ``out``
        (K, M)."""
        if self.density(step) > self.max_density:
            out.addmm_(spikes, weights)
            return
        spiked = self._steps[step]
        out.add_(_sum_rows(weights, spiked % self.n_neurons, np.searchsorted(spiked, self._trial_starts)))

    def add_transposed_product_(self, out: Tensor, step: int, spikes: Tensor, grad: Tensor) -> None:
        """``out += spikes.T @ grad`` for the ``spikes`` (K, N) recorded at ``step``, ``grad`` (K, M), ``out``
        (N, M)."""
        if self.density(step) > self.max_density:
            out.addmm_(spikes.T, grad)
            return
        trial, neuron = np.divmod(self._steps[step], self.n_neurons)
        by_neuron = np.argsort(neuron, kind="stable")
        out.add_(_sum_rows(grad, trial[by_neuron], np.searchsorted(neuron[by_neuron], self._neurons)))


def _sum_rows(matrix: Tensor, rows: np.ndarray, starts: np.ndarray) -> Tensor:
    """Sums of ``matrix`` rows: bag ``b`` sums ``rows[starts[b]:starts[b + 1]]`` (the last bag to the end)."""
    return torch.nn.functional.embedding_bag(torch.from_numpy(rows), matrix, torch.from_numpy(starts), mode="sum")
