"""A network <-> an ndx-biornn ``BioRNNModel`` container (with its neuron table).

The fitted model of a model file and a ground-truth reference circuit are stored the same way: every array of
``BioRNN.to_arrays`` as a compressed dataset, the configuration as JSON hyperparameters and one row per model
neuron (area, cell type, the session and unit it is mapped to). :func:`model_id` identifies the parameters.
"""
from __future__ import annotations

import hashlib
import json
import uuid

import numpy as np
from hdmf.backends.hdf5 import H5DataIO

from ndx_biornn import BioRNNModel, BioRNNNeuronTable
from nwb_biornn import __version__
from nwb_biornn.core.config import FitConfig, ModelConfig, from_dict, to_dict
from nwb_biornn.model.layout import HIDDEN, NeuronLayout
from nwb_biornn.nwbio.common import GZIP, SOFTWARE

_ARRAY_FIELDS = {"recurrent_weights": "recurrent_weights", "connectivity_mask": "connectivity_mask",
                 "delays": "delays", "input_weights": "input_weights", "readout_weights": "readout_weights",
                 "resting_potential": "resting_potential", "threshold": "threshold", "tau": "membrane_time_constant",
                 "noise": "noise", "refractory_steps": "refractory_steps"}
"""``BioRNN.to_arrays`` key -> BioRNNModel dataset (``readout_bias``, one value per port, is an attribute)."""


def model_id(model) -> str:
    """Identifier of a fitted network: the same for every file the same parameters are written to."""
    digest = hashlib.sha256(json.dumps(to_dict(model.config), sort_keys=True).encode())
    for key, value in sorted(model.to_arrays().items()):
        digest.update(key.encode() + np.ascontiguousarray(value).tobytes())
    return str(uuid.UUID(bytes=digest.digest()[:16]))


def model_container(model, name: str, description: str, fit_config: FitConfig | None = None,
                     unit_rows=None, units=None, **attributes) -> BioRNNModel:
    """A BioRNNModel (with its neuron table) holding ``model.to_arrays()``."""
    arrays = model.to_arrays()
    dtypes = {"connectivity_mask": bool, "delays": np.int32, "refractory_steps": np.int32}
    datasets = {field: H5DataIO(np.ascontiguousarray(arrays[key], dtype=dtypes.get(key, np.float32)),
                                chunks=True, **GZIP)
                for key, field in _ARRAY_FIELDS.items()}
    hyperparameters = {"model": to_dict(model.config), "areas": list(model.layout.areas)}
    if fit_config is not None:
        hyperparameters["fit"] = to_dict(fit_config)
    return BioRNNModel(
        name=name, description=description, model_id=model_id(model), preset=model.config.preset,
        software=SOFTWARE, software_version=__version__, dt=float(model.dt),
        random_seed=int(fit_config.seed) if fit_config is not None else None,
        hyperparameters=json.dumps(hyperparameters),
        readout_bias=np.atleast_1d(np.asarray(arrays["readout_bias"], np.float64)),
        neurons=_neuron_table(model.layout, unit_rows, units), source_units=units, **datasets, **attributes)


def _neuron_table(layout: NeuronLayout, unit_rows, units) -> BioRNNNeuronTable:
    columns = {"area": layout.area.astype(str).tolist(), "cell_type": layout.cell_type.astype(str).tolist(),
               "mapped": (layout.session != HIDDEN).tolist(), "session": layout.session.tolist(),
               "unit_column": layout.unit.tolist()}
    if units is None:
        table = BioRNNNeuronTable(name="neurons", description="Model neurons, in model order.")
        for row in range(layout.n_neurons):
            table.add_row(**{name: values[row] for name, values in columns.items()})
        return table
    table = BioRNNNeuronTable(name="neurons", description="Model neurons, in model order.",
                              target_tables={"units": units})
    for row in range(layout.n_neurons):
        table.add_row(units=[int(unit_rows[row])] if unit_rows[row] >= 0 else [],
                      **{name: values[row] for name, values in columns.items()})
    return table


def network_from_container(container):
    """The BioRNN stored in a BioRNNModel container (one readout port when the file predates ports)."""
    from nwb_biornn.model.network import BioRNN
    hyperparameters = json.loads(container.hyperparameters)
    config = from_dict(ModelConfig, hyperparameters["model"])
    neurons = container.neurons
    layout = NeuronLayout(area=np.asarray(neurons["area"][:]).astype(str),
                          cell_type=np.asarray(neurons["cell_type"][:]).astype(str),
                          session=np.asarray(neurons["session"][:], np.int64),
                          unit=np.asarray(neurons["unit_column"][:], np.int64),
                          areas=tuple(hyperparameters["areas"]))
    arrays = {key: np.asarray(getattr(container, field)[()]) for key, field in _ARRAY_FIELDS.items()}
    arrays["readout_bias"] = np.asarray(container.readout_bias, np.float32)
    return BioRNN.from_arrays(config, layout, float(container.dt), arrays)
