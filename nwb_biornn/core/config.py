"""Typed, validated configuration of the network (:class:`ModelConfig`) and of training (:class:`FitConfig`).

Named presets give the paper's bioRNN, its generic sigmoid baseline and the ablations (method.md §2.4). A TOML
file may override any field, with ``[model]`` and ``[fit]`` tables::

    [model]
    hidden_per_area = 20
    [fit]
    steps = 500
    lr = 1e-3

Examples
--------
>>> model, fit = preset("sigma_rnn")
>>> model.spiking, model.dale
(False, False)
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from nwb_biornn.core.errors import UserError


@dataclass(frozen=True)
class ModelConfig:
    """The network: neuron dynamics, biological constraints and sizes (method.md §2)."""

    preset: str = "biornn"
    spiking: bool = True
    """Escape-noise spiking with reset and refractoriness (False: sigmoid rate units, no reset)."""
    dale: bool = True
    """Dale's law: weights keep the sign of their presynaptic cell type."""
    local_inhibition: bool = True
    """Inhibitory neurons project only inside their own area."""
    sparsity_across: float = 0.016
    """Strength of the L1/2 proximal step on across-area weights (0 disables it)."""
    sparsity_within: float = 1e-3
    """Strength of the L1/2 step on every weight (``l1_decay`` in the reference code)."""
    sparsity_inputs: bool = False
    """Also shrink the input weights by the across-area L1/2 step and the readout weights by an L1 step of ten
    times ``sparsity_across``, as the reference code does (method.md §2, sparsity); off by default so far
    (docs/results.md, mechanism recovery)."""
    tau_e: float = 0.030
    tau_i: float = 0.010
    threshold: float = 0.1
    noise: float = 0.14
    train_noise: bool = True
    refractory: float = 0.004
    delay_min: float = 0.002
    delay_max: float = 0.003
    temperature: float = 5.0
    tau_readout: float = 0.005
    excitatory_fraction: float = 0.8
    hidden_per_area: int = 0
    """Model neurons per area with no recorded unit (added on top of the mapped ones)."""
    hidden_areas: tuple = ()
    """Areas without any recorded unit, modelled by hidden E/I neurons only (``--hidden-areas``), so that light
    on them can be predicted from a model fitted to the other areas (docs/decisions.md)."""
    hidden_area_neurons: int = 0
    """Neurons of each hidden area (``--hidden-neurons``); 0 sizes it like a recorded area (the mean neurons per
    recorded area, at least one E and one I)."""
    warmup: float = 0.1
    """Seconds simulated from rest, without gradient, before every trial."""

    def __post_init__(self):
        _check_positive(self, ("tau_e", "tau_i", "threshold", "delay_min", "delay_max", "temperature",
                               "tau_readout"))
        _check_non_negative(self, ("sparsity_across", "sparsity_within", "noise", "refractory",
                                   "hidden_per_area", "hidden_area_neurons", "warmup"))
        if isinstance(self.hidden_areas, str) or not all(isinstance(a, str) and a.strip()
                                                         for a in self.hidden_areas):
            raise UserError(f"model.hidden_areas must be a list of area names, not {self.hidden_areas!r}")
        object.__setattr__(self, "hidden_areas", tuple(dict.fromkeys(a.strip() for a in self.hidden_areas)))
        if self.delay_max < self.delay_min:
            raise UserError(f"model.delay_max ({self.delay_max}) must be at least model.delay_min ({self.delay_min})")
        if not 0 < self.excitatory_fraction <= 1:
            raise UserError("model.excitatory_fraction must lie in (0, 1]")


