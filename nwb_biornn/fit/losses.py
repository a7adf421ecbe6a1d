"""Loss terms of the fit (method.md §3.1-3.4): box filters, features, trial matching, PSTH and rate losses,
and the normalizer that balances their gradients.

All functions take trial-major tensors ``(trials, time, channels)`` and are differentiable in the model
argument; data arguments are constants.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import NO_RESPONSE
from nwb_biornn.fit.summaries import group_averaging

STD_FLOOR = 1e-3
"""Smallest standard deviation used for z-scoring (method.md §3.2)."""
SINKHORN_BLUR = 0.01


def filter_widths(psth_filter: float, pop_avg_resample: int, dt: float) -> tuple[int, int]:
    """Kernel widths in bins of the first (``psth_filter`` seconds) and second (``2 * pop_avg_resample``) filter."""
    return max(1, round(psth_filter / dt)), 2 * pop_avg_resample


def box_filter(x: Tensor, width: int) -> Tensor:
    """Box average over time with stride ``width // 2`` (method.md §3.1).

    ``AvgPool1d(width, stride=max(width // 2, 1), padding=(width - 1) // 2, count_include_pad=False)`` along
    dim 1 of ``x`` (trials, time, channels).

    Examples
    --------
    >>> box_filter(torch.arange(6.).reshape(1, 6, 1), 2)[0, :, 0]
    tensor([0.5000, 1.5000, 2.5000, 3.5000, 4.5000])
    """
    pooled = F.avg_pool1d(x.transpose(1, 2), width, stride=max(width // 2, 1), padding=(width - 1) // 2,
                          count_include_pad=False)
    return pooled.transpose(1, 2)


def population_features(spikes: Tensor, behaviour: Tensor | None, groups: list, widths: tuple[int, int]) -> Tensor:
    """Per-trial features: the doubly filtered mean activity of each neuron group and the behaviour traces.

    Parameters
    ----------
    spikes : Tensor, shape (K, T, N)
    behaviour : Tensor, shape (K, T, P), or None
        Appended as the last ``P`` features (one per port) unless None.
    groups : list of index arrays
        Columns of ``spikes`` averaged together (one per area).
    widths : (int, int)
        :func:`filter_widths`.

    Returns
    -------
    Tensor, shape (K, len(groups) + P, T''), or (K, len(groups), T'') without behaviour
    """
    averaging = group_averaging(groups, spikes.shape[-1], spikes.device).to(spikes.dtype)
    return group_features(spikes @ averaging, behaviour, widths)


def group_features(group_rates: Tensor, behaviour: Tensor | None, widths: tuple[int, int]) -> Tensor:
    """:func:`population_features` from the group means (K, T, G) already taken."""
    stacked = group_rates if behaviour is None else torch.cat([group_rates, behaviour], dim=-1)
    return box_filter(box_filter(stacked, widths[0]), widths[1]).transpose(1, 2)


def columns_of(indices, device=None):
    """``indices`` as a slice when they are consecutive (indexing then gives a view, not a copy), else a tensor.

    Examples
    --------
    >>> columns_of([3, 4, 5])
    slice(3, 6, None)
    """
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) and np.array_equal(indices, np.arange(indices[0], indices[0] + len(indices))):
        return slice(int(indices[0]), int(indices[0]) + len(indices))
    return torch.as_tensor(indices, device=device)


def zscore_features(model: Tensor, data: Tensor) -> tuple[Tensor, Tensor]:
    """Z-score features (trials, groups, time) with the data's per-bin mean over trials and per-group std."""
    mean = data.mean(0, keepdim=True)
    std = (data - mean).pow(2).mean((0, 2), keepdim=True).sqrt().clamp(min=STD_FLOOR)
    return (model - mean) / std, (data - mean) / std


def pairwise_mse(a: Tensor, b: Tensor) -> Tensor:
    """Mean squared difference between every row of ``a`` (K, D) and of ``b`` (M, D); shape (K, M)."""
    return (a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2 * a @ b.T).clamp(min=0) / a.shape[1]


def hungarian_loss(model: Tensor, data: Tensor) -> Tensor:
    """Trial-matching loss: mean squared difference of optimally paired trials (``K == M``).

    The pairing minimises the summed pairwise MSE (``scipy.optimize.linear_sum_assignment``, no gradient).
    Non-finite features give a non-finite loss.
    """
    cost = pairwise_mse(model, data)
    detached = cost.detach().cpu().numpy()
    if not np.isfinite(detached).all():
        return cost.mean()
    rows, cols = linear_sum_assignment(detached)
    return cost[torch.as_tensor(rows, device=cost.device), torch.as_tensor(cols, device=cost.device)].mean()


def sinkhorn_loss(model: Tensor, data: Tensor) -> Tensor:
    """Debiased Sinkhorn divergence (geomloss, p=1, blur 0.01) between the trial sets, divided by sqrt(D)."""
    try:
        from geomloss import SamplesLoss
    except ImportError:
        raise UserError("fit.trial_matching = 'sinkhorn' needs geomloss: pip install 'nwb-biornn[sinkhorn]'") from None
    return SamplesLoss("sinkhorn", p=1, blur=SINKHORN_BLUR)(model, data) / math.sqrt(model.shape[1])


def trial_matching_loss(model: Tensor, data: Tensor, method: str = "hungarian",
                        generator: np.random.Generator | None = None, model_types=None, data_types=None) -> Tensor:
    """Distance between the distributions of single-trial features (method.md §3.2 T_trial).

    Parameters
    ----------
    model, data : Tensor, shape (K, ...) and (M, ...)
        Features of model and recorded trials (flattened after the trial dimension), already z-scored.
    method : {"hungarian", "sinkhorn"}
    generator : numpy Generator, optional
        Draws which trials of the larger set are kept, so that both sets have as many trials.
    model_types, data_types : array-like of str, shape (K,) and (M,), optional
        Trial type (stimulus, instruction) of each trial. When given, trials are matched only within a type: the
        loss is the mean over the matched pairs of every type both sets have. Without them the matching may pair
        a model trial with a recorded trial of another stimulus, and a model that swaps two stimuli' responses
        scores as well as the right one (docs/decisions.md).

    Examples
    --------
    >>> data = torch.tensor([[0.0], [1.0]])
    >>> float(trial_matching_loss(data.flip(0), data))
    0.0
    >>> float(trial_matching_loss(data.flip(0), data, model_types=["go", "nogo"], data_types=["go", "nogo"]))
    1.0
    """
    model, data = model.flatten(1), data.flatten(1)
    generator = generator if generator is not None else np.random.default_rng()
    if model_types is None and data_types is None:
        return _matched_loss(model, data, method, generator)
    model_types, data_types = np.asarray(model_types), np.asarray(data_types)
    if model_types.shape != (len(model),) or data_types.shape != (len(data),):
        raise ValueError("model_types and data_types need one trial type per trial of model and data")
    shared = np.intersect1d(model_types, data_types)
    if not len(shared):
        raise ValueError("model and data trials have no trial type in common")
    pairs, total = 0, 0
    for trial_type in shared:
        rows, cols = (torch.as_tensor(np.flatnonzero(types == trial_type), device=model.device)
                      for types in (model_types, data_types))
        n = min(len(rows), len(cols))
        total = total + n * _matched_loss(model[rows], data[cols], method, generator)
        pairs += n
    return total / pairs


def _matched_loss(model: Tensor, data: Tensor, method: str, generator: np.random.Generator) -> Tensor:
    """:func:`trial_matching_loss` of two flattened trial sets, the larger one subsampled to the smaller's size."""
    n = min(len(model), len(data))
    if len(model) > n:
        model = model[torch.as_tensor(np.sort(generator.choice(len(model), n, replace=False)), device=model.device)]
    if len(data) > n:
        data = data[torch.as_tensor(np.sort(generator.choice(len(data), n, replace=False)), device=data.device)]
    return hungarian_loss(model, data) if method == "hungarian" else sinkhorn_loss(model, data)


def psth(x: Tensor, width: int) -> Tensor:
    """Trial-averaged, box-filtered activity (T', C) of ``x`` (trials, T, C).

    The filter is linear, so the trials are averaged first (the same result for a fraction of the work).
    """
    return box_filter(x.mean(0, keepdim=True), width)[0]


def psth_loss(model: Tensor, data_psth: Tensor, std: Tensor | None = None) -> Tensor:
    """Z-scored PSTH loss (method.md §3.2 T_neuron).

    Each channel of ``model`` (T', C) and ``data_psth`` (T', C) is z-scored with the data's temporal mean and
    std (at least :data:`STD_FLOOR`); the loss is the mean squared difference. ``std`` (C,) replaces the data's
    std, e.g. to score the PSTHs of one trial type on the scale of all trials.
    """
    std = (data_psth.std(0, unbiased=False) if std is None else std).clamp(min=STD_FLOOR)
    return ((model - data_psth) / std).pow(2).mean()


def baseline_rates(trial_mean: Tensor, dt: float, n_bins: int) -> Tensor:
    """Mean rate in Hz of each channel over the first ``n_bins`` steps, from its trial mean (T, C); shape (C,)."""
    return trial_mean[:n_bins].mean(0) / dt


def rate_loss(model_mean: Tensor, data_rates: Tensor, dt: float, n_bins: int) -> Tensor:
    """Baseline firing-rate loss: mean over neurons of the squared difference of baseline rates (Hz^2).

    ``model_mean`` is the trial mean (T, N) of the simulated spikes.
    """
    return (baseline_rates(model_mean, dt, n_bins) - data_rates).pow(2).mean()


def choice_distributions(choice: np.ndarray, trial_type: np.ndarray, ports: tuple) -> dict:
    """Recorded share of each port, then of no response, per trial type, over the trials whose choice is known.

    Examples
    --------
    >>> choice_distributions(np.array(["left", "none", "right", ""]), np.array(["l", "l", "r", "r"]),
    ...                      ("left", "right"))
    {'l': array([0.5, 0. , 0.5]), 'r': array([0., 1., 0.])}
    """
    shares = {}
    for kind in np.unique(trial_type):
        known = choice[(trial_type == kind) & (choice != "")]
        if len(known):
            shares[str(kind)] = np.array([np.mean(known == outcome) for outcome in (*ports, NO_RESPONSE)])
    return shares


def choice_loss(probabilities: Tensor, trial_type: np.ndarray, recorded: dict) -> Tensor | None:
    """Kullback-Leibler divergence of the simulated from the recorded choice distribution, within trial types.

    Parameters
    ----------
    probabilities : Tensor, shape (K, P + 1)
        Each simulated trial's probability of choosing each port and of no response
        (:func:`nwb_biornn.model.choice.first_bout_probabilities`).
    trial_type : ndarray, shape (K,)
    recorded : dict
        :func:`choice_distributions` of the recorded trials.

    Returns
    -------
    Tensor or None
        ``sum_t w_t KL(recorded_t || mean simulated_t)``, ``w_t`` the share of simulated trials of type ``t``
        among those whose type was recorded; zero when the distributions match; None when no type was recorded.

    Examples
    --------
    >>> recorded = {"go": np.array([0.5, 0.5])}
    >>> float(choice_loss(torch.tensor([[0.9, 0.1], [0.1, 0.9]]), np.array(["go", "go"]), recorded))
    0.0
    """
    terms, counts = [], []
    for kind, target in recorded.items():
        rows = np.flatnonzero(trial_type == kind)
        if len(rows):
            simulated = probabilities[torch.as_tensor(rows, device=probabilities.device)].mean(0).clamp(min=1e-6)
            target = torch.as_tensor(target, dtype=simulated.dtype, device=simulated.device)
            terms.append(torch.special.xlogy(target, target).sum() - (target * simulated.log()).sum())
            counts.append(len(rows))
    if not terms:
        return None
    return sum(t * c for t, c in zip(terms, counts)) / sum(counts)


class GradientNormalizer:
    """Balances several losses computed on one model output by normalizing their gradients (method.md §3.4).

    :meth:`split` returns one copy of the output per task. In the backward pass, the gradient reaching each
    copy is divided by the square root of a bias-corrected exponential moving average (``beta``) of its
    squared norm (summed over all but the trial dimension, averaged over trials) and multiplied by the task's
    weight, normalised so that the weights sum to one. Summing the task losses and calling ``backward``
    then gives every task a share of the gradient set by its weight, whatever the scale of its loss.

    Examples
    --------
    >>> normalizer = GradientNormalizer({"a": 1.0, "b": 1.0})
    >>> x = torch.ones(2, 3, requires_grad=True)
    >>> copies = normalizer.split(x)
    >>> (100 * copies["a"].sum() + copies["b"].sum()).backward()
    >>> torch.allclose(x.grad, torch.full((2, 3), 1 / 3 ** 0.5))
    True
    """

    def __init__(self, weights: dict, beta: float = 0.999):
        total = sum(weights.values())
        if total <= 0:
            raise UserError("fit.loss_weights must have a positive sum")
        self.weights = {name: w / total for name, w in weights.items() if w > 0}
        self.beta = beta
        self.average = {name: 0.0 for name in self.weights}
        self.updates = {name: 0 for name in self.weights}

    def split(self, *outputs: Tensor, metric: tuple | None = None, n_trials: int | None = None) -> dict:
        """One differentiable copy of ``outputs`` per task: a tensor, or a tuple for several.

        The gradients of several outputs are normalized together, as if they were one concatenated output.
        ``metric`` (one weight per output, a number or a tensor broadcastable to it) weighs the squared entries
        of each gradient in its norm, for outputs that summarize a larger one (see
        :func:`nwb_biornn.fit.summaries.summary_metric`); ``n_trials`` (default: the first output's first
        dimension) is what the squared norm is averaged over.
        """
        metric = metric if metric is not None else (1.0,) * len(outputs)
        n_trials = n_trials if n_trials is not None else outputs[0].shape[0]
        copies = {name: _NormalizeGradient.apply(self, name, metric, n_trials, *outputs) for name in self.weights}
        return {name: c[0] for name, c in copies.items()} if len(outputs) == 1 else copies

    def observe(self, name: str, *grads: Tensor, metric: tuple, n_trials: int) -> tuple:
        """Update the task's running squared norm with ``grads`` (weighed by ``metric``, averaged over
        ``n_trials``; see :meth:`split`) and return the normalized, weighted gradients."""
        squared = sum(_weighted_square(g, w) for g, w in zip(grads, metric)) / max(n_trials, 1)
        self.average[name] = self.beta * self.average[name] + (1 - self.beta) * squared
        self.updates[name] += 1
        corrected = self.average[name] / (1 - self.beta ** self.updates[name])
        return tuple(g * (self.weights[name] / math.sqrt(max(corrected, 1e-30))) for g in grads)

    def state_dict(self) -> dict:
        return {"average": dict(self.average), "updates": dict(self.updates)}

    def load_state_dict(self, state: dict) -> None:
        self.average.update(state["average"])
        self.updates.update(state["updates"])


def _weighted_square(grad: Tensor, weight) -> float:
    if isinstance(weight, Tensor):
        return float((grad.square() * weight).sum())
    return weight * float(torch.linalg.vector_norm(grad)) ** 2


class _NormalizeGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, normalizer, name, metric, n_trials, *outputs):
        ctx.normalizer, ctx.name, ctx.metric, ctx.n_trials = normalizer, name, metric, n_trials
        return tuple(output.view_as(output) for output in outputs)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) * 4 + ctx.normalizer.observe(ctx.name, *grads, metric=ctx.metric, n_trials=ctx.n_trials)
