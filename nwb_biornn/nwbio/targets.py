"""Targeted neuron sets stored in an existing model file.

``nwb-biornn target`` chooses sets of model neurons to stimulate; :func:`add_targets` replaces the file's
``targeted_neuron_sets`` table with them, each set linked to its model neurons and to the units they are mapped to.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
from pynwb import NWBHDF5IO

from ndx_biornn import TargetedNeuronSetsTable
from nwb_biornn.core.files import atomic_path
from nwb_biornn.nwbio.common import MODEL, MODULE, TARGETS
from nwb_biornn.nwbio.read import open_model_file


def add_targets(path, targets: list) -> None:
    """Store targeted neuron sets in a model file (replacing earlier ones), atomically.

    Parameters
    ----------
    path
        A model file.
    targets
        Objects with attributes ``name`` (``"positive"``, ``"negative"``, ``"random"``...), ``objective``,
        ``neurons`` (model neuron indices), ``onset``, ``offset`` (s relative to the alignment event), ``power``
        (model current), ``predicted_effect`` and ``simulated_effect``.
    """
    path = Path(path)
    open_model_file(path).close()
    if not targets:
        raise ValueError("targets must hold at least one neuron set")

    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as raw:
            group = raw[f"processing/{MODULE}"]
            if TARGETS in group:
                del group[TARGETS]
        with NWBHDF5IO(tmp, "a") as io:
            nwbfile = io.read()
            module = nwbfile.processing[MODULE]
            module.add(_targets_table(module[MODEL].neurons, nwbfile.units, targets))
            io.write(nwbfile)


def _targets_table(neurons, units, targets) -> TargetedNeuronSetsTable:
    index = neurons["units"]
    ends = np.asarray(index.data[:], np.int64)
    starts, rows = np.r_[0, ends[:-1]], np.asarray(index.target.data[:], np.int64)
    table = TargetedNeuronSetsTable(name=TARGETS, description="Neuron sets chosen for targeted stimulation.",
                                    target_tables={"neurons": neurons, "units": units})
    for target in targets:
        chosen = [int(n) for n in target.neurons]
        mapped = [int(rows[starts[n]]) for n in chosen if ends[n] > starts[n]]
        table.add_row(set_name=str(target.name), objective=str(target.objective), neurons=chosen, units=mapped,
                      onset=float(target.onset), offset=float(target.offset), power=float(target.power),
                      predicted_effect=float(target.predicted_effect),
                      simulated_effect=float(target.simulated_effect))
    return table
