"""The linear summaries of simulated spikes that every loss of the fit reads, in one autograd node.

The trial-matching loss reads the mean activity of neuron groups (areas) per trial, the PSTH and baseline-rate
losses read the trial mean of every neuron. All are linear in the spikes, so :func:`summarize_spikes` computes
them together and its backward pass writes the gradient of the full (trials, time, neurons) spike tensor once,
in the time-major layout of :class:`~nwb_biornn.model.network.BioRNN`'s spike buffer, instead of one full-size
gradient per loss term summed by autograd. :func:`summary_metric` gives the weights that turn squared gradients
of the summaries into the squared norm of the gradient of the spikes, so that
:class:`~nwb_biornn.fit.losses.GradientNormalizer` balances the loss terms exactly as on the spikes themselves.

Examples
--------
>>> spikes = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]]])      # 2 trials, 1 step, 3 neurons
>>> summary = summarize_spikes(spikes, group_averaging([[0, 1], [2]], 3))
>>> summary.group_rates.tolist(), summary.neuron_mean.tolist()
([[[0.5, 1.0]], [[0.0, 1.0]]], [[0.5, 0.0, 1.0]])
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor


class SpikeSummary(NamedTuple):
    """Summaries of spikes (K, T, N).

    Attributes
    ----------
    group_rates : Tensor, shape (K, T, G)
        Mean over the neurons of each group, per trial and step.
    neuron_mean : Tensor, shape (T, N)
        Mean over trials, per step and neuron.
    """

    group_rates: Tensor
    neuron_mean: Tensor


def group_averaging(groups, n_neurons: int, device=None) -> Tensor:
    """The (N, G) matrix whose product with spikes averages each group of neuron indices (disjoint groups)."""
    averaging = torch.zeros(n_neurons, len(groups), device=device)
    for column, group in enumerate(groups):
        averaging[torch.as_tensor(np.asarray(group, dtype=np.int64), device=device), column] = 1 / len(group)
    return averaging


def summarize_spikes(spikes: Tensor, averaging: Tensor) -> SpikeSummary:
    """The :class:`SpikeSummary` of ``spikes`` (K, T, N) for the groups of ``averaging`` (:func:`group_averaging`)."""
    return SpikeSummary(*_Summarize.apply(spikes, averaging))


def summary_metric(averaging: Tensor, n_trials: int) -> tuple[Tensor, float]:
    """Weights ``(w_groups (G,), w_mean)`` with ``|dL/dspikes|^2 = sum(w_groups g_rates^2) + w_mean sum(g_mean^2)``.

    Exact when the loss reads the group rates or the neuron means but not both, with disjoint groups: a
    gradient ``g`` of a group's mean reaches each of its ``n`` neurons as ``g / n`` (squared norm ``g^2 / n``),
    and a gradient of a neuron's trial mean reaches it in each of the ``K`` trials as ``g / K``.
    """
    counts = (averaging > 0).sum(0).clamp(min=1).to(averaging.dtype)
    return 1 / counts, 1 / n_trials


class _Summarize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spikes, averaging):
        k, n_time, n = spikes.shape
        time_major = spikes.transpose(0, 1)  # a view of BioRNN's (T, K, N) buffer: contiguous, no copy
        rates = (time_major.reshape(n_time * k, n) @ averaging).view(n_time, k, -1).transpose(0, 1)
        ctx.save_for_backward(averaging)
        ctx.n_trials = k
        return rates, time_major.mean(1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_rates, grad_mean):
        (averaging,) = ctx.saved_tensors
        k = ctx.n_trials
        n_time, n = grad_mean.shape
        per_step = (grad_mean / k).unsqueeze(1)
        grad = torch.baddbmm(per_step, grad_rates.transpose(0, 1), averaging.T.expand(n_time, -1, -1))
        return grad.transpose(0, 1), None
