"""The Python API: the verbs of the command line, for notebooks and scripts.

Examples
--------
>>> from nwb_biornn import api as nb                                             # doctest: +SKIP
>>> sessions = nb.load_sessions("demo")                                        # doctest: +SKIP
>>> result = nb.fit(sessions, "biornn", steps=200, out="demo-fit")             # doctest: +SKIP
>>> paths = nb.save(result, sessions, "demo-fit")                              # doctest: +SKIP
>>> report = nb.evaluate(paths[0])                                             # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from nwb_biornn import nwbio
from nwb_biornn.analysis.calibrate import calibrate_light
from nwb_biornn.core.config import load_config, preset
from nwb_biornn.recordings.nwbfile import load_session
from nwb_biornn.synthetic.demo import HIDDEN_PER_AREA
from nwb_biornn.core.session import Condition
from nwb_biornn.recordings.sources import is_demo_source, resolve_source
from nwb_biornn.core.errors import UserError
from nwb_biornn.analysis.evaluate import FittedNetwork, evaluate as evaluate_network, predict_condition
from nwb_biornn.fit.trainer import FitResult, fit as fit_sessions
from nwb_biornn.model.light import MW_TO_CURRENT
from nwb_biornn.analysis.perturb import DEFAULT_TRIALS, ResponseRule
from nwb_biornn.nwbio.ground_truth import read_reference_network


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is available, else ``"cpu"``; others are checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device


def load_sessions(source: str, sessions: str | None = None, *, cache_dir=None, api_url=None, stream=False,
                  area_map=None, align="auto", window=None, bin_size=0.002, progress=None) -> list:
    """Resolve ``source`` (DANDI id or URL, NWB file, folder, ``demo``) and load every matching session."""
    assets = resolve_source(source, sessions_glob=sessions, cache_dir=cache_dir, api_url=api_url, stream=stream,
                            progress=progress)
    return [load_session(asset.location, align=align, window=window, bin_size=bin_size, area_map=area_map,
                         source=asset.source, cache_dir=asset.cache_dir) for asset in assets]


def configure(model: str = "biornn", config_file=None, steps: int | None = None, seed: int | None = None,
              source: str | None = None):
    """The model and fit configuration of a preset, with a TOML file and explicit options applied on top.

    For the ``demo`` ``source`` every preset first gets the reference circuit's size (``hidden_per_area`` =
    :data:`~nwb_biornn.synthetic.demo.HIDDEN_PER_AREA` hidden neurons for the circuit's unrecorded ones), as the paper's
    students had their teacher's size; a config file can still change it.
    """
    model_config, fit_config = preset(model)
    if source is not None and is_demo_source(source):
        model_config = dataclasses.replace(model_config, hidden_per_area=HIDDEN_PER_AREA)
    if config_file is not None:
        model_config, fit_config = load_config(config_file, model_config, fit_config)
    changes = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
    if changes.get("steps", 1) <= 0:
        raise UserError(f"--steps must be a positive number of training steps, not {steps}")
    return model_config, dataclasses.replace(fit_config, **changes)


def fit(sessions: list, model: str = "biornn", *, config_file=None, steps=None, seed=None, out=None,
        resume=False, device="auto", progress=None, source: str | None = None) -> FitResult:
    """Fit one network to ``sessions`` (their unperturbed training trials); checkpoints under ``out``.

    ``source`` is what the sessions were loaded from, for its defaults (:func:`configure`).
    """
    model_config, fit_config = configure(model, config_file, steps, seed, source)
    return fit_sessions(sessions, model_config, fit_config, out_dir=out, resume=resume,
                        device=resolve_device(device), progress=progress)


def save(result: FitResult, sessions: list, out, *, subject_overrides=None, n_trials=DEFAULT_TRIALS, seed=0,
         calibrate_on: tuple = (), progress=None) -> tuple[list, list]:
    """Evaluate every session, predict its recorded conditions and write one model file per session.

    With ``calibrate_on`` (condition labels), the mW -> current factor is calibrated on those conditions of
    each session (:func:`nwb_biornn.analysis.calibrate.calibrate_light`) and they are left out of the scores.
    Returns the written paths and the evaluation documents (also stored in each file's training summary).
    """
    result.model.cpu()
    subjects = [nwbio.subject_for_dandi(s.subject, subject_overrides) for s in sessions]
    paths, documents = [], []
    for index, (session, subject) in enumerate(zip(sessions, subjects)):
        network = FittedNetwork(result.model, result.layout, index)
        split = result.splits[index]
        factor = MW_TO_CURRENT
        if calibrate_on:
            factor = calibrate_light(network, session, split, result.fit_config, tuple(calibrate_on), seed, n_trials)
        reference = read_reference_network(session)
        document, predictions = evaluate_network(network, session, split, result.fit_config, seed=seed,
                                                 n_trials=n_trials, reference=reference,
                                                 calibrate_on=tuple(calibrate_on), mw_to_current=factor)
        light = {"mw_to_current": factor, "calibrated_on": list(calibrate_on)}
        paths.append(nwbio.write_model_file(out, session, result, index, predictions,
                                            reference=None if reference is None else reference.model,
                                            subject=subject, summary={"evaluation": document, "light": light},
                                            session_ids=[s.session_id for s in sessions]))
        documents.append(document)
        if progress:
            progress(index + 1, len(sessions))
    return paths, documents


def load_model(path) -> nwbio.ModelFile:
    """Read a model file (see :func:`nwb_biornn.nwbio.read_model_file`)."""
    return nwbio.read_model_file(path)


def light_factor(model_file: nwbio.ModelFile) -> tuple[float, tuple]:
    """The mW -> current factor a model file was scored with, and the conditions it was calibrated on."""
    light = model_file.training_summary.get("light", {})
    return light.get("mw_to_current", MW_TO_CURRENT), tuple(light.get("calibrated_on", ()))


def evaluate(model_file, *, seed=0, n_trials=DEFAULT_TRIALS) -> tuple[dict, list]:
    """Score a model file (a path, or one read by :func:`load_model`) on its held-out trials.

    Returns the evaluation document and the condition predictions.
    """
    if not isinstance(model_file, nwbio.ModelFile):
        model_file = load_model(model_file)
    network = FittedNetwork(model_file.model, model_file.layout, model_file.session_index)
    reference = read_reference_network(model_file.session, model_file.path)
    mw_to_current, calibrated_on = light_factor(model_file)
    return evaluate_network(network, model_file.session, model_file.split, model_file.fit_config, seed=seed,
                            n_trials=n_trials, reference=reference, calibrate_on=calibrated_on,
                            mw_to_current=mw_to_current)


def perturb(path, area: str, window: tuple, *, power: float = 5.0, cell_type: str = "I", waveform="constant",
            frequency=0.0, ramp_down=0.0, n_trials=DEFAULT_TRIALS, seed=0) -> dict:
    """Simulate one light condition, recorded or not, on the model of a model file.

    The condition is matched to a recorded one (same area, cell type, window and power) when it exists, so
    its held-out trials are scored too.
    """
    model_file = load_model(path)
    session = model_file.session
    if area not in model_file.layout.areas:
        raise UserError(f"area {area!r} is not in the model; its areas are {', '.join(model_file.layout.areas)}")
    condition = _matching_condition(session, Condition(area, cell_type, window[0], window[1], power, waveform,
                                                       frequency, ramp_down))
    index = session.conditions.index(condition) if condition in session.conditions else None
    network = FittedNetwork(model_file.model, model_file.layout, model_file.session_index)
    rule = ResponseRule.learn(session, model_file.split == "train")
    prediction = predict_condition(network, session, model_file.split, condition, index, rule,
                                   model_file.fit_config, n_trials, seed, mw_to_current=light_factor(model_file)[0])
    return {
        "condition": condition.label, "area": area, "cell_type": cell_type, "window": list(window),
        "power": condition.power, "power_unit": condition.power_unit, "n_trials": n_trials, "seed": seed,
        "recorded_trials": prediction.n_heldout_trials,
        "predicted_delta_behaviour": prediction.predicted_delta_behaviour,
        "recorded_delta_behaviour": prediction.recorded_delta_behaviour,
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


def target(path, **options) -> dict:
    """Gradient-targeted micro-stimulation on a model file (see :func:`nwb_biornn.analysis.target.target_model_file`)."""
    from nwb_biornn.analysis.target import target_model_file

    return target_model_file(path, **options)
