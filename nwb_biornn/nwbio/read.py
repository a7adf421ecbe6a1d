"""Reading a model file back: the torch model, the session, the predictions and the loss history.

:func:`read_model_file` needs nothing but the file: the session is rebuilt from the copied units and trials and
the stored session grid, the spike counts re-binned from the spike times. Every reader opens a file through
``open_model_file``, which refuses anything that is not a model file this version understands.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO

import ndx_biornn
from ndx_biornn import UnitResponseSeries
from nwb_biornn.analysis.predictions import ConditionPrediction
from nwb_biornn.core.config import FitConfig, ModelConfig, from_dict
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import LICK_PORTS, NO_RESPONSE, Condition, Session, Source
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.nwbio.common import (
    ALIGN_TIMES,
    FITTED_SESSION,
    HISTORY,
    LOSS_COLUMNS,
    MODEL,
    MODULE,
    PREDICTIONS,
    rebin_units,
)
from nwb_biornn.nwbio.container import network_from_container
from nwb_biornn.nwbio.ground_truth import read_reference_circuit
from nwb_biornn.recordings.nwbfile import checked_hdf5_path


@dataclass
class ModelFile:
    """Everything a model file holds, as the objects the rest of nwb-biornn works with.

    Attributes
    ----------
    path : Path
    model : BioRNN
    layout : NeuronLayout
    model_config : ModelConfig
    fit_config : FitConfig
    session : Session
        Rebuilt from the copied units, trials and session grid (spike counts re-binned from spike_times).
    session_index : int
        Position of this file's session among the sessions the model was fitted on (``session_ids``).
    session_ids : tuple of str
    split : ndarray, shape (trials,), str
        ``"train"``, ``"test"``, ``"perturbation"`` or ``"excluded"`` per trial.
    predictions : list of ConditionPrediction
    history : list of dict
        Loss history with the keys of ``FitResult.history``.
    reference : BioRNN or None
        The ground-truth circuit of a synthetic session.
    model_id : str
    training_summary : dict
    seed : int
    """

    path: Path
    model: object
    layout: NeuronLayout
    model_config: ModelConfig
    fit_config: FitConfig
    session: Session
    session_index: int
    session_ids: tuple
    split: np.ndarray
    predictions: list
    history: list
    reference: object | None
    model_id: str
    training_summary: dict
    seed: int


def open_model_file(path) -> NWBHDF5IO:
    """Open a model file for reading after checking that it is one this version understands."""
    path = checked_hdf5_path(path, "give a model file written by nwb-biornn fit")
    try:
        namespaces = NWBHDF5IO.get_namespaces(path=str(path))
    except Exception as err:  # h5py/hdmf raise many types for foreign HDF5 files
        raise UserError(f"{path} is not a readable NWB file ({type(err).__name__}: {err})") from None
    version = namespaces.get(ndx_biornn.NAMESPACE)
    if version is None:
        raise UserError(f"{path} holds no bioRNN model (no {ndx_biornn.NAMESPACE} types); "
                        "give a model file written by nwb-biornn fit")
    if _major_minor(version) > _major_minor(ndx_biornn.__version__):
        raise UserError(f"{path} was written with {ndx_biornn.NAMESPACE} {version}, newer than the installed "
                        f"{ndx_biornn.__version__}; upgrade nwb-biornn (pip install -U nwb-biornn)")
    io = NWBHDF5IO(path, "r")
    try:
        module = io.read().processing.get(MODULE)
    except Exception as err:
        io.close()
        raise UserError(f"{path} could not be read as NWB ({type(err).__name__}: {err})") from None
    if module is None or MODEL not in module.data_interfaces:
        io.close()
        raise UserError(f"{path} holds no bioRNN model (no processing/{MODULE}/{MODEL}); "
                        "give a model file written by nwb-biornn fit")
    return io


def fitted_steps(path) -> int | None:
    """The training steps a model file's fit was configured for (its ``fit.steps``; None when it records none).

    Opens the file for its hyperparameters alone: a sweep asks it of every finished job to decide which to train
    longer.
    """
    with open_model_file(path) as io:
        fit = io.read().processing[MODULE][MODEL].hyperparameter_values.get("fit", {})
    return fit.get("steps")


def _major_minor(version: str) -> tuple:
    parts = re.findall(r"\d+", version)[:2]
    return tuple(int(p) for p in parts) + (0,) * (2 - len(parts))


def read_model_file(path) -> ModelFile:
    """Read a model file back into the model, its session, predictions and history.

    Raises
    ------
    UserError
        If ``path`` is not an NWB file, holds no bioRNN model, or was written by a newer ndx-biornn.
    """
    with open_model_file(path) as io:
        nwbfile = io.read()
        module = nwbfile.processing[MODULE]
        container = module[MODEL]
        model = network_from_container(container)
        hyperparameters = container.hyperparameter_values
        session_index = int(container.session_index)
        session = _session(nwbfile, module[FITTED_SESSION], container, model.layout, session_index)
        return ModelFile(
            path=Path(path), model=model, layout=model.layout, model_config=model.config,
            fit_config=from_dict(FitConfig, hyperparameters["fit"]), session=session, session_index=session_index,
            session_ids=tuple(str(s) for s in container.session_ids),
            split=np.asarray(nwbfile.trials["biornn_split"][:]).astype(str),
            predictions=_read_predictions(module, nwbfile.units, session.conditions),
            history=_read_history(module), reference=read_reference_circuit(nwbfile),
            model_id=container.model_id, training_summary=container.training_summary_values,
            seed=int(container.random_seed))


def _session(nwbfile, grid, container, layout, session_index) -> Session:
    units, trials = nwbfile.units, nwbfile.trials
    neurons, _ = layout.neurons_of(session_index)
    index = container.neurons["units"]
    starts = np.r_[0, np.asarray(index.data[:], np.int64)[:-1]]
    rows = np.asarray(index.target.data[:], np.int64)[starts[neurons]]
    align = np.asarray(trials["biornn_align_time"][:], float)
    metadata = json.loads(grid.metadata)
    subject = nwbfile.subject
    digest = (metadata.get("source") or {}).get("digest") or {}
    source = Source(path=grid.source_path, dandiset_id=grid.source_dandiset_id,
                    version=grid.source_dandiset_version, asset_path=grid.source_asset_path,
                    asset_id=grid.source_asset_id, api_url=grid.source_api_url,
                    digest=digest.get("dandi:dandi-etag"))
    return Session(
        spikes=rebin_units(units, rows, align, float(grid.t_start), float(grid.dt), int(grid.num_bins)),
        dt=float(grid.dt), t_start=float(grid.t_start), align_event=grid.align_event,
        unit_ids=np.asarray(units.id[:])[rows], unit_area=np.asarray(units["biornn_area"][:]).astype(str)[rows],
        unit_cell_type=np.asarray(units["biornn_cell_type"][:]).astype(str)[rows],
        trial_ids=np.asarray(trials.id[:]), trial_type=np.asarray(trials["biornn_trial_type"][:]).astype(str),
        inputs=np.asarray(grid.inputs[()], np.float32), input_names=tuple(str(n) for n in grid.input_names[:]),
        behaviour_name=grid.behaviour_name, **_behaviour(grid, trials),
        response_window=tuple(float(t) for t in grid.response_window),
        condition=np.asarray(trials["biornn_condition"][:], np.int64),
        conditions=tuple(Condition(**c) for c in metadata["conditions"]),
        excluded=np.asarray(trials["biornn_excluded"][:]).astype(str),
        subject={key: getattr(subject, key) for key in ("subject_id", "species", "sex", "age", "date_of_birth")},
        session_id=nwbfile.session_id or "", identifier=grid.source_identifier,
        session_description=nwbfile.session_description, session_start_time=nwbfile.session_start_time,
        source=source, metadata={**metadata["session"], ALIGN_TIMES: align},
        light_window=np.column_stack([np.asarray(trials[f"biornn_light_{edge}"][:], float)
                                      for edge in ("onset", "offset")])
        if "biornn_light_onset" in trials.colnames else None)


def _behaviour(grid, trials) -> dict:
    """The session's ``behaviour`` (trials, time, ports), ``ports`` and ``choice``.

    Files written before ndx-biornn 0.2.0 have one port, ``lick``: a 2-D behaviour trace, no ``ports`` and a
    boolean ``biornn_response`` column instead of ``biornn_choice``.
    """
    behaviour = np.asarray(grid.behaviour[()], np.float32)
    if grid.ports is None:
        response = np.asarray(trials["biornn_response"][:], bool)
        return {"behaviour": behaviour[:, :, None], "ports": LICK_PORTS,
                "choice": np.where(response, LICK_PORTS[0], NO_RESPONSE)}
    return {"behaviour": behaviour, "ports": tuple(str(port) for port in grid.ports),
            "choice": np.asarray(trials["biornn_choice"][:]).astype(str)}


def _read_predictions(module, units, conditions=()) -> list:
    """The stored predictions; a prediction of a recorded condition gets that condition (with its task epoch)."""
    by_label = {condition.label: condition for condition in conditions}
    if PREDICTIONS not in module.data_interfaces:
        return []
    table = module[PREDICTIONS]
    series = {(s.kind, int(s.condition)): s for s in module.data_interfaces.values()
              if isinstance(s, UnitResponseSeries)}
    unit_ids = np.asarray(units.id[:])
    time = np.asarray(table.psth_time, float)
    predictions = []
    for row in range(len(table)):
        get = {name: table[name][row] for name in table.colnames}
        recorded_area = np.asarray(get["recorded_area_psth"], np.float32)
        predicted_series, recorded_series = series[("predicted", row)], series.get(("recorded", row))
        predictions.append(ConditionPrediction(
            condition=by_label.get(str(get["label"])) or Condition(
                area=get["target_area"], cell_type=get["target_cell_type"], onset=get["onset"],
                offset=get["offset"], power=get["power"], waveform=get["waveform"], frequency=get["frequency"],
                ramp_down=get["ramp_down"], site=get["site_name"] or None, power_unit=get["power_unit"]),
            n_heldout_trials=int(get["num_heldout_trials"]),
            predicted_delta_behaviour=float(get["predicted_delta_behaviour"]),
            recorded_delta_behaviour=float(get["recorded_delta_behaviour"]),
            trial_matching_loss=float(get["trial_matching_loss"]), time=time,
            areas=tuple(str(a) for a in table.psth_areas),
            predicted_area_psth=np.asarray(get["predicted_area_psth"], np.float32),
            recorded_area_psth=None if np.all(np.isnan(recorded_area)) else recorded_area,
            unit_ids=unit_ids[np.asarray(predicted_series.units.data[:], np.int64)],
            predicted_unit_psth=np.asarray(predicted_series.data[()], np.float32),
            recorded_unit_psth=None if recorded_series is None else np.asarray(recorded_series.data[()], np.float32),
            calibration=bool(get["calibration"])))
    return predictions


def _read_history(module) -> list:
    if HISTORY not in module.data_interfaces:
        return []
    table = module[HISTORY]
    columns = {name: np.asarray(table[name][:]) for name in table.colnames}
    history = []
    for row in range(len(table)):
        entry = {"step": int(columns["step"][row]), "lr": float(columns["learning_rate"][row]),
                 "total": float(columns["total"][row])}
        entry.update({term: float(columns[term][row]) for term in LOSS_COLUMNS
                      if term in columns and not np.isnan(columns[term][row])})
        history.append(entry)
    return history
