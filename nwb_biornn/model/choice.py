"""How a simulated trial's lick rates become a response: the port whose first lick bout comes first.

The network reads out one lick rate per port (:attr:`~nwb_biornn.model.network.Simulation.behaviour`). Licks
come in bouts; with the bouts at each port a Poisson process of rate ``r_p(t) = lick rate / b`` (``b`` licks per
bout), the trial's choice is the port of the first bout in the response window, and no bout there is no
response. On a grid of bins of width ``dt`` with total bout rate ``R(t) = sum_p r_p(t)``::

    P(first bout at p) = sum_t S(t) (1 - exp(-R(t) dt)) r_p(t) / R(t),    S(t) = exp(-dt sum_{t' < t} R(t'))
    P(no response)     = S(end) = exp(-dt sum_t R(t))

With one port (go/no-go) this is ``P(lick) = 1 - exp(-n / b)`` for ``n`` expected licks in the window.
"""
from __future__ import annotations

import torch
from torch import Tensor


def first_bout_probabilities(rates: Tensor, dt: float, licks_per_bout: float = 1.0) -> Tensor:
    """Probability that each port's bout comes first, and of no bout, in a window of lick rates.

    Parameters
    ----------
    rates : Tensor, shape (K, T, P)
        Lick rate (Hz) of each port in the bins of the response window.
    dt : float
        Bin width in seconds.
    licks_per_bout : float

    Returns
    -------
    Tensor, shape (K, P + 1)
        ``P(first bout at port p)`` for each port, then ``P(no response)``; each row sums to 1. Differentiable.

    Examples
    --------
    >>> p = first_bout_probabilities(torch.tensor([[[1.0, 0.0], [1.0, 3.0]]]), dt=0.5)
    >>> p.sum().item(), round(p[0, 2].item(), 4)  # no bout among 0.5 + 2 expected ones
    (1.0, 0.0821)
    """
    bout_rates = rates.clamp(min=0) / licks_per_bout
    total = bout_rates.sum(-1)
    hazard = total * dt
    survival = torch.exp(-(torch.cumsum(hazard, dim=1) - hazard))
    first_in_bin = survival * -torch.expm1(-hazard)
    share = bout_rates / total.clamp(min=1e-12)[..., None]
    if rates.shape[-1] == 1:
        share = torch.ones_like(share)
    ports = (first_in_bin[..., None] * share).sum(1)
    return torch.cat([ports, torch.exp(-hazard.sum(1))[:, None]], dim=1)
