"""Every ndx-biornn type written to HDF5, validated, read back and compared (pynwb.testing round-trip mixins)."""
import numpy as np
from pynwb import NWBHDF5IO
from pynwb.testing import NWBH5IOFlexMixin, TestCase

from ndx_biornn.testing import (
    mock_BioRNNModel,
    mock_FittedSession,
    mock_LossHistoryTable,
    mock_PerturbationPredictionsTable,
    mock_TargetedNeuronSetsTable,
    mock_UnitResponseSeries,
)


class _InModule(NWBH5IOFlexMixin):
    """Round-trips the object that ``make(nwbfile)`` returns, placed in a ``biornn`` processing module."""

    name = None

    def make(self, nwbfile):
        raise NotImplementedError

    def getContainerType(self):
        return type(self).__name__

    def addContainer(self):
        self.nwbfile.create_processing_module("biornn", "bioRNN model").add(self.make(self.nwbfile))

    def getContainer(self, nwbfile):
        return nwbfile.processing["biornn"][self.name]


class TestBioRNNModel(_InModule, TestCase):
    name = "biornn_model"

    def make(self, nwbfile):
        return mock_BioRNNModel(nwbfile)

    def test_links_and_regions_resolve_after_reading(self):
        """The neuron table's units column and the model's links point into the file's own tables."""
        with NWBHDF5IO("links.nwb", "w") as io:
            io.write(self.nwbfile)
        with NWBHDF5IO("links.nwb", "r") as io:
            model = io.read().processing["biornn"]["biornn_model"]
            assert model.source_units is model.get_ancestor("NWBFile").units
            assert model.neurons["units"].target.table is model.source_units
            assert [len(model.neurons["units"][i]) for i in range(4)] == [1, 0, 1, 0]
            assert list(model.heldout_trials.data[:]) == [2]
            assert model.hyperparameter_values["fit"]["steps"] == 2
            assert model.training_summary_values["final_losses"]["total"] == 1.5


class TestFittedSession(_InModule, TestCase):
    name = "fitted_session"

    def make(self, nwbfile):
        return mock_FittedSession(nwbfile)


class TestPerturbationPredictionsTable(_InModule, TestCase):
    name = "perturbation_predictions"

    def make(self, nwbfile):
        return mock_PerturbationPredictionsTable(nwbfile)


class TestUnitResponseSeries(_InModule, TestCase):
    name = "predicted_unit_response_0"

    def make(self, nwbfile):
        return mock_UnitResponseSeries(nwbfile)


class TestLossHistoryTable(_InModule, TestCase):
    name = "loss_history"

    def make(self, nwbfile):
        return mock_LossHistoryTable()


class TestTargetedNeuronSetsTable(_InModule, TestCase):
    name = "targeted_neuron_sets"

    def addContainer(self):
        module = self.nwbfile.create_processing_module("biornn", "bioRNN model")
        model = mock_BioRNNModel(self.nwbfile)
        module.add(model)
        module.add(mock_TargetedNeuronSetsTable(self.nwbfile, model.neurons))


def test_loss_history_keeps_nan_for_steps_without_a_test_evaluation():
    table = mock_LossHistoryTable()
    assert np.isnan(table["test_total"][0]) and table["test_total"][1] == 1.1
