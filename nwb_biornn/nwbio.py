"""Fitted models <-> NWB model files (the only module that knows the model-file layout, see docs/schema.md).

One derived file per session, ``OUT/sub-<id>/sub-<id>_ses-<sid>_desc-<label>.nwb``, in a folder that is itself
a dandiset (``OUT/dandiset.yaml``). Each file stands alone: subject and session metadata, every unit and trial of
the source session, its optogenetic stimulation sites, the model (processing module ``biornn``, ndx-biornn
types), the session grid, the predictions and the loss history. :func:`read_model_file` rebuilds the torch model
and the :class:`~nwb_biornn.data.session.Session` from the file alone.

Examples
--------
>>> path = write_model_file("fits", session, result, 0, predictions)       # doctest: +SKIP
>>> loaded = read_model_file(path)                                          # doctest: +SKIP
>>> loaded.model.simulate(inputs, seed=1)                                   # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import h5py
import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from hdmf.common import VectorData, VectorIndex
from pynwb import NWBHDF5IO, NWBFile
from pynwb.file import Subject
from pynwb.misc import Units

import ndx_biornn
from ndx_biornn import (BioRNNModel, BioRNNNeuronTable, FittedSession, LossHistoryTable, PerturbationPredictionsTable,
                        TargetedNeuronSetsTable, UnitResponseSeries)
from nwb_biornn import __version__
from nwb_biornn.config import FitConfig, ModelConfig, from_dict, preset_label, to_dict
from nwb_biornn.data.binning import bin_spikes
from nwb_biornn.data.nwbfile import checked_hdf5_path, is_url, open_nwb
from nwb_biornn.data.session import Condition, Session, Source
from nwb_biornn.errors import UserError
from nwb_biornn.model.layout import HIDDEN, NeuronLayout
from nwb_biornn.predictions import ConditionPrediction
from nwb_biornn.text import evaluation_headline

MODULE = "biornn"
"""Processing module of a model file that holds every ndx-biornn object."""
MODEL = "biornn_model"
REFERENCE = "reference_circuit"
"""Name of the ground-truth circuit: a module of a synthetic source file, an object in a model file's module."""
FITTED_SESSION = "fitted_session"
PREDICTIONS = "perturbation_predictions"
HISTORY = "loss_history"
TARGETS = "targeted_neuron_sets"
SOFTWARE = "nwb-biornn"
ALIGN_TIMES = "align_times"
"""Key of ``Session.metadata`` holding each trial's alignment event on the session clock (s, NaN if none)."""
SPLITS = ("train", "test", "perturbation", "excluded")
SUBJECT_OPTIONS = {"species": "--subject-species", "sex": "--subject-sex", "age": "--subject-age"}

_GZIP = dict(compression="gzip", compression_opts=4, shuffle=True)
_SPECIES_ALIASES = {"mouse": "Mus musculus", "house mouse": "Mus musculus", "rat": "Rattus norvegicus",
                    "human": "Homo sapiens", "rhesus macaque": "Macaca mulatta", "macaque": "Macaca mulatta"}
_SEX_ALIASES = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_DURATION = r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
_AGE = re.compile(rf"^{_DURATION}(/{_DURATION})?$|^/{_DURATION}$")
_BINOMIAL = re.compile(r"^[A-Z][a-z]+ [a-z]+")
_LOSS_COLUMNS = {"trial": "trial", "psth": "psth", "rate": "rate", "behaviour": "behaviour",
                 "test_total": "test_total"}
_ARRAY_FIELDS = {"recurrent_weights": "recurrent_weights", "connectivity_mask": "connectivity_mask",
                 "delays": "delays", "input_weights": "input_weights", "readout_weights": "readout_weights",
                 "resting_potential": "resting_potential", "threshold": "threshold", "tau": "membrane_time_constant",
                 "noise": "noise", "refractory_steps": "refractory_steps"}
"""``BioRNN.to_arrays`` key -> BioRNNModel dataset (``readout_bias`` is an attribute)."""


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


# ---------------------------------------------------------------------------------------------------- subject


