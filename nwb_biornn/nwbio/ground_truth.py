"""The ground-truth circuit of a synthetic session, mapped onto the session's recorded units.

Synthetic sessions (``demo``) store the circuit they were simulated from (``processing/reference_circuit``)
and, in the Units table, the circuit neuron each unit was recorded from (column ``circuit_neuron``). Model
files copy both, so evaluation can re-simulate the ground truth against the same recorded trials.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from nwb_biornn.recordings.nwbfile import open_nwb
from nwb_biornn.core.session import Session
from nwb_biornn.analysis.evaluate import FittedNetwork
from nwb_biornn.model.layout import NeuronLayout

CIRCUIT_NEURON = "circuit_neuron"


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
    """The reference circuit stored in ``path`` (default: the session's source file), or None if it has none."""
    from nwb_biornn.nwbio import read_reference_circuit

    with warnings.catch_warnings(), open_nwb(path if path is not None else session.source.path) as io:
        warnings.simplefilter("ignore")
        nwbfile = io.read()
        circuit = read_reference_circuit(nwbfile)
        units = nwbfile.units
        if circuit is None or units is None or CIRCUIT_NEURON not in units.colnames:
            return None
        layout = map_units(circuit.layout, units.id[:], np.asarray(units[CIRCUIT_NEURON][:]), session)
    return FittedNetwork(circuit, layout, 0)
