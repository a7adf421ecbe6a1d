"""Small, valid instances of every ndx-biornn type, for tests and examples (like ``pynwb.testing.mock``).

Each ``mock_*`` adds what it needs to ``nwbfile`` (units, trials, a stimulation site) and returns the object,
not yet added to the file.
"""
import json

import numpy as np
from pynwb import NWBFile
from pynwb.testing.mock.ogen import mock_OptogeneticStimulusSite

from ndx_biornn import (
    BioRNNModel,
    BioRNNNeuronTable,
    FittedSession,
    LossHistoryTable,
    PerturbationPredictionsTable,
    TargetedNeuronSetsTable,
    UnitResponseSeries,
)

NUM_NEURONS = 4
NUM_BINS = 5
PORTS = ("left", "right")


def mock_units(nwbfile: NWBFile, num_units: int = 2):
    """Units with a few spikes each (created once per file)."""
    if nwbfile.units is None:
        for unit in range(num_units):
            nwbfile.add_unit(spike_times=[0.1 * (unit + 1), 0.5 + 0.1 * unit])
    return nwbfile.units


def mock_trials(nwbfile: NWBFile, num_trials: int = 3):
    """A trials table of ``num_trials`` one-second trials (created once per file)."""
    if nwbfile.trials is None:
        for trial in range(num_trials):
            nwbfile.add_trial(start_time=float(trial), stop_time=float(trial) + 1.0)
    return nwbfile.trials


def mock_stimulus_site(nwbfile: NWBFile):
    """The file's OptogeneticStimulusSite (created once per file)."""
    return next(iter(nwbfile.ogen_sites.values()), None) or mock_OptogeneticStimulusSite(nwbfile=nwbfile)


def mock_BioRNNNeuronTable(nwbfile: NWBFile) -> BioRNNNeuronTable:
    """Four neurons in two areas: two mapped to the two units, two hidden."""
    units = mock_units(nwbfile)
    table = BioRNNNeuronTable(name="neurons", description="model neurons", target_tables={"units": units})
    for area, cell_type, unit in (("ALM", "E", 0), ("ALM", "I", None), ("vS1", "E", 1), ("vS1", "I", None)):
        mapped = unit is not None
        table.add_row(area=area, cell_type=cell_type, mapped=mapped, session=0 if mapped else -1,
                      unit_column=unit if mapped else -1, units=[unit] if mapped else [])
    return table


def mock_BioRNNModel(nwbfile: NWBFile, name: str = "biornn_model") -> BioRNNModel:
    """A tiny fitted model of a two-choice task (two readout ports) with every field set."""
    rng = np.random.default_rng(0)
    n = NUM_NEURONS
    mask = ~np.eye(n, dtype=bool)
    trials = mock_trials(nwbfile)
    return BioRNNModel(
        name=name, description="mock model", model_id="0000", preset="biornn", software="nwb-biornn",
        software_version="0.1.0", random_seed=7, dt=0.002,
        hyperparameters=json.dumps({"model": {"spiking": True}, "fit": {"steps": 2}}),
        session_ids=["s1"], session_index=0, training_steps=2,
        training_summary=json.dumps({"final_losses": {"total": 1.5}}), readout_bias=[0.25, -0.5],
        neurons=mock_BioRNNNeuronTable(nwbfile),
        recurrent_weights=(rng.normal(size=(n, n)) * mask).astype("float32"), connectivity_mask=mask,
        delays=np.ones((n, n), dtype="int32"), input_weights=rng.random((n, 2)).astype("float32"),
        readout_weights=rng.random((n, len(PORTS))).astype("float32"),
        membrane_time_constant=np.array([0.03, 0.01, 0.03, 0.01], dtype="float32"),
        resting_potential=np.zeros(n, dtype="float32"), threshold=np.full(n, 0.1, dtype="float32"),
        refractory_steps=np.full(n, 2, dtype="int32"), noise=np.full(n, 0.14, dtype="float32"),
        training_trials=trials.create_region("training_trials", [0, 1], "trials the model was trained on"),
        heldout_trials=trials.create_region("heldout_trials", [2], "held-out perturbation trials"),
        source_units=mock_units(nwbfile),
    )


