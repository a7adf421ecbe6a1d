"""The normalized recording every other part of nwb-biornn works on.

Nothing outside ``nwb_biornn.recordings`` knows NWB field names: loaders turn a file into a :class:`Session`,
and fitting, perturbation and evaluation only ever see sessions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

UNPERTURBED = -1
"""Value of :attr:`Session.condition` for a trial without light."""
LICK_PORTS = ("lick",)
"""The :attr:`Session.ports` of a go/no-go task: one response, to lick or not."""
CHOICE_PORTS = ("left", "right")
"""The :attr:`Session.ports` of a two-choice task: lick left or lick right."""
NO_RESPONSE = "none"
"""The :attr:`Session.choice` of a trial without a response."""


@dataclass(frozen=True)
class Condition:
    """One optogenetic perturbation condition, as recorded or as asked for.

    Parameters
    ----------
    area
        Model area the light targets (a name from :attr:`Session.areas`), or several joined by ``"+"`` for light
        on more than one area at once (bilateral: ``"ALM_L+ALM_R"``).
    cell_type
        ``"I"`` for inactivation (light drives the inhibitory neurons of the area), ``"E"`` for activation.
    onset, offset
        Light on and off, in seconds relative to the session's alignment event.
    power
        Light power, in mW as recorded (or in model-current units, see ``power_unit``).
    waveform
        ``"constant"``, ``"pulsed"`` (square wave at ``frequency``) or ``"ramp"`` (constant, then a linear
        ramp to zero over ``ramp_down`` seconds after ``offset``).
    frequency
        Pulse frequency in Hz for ``"pulsed"``.
    ramp_down
        Seconds of linear ramp-down after ``offset``.
    site
        Name of the source file's ``OptogeneticStimulusSite``, when it has one.
    power_unit
        ``"mW"`` or ``"model"`` (already a model current, for conditions built in code).
    epoch
        The task epoch the light covers when the source names one instead of giving times (``"delay"`` in
        DANDI:000009), else ``""``. A condition is a protocol: trials of one protocol whose absolute timing
        varies (delays of different lengths) share the condition, whose ``onset``/``offset`` are then the most
        common window; each trial's own window is :attr:`Session.light_window`.

    Examples
    --------
    >>> Condition("ALM", "I", 0.0, 0.5, 5.5).label
    'ALM-I 0.000-0.500s 5.5mW'
    >>> Condition("ALM", "I", -1.3, 0.0, 1.5, epoch="delay").label
    'ALM-I delay -1.300-0.000s 1.5mW'
    """

    area: str
    cell_type: str
    onset: float
    offset: float
    power: float
    waveform: str = "constant"
    frequency: float = 0.0
    ramp_down: float = 0.0
    site: str | None = None
    power_unit: str = "mW"
    epoch: str = ""

    def __post_init__(self):
        if self.cell_type not in ("E", "I"):
            raise ValueError(f"cell_type must be 'E' or 'I', not {self.cell_type!r}")
        if self.waveform not in ("constant", "pulsed", "ramp"):
            raise ValueError(f"unknown waveform {self.waveform!r}")
        if not self.offset > self.onset:
            raise ValueError(f"light offset {self.offset} must come after onset {self.onset}")

    @property
    def areas(self) -> tuple:
        """The areas the light reaches.

        Examples
        --------
        >>> Condition("ALM_L+ALM_R", "I", 0.0, 0.5, 5.0).areas
        ('ALM_L', 'ALM_R')
        """
        return tuple(self.area.split("+"))

    @property
    def label(self) -> str:
        """Short human-readable name, unique for distinct conditions of a session."""
        unit = "mW" if self.power_unit == "mW" else ""
        wave = "" if self.waveform == "constant" else f" {self.waveform}"
        epoch = f" {self.epoch}" if self.epoch else ""
        return (f"{self.area}-{self.cell_type}{epoch} {self.onset:.3f}-{self.offset:.3f}s {self.power:g}{unit}"
                f"{wave}")


@dataclass(frozen=True)
class Source:
    """Where a session came from: a local path, plus the DANDI coordinates when it was downloaded."""

    path: str
    dandiset_id: str | None = None
    version: str | None = None
    asset_path: str | None = None
    asset_id: str | None = None
    api_url: str | None = None
    digest: str | None = None
    """The DANDI asset's ``dandi:dandi-etag`` digest, when known (always after a download)."""


