"""What a sweep fits: its jobs, their names, grid points and model files, planned before anything runs.

A job is one fit: a group of sessions (``--per session``, ``subject`` or ``all``) x a preset x a seed x a grid point
of the ``--set`` values. Its model files are ``DIR/sub-<id>/sub-<id>_ses-<sid>_desc-<label>.nwb`` with a ``desc``
label that names the preset, the seed and the grid point (``biornn-seed0-lr0p003``), so every file of a sweep has
its own DANDI-valid name in one dandiset; its checkpoints are under ``DIR/.sweep/<job name>/``.

Examples
--------
>>> parse_grid(["fit.lr=1e-3,3e-3", "model.hidden_per_area=0,10"])[1]
{'fit.lr': 0.001, 'model.hidden_per_area': 10}
>>> desc_label("sigma_rnn", 2, {"fit.lr": 0.003, "fit.trial_matching": "none"})
'sigmarnn-seed2-lr0p003-trialmatchingnone'
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from nwb_biornn.core.config import FitConfig, ModelConfig, preset_label
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import Session
from nwb_biornn.nwbio import fitted_steps, model_file_path
from nwb_biornn.synthetic.demo import demo_folder, is_demo_source

PER = ("session", "subject", "all")
"""How sessions are grouped into fitted networks: one per session, one per subject, one for all of them."""
SWEEP_FOLDER = ".sweep"
"""The hidden folder of a sweep's bookkeeping inside its output dandiset (checkpoints, logs, options)."""
MAX_GRID_LABEL = 40
"""Longest grid part of a ``desc`` label; longer grid points are named by a hash of their values."""


@dataclass(frozen=True)
class FitOptions:
    """Everything of ``fit``'s command line that every job of a sweep shares (paths absolute, so that a job runs
    the same on another machine of a cluster that shares the file system)."""

    source: str
    out: str
    sessions_glob: str | None = None
    config_file: str | None = None
    steps: int | None = None
    device: str = "auto"
    cache_dir: str | None = None
    api_url: str | None = None
    stream: bool = False
    area_map: dict | None = None
    align: str = "auto"
    bin_size: float = 0.002
    subject_overrides: dict | None = None
    calibrate_on: tuple = ()
    threads: int | None = None
    """Torch threads of a job's process (None: torch's default)."""


@dataclass(frozen=True)
class Job:
    """One fit of a sweep.

    Attributes
    ----------
    name : str
        Unique in the sweep; the folder ``DIR/.sweep/<name>`` holds its checkpoints, metrics and error log.
    preset, seed
        The model preset and the fit's seed.
    grid : tuple of (key, value)
        The ``--set`` values of its grid point, ``(("fit.lr", 0.001),)``.
    sessions : tuple of str
        Session ids of the sessions it fits, in order.
    patterns : tuple
        ``sessions_glob`` arguments of :func:`nwb_biornn.api.load_sessions` that load exactly those sessions from
        the source, in order (``None``: every session of the source).
    desc : str
        The ``desc-`` label of its model files.
    model_files : tuple of str
        The files it writes, one per session; the job is finished when all exist.
    """

    name: str
    preset: str
    seed: int
    grid: tuple
    sessions: tuple
    patterns: tuple
    desc: str
    model_files: tuple

    def finished(self, steps: int | None = None) -> bool:
        """Whether every model file of the job exists (they are written atomically: existing means whole) and,
        with ``steps``, was fitted for at least that many steps: a job fitted for fewer trains on from its last
        checkpoint."""
        if not all(Path(path).is_file() for path in self.model_files):
            return False
        if steps is None:
            return True
        return all(found is None or found >= steps for found in map(fitted_steps, self.model_files))

    def folder(self, out) -> Path:
        """The job's own folder: checkpoints, ``metrics.jsonl``, ``error.log``, its lock."""
        return Path(out) / SWEEP_FOLDER / self.name


def parse_grid(settings) -> list[dict]:
    """The grid points of ``--set`` options (``"fit.lr=1e-3,3e-3"``, one per key): their Cartesian product, in order.

    Values are TOML values (``1e-3``, ``true``, ``"sinkhorn"``, ``{trial = 1.0, psth = 1.0, rate = 1.0}``), or plain
    text when they do not parse (``sinkhorn``); commas inside brackets, braces or quotes do not split values.
    ``fit.seed`` and ``model.preset`` are refused (``--seeds``, ``--models`` say them). Without settings the grid
    is one empty point.
    """
    keys, values = [], []
    for setting in settings:
        key, equals, text = setting.partition("=")
        key = key.strip()
        if not equals or not text.strip():
            raise UserError(f"--set {setting!r}: expected KEY=VALUE[,VALUE...], e.g. fit.lr=1e-3,3e-3")
        table, _, name = key.partition(".")
        known = {"model": ModelConfig, "fit": FitConfig}
        if table not in known or name not in {f.name for f in dataclasses.fields(known[table])}:
            raise UserError(f"--set {key}: not a configuration field; use model.<field> or fit.<field> "
                            "(see nwb_biornn/core/config.py)")
        if key == "fit.seed":
            raise UserError("--set fit.seed: give the seeds with --seeds")
        if key == "model.preset":
            raise UserError("--set model.preset: give the presets with --models")
        if key in keys:
            raise UserError(f"--set {key} given twice; give all its values in one --set, separated by commas")
        parsed = [_value(part.strip()) for part in _split_values(text)]
        if len({_canonical(v) for v in parsed}) < len(parsed):
            raise UserError(f"--set {key}: a value is repeated")
        keys.append(key)
        values.append(parsed)
    return [dict(zip(keys, point)) for point in itertools.product(*values)]


