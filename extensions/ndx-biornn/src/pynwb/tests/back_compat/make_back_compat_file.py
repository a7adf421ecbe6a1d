"""Write ``ndx-biornn_<version>.nwb``: every ndx-biornn type, for the back-compatibility test of later versions.

Run once per released namespace version from this folder, and commit the file.
"""
from datetime import datetime, timezone
from pathlib import Path

from pynwb import NWBHDF5IO, NWBFile

import ndx_biornn
from ndx_biornn.testing import (
    mock_BioRNNModel,
    mock_FittedSession,
    mock_LossHistoryTable,
    mock_PerturbationPredictionsTable,
    mock_TargetedNeuronSetsTable,
    mock_UnitResponseSeries,
)


def write(path: Path) -> None:
    nwbfile = NWBFile(session_description="ndx-biornn back-compatibility file", identifier="ndx-biornn-back-compat",
                      session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    module = nwbfile.create_processing_module("biornn", "bioRNN model")
    model = mock_BioRNNModel(nwbfile)
    for item in (model, mock_FittedSession(nwbfile), mock_PerturbationPredictionsTable(nwbfile),
                 mock_UnitResponseSeries(nwbfile), mock_LossHistoryTable(),
                 mock_TargetedNeuronSetsTable(nwbfile, model.neurons)):
        module.add(item)
    with NWBHDF5IO(path, "w") as io:
        io.write(nwbfile)


if __name__ == "__main__":
    write(Path(__file__).with_name(f"ndx-biornn_{ndx_biornn.__version__}.nwb"))