@dataclass
class Session:
    """One recording on a common time grid aligned to a named event.

    All per-trial arrays cover every trial of the source's trials table, in its order; trials that cannot be
    used carry a reason in :attr:`excluded` and are never fitted or scored.

    Attributes
    ----------
    spikes : ndarray, shape (trials, time, units), uint8
        Spike counts per bin.
    dt : float
        Bin width in seconds.
    t_start : float
        Left edge of the first bin, in seconds relative to the alignment event.
    align_event : str
        Name of the alignment event (``"go_cue"``, ``"sample"``, ``"trial_start"``...).
    unit_ids : ndarray, shape (units,), int
        Row ids of the units in the source ``Units`` table.
    unit_area : ndarray, shape (units,), str
        Model area of each unit (already mapped through the area rule, see ``nwb_biornn.recordings.areas``).
    unit_cell_type : ndarray, shape (units,), str
        ``"E"`` or ``"I"``.
    trial_ids : ndarray, shape (trials,), int
        Row ids in the source trials table.
    trial_type : ndarray, shape (trials,), str
        Stimulus condition / instruction of each trial (``"left"``, ``"go"``...). Behaviour changes under
        light are compared within a trial type.
    inputs : ndarray, shape (trials, time, n_inputs), float32
        Deterministic task inputs to the network (stimulus and cue pulses), one channel per ``input_names``.
    input_names : tuple of str
    behaviour : ndarray, shape (trials, time, ports), float32
        The behaviour traces the readout is fitted to, one per port of :attr:`ports` (lick rate in Hz); zeros
        when ``behaviour_name`` is ``"none"``.
    behaviour_name : str
        ``"lick_rate"`` when lick events were recorded, ``"none"`` when the behaviour is known only from trial
        labels (then the readout is fitted to :attr:`choice`).
    ports : tuple of str
        The responses the task offers: :data:`LICK_PORTS` (go/no-go: lick or not) or :data:`CHOICE_PORTS`
        (two-choice: lick left or right), see :attr:`behaviour_kind`.
    choice : ndarray, shape (trials,), str
        The port of each trial's response (the port licked first in the response window, or the trial labels),
        :data:`NO_RESPONSE` without a response, ``""`` where unknown.
    response_window : tuple of float
        Seconds (relative to the alignment event) in which ``choice`` is decided.
    condition : ndarray, shape (trials,), int
        Index into ``conditions``, or ``UNPERTURBED`` (-1).
    conditions : tuple of Condition
    excluded : ndarray, shape (trials,), str
        ``""`` for usable trials, else the reason they are left out (``"early lick"``, ``"target area not
        recorded"``...).
    subject : dict
        ``subject_id``, ``species``, ``sex``, ``age``, ``date_of_birth`` as found in the source (None if absent).
    session_id, identifier, session_description : str
    session_start_time : datetime
    source : Source
    metadata : dict
        Facts about the decoding (see :mod:`nwb_biornn.recordings.nwbfile`): where areas, cell types, behaviour
        and light were read from, ``warnings`` (list of str), ``hidden_areas``, and, when the trials table
        labels the animal's choice, ``choice_task`` (``"two-choice"`` or ``"go/no-go"``) and ``choice_source``.
    light_window : ndarray, shape (trials, 2), float, or None
        Each lit trial's own light onset and offset (s, relative to the alignment event), NaN for trials without
        decoded light; None means every trial of a condition has the condition's window.
    """

    spikes: np.ndarray
    dt: float
    t_start: float
    align_event: str
    unit_ids: np.ndarray
    unit_area: np.ndarray
    unit_cell_type: np.ndarray
    trial_ids: np.ndarray
    trial_type: np.ndarray
    inputs: np.ndarray
    input_names: tuple
    behaviour: np.ndarray
    behaviour_name: str
    ports: tuple
    choice: np.ndarray
    response_window: tuple
    condition: np.ndarray
    conditions: tuple
    excluded: np.ndarray
    subject: dict
    session_id: str
    identifier: str
    session_description: str
    session_start_time: datetime
    source: Source
    metadata: dict = field(default_factory=dict)
    light_window: np.ndarray | None = None

    def __post_init__(self):
        n_trials, n_time, n_units = self.spikes.shape
        if self.light_window is not None and np.shape(self.light_window) != (n_trials, 2):
            raise ValueError(f"light_window must have shape ({n_trials}, 2), not {np.shape(self.light_window)}")
        for name in ("trial_ids", "trial_type", "choice", "condition", "excluded"):
            if len(getattr(self, name)) != n_trials:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n_trials} trials")
        for name in ("unit_ids", "unit_area", "unit_cell_type"):
            if len(getattr(self, name)) != n_units:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n_units} units")
        if self.ports not in (LICK_PORTS, CHOICE_PORTS):
            raise ValueError(f"ports must be {LICK_PORTS} or {CHOICE_PORTS}, not {self.ports!r}")
        if self.inputs.shape[:2] != (n_trials, n_time) or self.behaviour.shape != (n_trials, n_time, len(self.ports)):
            raise ValueError("inputs and behaviour must share the (trials, time) shape of spikes, behaviour with "
                             "one trace per port")
        unknown = set(np.unique(self.choice).tolist()) - set(self.ports) - {NO_RESPONSE, ""}
        if unknown:
            raise ValueError(f"choice has values {sorted(unknown)} that are not ports {self.ports}, "
                             f"{NO_RESPONSE!r} or ''")
        if len(self.input_names) != self.inputs.shape[2]:
            raise ValueError("input_names must name every input channel")

    @property
    def n_trials(self) -> int:
        return self.spikes.shape[0]

    @property
    def n_time(self) -> int:
        return self.spikes.shape[1]

    @property
    def n_units(self) -> int:
        return self.spikes.shape[2]

    @property
    def time(self) -> np.ndarray:
        """Left edge of every bin, in seconds relative to the alignment event."""
        return self.t_start + self.dt * np.arange(self.n_time)

    @property
    def behaviour_kind(self) -> str:
        """``"lick"`` (go/no-go: the response is to lick) or ``"choice"`` (two-choice: which port is licked)."""
        return "choice" if self.ports == CHOICE_PORTS else "lick"

    @property
    def response(self) -> np.ndarray:
        """Boolean mask of trials with a response (at any port)."""
        return np.isin(self.choice, self.ports)

    @property
    def instructed(self) -> np.ndarray:
        """The port each trial instructs (:func:`instructed_port` of its type) in a two-choice task, else ``""``."""
        if self.behaviour_kind != "choice":
            return np.full(self.n_trials, "", dtype=object).astype(str)
        index = instructed_ports(self.trial_type, self.ports)
        return np.where(index >= 0, np.asarray(self.ports)[index], "")

    @property
    def outcome(self) -> np.ndarray:
        """The behaviour scored per trial, float (trials,): whether the animal responded (lick tasks) or chose the
        instructed port (two-choice, :attr:`instructed`); NaN where the choice or the instruction is unknown.

        Perturbation effects are changes in its mean: ΔP(lick) or ΔP(correct).
        """
        known = self.choice != ""
        if self.behaviour_kind == "lick":
            return np.where(known, self.response, np.nan)
        instructed = self.instructed
        return np.where(known & (instructed != ""), self.choice == instructed, np.nan)

    @property
    def response_bins(self) -> slice:
        """The bins of :attr:`response_window` (at least one): those whose centre lies inside it."""
        start, stop = np.searchsorted(self.time + self.dt / 2, self.response_window)
        return slice(int(start), int(max(stop, start + 1)))

    @property
    def areas(self) -> tuple:
        """Areas with recorded units, in order of first appearance."""
        return tuple(dict.fromkeys(self.unit_area.tolist()))

    @property
    def usable(self) -> np.ndarray:
        """Boolean mask of trials that are not excluded."""
        return self.excluded == ""

    @property
    def unperturbed(self) -> np.ndarray:
        """Boolean mask of usable trials without light."""
        return self.usable & (self.condition == UNPERTURBED)

    def trial_light(self, trial: int) -> Condition | None:
        """The light of one trial: its condition with the trial's own window (:attr:`light_window`), None
        without light."""
        index = int(self.condition[trial])
        if index == UNPERTURBED:
            return None
        condition = self.conditions[index]
        if self.light_window is None or not np.all(np.isfinite(self.light_window[trial])):
            return condition
        onset, offset = (float(t) for t in self.light_window[trial])
        if (onset, offset) == (condition.onset, condition.offset) or not offset > onset:
            return condition
        return replace(condition, onset=onset, offset=offset)

    def trials_of(self, condition_index: int) -> np.ndarray:
        """Boolean mask of usable trials of one condition (``UNPERTURBED`` for light-off trials)."""
        return self.usable & (self.condition == condition_index)


def instructed_port(trial_type: str, ports: tuple = CHOICE_PORTS) -> str:
    """The port a trial type names, ``""`` when it names none or several.

    A port is named by its name as a word, or by its initial as a word (``"l"``, ``"r"``).

    Examples
    --------
    >>> instructed_port("lick right"), instructed_port("L"), instructed_port("catch")
    ('right', 'left', '')
    """
    words = set(re.findall(r"[a-z]+", str(trial_type).lower()))
    named = [port for port in ports if port in words or port[0] in words]
    return named[0] if len(named) == 1 else ""


def instructed_ports(trial_types, ports: tuple = CHOICE_PORTS) -> np.ndarray:
    """Index in ``ports`` of the port each trial type instructs (:func:`instructed_port`), -1 where none.

    Examples
    --------
    >>> instructed_ports(["lick right", "catch", "left"])
    array([ 1, -1,  0])
    """
    return np.array([ports.index(port) if (port := instructed_port(t, ports)) else -1 for t in trial_types],
                    dtype=np.int64)
