"""The linear summaries of simulated spikes that every loss of the fit reads.

The trial-matching loss reads the mean activity of neuron groups (areas) per trial, the PSTH and baseline-rate
losses read the trial mean of every neuron. All are linear in the spikes, so
:meth:`~nwb_biornn.model.network.BioRNN.simulate` computes them inside its time loop's autograd node
(``averaging=``:func:`group_averaging`), whose backward pass takes their gradients step by step instead of one
full-size gradient of the spikes per loss term. :func:`summary_metric` gives the weights that turn squared
gradients of the summaries into the squared norm of the gradient of the spikes, so that
:class:`~nwb_biornn.fit.losses.GradientNormalizer` balances the loss terms exactly as on the spikes themselves.

Examples
--------
>>> spikes = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]]])      # 2 trials, 1 step, 3 neurons
>>> (spikes @ group_averaging([[0, 1], [2]], 3)).tolist()
[[[0.5, 1.0]], [[0.0, 1.0]]]
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def group_averaging(groups, n_neurons: int, device=None) -> Tensor:
    """The (N, G) matrix whose product with spikes averages each group of neuron indices (disjoint groups)."""
    averaging = torch.zeros(n_neurons, len(groups), device=device)
    for column, group in enumerate(groups):
        averaging[torch.as_tensor(np.asarray(group, dtype=np.int64), device=device), column] = 1 / len(group)
    return averaging


def summary_metric(averaging: Tensor, n_trials: int) -> tuple[Tensor, float]:
    """Weights ``(w_groups (G,), w_mean)`` with ``|dL/dspikes|^2 = sum(w_groups g_rates^2) + w_mean sum(g_mean^2)``.

    Exact when the loss reads the group rates or the neuron means but not both, with disjoint groups: a
    gradient ``g`` of a group's mean reaches each of its ``n`` neurons as ``g / n`` (squared norm ``g^2 / n``),
    and a gradient of a neuron's trial mean reaches it in each of the ``K`` trials as ``g / K``.
    """
    counts = (averaging > 0).sum(0).clamp(min=1).to(averaging.dtype)
    return 1 / counts, 1 / n_trials