@dataclass(frozen=True)
class FitConfig:
    """Training: losses, optimiser, schedule and checkpoints (method.md §3)."""

    steps: int = 300
    batch_size: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.01
    clip_grad: float = 500.0
    trial_matching: str = "hungarian"
    """``"hungarian"`` (exact assignment, scipy), ``"sinkhorn"`` (geomloss) or ``"none"`` (no trial matching)."""
    loss_weights: dict = field(default_factory=lambda: {"trial": 2.0, "psth": 1.0, "rate": 1.0, "choice": 1.0})
    """Relative weights of the normalized task gradients (method.md §3.4); ``choice`` applies to sessions whose
    behaviour is known from trial labels only (:func:`nwb_biornn.fit.losses.choice_loss`)."""
    normalize_gradients: bool = True
    psth_filter: float = 0.008
    """Width in seconds of the first box filter."""
    pop_avg_resample: int = 2
    baseline_window: float = 0.1
    """Seconds from the start of the window used for the baseline firing-rate loss."""
    test_fraction: float = 0.25
    eval_every: int = 25
    early_stop: int = 0
    """Stop after this many steps without improvement of the test loss (0: never)."""
    checkpoint_every: int = 50
    checkpoint_seconds: float = 120.0
    seed: int = 0
    train_on_perturbed: bool = False

    def __post_init__(self):
        _check_positive(self, ("steps", "batch_size", "lr", "clip_grad", "psth_filter", "pop_avg_resample",
                               "eval_every", "checkpoint_every", "checkpoint_seconds"))
        _check_non_negative(self, ("weight_decay", "early_stop", "baseline_window"))
        if self.trial_matching not in ("hungarian", "sinkhorn", "none"):
            raise UserError(f"fit.trial_matching must be 'hungarian', 'sinkhorn' or 'none', not {self.trial_matching!r}")
        if not 0 <= self.test_fraction < 1:
            raise UserError("fit.test_fraction must lie in [0, 1)")
        unknown = set(self.loss_weights) - {"trial", "psth", "rate", "choice"}
        if unknown:
            raise UserError(f"fit.loss_weights has unknown terms {sorted(unknown)}; known: trial, psth, rate, choice")


_SIGMA = dict(spiking=False, dale=False, local_inhibition=False, sparsity_across=0.0)
PRESETS = {
    "biornn": ({}, {}),
    "sigma_rnn": (_SIGMA, {}),
    "no_spike": (dict(spiking=False), {}),
    "no_dale": (dict(dale=False), {}),
    "nonlocal_inhibition": (dict(local_inhibition=False), {}),
    "no_sparsity": (dict(sparsity_across=0.0), {}),
    "no_trial_matching": ({}, dict(trial_matching="none")),
}
"""Preset name -> (ModelConfig overrides, FitConfig overrides), method.md §2.4."""


def preset(name: str) -> tuple[ModelConfig, FitConfig]:
    """The model and fit configuration of a named preset.

    Raises
    ------
    UserError
        If the preset is unknown.
    """
    if name not in PRESETS:
        raise UserError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    model_overrides, fit_overrides = PRESETS[name]
    return ModelConfig(preset=name, **model_overrides), FitConfig(**fit_overrides)


def preset_label(name: str) -> str:
    """File-name label of a preset: letters and digits only (``sigma_rnn`` -> ``sigmarnn``)."""
    return "".join(ch for ch in name if ch.isalnum())


def load_config(path: str | Path, model: ModelConfig, fit: FitConfig) -> tuple[ModelConfig, FitConfig]:
    """Override ``model`` and ``fit`` with the ``[model]`` and ``[fit]`` tables of a TOML file.

    Unknown tables or fields, and values of the wrong type, raise :class:`UserError` naming them.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"config file {path} is not valid TOML: {err}") from None
    unknown = set(document) - {"model", "fit"}
    if unknown:
        raise UserError(f"config file {path}: unknown table(s) {sorted(unknown)}; use [model] and [fit]")
    return (override(model, document.get("model", {}), "model"),
            override(fit, document.get("fit", {}), "fit"))


def override(config, values: dict, table: str):
    """A copy of the dataclass ``config`` with ``values`` replaced, each checked against the field's type."""
    if not isinstance(values, dict):
        raise UserError(f"[{table}] must be a table of fields")
    known = {f.name: f for f in fields(config)}
    values = {key: tuple(value) if key in known and isinstance(getattr(config, key), tuple)
              and isinstance(value, list) else value for key, value in values.items()}
    for key, value in values.items():
        if key not in known:
            raise UserError(f"unknown field {table}.{key}; known fields: {', '.join(known)}")
        expected = type(getattr(config, key))
        ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise UserError(f"{table}.{key} must be of type {expected.__name__}, not {type(value).__name__} ({value!r})")
    if "preset" in values:
        raise UserError(f"{table}.preset cannot be set in a config file; use --model")
    return dataclasses.replace(config, **{k: (float(v) if type(getattr(config, k)) is float else v)
                                          for k, v in values.items()})


def to_dict(config) -> dict:
    """Plain-dict form of a config (for JSON attributes and checkpoints)."""
    return dataclasses.asdict(config)


def from_dict(cls, values: dict):
    """Inverse of :func:`to_dict`; ignores nothing and rejects unknown keys."""
    return cls(**values)


def _check_positive(config, names):
    for name in names:
        value = getattr(config, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise UserError(f"{type(config).__name__.replace('Config', '').lower()}.{name} must be positive, not {value!r}")


def _check_non_negative(config, names):
    for name in names:
        value = getattr(config, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise UserError(f"{type(config).__name__.replace('Config', '').lower()}.{name} must be non-negative, not {value!r}")