def subject_for_dandi(subject: dict, overrides: dict | None = None) -> dict:
    """The subject fields DANDI requires, from the source's subject and the user's overrides.

    Parameters
    ----------
    subject
        ``Session.subject``: ``subject_id``, ``species``, ``sex``, ``age``, ``date_of_birth`` (None if absent).
    overrides
        ``species``, ``sex`` and ``age`` given on the command line; None values are ignored.

    Returns
    -------
    dict
        ``subject_id``, ``species`` (Latin binomial or NCBI taxon URL), ``sex`` (M/F/O/U), ``age`` (ISO 8601
        duration) or ``date_of_birth`` (tz-aware datetime), plus any other fields of ``subject``.

    Raises
    ------
    UserError
        Naming every missing or malformed field and the option that supplies it.

    Examples
    --------
    >>> subject_for_dandi({"subject_id": "m1", "species": "mouse", "sex": "male", "age": None},
    ...                   {"age": "P60D"})["species"]
    'Mus musculus'
    """
    values = {key: value for key, value in dict(subject or {}).items() if value not in (None, "")}
    values.update({key: value for key, value in (overrides or {}).items() if value not in (None, "")})
    problems = []
    subject_id = str(values.get("subject_id", ""))
    if not subject_id or "/" in subject_id:
        problems.append("subject_id is missing or contains '/' (fix the source file)")
    species = str(values.get("species", ""))
    species = _SPECIES_ALIASES.get(species.lower(), species)
    if not (_BINOMIAL.match(species) or species.startswith(("http://purl.obolibrary.org/obo/NCBITaxon_",
                                                              "https://purl.obolibrary.org/obo/NCBITaxon_"))):
        problems.append(f"species {species or 'missing'} is not a Latin binomial or NCBI taxon URL "
                        f"({SUBJECT_OPTIONS['species']} 'Mus musculus')")
    sex = str(values.get("sex", ""))
    sex = _SEX_ALIASES.get(sex.lower(), sex)
    if sex not in ("M", "F", "O", "U"):
        problems.append(f"sex {sex or 'missing'} is not M, F, O or U ({SUBJECT_OPTIONS['sex']} U)")
    age = str(values.get("age", ""))
    birth = _as_datetime(values.get("date_of_birth"))
    if not _AGE.match(age) and birth is None:
        problems.append(f"age {age or 'missing'} is not an ISO 8601 duration and there is no date_of_birth "
                        f"({SUBJECT_OPTIONS['age']} P90D)")
    if problems:
        raise UserError("the model file would fail DANDI validation: " + "; ".join(problems))
    values.update(subject_id=subject_id, species=species, sex=sex, age=age if _AGE.match(age) else None,
                  date_of_birth=birth)
    return values


