"""Shared helpers: a small ``demo``-like session (real NWB files of a reference circuit, loaded as a user's would be)
and networks to score on it, from the ground truth to networks that must score worse.

Import them in a test module with ``from demo_sessions import small_demo, ground_truth``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from pynwb import NWBHDF5IO

from nwb_biornn.core.config import ModelConfig
from nwb_biornn.model.fitted import FittedNetwork
from nwb_biornn.model.layout import HIDDEN
from nwb_biornn.model.network import BioRNN
from nwb_biornn.recordings.nwbfile import load_session
from nwb_biornn.synthetic import circuits, demo


def small_demo(out_dir, circuit: str = "refcirc1", seed: int = 0, n_trials: int = 280, units_per_area: int = 10):
    """One session of ``circuit`` written as a demo dandiset in ``out_dir`` (half the trials lit, every one of the
    14 demo conditions about equally often), its loaded :class:`Session` and the path of its NWB file."""
    root = demo.write_demo_dandiset(out_dir, circuit, seed=seed, n_trials=n_trials, perturbed_fraction=0.5,
                                    units_per_area=units_per_area)
    path = next(root.glob("sub-*/*.nwb"))
    return load_session(path), path


def ground_truth(session, path, circuit: str = "refcirc1") -> FittedNetwork:
    """The reference circuit that simulated ``session``, its recorded neurons mapped onto the session's units
    through the Units table's ``circuit_neuron`` column (what the model file's reference block does)."""
    model, layout = circuits.reference_circuit(circuit)
    with NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        neuron_of_unit = dict(zip(units.id[:].tolist(), np.asarray(units["circuit_neuron"][:]).tolist()))
    session_of, unit_of = np.full(layout.n_neurons, HIDDEN), np.full(layout.n_neurons, HIDDEN)
    for column, unit_id in enumerate(session.unit_ids.tolist()):
        session_of[neuron_of_unit[unit_id]], unit_of[neuron_of_unit[unit_id]] = 0, column
    mapped = dataclasses.replace(layout, session=session_of, unit=unit_of)
    return FittedNetwork(BioRNN.from_arrays(model.config, mapped, model.dt, model.to_arrays()), mapped, 0)


def altered(network: FittedNetwork, **changes) -> FittedNetwork:
    """``network`` with some of its :meth:`BioRNN.to_arrays` arrays replaced (functions of the old array, or
    values)."""
    arrays = network.model.to_arrays()
    for key, change in changes.items():
        arrays[key] = change(arrays[key]) if callable(change) else change
    model = BioRNN.from_arrays(network.model.config, network.layout, network.model.dt, arrays)
    return FittedNetwork(model, network.layout, network.session_index)


def silent(network: FittedNetwork) -> FittedNetwork:
    """``network`` that never spikes (threshold far above any current, no membrane noise) and never licks (its
    readout is ``softplus(-200)``, 0 in float32)."""
    return altered(network, threshold=lambda t: np.full_like(t, 1e3), noise=lambda n: np.zeros_like(n),
                   readout_bias=np.float32(-200.0))


def without_recurrence(network: FittedNetwork) -> FittedNetwork:
    """``network`` with every recurrent weight zeroed: inputs, light and readout as they were."""
    return altered(network, recurrent_weights=lambda w: np.zeros_like(w))


def swapped_stimuli(network: FittedNetwork) -> FittedNetwork:
    """``network`` that answers each stimulus with the other one's response (its two input channels swapped)."""
    return altered(network, input_weights=lambda w: w[:, ::-1].copy())


def untrained(network: FittedNetwork, seed: int = 0) -> FittedNetwork:
    """A freshly initialised ``biornn`` of the same neurons (what a fit starts from)."""
    model = BioRNN(ModelConfig(), network.layout, network.model.n_inputs, network.model.dt, seed=seed)
    return FittedNetwork(model, network.layout, network.session_index)