def mock_FittedSession(nwbfile: NWBFile) -> FittedSession:
    """The grid of the three mock trials of a two-choice task with two input channels."""
    trials = mock_trials(nwbfile)
    n_trials = len(trials)
    return FittedSession(
        name="fitted_session", t_start=-0.1, dt=0.002, num_bins=NUM_BINS, align_event="go_cue",
        response_window=[0.0, 0.5], behaviour_name="lick_rate", ports=list(PORTS), source_path="/data/session.nwb",
        source_dandiset_id="000000", source_dandiset_version="draft", source_asset_path="sub-1/sub-1_ses-1.nwb",
        source_identifier="abc", input_names=["stimulus", "go_cue"],
        inputs=np.zeros((n_trials, NUM_BINS, 2), dtype="float32"),
        behaviour=np.ones((n_trials, NUM_BINS, len(PORTS)), dtype="float32"), trials=trials,
    )


def mock_PerturbationPredictionsTable(nwbfile: NWBFile) -> PerturbationPredictionsTable:
    """One condition with a stimulation site and recorded trials."""
    site = mock_stimulus_site(nwbfile)
    table = PerturbationPredictionsTable(name="perturbation_predictions", description="predictions",
                                         psth_time=np.linspace(0.0, 0.08, NUM_BINS), psth_areas=["ALM", "vS1"])
    psth = np.arange(NUM_BINS * 2, dtype="float32").reshape(NUM_BINS, 2)
    table.add_row(label="ALM-I 0.000-0.500s 5mW", target_area="ALM", target_cell_type="I", onset=0.0, offset=0.5,
                  power=5.0, power_unit="mW", waveform="constant", frequency=0.0, ramp_down=0.0,
                  site_name=site.name, stimulus_site=site, num_heldout_trials=1, calibration=False,
                  predicted_delta_behaviour=-0.4, recorded_delta_behaviour=-0.3, trial_matching_loss=0.7,
                  predicted_area_psth=psth, recorded_area_psth=psth + 1)
    return table


def mock_UnitResponseSeries(nwbfile: NWBFile, kind: str = "predicted") -> UnitResponseSeries:
    """Predicted rates of the two mock units under condition 0."""
    units = mock_units(nwbfile)
    return UnitResponseSeries(
        name=f"{kind}_unit_response_0", description=f"{kind} response", condition=0, kind=kind,
        data=np.ones((NUM_BINS, len(units)), dtype="float32"), unit="Hz",
        timestamps=np.linspace(0.0, 0.08, NUM_BINS),
        units=units.create_region("units", list(range(len(units))), "units of the data columns"),
    )


def mock_LossHistoryTable() -> LossHistoryTable:
    """Two logged steps with every loss term."""
    table = LossHistoryTable(name="loss_history", description="losses")
    for step in (0, 1):
        table.add_row(step=step, learning_rate=1e-3, total=2.0 - step, trial=1.0, psth=0.5, rate=0.2, behaviour=0.3,
                      choice=0.4, test_total=np.nan if step == 0 else 1.1)
    return table


def mock_TargetedNeuronSetsTable(nwbfile: NWBFile, neurons: BioRNNNeuronTable) -> TargetedNeuronSetsTable:
    """A positive and a random set of model neurons."""
    table = TargetedNeuronSetsTable(name="targeted_neuron_sets", description="targets",
                                    target_tables={"neurons": neurons, "units": mock_units(nwbfile)})
    table.add_row(set_name="positive", objective="lick", neurons=[0, 2], units=[0, 1], onset=0.9, offset=1.0,
                  power=0.5, predicted_effect=0.2, simulated_effect=0.15)
    table.add_row(set_name="random", objective="lick", neurons=[1], units=[], onset=0.9, offset=1.0, power=0.5,
                  predicted_effect=0.0, simulated_effect=0.01)
    return table