def _as_datetime(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------------- writing


def model_file_path(out_dir, session: Session, preset: str) -> Path:
    """``OUT/sub-<id>/sub-<id>_ses-<sid>_desc-<label>.nwb`` with DANDI-safe labels."""
    subject = _label(str(session.subject.get("subject_id") or "unknown"))
    session_label = _label(session.session_id or f"{session.session_start_time:%Y%m%dT%H%M%S}")
    return Path(out_dir) / f"sub-{subject}" / f"sub-{subject}_ses-{session_label}_desc-{preset_label(preset)}.nwb"


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "x"


def write_model_file(out_dir, session: Session, result, session_index: int, predictions: list,
                     reference=None, summary: dict | None = None, subject: dict | None = None,
                     session_ids: list | None = None) -> Path:
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
        :class:`ConditionPrediction` of every condition (may be empty).
    reference : BioRNN, optional
        Ground-truth circuit of a synthetic session, stored as ``reference_circuit``.
    summary
        JSON-able facts added to the model's training summary (held-out scores, calibration...).
    subject
        The checked subject (:func:`subject_for_dandi`); by default derived from ``session.subject``.
    session_ids
        ``session_id`` of every session of the fit, in order (by default only this session's is known).

    Returns
    -------
    Path
        The written file.
    """
    subject = subject_for_dandi(session.subject) if subject is None else subject
    path = model_file_path(out_dir, session, result.model_config.preset)
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
        _check_rebinning(nwbfile, session, result.layout, session_index)
        module = nwbfile.create_processing_module(MODULE, f"bioRNN model fitted by {SOFTWARE} {__version__}.")
        ids = list(session_ids) if session_ids is not None else [""] * len(result.splits)
        ids[session_index] = session.session_id
        module.add(_fitted_model(nwbfile, session, result, session_index, split, summary, ids))
        module.add(_fitted_session(nwbfile, session))
        if reference is not None:
            module.add(_model_container(reference, REFERENCE, "Ground-truth circuit the session was simulated from."))
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
        source_script_file_name="nwb_biornn/nwbio.py",
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
        "biornn_response": ("Whether the behavioural response happened.", session.response.astype(bool)),
        "biornn_align_time": (f"Time of the {session.align_event} alignment event (s, session clock).", align),
        "biornn_excluded": ("Why the trial was excluded ('' if usable).", session.excluded.astype(str)),
    }
    columns = {**extra, **biornn}
    for name, (description, _) in columns.items():
        nwbfile.add_trial_column(name, description)
    start, stop = np.asarray(trials["start_time"][:], float), np.asarray(trials["stop_time"][:], float)
    for row, trial_id in enumerate(np.asarray(trials.id[:]).tolist()):
        nwbfile.add_trial(id=trial_id, start_time=start[row], stop_time=stop[row],
                          **{name: _scalar(values[row]) for name, (_, values) in columns.items()})


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


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


def _check_rebinning(nwbfile: NWBFile, session: Session, layout: NeuronLayout, session_index: int) -> None:
    """The copied spike times must give back ``session.spikes`` exactly (else the file could not rebuild it)."""
    rows = _unit_rows(nwbfile.units, session.unit_ids)
    spikes = _rebin(nwbfile.units, rows, _align_times(session), session.t_start, session.dt, session.n_time)
    if not np.array_equal(spikes, session.spikes):
        raise ValueError("re-binning the source's spike_times does not reproduce session.spikes; the loader and "
                         "nwb_biornn.data.binning.bin_spikes disagree")
    neurons, _ = layout.neurons_of(session_index)
    if len(neurons) != session.n_units:
        raise ValueError(f"the layout maps {len(neurons)} neurons to session {session_index}, which has "
                         f"{session.n_units} units")


def _unit_rows(units, unit_ids) -> np.ndarray:
    row_of = {int(unit_id): row for row, unit_id in enumerate(np.asarray(units.id[:]).tolist())}
    return np.array([row_of[int(unit_id)] for unit_id in unit_ids], dtype=np.int64)


def _rebin(units, rows, align, t_start, dt, n_time) -> np.ndarray:
    """Spike counts (trials, time, units) of the Units rows ``rows``, as the loader bins them."""
    spike_times = [np.asarray(units["spike_times"][row], float) for row in rows]
    obs_intervals = ([np.asarray(units["obs_intervals"][row], float) for row in rows]
                     if "obs_intervals" in units.colnames else None)
    spikes = bin_spikes(spike_times, align, t_start, dt, n_time, obs_intervals)[0]
    spikes[~np.isfinite(align)] = 0
    return spikes


def _fitted_model(nwbfile, session, result, session_index, split, summary, session_ids) -> BioRNNModel:
    trials = nwbfile.trials
    regions = {}
    for name, kind, description in (("training_trials", "train", "Trials the model was trained on."),
                                    ("heldout_trials", "perturbation", "Perturbation trials held out of training.")):
        rows = np.flatnonzero(split == kind).tolist()
        if rows:
            regions[name] = trials.create_region(name, rows, description)
    model_rows = np.full(result.layout.n_neurons, -1)
    neurons, columns = result.layout.neurons_of(session_index)
    model_rows[neurons] = _unit_rows(nwbfile.units, session.unit_ids[columns])
    return _model_container(
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
    heldout = sorted({int(c) for c in session.condition[split == "perturbation"].tolist() if c >= 0})
    last = result.history[-1] if result.history else {}
    return {
        "steps": int(result.steps),
        "final_losses": {key: value for key, value in last.items() if key not in ("step", "lr")},
        "trials": {kind: int(np.sum(split == kind)) for kind in SPLITS},
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


def model_id(model) -> str:
    """Identifier of a fitted network: the same for every file the same parameters are written to."""
    digest = hashlib.sha256(json.dumps(to_dict(model.config), sort_keys=True).encode())
    for key, value in sorted(model.to_arrays().items()):
        digest.update(key.encode() + np.ascontiguousarray(value).tobytes())
    return str(uuid.UUID(bytes=digest.digest()[:16]))


def _model_container(model, name: str, description: str, fit_config: FitConfig | None = None,
                     unit_rows=None, units=None, **attributes) -> BioRNNModel:
    """A BioRNNModel (with its neuron table) holding ``model.to_arrays()``."""
    arrays = model.to_arrays()
    dtypes = {"connectivity_mask": bool, "delays": np.int32, "refractory_steps": np.int32}
    datasets = {field: H5DataIO(np.ascontiguousarray(arrays[key], dtype=dtypes.get(key, np.float32)),
                                chunks=True, **_GZIP)
                for key, field in _ARRAY_FIELDS.items()}
    hyperparameters = {"model": to_dict(model.config), "areas": list(model.layout.areas)}
    if fit_config is not None:
        hyperparameters["fit"] = to_dict(fit_config)
    return BioRNNModel(
        name=name, description=description, model_id=model_id(model), preset=model.config.preset,
        software=SOFTWARE, software_version=__version__, dt=float(model.dt),
        random_seed=int(fit_config.seed) if fit_config is not None else None,
        hyperparameters=json.dumps(hyperparameters), readout_bias=float(arrays["readout_bias"]),
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


def _fitted_session(nwbfile, session: Session) -> FittedSession:
    source = session.source
    provenance = {f"source_{key}": value for key, value in (
        ("dandiset_id", source.dandiset_id), ("dandiset_version", source.version),
        ("asset_path", source.asset_path), ("asset_id", source.asset_id), ("api_url", source.api_url))
        if value}
    metadata = {"conditions": [dataclasses.asdict(c) for c in session.conditions],
                "session": {k: v for k, v in session.metadata.items() if k != ALIGN_TIMES and _is_json(v)}}
    return FittedSession(
        name=FITTED_SESSION, t_start=float(session.t_start), dt=float(session.dt), num_bins=session.n_time,
        align_event=session.align_event, response_window=[float(t) for t in session.response_window],
        behaviour_name=session.behaviour_name, source_path=str(source.path), source_identifier=session.identifier,
        metadata=json.dumps(metadata), input_names=list(session.input_names),
        inputs=H5DataIO(np.ascontiguousarray(session.inputs, dtype=np.float32), chunks=True, **_GZIP),
        behaviour=H5DataIO(np.ascontiguousarray(session.behaviour, dtype=np.float32), chunks=True, **_GZIP),
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
    terms = [term for term in _LOSS_COLUMNS if any(term in entry for entry in history)]
    table = LossHistoryTable(name=HISTORY, description="Training losses per logged optimizer step.")
    for entry in history:
        table.add_row(step=int(entry["step"]), learning_rate=float(entry["lr"]), total=float(entry["total"]),
                      **{term: float(entry.get(term, np.nan)) for term in terms})
    return table


def _write_dandiset_yaml(out_dir: Path, source: Source) -> None:
    path = out_dir / "dandiset.yaml"
    if path.exists():
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    derived = _source_text(source) if source.dandiset_id else "local NWB files"
    lines = [
        "identifier: '000000'",
        f"name: {json.dumps(f'bioRNN models fitted by {SOFTWARE} to {derived}')}",
        "description: " + json.dumps(f"Biologically informed spiking RNNs fitted by {SOFTWARE} {__version__} to the "
                                     f"sessions of {derived}, with their optogenetic perturbation predictions "
                                     "(NWB extension ndx-biornn)."),
        "license:", "- spdx:CC-BY-4.0",
    ]
    if source.dandiset_id:
        version = source.version or "draft"
        lines += ["relatedResource:", f"- identifier: {json.dumps(f'DANDI:{source.dandiset_id}/{version}')}",
                  "  relation: dcite:IsDerivedFrom",
                  f"  url: {json.dumps(f'https://dandiarchive.org/dandiset/{source.dandiset_id}/{version}')}"]
    _replace_atomically(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))


def _write_atomically(path: Path, nwbfile: NWBFile) -> None:
    def write(tmp):
        with NWBHDF5IO(tmp, "w") as io:
            io.write(nwbfile)
    _replace_atomically(path, write)


def _replace_atomically(path: Path, write) -> None:
    """``write(tmp)`` to a hidden temporary file next to ``path``, then rename it: no partial file is ever left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
    os.close(handle)
    tmp = Path(tmp)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------- reference


def add_reference_circuit(nwbfile: NWBFile, model, layout: NeuronLayout, name: str) -> None:
    """Store the ground-truth circuit of a synthetic session in ``processing/reference_circuit``.

    ``layout`` must be ``model.layout``; ``name`` (e.g. ``refcirc1``) goes into the description.
    """
    if layout is not model.layout and not np.array_equal(layout.area, model.layout.area):
        raise ValueError("layout must be the reference circuit's own layout")
    module = nwbfile.create_processing_module(REFERENCE, f"Ground-truth circuit {name} the session was simulated from.")
    module.add(_model_container(model, REFERENCE, f"Ground-truth circuit {name} (simulated, not fitted)."))


def read_reference_circuit(nwbfile):
    """The ground-truth circuit stored by :func:`add_reference_circuit` (or in a model file), or None.

    ``nwbfile`` is an open :class:`~pynwb.NWBFile` or the path of one.
    """
    if not isinstance(nwbfile, NWBFile):
        with NWBHDF5IO(nwbfile, "r") as io:
            return read_reference_circuit(io.read())
    for module_name in (REFERENCE, MODULE):
        module = nwbfile.processing.get(module_name)
        if module is not None and REFERENCE in module.data_interfaces:
            return _network(module[REFERENCE])
    return None


# ---------------------------------------------------------------------------------------------------- reading


def _open(path) -> NWBHDF5IO:
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
    with _open(path) as io:
        nwbfile = io.read()
        module = nwbfile.processing[MODULE]
        container = module[MODEL]
        model = _network(container)
        hyperparameters = container.hyperparameter_values
        session_index = int(container.session_index)
        session = _session(nwbfile, module[FITTED_SESSION], container, model.layout, session_index)
        return ModelFile(
            path=Path(path), model=model, layout=model.layout, model_config=model.config,
            fit_config=from_dict(FitConfig, hyperparameters["fit"]), session=session, session_index=session_index,
            session_ids=tuple(str(s) for s in container.session_ids),
            split=np.asarray(nwbfile.trials["biornn_split"][:]).astype(str),
            predictions=_read_predictions(module, nwbfile.units),
            history=_read_history(module), reference=read_reference_circuit(nwbfile),
            model_id=container.model_id, training_summary=container.training_summary_values,
            seed=int(container.random_seed))


def _network(container):
    """The BioRNN stored in a BioRNNModel container."""
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
    arrays["readout_bias"] = np.float32(container.readout_bias)
    return BioRNN.from_arrays(config, layout, float(container.dt), arrays)


def _session(nwbfile, grid, container, layout, session_index) -> Session:
    units, trials = nwbfile.units, nwbfile.trials
    neurons, _ = layout.neurons_of(session_index)
    index = container.neurons["units"]
    starts = np.r_[0, np.asarray(index.data[:], np.int64)[:-1]]
    rows = np.asarray(index.target.data[:], np.int64)[starts[neurons]]
    align = np.asarray(trials["biornn_align_time"][:], float)
    metadata = json.loads(grid.metadata)
    subject = nwbfile.subject
    source = Source(path=grid.source_path, dandiset_id=grid.source_dandiset_id,
                    version=grid.source_dandiset_version, asset_path=grid.source_asset_path,
                    asset_id=grid.source_asset_id, api_url=grid.source_api_url)
    return Session(
        spikes=_rebin(units, rows, align, float(grid.t_start), float(grid.dt), int(grid.num_bins)),
        dt=float(grid.dt), t_start=float(grid.t_start), align_event=grid.align_event,
        unit_ids=np.asarray(units.id[:])[rows], unit_area=np.asarray(units["biornn_area"][:]).astype(str)[rows],
        unit_cell_type=np.asarray(units["biornn_cell_type"][:]).astype(str)[rows],
        trial_ids=np.asarray(trials.id[:]), trial_type=np.asarray(trials["biornn_trial_type"][:]).astype(str),
        inputs=np.asarray(grid.inputs[()], np.float32), input_names=tuple(str(n) for n in grid.input_names[:]),
        behaviour=np.asarray(grid.behaviour[()], np.float32), behaviour_name=grid.behaviour_name,
        response=np.asarray(trials["biornn_response"][:], bool),
        response_window=tuple(float(t) for t in grid.response_window),
        condition=np.asarray(trials["biornn_condition"][:], np.int64),
        conditions=tuple(Condition(**c) for c in metadata["conditions"]),
        excluded=np.asarray(trials["biornn_excluded"][:]).astype(str),
        subject={key: getattr(subject, key) for key in ("subject_id", "species", "sex", "age", "date_of_birth")},
        session_id=nwbfile.session_id or "", identifier=grid.source_identifier,
        session_description=nwbfile.session_description, session_start_time=nwbfile.session_start_time,
        source=source, metadata={**metadata["session"], ALIGN_TIMES: align})


def _read_predictions(module, units) -> list:
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
            condition=Condition(area=get["target_area"], cell_type=get["target_cell_type"], onset=get["onset"],
                                offset=get["offset"], power=get["power"], waveform=get["waveform"],
                                frequency=get["frequency"], ramp_down=get["ramp_down"],
                                site=get["site_name"] or None, power_unit=get["power_unit"]),
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
        entry.update({term: float(columns[term][row]) for term in _LOSS_COLUMNS
                      if term in columns and not np.isnan(columns[term][row])})
        history.append(entry)
    return history


# ---------------------------------------------------------------------------------------------------- targets


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
    _open(path).close()
    if not targets:
        raise ValueError("targets must hold at least one neuron set")

    def write(tmp):
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
    _replace_atomically(path, write)


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


# ---------------------------------------------------------------------------------------------------- info


def describe_model_file(path) -> dict:
    """What ``nwb-biornn info`` shows: source, model, neurons, sparsity, training, held-out scores, predictions.

    Reads only NWB (no torch). Raises :class:`UserError` like :func:`read_model_file`.
    """
    with _open(path) as io:
        nwbfile = io.read()
        module = nwbfile.processing[MODULE]
        container, grid = module[MODEL], module[FITTED_SESSION]
        neurons = {name: np.asarray(container.neurons[name][:]) for name in ("area", "cell_type", "mapped")}
        areas = list(dict.fromkeys(neurons["area"].astype(str).tolist()))
        counts = {area: {"E": int(np.sum((neurons["area"] == area) & (neurons["cell_type"] == "E"))),
                         "I": int(np.sum((neurons["area"] == area) & (neurons["cell_type"] == "I"))),
                         "mapped": int(np.sum((neurons["area"] == area) & neurons["mapped"]))} for area in areas}
        area_of = neurons["area"].astype(str)
        across = (area_of[:, None] != area_of[None, :]) & np.asarray(container.connectivity_mask[()], bool)
        weights = np.asarray(container.recurrent_weights[()])
        summary = container.training_summary_values
        training_keys = ("steps", "final_losses", "trials", "excluded_reasons", "heldout_conditions")
        predictions = []
        if PREDICTIONS in module.data_interfaces:
            table = module[PREDICTIONS]
            columns = ("label", "num_heldout_trials", "calibration", "predicted_delta_behaviour",
                       "recorded_delta_behaviour", "trial_matching_loss")
            values = {name: table[name][:] for name in columns}
            predictions = [{name: _scalar(np.asarray(values[name][row])[()]) for name in columns}
                           for row in range(len(table))]
        return {
            "path": str(path),
            "source": {"dandiset_id": grid.source_dandiset_id, "version": grid.source_dandiset_version,
                       "asset_path": grid.source_asset_path, "path": grid.source_path},
            "subject_id": nwbfile.subject.subject_id if nwbfile.subject else None,
            "session_id": nwbfile.session_id,
            "model_id": container.model_id, "preset": container.preset, "seed": int(container.random_seed),
            "software": f"{container.software} {container.software_version}",
            "dt": float(container.dt), "n_neurons": int(len(area_of)),
            "n_inputs": int(container.input_weights.shape[1]), "neurons": counts,
            "across_area_weights": {"allowed": int(across.sum()), "nonzero": int(np.sum(across & (weights != 0))),
                                    "fraction_nonzero": float(np.sum(across & (weights != 0)) / max(across.sum(), 1))},
            "training": {key: summary.get(key) for key in training_keys},
            "scores": {key: value for key, value in summary.items() if key not in training_keys},
            "predictions": predictions,
            "has_reference": REFERENCE in module.data_interfaces,
            "targeted_sets": len(module[TARGETS]) if TARGETS in module.data_interfaces else 0,
        }


def format_info(info: dict) -> str:
    """The text of ``nwb-biornn info`` for :func:`describe_model_file`'s dict."""
    source = info["source"]
    origin = (f"DANDI:{source['dandiset_id']}/{source['version'] or 'draft'} {source['asset_path'] or ''}".strip()
              if source["dandiset_id"] else source["path"])
    training, sparsity = info["training"], info["across_area_weights"]
    lines = [
        f"model file   {info['path']}",
        f"source       {origin} (subject {info['subject_id']}, session {info['session_id']})",
        f"model        {info['preset']} by {info['software']}, id {info['model_id']}, dt {info['dt'] * 1e3:g} ms, "
        f"{info['n_neurons']} neurons, {info['n_inputs']} inputs",
        "neurons      " + "; ".join(f"{area}: {c['E']} E + {c['I']} I ({c['mapped']} mapped)"
                                    for area, c in info["neurons"].items()),
        f"across-area  {sparsity['nonzero']} of {sparsity['allowed']} allowed weights non-zero "
        f"({100 * sparsity['fraction_nonzero']:.1f} %)",
        f"training     {training['steps']} steps; final losses "
        + ", ".join(f"{k} {v:.4g}" for k, v in (training["final_losses"] or {}).items()),
        "trials       " + ", ".join(f"{k} {v}" for k, v in (training["trials"] or {}).items()),
    ]
    if training["excluded_reasons"]:
        lines.append("excluded     " + ", ".join(f"{k}: {v}" for k, v in training["excluded_reasons"].items()))
    lines.append("held out     " + (", ".join(training["heldout_conditions"]) or "nothing (no perturbation trials)"))
    scores = dict(info["scores"])
    if "evaluation" in scores:
        lines.append("scores       " + evaluation_headline(scores.pop("evaluation")))
    light = scores.pop("light", None)
    if light:
        how = (f"calibrated on {', '.join(light['calibrated_on'])}" if light["calibrated_on"]
               else "the fixed default")
        lines.append(f"light        {light['mw_to_current']:g} model current per mW ({how})")
    for key, value in _scalar_leaves(scores):
        lines.append(f"score        {key}: {f'{value:.4g}' if isinstance(value, float) else value}")
    lines.append(f"predictions  {len(info['predictions'])} condition(s)")
    for p in info["predictions"]:
        recorded = ("" if np.isnan(p["recorded_delta_behaviour"])
                    else f", recorded {p['recorded_delta_behaviour']:+.3f}")
        note = " (calibration)" if p["calibration"] else ""
        lines.append(f"  {p['label']}: predicted delta behaviour {p['predicted_delta_behaviour']:+.3f}{recorded}, "
                     f"{p['num_heldout_trials']} held-out trials{note}")
    if info["has_reference"]:
        lines.append("reference    ground-truth circuit stored")
    if info["targeted_sets"]:
        lines.append(f"targets      {info['targeted_sets']} targeted neuron set(s)")
    return "\n".join(lines)


def _scalar_leaves(values: dict, prefix: str = ""):
    """``(dotted.key, value)`` for every scalar in nested dicts; lists of scalars joined, lists of dicts skipped."""
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _scalar_leaves(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            if all(not isinstance(item, (dict, list)) for item in value):
                yield f"{prefix}{key}", ", ".join(str(item) for item in value) or "none"
        else:
            yield f"{prefix}{key}", value
