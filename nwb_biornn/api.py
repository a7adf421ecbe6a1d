"""The Python API: the one front door that notebooks, scripts and the command line all use.

A fit is five verbs, each doing only what its name says: :func:`load_sessions` reads and decodes the recordings,
:func:`configure` makes the model and fit configuration, :func:`fit` trains, :func:`predict` scores the fitted
network on the held-out trials and predicts every recorded perturbation condition, and :func:`save` writes one
model file per session. Model files are then read by :func:`load_model` and worked on by :func:`evaluate`,
:func:`perturb` and :func:`target`, and :func:`compare` summarizes the scores of many (a sweep's:
:mod:`nwb_biornn.sweep` runs many fits through these verbs); :func:`simulate` records a synthetic dandiset from a
ground-truth circuit.

Examples
--------
>>> import tempfile
>>> from nwb_biornn import api
>>> folder = tempfile.mkdtemp()
>>> recorded = api.simulate("refcirc1", f"{folder}/data", n_trials=40)
>>> sessions = api.load_sessions(f"{folder}/data")
>>> model_config, fit_config = api.configure("biornn", steps=2)
>>> result = api.fit(sessions, model_config, fit_config)
>>> predicted = api.predict(result, sessions, n_trials=8)
>>> paths = api.save(result, sessions, predicted, f"{folder}/fit")
>>> document, predictions = api.evaluate(paths[0], n_trials=8)
>>> # one prediction per lit condition with trials left after the exclusions
>>> document["session"] == sessions[0].session_id, 0 < len(predictions) <= len(sessions[0].conditions)
(True, True)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nwb_biornn import nwbio
from nwb_biornn.analysis import target as targeting
from nwb_biornn.analysis.calibrate import calibrate_light, calibration_indices
from nwb_biornn.analysis.compare import reference_summary, score_rows, summarize
from nwb_biornn.analysis.evaluate import HeldOut, predict_condition
from nwb_biornn.analysis.evaluate import evaluate as evaluate_network
from nwb_biornn.analysis.observed import read_observed, score_observed
from nwb_biornn.analysis.perturb import DEFAULT_TRIALS
from nwb_biornn.core.config import FitConfig, ModelConfig, load_config, override, preset
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.files import atomic_path
from nwb_biornn.core.session import Condition, Session
from nwb_biornn.fit.trainer import FitResult
from nwb_biornn.fit.trainer import fit as train
from nwb_biornn.model.fitted import FittedNetwork
from nwb_biornn.model.light import MW_TO_CURRENT
from nwb_biornn.recordings.inspection import inspection_document
from nwb_biornn.recordings.nwbfile import load_session
from nwb_biornn.recordings.sources import resolve_source
from nwb_biornn.render.plots import plot_comparison, plot_targeting
from nwb_biornn.synthetic.demo import (
    CHOICE_STEPS,
    TWO_CHOICE,
    default_bin_size,
    demo_circuit,
    demo_folder,
    is_demo_source,
    write_demo_dandiset,
)


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is available, else ``"cpu"``; others are checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device


def load_sessions(source: str, sessions_glob: str | None = None, *, cache_dir=None, api_url=None, stream=False,
                  area_map=None, align="auto", window=None, bin_size=None, progress=None,
                  hidden_areas=()) -> list[Session]:
    """Resolve ``source`` and load every matching session.

    ``source`` is a DANDI id or URL, an NWB file, a folder of them, or ``demo`` / ``demo:<circuit>`` (the
    synthetic dandiset, generated on first use and cached); ``sessions_glob`` keeps the files whose path matches
    it (see :func:`~nwb_biornn.recordings.sources.resolve_source` for every option). ``bin_size`` defaults to
    :func:`~nwb_biornn.synthetic.demo.default_bin_size` (2 ms; a demo circuit's own step). ``hidden_areas`` are
    areas without recorded units that the model will hold as hidden neurons: their light conditions are kept
    (held out and predicted) instead of excluded.
    """
    if bin_size is None:
        bin_size = default_bin_size(source)
    if is_demo_source(source):
        source = str(demo_folder(source, cache_dir))
    assets = resolve_source(source, sessions_glob=sessions_glob, cache_dir=cache_dir, api_url=api_url,
                            stream=stream, progress=progress)
    return [load_session(asset.location, align=align, window=window, bin_size=bin_size, area_map=area_map,
                         source=asset.source, cache_dir=asset.cache_dir, hidden_areas=hidden_areas)
            for asset in assets]


def inspect(source: str, sessions_glob: str | None = None, *, cache_dir=None, api_url=None, stream=False,
            area_map=None, hidden_areas=(), align="auto", bin_size=None, progress=None) -> dict:
    """Read and decode exactly what :func:`fit` would be given by :func:`load_sessions` with the same options;
    fit and write nothing. Returns the inspection document ``{"sessions": [...]}``
    (:func:`~nwb_biornn.recordings.inspection.describe_session`), whose ``warnings`` also name what a model
    file of the session would lack for DANDI (the subject's species, sex, age).
    """
    sessions = load_sessions(source, sessions_glob, cache_dir=cache_dir, api_url=api_url, stream=stream,
                             area_map=area_map, align=align, bin_size=bin_size, progress=progress,
                             hidden_areas=hidden_areas)
    document = inspection_document(sessions)
    for session, entry in zip(sessions, document["sessions"]):
        try:
            nwbio.subject_for_dandi(session.subject)
        except UserError as problem:
            entry["warnings"].append(f"{problem} (fit needs the options named)")
    return document


def configure(preset_name: str = "biornn", config_file=None, steps: int | None = None, seed: int | None = None,
              source: str | None = None, overrides: dict | None = None, hidden_areas=(),
              hidden_neurons: int | None = None) -> tuple[ModelConfig, FitConfig]:
    """The model and fit configuration of a preset, with a TOML file and explicit options applied on top.

    A model has one neuron per recorded unit, as the paper's (method.md §1b: a one-to-one mapping of model and
    recorded neurons), plus ``ModelConfig.hidden_per_area`` hidden neurons per area when a config asks for them;
    ``demo:2afc`` fits start from :data:`~nwb_biornn.synthetic.demo.CHOICE_STEPS` training steps, which a config
    file or ``steps`` can still change. ``hidden_areas`` (areas without units, modelled by hidden neurons) and
    ``hidden_neurons`` (their size; default: like a recorded area) set ``ModelConfig.hidden_areas`` /
    ``hidden_area_neurons``. ``overrides`` (``{"model": {field: value}, "fit": {...}}``, a sweep's ``--set``) are
    applied last, checked like a config file's fields.
    """
    model_config, fit_config = preset(preset_name)
    if source is not None and is_demo_source(source) and demo_circuit(source) == TWO_CHOICE:
        fit_config = dataclasses.replace(fit_config, steps=CHOICE_STEPS)
    if config_file is not None:
        model_config, fit_config = load_config(config_file, model_config, fit_config)
    changes = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
    if changes.get("steps", 1) <= 0:
        raise UserError(f"--steps must be a positive number of training steps, not {steps}")
    fit_config = dataclasses.replace(fit_config, **changes)
    if hidden_areas or hidden_neurons is not None:
        model_config = dataclasses.replace(   # ModelConfig drops repeated areas
            model_config, hidden_areas=(*model_config.hidden_areas, *(hidden_areas or ())),
            hidden_area_neurons=model_config.hidden_area_neurons if hidden_neurons is None else hidden_neurons)
    for table, values in (overrides or {}).items():
        if table not in ("model", "fit"):
            raise UserError(f"unknown table {table!r} of overrides; use model or fit")
    return (override(model_config, (overrides or {}).get("model", {}), "model"),
            override(fit_config, (overrides or {}).get("fit", {}), "fit"))


def check_options(sessions: list[Session], *, subject_overrides: dict | None = None,
                  calibrate_on: tuple = ()) -> None:
    """Raise :class:`UserError` now for options that :func:`predict` and :func:`save` would refuse after a fit.

    Checks that every session's subject, with ``subject_overrides``, has what DANDI requires, and that every
    ``calibrate_on`` label names a recorded condition.
    """
    for session in sessions:
        nwbio.subject_for_dandi(session.subject, subject_overrides)
        calibration_indices(session, tuple(calibrate_on))


def check_out_folder(out, resume: bool) -> None:
    """Raise :class:`UserError` when ``out`` already holds a fit and ``resume`` does not continue it (what
    :func:`fit` refuses; the CLI asks before loading anything)."""
    if out is not None and (Path(out) / "checkpoints" / "last.pt").exists() and not resume:
        raise UserError(f"{out} already holds a fit; add --resume to continue it, or choose another --out")


def fit(sessions: list[Session], model_config: ModelConfig, fit_config: FitConfig, *, out=None, resume=False,
        device="auto", progress=None) -> FitResult:
    """Fit one network to the unperturbed training trials of ``sessions``.

    With ``out``, checkpoints and metrics are written under it, and a folder that already holds a fit is
    refused unless ``resume`` continues it. ``progress(step, metrics)`` follows the training.
    """
    check_out_folder(out, resume)
    loaded_hidden = [area for session in sessions for area in session.metadata.get("hidden_areas", ())]
    if set(loaded_hidden) - set(model_config.hidden_areas):   # sessions loaded with hidden areas need their neurons
        model_config = dataclasses.replace(model_config, hidden_areas=(*model_config.hidden_areas, *loaded_hidden))
    return train(sessions, model_config, fit_config, out_dir=out, resume=resume, device=resolve_device(device),
                 progress=progress)


@dataclass(frozen=True)
class SessionPredictions:
    """What :func:`predict` found for one session of a fit.

    Attributes
    ----------
    evaluation : dict
        The evaluation document: held-out scores, per-condition rows, the ground truth's scores (synthetic
        sessions).
    predictions : list of ConditionPrediction
        One per recorded condition, in the session's order.
    mw_to_current : float
        The mW -> model current factor the light was simulated with.
    calibrated_on : tuple of str
        Condition labels the factor was calibrated on (left out of the scores).
    reference : FittedNetwork or None
        The ground-truth circuit of a synthetic session.
    """

    evaluation: dict
    predictions: list
    mw_to_current: float
    calibrated_on: tuple
    reference: FittedNetwork | None


def predict(result: FitResult, sessions: list[Session], *, calibrate_on: tuple = (), n_trials: int = DEFAULT_TRIALS,
            seed: int = 0, progress=None) -> list[SessionPredictions]:
    """Score the fitted network on each session's held-out trials and predict its recorded conditions.

    The simulations run on the CPU: the fitted network is moved there. With ``calibrate_on`` (condition
    labels), the mW -> current factor is first calibrated on those conditions of each session
    (:func:`~nwb_biornn.analysis.calibrate.calibrate_light`); they are left out of the scores.
    ``progress(done, total)`` follows the sessions.
    """
    result.model.cpu()
    calibrate_on = tuple(calibrate_on)
    predicted = []
    for index, session in enumerate(sessions):
        held_out = HeldOut(FittedNetwork(result.model, result.layout, index), session, result.splits[index],
                           result.fit_config)
        factor = MW_TO_CURRENT
        if calibrate_on:
            factor = calibrate_light(held_out, calibrate_on, seed, n_trials)
        reference = nwbio.read_reference_network(session)
        document, predictions = evaluate_network(held_out, seed=seed, n_trials=n_trials, reference=reference,
                                                 calibrate_on=calibrate_on, mw_to_current=factor)
        predicted.append(SessionPredictions(document, predictions, factor, calibrate_on, reference))
        if progress:
            progress(index + 1, len(sessions))
    return predicted


def save(result: FitResult, sessions: list[Session], predicted: list[SessionPredictions], out, *,
         subject_overrides: dict | None = None, desc: str | None = None) -> list[Path]:
    """Write one model file per session under ``out`` (a dandiset folder); returns their paths.

    Each file holds the fitted network, the session's units and trials, the predictions of
    :func:`predict` and, in its training summary, the evaluation document and the light factor. ``desc`` is
    the file names' ``desc-`` label (default: the preset's; a sweep names its seed and grid point there).
    """
    session_ids = [s.session_id for s in sessions]
    paths = []
    for index, (session, found) in enumerate(zip(sessions, predicted)):
        subject = nwbio.subject_for_dandi(session.subject, subject_overrides)
        summary = {"evaluation": found.evaluation,
                   "light": {"mw_to_current": found.mw_to_current, "calibrated_on": list(found.calibrated_on)}}
        paths.append(nwbio.write_model_file(out, session, result, index, found.predictions,
                                            reference=None if found.reference is None else found.reference.model,
                                            subject=subject, summary=summary, session_ids=session_ids,
                                            desc=desc))
    return paths


def load_model(path) -> nwbio.ModelFile:
    """Read a model file (see :func:`nwb_biornn.nwbio.read_model_file`)."""
    return nwbio.read_model_file(path)


def light_factor(model_file: nwbio.ModelFile) -> tuple[float, tuple]:
    """The mW -> current factor a model file was scored with, and the conditions it was calibrated on."""
    light = model_file.training_summary.get("light", {})
    return light.get("mw_to_current", MW_TO_CURRENT), tuple(light.get("calibrated_on", ()))


def _loaded(model_file) -> nwbio.ModelFile:
    return model_file if isinstance(model_file, nwbio.ModelFile) else load_model(model_file)


def held_out_trials(model_file: nwbio.ModelFile) -> HeldOut:
    """The fitted network of a model file with the trials it held out, as every scorer takes them."""
    return HeldOut(FittedNetwork(model_file.model, model_file.layout, model_file.session_index), model_file.session,
                   model_file.split, model_file.fit_config)


def evaluate(model_file, *, seed=0, n_trials=DEFAULT_TRIALS, observed=None) -> tuple[dict, list]:
    """Score a model file (a path, or one read by :func:`load_model`) on its held-out trials.

    With ``observed`` (a CSV path of effects measured elsewhere, :func:`~nwb_biornn.analysis.observed.read_observed`),
    the document also scores the model against those effects under ``"observed"``. Returns the evaluation
    document and the condition predictions.
    """
    effects = read_observed(observed) if observed is not None else None
    model_file = _loaded(model_file)
    reference = nwbio.read_reference_network(model_file.session, model_file.path)
    mw_to_current, calibrated_on = light_factor(model_file)
    scored = held_out_trials(model_file)
    document, predictions = evaluate_network(scored, seed=seed, n_trials=n_trials, reference=reference,
                                             calibrate_on=calibrated_on, mw_to_current=mw_to_current)
    if effects is not None:
        document["observed"] = score_observed(scored, effects, seed=seed, n_trials=n_trials,
                                              mw_to_current=mw_to_current)
    return document, predictions


def perturb(model_file, area: str, window: tuple, *, power: float = 5.0, cell_type: str = "I",
            waveform="constant", frequency=0.0, ramp_down=0.0, n_trials=DEFAULT_TRIALS, seed=0) -> dict:
    """Simulate one light condition, recorded or not, on the model of a model file.

    The condition is matched to a recorded one (same area, cell type, window and power) when it exists, so
    its held-out trials are scored too.
    """
    if power < 0:
        raise UserError(f"--power must be non-negative, not {power}")
    model_file = _loaded(model_file)
    session = model_file.session
    requested = Condition(area, cell_type, window[0], window[1], power, waveform, frequency, ramp_down)
    missing = [name for name in requested.areas if name not in model_file.layout.areas]
    if missing:
        raise UserError(f"area {missing[0]!r} is not in the model; its areas are "
                        f"{', '.join(model_file.layout.areas)} (several joined by '+' light them together)")
    condition = _matching_condition(session, requested)
    index = session.conditions.index(condition) if condition in session.conditions else None
    prediction = predict_condition(held_out_trials(model_file), condition, index, n_trials=n_trials, seed=seed,
                                   mw_to_current=light_factor(model_file)[0])
    return {
        "condition": condition.label, "area": area, "cell_type": cell_type, "window": list(window),
        "power": condition.power, "power_unit": condition.power_unit, "n_trials": n_trials, "seed": seed,
        "recorded_trials": prediction.n_heldout_trials, "behaviour": session.behaviour_kind,
        "predicted_delta_behaviour": prediction.predicted_delta_behaviour,
        "recorded_delta_behaviour": prediction.recorded_delta_behaviour,
        "delta_by_trial_type": prediction.delta_by_trial_type,
        "trial_matching_loss": prediction.trial_matching_loss,
        "areas": list(prediction.areas),
        "time": prediction.time.tolist(),
        "predicted_area_rate": prediction.predicted_area_psth.T.tolist(),
    }


def _matching_condition(session, asked: Condition) -> Condition:
    """The recorded condition equal to ``asked`` up to rounding (keeping its site and unit), else ``asked``."""
    for recorded in session.conditions:
        same = (recorded.area, recorded.cell_type, recorded.waveform) == (asked.area, asked.cell_type, asked.waveform)
        if same and np.allclose([recorded.onset, recorded.offset, recorded.power],
                                [asked.onset, asked.offset, asked.power], atol=1e-6):
            return recorded
    unit = session.conditions[0].power_unit if session.conditions else "mW"
    return dataclasses.replace(asked, power_unit=unit)


def target(path, *, save: bool = True, plot=None, transfer_to=None, **options) -> dict:
    """Gradient-targeted micro-stimulation on the model of a model file.

    Runs :func:`nwb_biornn.analysis.target.target` (``options`` are its keywords) and returns
    :func:`~nwb_biornn.analysis.target.targeting_document`. The sets are also applied to the neurons of the same
    recorded units in another network: the model of the model file ``transfer_to`` (a second fit of the same
    recording, e.g. another seed: the paper's transfer check), else the ground-truth circuit when the file holds
    one. With ``save``, the sets (and their transfer) are written into the file's targeted-neuron-sets table,
    replacing earlier ones; ``plot`` is a PNG path for the gradient map.
    """
    model_file = load_model(path)
    session = model_file.session
    network = FittedNetwork(model_file.model, model_file.layout, model_file.session_index)
    if transfer_to is not None:
        other = _same_recording(load_model(transfer_to), session, transfer_to)
        receiver = targeting.on_session_units(FittedNetwork(other.model, other.layout, other.session_index),
                                              other.session.unit_ids, session.unit_ids)
        name = Path(transfer_to).name
    else:
        receiver, name = nwbio.read_reference_network(session, path), "ground-truth circuit"
    chosen = targeting.target(network, session, transfer_to=receiver, **options)
    document = targeting.targeting_document(chosen, network, session, receiver, name)
    if save:
        nwbio.add_targets(path, targeting.stored_sets(chosen, name))
    if plot is not None:
        document["plot"] = str(plot_targeting(chosen, network.layout, session.time, plot, name))
    return document


def _same_recording(other: nwbio.ModelFile, session: Session, where) -> nwbio.ModelFile:
    """``other`` when it was fitted to the recording of ``session`` (same session and shared units), else an error."""
    theirs = other.session
    if (theirs.session_id, theirs.identifier) != (session.session_id, session.identifier):
        raise UserError(f"{where} was fitted to session {theirs.session_id or theirs.identifier}, not "
                        f"{session.session_id or session.identifier}; transfer needs two fits of the same recording")
    if not np.isin(theirs.unit_ids, session.unit_ids).any():
        raise UserError(f"{where} shares no recorded unit with this model's session")
    return other


def simulate(circuit: str, out, *, seed: int = 0, n_sessions: int = 1, n_trials: int = 300) -> list[Path]:
    """Record a synthetic dandiset from ground-truth circuit ``circuit`` into the new folder ``out``.

    The folder appears whole or not at all; an existing non-empty folder is refused. Returns the NWB files.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; choose a new folder for the synthetic dandiset")
    with atomic_path(out, folder=True) as scratch:
        write_demo_dandiset(scratch, circuit, seed=seed, n_sessions=n_sessions, n_trials=n_trials)
    return sorted(out.rglob("*.nwb"))


def model_files_in(paths) -> list[Path]:
    """The model files named by ``paths``: files as given, and every visible ``.nwb`` file under a folder (a fit's
    or a sweep's output dandiset; hidden folders such as a sweep's ``.sweep/`` and partial files are skipped)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*.nwb")
                            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not inside:
                raise UserError(f"no model files (.nwb) under {path}")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise UserError(f"{path}: no such model file or folder")
    return found


def compare(paths, *, plot=None) -> dict:
    """The held-out scores stored in model files, per file and summarized per preset and grid point.

    ``paths`` are model files or folders of them (:func:`model_files_in`). Returns ``{"models": one row per file
    (:func:`~nwb_biornn.analysis.compare.score_rows`), "presets": mean and std over seeds and sessions per preset and
    grid point (:func:`~nwb_biornn.analysis.compare.summarize`), "reference": the ground truth's scores or None}``;
    ``plot`` is a PNG path for the bar chart.
    """
    rows = score_rows([nwbio.describe_model_file(path) for path in model_files_in(paths)])
    document = {"models": rows, "presets": summarize(rows), "reference": reference_summary(rows)}
    if plot is not None:
        document["plot"] = str(plot_comparison(document["presets"], plot))
    return document
