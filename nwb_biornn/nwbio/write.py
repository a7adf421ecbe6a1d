"""Writing a model file: one fitted session, its source's units, trials, stimulation sites and licks, and the model.

:func:`write_model_file` reads the session's source file (never modifying it), copies every unit (with its spike
times), trial and lick event series into a new NWB file, adds the ``biornn_*`` columns, checks that re-binning
the copied spike times gives back the fitted spike counts, stores the model, the session grid, the predictions
and the loss history in the processing module ``biornn``, writes the file atomically and the dandiset's
``dandiset.yaml`` once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import uuid
import warnings
from datetime import timezone
from pathlib import Path

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import VectorData, VectorIndex
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.file import Subject
from pynwb.misc import Units

from ndx_biornn import BioRNNModel, FittedSession, LossHistoryTable, PerturbationPredictionsTable, UnitResponseSeries
from nwb_biornn import __version__
from nwb_biornn.core.config import preset_label
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.files import atomic_path, write_dandiset_yaml
from nwb_biornn.core.session import NO_RESPONSE, Session, Source
from nwb_biornn.core.split import Split
from nwb_biornn.model.layout import NeuronLayout
from nwb_biornn.nwbio.common import (
    ALIGN_TIMES,
    FITTED_SESSION,
    GZIP,
    HISTORY,
    LOSS_COLUMNS,
    MODEL,
    MODULE,
    PREDICTIONS,
    REFERENCE,
    SOFTWARE,
    python_scalar,
    rebin_units,
)
from nwb_biornn.nwbio.container import model_container
from nwb_biornn.nwbio.subject import subject_for_dandi
from nwb_biornn.recordings import adapters
from nwb_biornn.recordings.nwbfile import is_url, open_nwb


def model_file_path(out_dir, session: Session, preset: str, desc: str | None = None) -> Path:
    """``OUT/sub-<id>/sub-<id>_ses-<sid>_desc-<label>.nwb`` with DANDI-safe labels.

    The ``desc`` label is the preset's (:func:`~nwb_biornn.core.config.preset_label`) unless ``desc`` is given
    (a sweep's ``biornn-seed0``...); it is made DANDI-safe like the other labels.
    """
    subject = _label(str(session.subject.get("subject_id") or "unknown"))
    session_label = _label(session.session_id or f"{session.session_start_time:%Y%m%dT%H%M%S}")
    label = preset_label(preset) if desc is None else _label(desc)
    return Path(out_dir) / f"sub-{subject}" / f"sub-{subject}_ses-{session_label}_desc-{label}.nwb"


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "x"


def write_model_file(out_dir, session: Session, result, session_index: int, predictions: list,
                     reference=None, summary: dict | None = None, subject: dict | None = None,
                     session_ids: list | None = None, desc: str | None = None) -> Path:
    """Write the model file of one fitted session (atomically) and the dandiset's ``dandiset.yaml``.

    Parameters
    ----------
    out_dir
        Root of the output dandiset.
    session
        The session as fitted; its source file (``session.source.path``) is read, never modified.
    result : FitResult
    session_index
        Position of ``session`` among the sessions of the fit (``result.splits[session_index]``).
    predictions
        :class:`~nwb_biornn.analysis.predictions.ConditionPrediction` of every condition (may be empty).
    reference : BioRNN, optional
        Ground-truth circuit of a synthetic session, stored as ``reference_circuit``.
    summary
        JSON-able facts added to the model's training summary (held-out scores, calibration...).
    subject
        The checked subject (:func:`~nwb_biornn.nwbio.subject_for_dandi`); by default derived from ``session.subject``.
    session_ids
        ``session_id`` of every session of the fit, in order (by default only this session's is known).
    desc
        The file name's ``desc-`` label (default: the preset's; see :func:`model_file_path`).

    Returns
    -------
    Path
        The written file.
    """
    subject = subject_for_dandi(session.subject) if subject is None else subject
    path = model_file_path(out_dir, session, result.model_config.preset, desc)
    split = np.asarray(result.splits[session_index]).astype(str)
    source_path = session.source.path
    if not (is_url(source_path) or Path(source_path).is_file()):
        raise UserError(f"the source file {source_path} of session {session.session_id!r} is gone; "
                        "download it again or refit")
    with open_nwb(source_path) as source_io, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The linked table for DynamicTableRegion")
        source = source_io.read()
        nwbfile = _new_file(session, subject, source)
        _copy_units(source, nwbfile, session)
        _copy_trials(source, nwbfile, session, split)
        _copy_ogen_sites(source, nwbfile)
        _copy_lick_events(source, nwbfile)
        _check_rebinning(nwbfile, session, result.layout, session_index)
        module = nwbfile.create_processing_module(MODULE, f"bioRNN model fitted by {SOFTWARE} {__version__}.")
        ids = list(session_ids) if session_ids is not None else [""] * len(result.splits)
        ids[session_index] = session.session_id
        module.add(_fitted_model(nwbfile, session, result, session_index, split, summary, ids))
        module.add(_fitted_session(nwbfile, session))
        if reference is not None:
            module.add(model_container(reference, REFERENCE, "Ground-truth circuit the session was simulated from."))
        if predictions:
            module.add(_predictions_table(nwbfile, predictions))
            for item in _unit_responses(nwbfile, predictions):
                module.add(item)
        if result.history:
            module.add(_history_table(result.history))
        _write_dandiset_yaml(Path(out_dir), session.source)
        _write_atomically(path, nwbfile)
    return path


def _new_file(session: Session, subject: dict, source: NWBFile) -> NWBFile:
    start = session.session_start_time
    copied = {key: getattr(source, key) for key in ("experimenter", "institution", "lab", "experiment_description",
                                                    "related_publications") if getattr(source, key)}
    nwbfile = NWBFile(
        session_description=session.session_description or f"Session {session.session_id}",
        identifier=str(uuid.uuid4()),
        session_start_time=start if start.tzinfo else start.replace(tzinfo=timezone.utc),
        session_id=session.session_id or None,
        keywords=["bioRNN", "spiking RNN", "model", "optogenetics", "perturbation prediction"],
        source_script=f"{SOFTWARE} {__version__}",
        source_script_file_name="nwb_biornn/nwbio/write.py",
        data_collection=f"Derived from {_source_text(session.source)}.",
        **copied,
    )
    fields = {key: subject.get(key) for key in ("subject_id", "species", "sex", "age", "date_of_birth",
                                                "description", "strain", "genotype")}
    nwbfile.subject = Subject(**{key: value for key, value in fields.items() if value is not None})
    return nwbfile


def _source_text(source: Source) -> str:
    if source.dandiset_id:
        return f"DANDI:{source.dandiset_id}/{source.version or 'draft'} {source.asset_path or ''}".strip()
    return Path(source.path).name


def _simple_columns(table, skip=()) -> dict:
    """The 1-D scalar number/bool/text columns of a source table, as arrays (references and ragged excluded)."""
    indexed = {column.target.name for column in table.columns if isinstance(column, VectorIndex)}
    columns = {}
    for column in table.columns:
        if (type(column) is not VectorData or column.name in indexed or column.name in skip
                or column.name.startswith("biornn_")):
            continue
        values = np.asarray(column.data[:])
        if values.ndim != 1:
            continue
        if values.dtype.kind == "O":
            values = np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
            if not all(isinstance(v, str) for v in values):
                continue
        elif values.dtype.kind not in "biuf":
            continue
        columns[column.name] = (column.description, values)
    return columns


def _copy_units(source: NWBFile, nwbfile: NWBFile, session: Session) -> None:
    units = source.units
    if units is None or len(units) == 0:
        raise UserError(f"the source file {session.source.path} has no units to copy into the model file")
    ids = np.asarray(units.id[:])
    fitted = {int(unit_id): column for column, unit_id in enumerate(session.unit_ids)}
    missing = set(fitted) - set(ids.tolist())
    if missing:
        raise UserError(f"units {sorted(missing)[:5]} of the session are not in the source file "
                        f"{session.source.path}; the file changed since it was loaded")
    if units.resolution is not None:
        nwbfile.units = Units(name="units", description=units.description, resolution=units.resolution)
    extra = _simple_columns(units, skip=("spike_times", "obs_intervals"))
    for name, (description, _) in extra.items():
        nwbfile.add_unit_column(name, description)
    for name, description in (("biornn_area", "Model area of the unit ('' if not fitted)."),
                              ("biornn_cell_type", "Cell type used by the model: 'E', 'I', or '' if not fitted."),
                              ("biornn_fitted", "True if a model neuron was fitted to the unit.")):
        nwbfile.add_unit_column(name, description)
    has_obs = "obs_intervals" in units.colnames
    for row, unit_id in enumerate(ids.tolist()):
        column = fitted.get(unit_id)
        values = {name: data[row] for name, (_, data) in extra.items()}
        if has_obs:
            values["obs_intervals"] = np.asarray(units["obs_intervals"][row])
        nwbfile.add_unit(id=unit_id, spike_times=np.sort(np.asarray(units["spike_times"][row], float)),
                         biornn_area="" if column is None else str(session.unit_area[column]),
                         biornn_cell_type="" if column is None else str(session.unit_cell_type[column]),
                         biornn_fitted=column is not None, **values)


def _copy_trials(source: NWBFile, nwbfile: NWBFile, session: Session, split: np.ndarray) -> None:
    trials = source.trials
    if trials is None or len(trials) != session.n_trials:
        raise UserError(f"the trials table of {session.source.path} no longer has the session's "
                        f"{session.n_trials} trials; the file changed since it was loaded")
    align = _align_times(session)
    extra = _simple_columns(trials, skip=("start_time", "stop_time"))
    biornn = {
        "biornn_split": ("Use of the trial by the model: train, test, perturbation (held out) or excluded.", split),
        "biornn_trial_type": ("Trial type the model compares behaviour within.", session.trial_type.astype(str)),
        "biornn_condition": ("Row of the session's light conditions, -1 without light.",
                             session.condition.astype(np.int64)),
        "biornn_choice": (f"The port of the trial's response (one of {', '.join(session.ports)}), "
                          f"'{NO_RESPONSE}' without a response, '' where unknown.", session.choice.astype(str)),
        "biornn_align_time": (f"Time of the {session.align_event} alignment event (s, session clock).", align),
        "biornn_excluded": ("Why the trial was excluded ('' if usable).", session.excluded.astype(str)),
    }
    window = session.light_window if session.light_window is not None else np.full((session.n_trials, 2), np.nan)
    biornn["biornn_light_onset"] = ("Light onset of the trial as simulated and scored (s, relative to the "
                                    "alignment event; NaN without light).", np.asarray(window[:, 0], float))
    biornn["biornn_light_offset"] = ("Light offset of the trial as simulated and scored (s, relative to the "
                                     "alignment event; NaN without light).", np.asarray(window[:, 1], float))
    columns = {**extra, **biornn}
    for name, (description, _) in columns.items():
        nwbfile.add_trial_column(name, description)
    start, stop = np.asarray(trials["start_time"][:], float), np.asarray(trials["stop_time"][:], float)
    for row, trial_id in enumerate(np.asarray(trials.id[:]).tolist()):
        nwbfile.add_trial(id=trial_id, start_time=start[row], stop_time=stop[row],
                          **{name: python_scalar(values[row]) for name, (_, values) in columns.items()})


def _align_times(session: Session) -> np.ndarray:
    align = session.metadata.get(ALIGN_TIMES)
    if align is None or len(align) != session.n_trials:
        raise ValueError(f"session.metadata[{ALIGN_TIMES!r}] must hold the session-clock alignment time of every "
                         "trial (the loader sets it)")
    return np.asarray(align, float)


def _copy_ogen_sites(source: NWBFile, nwbfile: NWBFile) -> None:
    for site in source.ogen_sites.values():
        device = site.device
        if device.name not in nwbfile.devices:
            nwbfile.create_device(name=device.name, description=device.description or device.name)
        nwbfile.create_ogen_site(name=site.name, device=nwbfile.devices[device.name], description=site.description,
                                 excitation_lambda=site.excitation_lambda, location=site.location)


def _copy_lick_events(source: NWBFile, nwbfile: NWBFile) -> None:
    """The source's lick event series (what the behaviour trace was binned from), as TimeSeries of the
    ``behavior`` module."""
    series = adapters.lick_series(source)
    if not series:
        return
    module = nwbfile.create_processing_module("behavior", "Lick events copied from the source session.")
    for original in series.values():
        module.add(TimeSeries(
            name=original.name, data=np.asarray(original.data[:]), timestamps=adapters.series_times(original),
            unit=original.unit, description=original.description or "Lick events copied from the source."))


def _check_rebinning(nwbfile: NWBFile, session: Session, layout: NeuronLayout, session_index: int) -> None:
    """The copied spike times must give back ``session.spikes`` exactly (else the file could not rebuild it)."""
    rows = _unit_rows(nwbfile.units, session.unit_ids)
    spikes = rebin_units(nwbfile.units, rows, _align_times(session), session.t_start, session.dt, session.n_time)
    if not np.array_equal(spikes, session.spikes):
        raise ValueError("re-binning the source's spike_times does not reproduce session.spikes; the loader and "
                         "nwb_biornn.recordings.binning.bin_spikes disagree")
    neurons, _ = layout.neurons_of(session_index)
    if len(neurons) != session.n_units:
        raise ValueError(f"the layout maps {len(neurons)} neurons to session {session_index}, which has "
                         f"{session.n_units} units")


def _unit_rows(units, unit_ids) -> np.ndarray:
    row_of = {int(unit_id): row for row, unit_id in enumerate(np.asarray(units.id[:]).tolist())}
    return np.array([row_of[int(unit_id)] for unit_id in unit_ids], dtype=np.int64)


def _fitted_model(nwbfile, session, result, session_index, split, summary, session_ids) -> BioRNNModel:
    trials = nwbfile.trials
    regions = {}
    for name, kind, description in (("training_trials", Split.TRAIN, "Trials the model was trained on."),
                                    ("heldout_trials", Split.PERTURBATION, "Perturbation trials held out of training.")):
        rows = np.flatnonzero(split == kind).tolist()
        if rows:
            regions[name] = trials.create_region(name, rows, description)
    model_rows = np.full(result.layout.n_neurons, -1)
    neurons, columns = result.layout.neurons_of(session_index)
    model_rows[neurons] = _unit_rows(nwbfile.units, session.unit_ids[columns])
    return model_container(
        result.model, MODEL, f"bioRNN ({result.model_config.preset}) fitted to {len(result.splits)} session(s).",
        fit_config=result.fit_config, unit_rows=model_rows, units=nwbfile.units,
        session_ids=[str(s) for s in session_ids], session_index=session_index,
        training_steps=int(result.steps),
        training_summary=json.dumps(_training_summary(session, result, split, summary), default=_json_default),
        **regions)


def _training_summary(session, result, split, summary) -> dict:
    reasons = {}
    for reason in session.excluded[session.excluded != ""].tolist():
        reasons[reason] = reasons.get(reason, 0) + 1
    heldout = sorted({int(c) for c in session.condition[split == Split.PERTURBATION].tolist() if c >= 0})
    last = result.history[-1] if result.history else {}
    return {
        "steps": int(result.steps),
        "final_losses": {key: value for key, value in last.items() if key not in ("step", "lr")},
        "trials": {kind.value: int(np.sum(split == kind)) for kind in Split},
        "excluded_reasons": reasons,
        "heldout_conditions": [session.conditions[c].label for c in heldout],
        **(summary or {}),
    }


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def source_provenance(source: Source) -> dict:
    """What names a session's source so that anyone can fetch it, with no directory of this machine in it.

    DANDI: the instance's API URL, dandiset id, version, asset path, asset id, the asset's ``dandi:dandi-etag``
    digest (when known) and the asset's download URL. A local file: its file name and sha256.
    """
    if source.dandiset_id:
        document = {"kind": "dandi", "api_url": source.api_url, "dandiset_id": source.dandiset_id,
                    "version": source.version, "asset_path": source.asset_path, "asset_id": source.asset_id,
                    "digest": {"dandi:dandi-etag": source.digest} if source.digest else None}
        if source.api_url and source.asset_id:
            document["download_url"] = f"{source.api_url}/assets/{source.asset_id}/download/"
        return document
    name = source.path.rstrip("/").rsplit("/", 1)[-1] if is_url(source.path) else Path(source.path).name
    sha256 = None
    if not is_url(source.path) and Path(source.path).is_file():
        with open(source.path, "rb") as file:
            sha256 = hashlib.file_digest(file, "sha256").hexdigest()
    return {"kind": "file", "file_name": name, "sha256": sha256}


def portable_source_name(source: Source) -> str:
    """The ``source_path`` written into a model file: the asset path for DANDI, else the file name."""
    if source.dandiset_id and source.asset_path:
        return source.asset_path
    return source_provenance(source)["file_name"] if is_url(source.path) else Path(source.path).name


def _fitted_session(nwbfile, session: Session) -> FittedSession:
    source = session.source
    provenance = {f"source_{key}": value for key, value in (
        ("dandiset_id", source.dandiset_id), ("dandiset_version", source.version),
        ("asset_path", source.asset_path), ("asset_id", source.asset_id), ("api_url", source.api_url))
        if value}
    metadata = {"conditions": [dataclasses.asdict(c) for c in session.conditions],
                "session": {k: v for k, v in session.metadata.items() if k != ALIGN_TIMES and _is_json(v)},
                "source": source_provenance(source)}
    return FittedSession(
        name=FITTED_SESSION, t_start=float(session.t_start), dt=float(session.dt), num_bins=session.n_time,
        align_event=session.align_event, response_window=[float(t) for t in session.response_window],
        behaviour_name=session.behaviour_name, ports=list(session.ports), source_path=portable_source_name(source),
        source_identifier=session.identifier,
        metadata=json.dumps(metadata), input_names=list(session.input_names),
        inputs=H5DataIO(np.ascontiguousarray(session.inputs, dtype=np.float32), chunks=True, **GZIP),
        behaviour=H5DataIO(np.ascontiguousarray(session.behaviour, dtype=np.float32), chunks=True, **GZIP),
        trials=nwbfile.trials, **provenance)


def _is_json(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _predictions_table(nwbfile, predictions: list) -> PerturbationPredictionsTable:
    first = predictions[0]
    for prediction in predictions:
        if not (np.array_equal(prediction.time, first.time) and tuple(prediction.areas) == tuple(first.areas)):
            raise ValueError("every prediction must share the same PSTH time bins and areas")
    sites = nwbfile.ogen_sites
    with_site = all(p.condition.site in sites for p in predictions)
    table = PerturbationPredictionsTable(
        name=PREDICTIONS, description="Predicted and recorded effect of each optogenetic condition.",
        psth_time=np.asarray(first.time, float), psth_areas=[str(a) for a in first.areas])
    nan_psth = np.full((len(first.time), len(first.areas)), np.nan, dtype=np.float32)
    for prediction in predictions:
        condition = prediction.condition
        site = {"stimulus_site": sites[condition.site]} if with_site else {}
        recorded = prediction.recorded_area_psth
        table.add_row(
            label=condition.label, target_area=condition.area, target_cell_type=condition.cell_type,
            onset=condition.onset, offset=condition.offset, power=condition.power, power_unit=condition.power_unit,
            waveform=condition.waveform, frequency=condition.frequency, ramp_down=condition.ramp_down,
            site_name=condition.site or "", num_heldout_trials=int(prediction.n_heldout_trials),
            calibration=bool(prediction.calibration),
            predicted_delta_behaviour=float(prediction.predicted_delta_behaviour),
            recorded_delta_behaviour=float(prediction.recorded_delta_behaviour),
            trial_matching_loss=float(prediction.trial_matching_loss),
            predicted_area_psth=np.asarray(prediction.predicted_area_psth, np.float32),
            recorded_area_psth=nan_psth if recorded is None else np.asarray(recorded, np.float32), **site)
    return table


def _unit_responses(nwbfile, predictions: list) -> list:
    series = []
    for index, prediction in enumerate(predictions):
        rows = _unit_rows(nwbfile.units, prediction.unit_ids).tolist()
        for kind, data in (("predicted", prediction.predicted_unit_psth),
                           ("recorded", prediction.recorded_unit_psth)):
            if data is None:
                continue
            series.append(UnitResponseSeries(
                name=f"{kind}_unit_response_{index}", condition=index, kind=kind,
                description=f"{kind.capitalize()} trial-averaged rate of each unit under {prediction.condition.label}"
                            "; time relative to the alignment event.",
                data=np.asarray(data, np.float32), unit="Hz", **_time_axis(np.asarray(prediction.time, float)),
                units=nwbfile.units.create_region("units", rows, "The Units row of each data column.")))
    return series


def _time_axis(time: np.ndarray) -> dict:
    """``starting_time`` and ``rate`` for regular bins (what NWB prefers), else ``timestamps``."""
    steps = np.diff(time)
    if len(time) > 1 and np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        return {"starting_time": float(time[0]), "rate": float(1 / steps.mean())}
    return {"timestamps": time}


def _history_table(history: list) -> LossHistoryTable:
    terms = [term for term in LOSS_COLUMNS if any(term in entry for entry in history)]
    table = LossHistoryTable(name=HISTORY, description="Training losses per logged optimizer step.")
    for entry in history:
        table.add_row(step=int(entry["step"]), learning_rate=float(entry["lr"]), total=float(entry["total"]),
                      **{term: float(entry.get(term, np.nan)) for term in terms})
    return table


def _write_dandiset_yaml(out_dir: Path, source: Source) -> None:
    path = out_dir / "dandiset.yaml"
    if path.exists():
        return
    derived = _source_text(source) if source.dandiset_id else "local NWB files"
    write_dandiset_yaml(out_dir, f"bioRNN models fitted by {SOFTWARE} to {derived}",
                        f"Biologically informed spiking RNNs fitted by {SOFTWARE} {__version__} to the sessions of "
                        f"{derived}, with their optogenetic perturbation predictions (NWB extension ndx-biornn).",
                        derived_from=f"DANDI:{source.dandiset_id}/{source.version or 'draft'}"
                        if source.dandiset_id else None)


def _write_atomically(path: Path, nwbfile: NWBFile) -> None:
    with atomic_path(path) as tmp, NWBHDF5IO(tmp, "w") as io:
        io.write(nwbfile)
