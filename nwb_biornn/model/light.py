"""Optogenetic light as a current injected into the targeted neurons of a model area (design.md decision 4)."""
from __future__ import annotations

import numpy as np
import torch

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import Condition
from nwb_biornn.model.layout import NeuronLayout

MW_TO_CURRENT = 0.04
"""Model current per mW of light: 5 mW -> 0.2.

A current ``c`` moves the steady membrane potential of a :class:`~nwb_biornn.model.network.BioRNN` neuron by
``c`` (threshold gap 0.1), so 0.2 is twice the gap: the light power the reference code (Sourmpis et al.,
``opto.py``) used for in-vivo VGAT-ChR2 inactivation, where a few mW are typical. The value is a fixed
convention, not a calibration; pass ``mw_to_current`` to change it.
"""


TIME_TOLERANCE = 1e-9
"""Seconds added to step times before comparing them with light edges, so grid round-off does not move an edge."""


def light_current(condition: Condition, layout: NeuronLayout, time, mw_to_current: float = MW_TO_CURRENT
                  ) -> torch.Tensor:
    """The current that ``condition`` injects into every neuron at every step.

    The current flows into the neurons of ``condition.areas`` of type ``condition.cell_type`` between
    ``onset`` and ``offset``: constant, or a 50 % duty square wave at ``frequency`` Hz starting at onset
    (``"pulsed"``); with ``ramp_down > 0`` (always for ``"ramp"``) it then decreases linearly to zero over
    ``ramp_down`` seconds after ``offset``.

    Parameters
    ----------
    condition : Condition
    layout : NeuronLayout
    time : array_like, shape (T,)
        Start of every step, in seconds relative to the session's alignment event (``Session.time``).
    mw_to_current : float
        Model current per mW, used when ``condition.power_unit == "mW"``.

    Returns
    -------
    Tensor, shape (T, N), float32

    Examples
    --------
    >>> layout = NeuronLayout.hidden({"A": 2, "B": 2}, excitatory_fraction=0.5)
    >>> light_current(Condition("B", "I", 0.0, 0.004, 0.5, power_unit="model"), layout, [0, 0.002, 0.004])
    tensor([[0.0000, 0.0000, 0.0000, 0.5000],
            [0.0000, 0.0000, 0.0000, 0.5000],
            [0.0000, 0.0000, 0.0000, 0.0000]])
    """
    missing = [area for area in condition.areas if area not in layout.areas]
    if missing:
        raise UserError(f"light condition {condition.label!r} targets area {missing[0]!r}, which the model "
                        f"does not have (areas: {', '.join(layout.areas)})")
    time = np.asarray(time, dtype=np.float64) + TIME_TOLERANCE
    envelope = ((time >= condition.onset) & (time < condition.offset)).astype(np.float64)
    if condition.ramp_down > 0:
        after = time - condition.offset
        envelope = np.where((after >= 0) & (after < condition.ramp_down), 1 - after / condition.ramp_down, envelope)
    if condition.waveform == "pulsed":
        if not condition.frequency > 0:
            raise UserError(f"pulsed light condition {condition.label!r} needs a positive frequency")
        envelope *= ((time - condition.onset) * condition.frequency) % 1.0 < 0.5
    amplitude = condition.power * mw_to_current if condition.power_unit == "mW" else condition.power
    targets = np.isin(layout.area, condition.areas) & (layout.cell_type == condition.cell_type)
    return torch.as_tensor(np.outer(envelope * amplitude, targets), dtype=torch.float32)
