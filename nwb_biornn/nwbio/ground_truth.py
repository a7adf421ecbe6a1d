"""The ground-truth circuit of a synthetic session: stored, read back, and mapped onto the recorded units.

Synthetic sessions (``demo``) store the circuit they were simulated from (``processing/reference_circuit``, an
ndx-biornn ``BioRNNModel``) and, in the Units table, the circuit neuron each unit was recorded from (column
``circuit_neuron``). Model files copy both (``processing/biornn/reference_circuit``), so evaluation can re-simulate
the ground truth against the same recorded trials.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from pynwb import NWBHDF5IO, NWBFile

from nwb_biornn.core.session import Session
from nwb_biornn.model.fitted import FittedNetwork
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.nwbio.common import MODULE, REFERENCE
from nwb_biornn.nwbio.container import model_container, network_from_container
from nwb_biornn.recordings.nwbfile import open_nwb

CIRCUIT_NEURON = "circuit_neuron"


def add_reference_circuit(nwbfile: NWBFile, model, layout: NeuronLayout, name: str) -> None:
    """Store the ground-truth circuit of a synthetic session in ``processing/reference_circuit``.

    ``layout`` must be ``model.layout``; ``name`` (e.g. ``refcirc1``) goes into the description.
    """
    if layout is not model.layout and not np.array_equal(layout.area, model.layout.area):
        raise ValueError("layout must be the reference circuit's own layout")
    module = nwbfile.create_processing_module(REFERENCE, f"Ground-truth circuit {name} the session was simulated from.")
    module.add(model_container(model, REFERENCE, f"Ground-truth circuit {name} (simulated, not fitted)."))


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
            return network_from_container(module[REFERENCE])
    return None


def map_units(layout: NeuronLayout, unit_ids: np.ndarray, circuit_neuron: np.ndarray,
              session: Session) -> NeuronLayout:
    """The circuit's layout with each recorded neuron marked as standing for its unit column in ``session``.

    Parameters
    ----------
    layout : NeuronLayout
        The circuit's own layout (every neuron hidden).
    unit_ids, circuit_neuron : ndarray
        Units-table ids and the circuit neuron each was recorded from.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> circuit = NeuronLayout.hidden({"A": 2}, excitatory_fraction=0.5)
    >>> mapped = map_units(circuit, np.array([7, 9]), np.array([1, 0]), SimpleNamespace(unit_ids=np.array([9, 7])))
    >>> mapped.session.tolist(), mapped.unit.tolist()
    ([0, 0], [0, 1])
    """
    neuron_of_id = dict(zip(np.asarray(unit_ids).tolist(), np.asarray(circuit_neuron).tolist()))
    session_of = np.full(layout.n_neurons, -1, dtype=np.int64)
    unit_of = np.full(layout.n_neurons, -1, dtype=np.int64)
    for column, unit_id in enumerate(np.asarray(session.unit_ids).tolist()):
        neuron = neuron_of_id.get(unit_id)
        if neuron is not None and neuron >= 0:
            session_of[neuron], unit_of[neuron] = 0, column
    return dataclasses.replace(layout, session=session_of, unit=unit_of)


def read_reference_network(session: Session, path=None) -> FittedNetwork | None:
    """The reference circuit stored in ``path`` (default: the session's source file), or None if it has none or
    if its simulation step is not the session's bin width (it cannot then be re-simulated on the session's grid)."""
    with warnings.catch_warnings(), open_nwb(path if path is not None else session.source.path) as io:
        warnings.simplefilter("ignore")
        nwbfile = io.read()
        circuit = read_reference_circuit(nwbfile)
        units = nwbfile.units
        if circuit is None or units is None or CIRCUIT_NEURON not in units.colnames:
            return None
        if not np.isclose(circuit.dt, session.dt):
            return None
        layout = map_units(circuit.layout, units.id[:], np.asarray(units[CIRCUIT_NEURON][:]), session)
    return FittedNetwork(circuit, layout, 0)
