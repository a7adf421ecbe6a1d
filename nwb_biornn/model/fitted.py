"""A network as it is scored: the network, its layout, and which of the layout's sessions is being scored."""
from __future__ import annotations

from dataclasses import dataclass

from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.model.network import BioRNN


@dataclass
class FittedNetwork:
    """A network, its layout, and which of the layout's sessions the scored session is.

    A fitted model and a ground-truth circuit (whose layout is mapped onto the session's units) are both
    ``FittedNetwork``, so every scorer treats them alike.
    """

    model: BioRNN
    layout: NeuronLayout
    session_index: int
