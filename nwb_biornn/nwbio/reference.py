"""The ground-truth circuit of a synthetic session, in its source file or in a model file.

A synthetic source file holds the circuit it was simulated from in ``processing/reference_circuit``; a model file
fitted to it keeps a copy as ``processing/biornn/reference_circuit``. Both are ndx-biornn ``BioRNNModel``
containers, read back as a ``BioRNN``.
"""
from __future__ import annotations

import numpy as np
from pynwb import NWBHDF5IO, NWBFile

from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.nwbio.common import MODULE, REFERENCE
from nwb_biornn.nwbio.container import _model_container, _network


def add_reference_circuit(nwbfile: NWBFile, model, layout: NeuronLayout, name: str) -> None:
    """Store the ground-truth circuit of a synthetic session in ``processing/reference_circuit``.

    ``layout`` must be ``model.layout``; ``name`` (e.g. ``refcirc1``) goes into the description.
    """
    if layout is not model.layout and not np.array_equal(layout.area, model.layout.area):
        raise ValueError("layout must be the reference circuit's own layout")
    module = nwbfile.create_processing_module(REFERENCE, f"Ground-truth circuit {name} the session was simulated from.")
    module.add(_model_container(model, REFERENCE, f"Ground-truth circuit {name} (simulated, not fitted)."))


def read_reference_circuit(nwbfile):
    """The ground-truth circuit stored by :func:`add_reference_circuit` (or in a model file), or None.

    ``nwbfile`` is an open :class:`~pynwb.NWBFile` or the path of one.
    """
    if not isinstance(nwbfile, NWBFile):
        with NWBHDF5IO(nwbfile, "r") as io:
            return read_reference_circuit(io.read())
    for module_name in (REFERENCE, MODULE):
        module = nwbfile.processing.get(module_name)
        if module is not None and REFERENCE in module.data_interfaces:
            return _network(module[REFERENCE])
    return None