def overrides_of(grid: dict) -> dict:
    """A grid point as :func:`nwb_biornn.api.configure`'s ``overrides``: ``{"fit": {"lr": 0.001}}``."""
    tables = {}
    for key, value in grid.items():
        table, _, name = key.partition(".")
        tables.setdefault(table, {})[name] = value
    return tables


def desc_label(preset: str, seed: int, grid: dict, hashed: bool = False) -> str:
    """The ``desc-`` label of a job's model files: preset, seed and grid point, letters, digits and hyphens.

    A grid point whose label would be longer than :data:`MAX_GRID_LABEL` characters (or any, with ``hashed``) is
    named ``g`` + 8 hex digits of a hash of its values.
    """
    label = f"{preset_label(preset)}-seed{seed}"
    if not grid:
        return label
    parts = "-".join(_alnum(key.partition(".")[2]) + _value_label(value) for key, value in grid.items())
    if hashed or len(parts) > MAX_GRID_LABEL:
        parts = "g" + hashlib.sha1(_canonical(grid).encode()).hexdigest()[:8]
    return f"{label}-{parts}"


def plan_jobs(sessions: list[Session], options: FitOptions, presets, seeds, grid: list[dict], per: str) -> list[Job]:
    """The jobs of a sweep of ``sessions`` (as :func:`nwb_biornn.api.load_sessions` loaded them from
    ``options.source``): groups of sessions by ``per`` x ``presets`` x ``seeds`` x ``grid`` points, in that
    nesting order. Names and model files are unique (checked)."""
    if per not in PER:
        raise UserError(f"--per must be one of {', '.join(PER)}, not {per!r}")
    groups = _groups(sessions, options, per)
    points = [(preset, seed, point) for preset in presets for seed in seeds for point in grid]
    labels = [desc_label(*point) for point in points]
    if len(set(labels)) < len(labels):
        labels = [desc_label(*point, hashed=True) for point in points]
    jobs = []
    for group, members, patterns in groups:
        for (preset, seed, point), desc in zip(points, labels):
            files = tuple(str(model_file_path(options.out, session, preset, desc)) for session in members)
            jobs.append(Job(name=f"{group}_desc-{desc}", preset=preset, seed=seed, grid=tuple(point.items()),
                            sessions=tuple(s.session_id for s in members), patterns=patterns, desc=desc,
                            model_files=files))
    files = [path for job in jobs for path in job.model_files]
    if len(set(files)) < len(files):
        twice = sorted({path for path in files if files.count(path) > 1})
        raise UserError(f"two sessions of the source would write the same model file {Path(twice[0]).name}; "
                        "their subject and session ids are not unique: choose the sessions with --sessions")
    return jobs


def _groups(sessions, options: FitOptions, per: str) -> list[tuple[str, list, tuple]]:
    """``(group name, sessions, load patterns)`` of each fitted network."""
    if per == "all":
        return [("all", list(sessions), (options.sessions_glob,))]
    root = _source_folder(options)
    named = []
    for session in sessions:
        stem = Path(model_file_path(options.out, session, "x")).name.rpartition("_desc-")[0]
        named.append((stem, stem.partition("_ses-")[0], session, _pattern(session, root, options)))
    if per == "session":
        return [(stem, [session], (pattern,)) for stem, _, session, pattern in named]
    by_subject = {}
    for _, subject, session, pattern in named:
        by_subject.setdefault(subject, []).append((session, pattern))
    return [(subject, [s for s, _ in members], tuple(p for _, p in members)) for subject, members in by_subject.items()]


def _source_folder(options: FitOptions) -> Path | None:
    """The local folder whose relative paths ``sessions_glob`` matches (None for a DANDI source or one file)."""
    if is_demo_source(options.source):
        return demo_folder(options.source, options.cache_dir).resolve()
    path = Path(options.source).expanduser()
    return path.resolve() if path.is_dir() else None


def _pattern(session: Session, root: Path | None, options: FitOptions) -> str | None:
    """A ``sessions_glob`` matching only this session's file in the source."""
    if session.source.asset_path:
        return _escape(session.source.asset_path)
    if root is not None:
        return _escape(Path(session.source.path).resolve().relative_to(root).as_posix())
    return None   # a single-file source


def _escape(path: str) -> str:
    """``path`` as an :mod:`fnmatch` pattern that matches only itself."""
    escaped = re.sub(r"([*?\[])", r"[\1]", path)
    assert fnmatch.fnmatchcase(path, escaped)
    return escaped


def _split_values(text: str) -> list[str]:
    """Split at the commas outside brackets, braces and quotes."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return parts + [current]


def _value(text: str):
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _value_label(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return format(value, "g").replace("-", "m").replace(".", "p").replace("+", "")
    if isinstance(value, str) and _alnum(value):
        return _alnum(value)
    return "h" + hashlib.sha1(_canonical(value).encode()).hexdigest()[:6]


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)
