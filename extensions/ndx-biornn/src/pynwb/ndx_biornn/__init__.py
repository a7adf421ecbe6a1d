"""ndx-biornn: NWB types for fitted biologically informed spiking RNNs and their perturbation predictions.

Importing the package registers the namespace with pynwb and exposes one class per type. It needs only pynwb and
hdmf. Files written with these types cache the schema, so plain pynwb reads them without this package.

Examples
--------
>>> from ndx_biornn import BioRNNNeuronTable
>>> table = BioRNNNeuronTable(name="neurons", description="model neurons")
"""
import json
from importlib.resources import files
from pathlib import Path

import numpy as np
from hdmf.build import ObjectMapper
from pynwb import get_class, load_namespaces, register_class, register_map
from pynwb.io.core import NWBContainerMapper

NAMESPACE = "ndx-biornn"
__version__ = "0.2.0"


def _spec_path() -> Path:
    """The namespace YAML, from the installed wheel or, for an editable install, the repository's ``spec/``."""
    installed = files(__name__) / "spec" / f"{NAMESPACE}.namespace.yaml"
    if installed.is_file():
        return Path(str(installed))
    return Path(__file__).resolve().parents[3] / "spec" / f"{NAMESPACE}.namespace.yaml"


load_namespaces(str(_spec_path()))


@register_class("BioRNNModel", NAMESPACE)
class BioRNNModel(get_class("BioRNNModel", NAMESPACE)):
    """A fitted bioRNN: parameters, neuron table, training summary (see the README for every field)."""

    @property
    def hyperparameter_values(self) -> dict:
        """The ``hyperparameters`` JSON attribute as a dict."""
        return json.loads(self.hyperparameters)

    @property
    def training_summary_values(self) -> dict:
        """The ``training_summary`` JSON attribute as a dict."""
        return json.loads(self.training_summary)


@register_map(BioRNNModel)
class BioRNNModelMap(NWBContainerMapper):
    """Reads ``readout_bias`` as one value per port, also from files written before 0.2.0 (one scalar)."""

    @ObjectMapper.constructor_arg("readout_bias")
    def readout_bias_carg(self, builder, manager):
        return np.atleast_1d(np.asarray(builder.attributes["readout_bias"], dtype=np.float64))


BioRNNNeuronTable = get_class("BioRNNNeuronTable", NAMESPACE)
FittedSession = get_class("FittedSession", NAMESPACE)
PerturbationPredictionsTable = get_class("PerturbationPredictionsTable", NAMESPACE)
UnitResponseSeries = get_class("UnitResponseSeries", NAMESPACE)
LossHistoryTable = get_class("LossHistoryTable", NAMESPACE)
TargetedNeuronSetsTable = get_class("TargetedNeuronSetsTable", NAMESPACE)

__all__ = ["NAMESPACE", "BioRNNModel", "BioRNNModelMap", "BioRNNNeuronTable", "FittedSession", "PerturbationPredictionsTable",
           "UnitResponseSeries", "LossHistoryTable", "TargetedNeuronSetsTable"]
