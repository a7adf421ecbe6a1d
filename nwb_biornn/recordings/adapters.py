"""Adapters for the trial, optogenetics and behaviour layouts of real dandisets (dandi-layouts.md).

Each adapter detects one layout in an open ``pynwb.NWBFile`` and decodes it into plain arrays on the session
clock; :mod:`nwb_biornn.recordings.nwbfile` turns those into a :class:`~nwb_biornn.core.session.Session`.

* :func:`read_trials` -> :class:`TrialTable`: start/stop (NaN stop filled with the next start), alignment events
  from trial columns (absolute or relative to the trial start, detected from the values) or from event series
  (the last event inside the trial: early licks replay ``sample``/``delay`` events in 000363), trial type, and the
  reasons the source gives to leave trials out (early lick, bad trial, free water).
* :func:`read_photostim` -> :class:`Photostim`: one :class:`LightEpoch` per light epoch, from the first layout
  found among :data:`PHOTOSTIM_ADAPTERS`.
* :func:`read_choice`: the side licked (two-choice) or the go/no-go outcome from trial labels;
  :func:`labelled_choice`: the ports and per-trial choice of a session without lick events.
* :func:`read_licks` -> :class:`Licks`: lick times per port (left and right when the series' names say the
  side, one ``lick`` port otherwise).
* :func:`unit_locations`, :func:`unit_cell_types`, :func:`site_locations`.

**No-light sentinels.** In every adapter a light cell that is ``'N/A'``, ``'n/a'``, ``'NA'``, ``'none'``, ``''``,
NaN or None (:data:`MISSING_TEXT`), and a power of zero, mean "no light": the trial is a light-off trial, not an
exclusion. A row that a stimulation flag column (``stim_present``, ``StimTrials``) marks as stimulated while its
light columns say no light (zero power, or no light at all) is neither a light-off trial nor a perturbation of
known power; it is excluded with its own reason (:data:`FLAGGED_ZERO_POWER`, :data:`FLAGGED_NO_LIGHT`;
docs/decisions.md).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import CHOICE_PORTS, LICK_PORTS, NO_RESPONSE
from nwb_biornn.recordings.areas import UNKNOWN_AREA, area_of, areas_in_text

MISSING_TEXT = ("", "n/a", "na", "none", "nan", "null", "unknown", "no stim", "nostim", "no stimulation")
FLAG_COLUMNS = ("stim_present", "StimTrials", "photostim")
"""Trial columns flagging stimulated trials (1/True) without describing the light."""
FLAGGED_ZERO_POWER = "stimulation flagged ({flag}) but light power 0 mW"
FLAGGED_NO_LIGHT = "stimulation flagged ({flag}) but the light columns give no light"

TRIAL_TYPE_COLUMNS = ("trial_instruction", "trial_type", "type", "instruction", "stimulus", "condition")
EVENT_COLUMNS = {
    "go_cue": ("go_cue_time", "cue_start_time", "CueTime", "go_time", "cue_time", "go_cue"),
    "sample": ("sample_start_time", "sample_time", "pole_in_time", "SampleOnset", "PoleInTime", "stimulus_time",
               "stim_time", "target_on_time"),
    "delay": ("delay_start_time", "pole_out_time", "DelayOnset", "PoleOutTime"),
}
EVENT_SERIES = {
    "go_cue": ("go_start_times", "go_cue_times", "go_times", "go", "cue_start_times"),
    "sample": ("sample_start_times", "sample_times", "sample", "stimulus_start_times"),
    "delay": ("delay_start_times", "delay"),
}
DEFAULT_CELL_TYPE = "E"
"""Cell type of units whose type column and waveform width say nothing (most recorded cortical units are E)."""
NARROW_SPIKE_MS = 0.35
"""Units with a spike width (trough to peak, ms) below this are fast-spiking, i.e. inhibitory."""
_INHIBITORY = re.compile(r"^(i|inh|inhibitory|fs|fsu|fast[- ]?spiking|narrow|interneuron|int|pv|sst|som|vip|"
                         r"gaba|gabaergic|vgat)\b", re.I)
_EXCITATORY = re.compile(r"^(e|exc|excitatory|rs|rsu|regular[- ]?spiking|wide|pyr|pyramidal|pt|it|ct|ptupper|"
                         r"ptlower|principal|glutamatergic)", re.I)


@dataclass
class TrialTable:
    """The trials of a session on its own clock."""

    ids: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    events: dict
    """Alignment event name (``"go_cue"``, ``"sample"``, ``"delay"``, ``"trial_start"``) -> (trials,) times, NaN
    where the trial has none."""
    trial_type: np.ndarray
    excluded: np.ndarray
    sources: dict = field(default_factory=dict)
    """Event name -> where it was read from (column or series name)."""
    choice: "Choice | None" = None
    """The animal's choice from trial labels (:func:`read_choice`), when the table has them."""

    def __len__(self):
        return len(self.start)


@dataclass(frozen=True)
class Choice:
    """The choice of every trial from trial labels (no lick events needed).

    ``labels`` holds ``"left"``/``"right"``/``"none"`` (two-choice: the side licked, ``"none"`` without a
    response) or ``"hit"``/``"miss"``/``"false alarm"``/``"correct rejection"`` (go/no-go); ``""`` where the
    labels do not tell (an early lick, a non-performing trial with no label).
    """

    labels: np.ndarray
    task: str
    """``"two-choice"`` or ``"go/no-go"``."""
    source: str
    """The columns read, e.g. ``"trials.type + trials.response"``."""


@dataclass(frozen=True)
class LightEpoch:
    """One light epoch on the session clock, attached to the trial it falls in.

    ``epoch`` names the task epoch the source says the light covered (``"delay"``) when it gives an epoch
    instead of times; ``reference`` is the task event the source times the light from (``"trial_start"``,
    ``"go_cue"``, ``"delay"``...; ``""`` for times on the session clock). Both define the light's protocol, so
    trials whose task epochs differ in length keep one condition (see
    :func:`nwb_biornn.recordings.nwbfile.load_session`).
    """

    trial: int
    onset: float
    offset: float
    power: float
    area: str
    cell_type: str = "I"
    waveform: str = "constant"
    frequency: float = 0.0
    ramp_down: float = 0.0
    site: str | None = None
    epoch: str = ""
    reference: str = ""


@dataclass
class Photostim:
    """Light epochs of a session and the trials whose light could not be decoded."""

    layout: str
    epochs: list = field(default_factory=list)
    undecoded: dict = field(default_factory=dict)
    """Trial index -> reason, for trials that had light the file does not describe fully."""
    zero_power: set = field(default_factory=set)
    """Trials whose light row gives a power of zero (no light)."""


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode()
    return "" if value is None else str(value).strip()


def _missing(value) -> bool:
    """True for the no-light / no-value sentinels: ``'N/A'``, ``'NA'``, ``'none'``, ``''``, NaN, None..."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return all(_missing(item) for item in value)
    return _text(value).lower() in MISSING_TEXT


def _zero(value) -> bool:
    """True when every number in a cell is zero (a light power of 0: no light)."""
    numbers = _numbers(value)
    return bool(numbers) and all(number == 0 for number in numbers)


def column(table, name: str) -> list | np.ndarray:
    """All rows of a table column: an array for plain columns, a list of lists for ragged ones."""
    values = table[name][:]
    return values if isinstance(values, list) else np.asarray(values)


def column_description(table, name: str) -> str:
    """Description of a column (of its data, not of its index, for ragged columns)."""
    data = table[name]
    return _text(getattr(data, "target", data).description)


def _numbers(value) -> list[float]:
    """Numbers in a cell that may be a number, ``'N/A'``, ``None`` or a comma-joined or list of numbers."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [number for item in value for number in _numbers(item)]
    if _missing(value):
        return []
    try:
        numbers = [float(part) for part in _text(value).split(",") if part.strip()]
    except ValueError:
        return []
    return [number for number in numbers if np.isfinite(number)]


def _to_clock(values: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Event times on the session clock: values are relative to the trial start unless most fall inside trials."""
    values = np.asarray(values, float)
    if values.ndim == 2:
        values = values[:, 0]
    finite = np.isfinite(values)
    absolute = np.mean((values[finite] >= start[finite]) & (values[finite] <= stop[finite])) >= 0.5 \
        if finite.any() else True
    return values if absolute else start + values


def _last_event(times: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Per trial, the last event in ``[start, stop)``, NaN if none."""
    times = np.sort(times)
    last = np.searchsorted(times, stop, side="left") - 1
    found = (last >= 0) & (times[np.maximum(last, 0)] >= start) if len(times) else np.zeros(len(start), bool)
    return np.where(found, times[np.maximum(last, 0)] if len(times) else np.nan, np.nan)


def event_series(nwbfile) -> dict:
    """Every TimeSeries in acquisition and processing modules (also inside BehavioralEvents-like containers),
    by lower-case name."""
    found = {}
    containers = list(nwbfile.acquisition.values())
    for module in nwbfile.processing.values():
        containers.extend(module.data_interfaces.values())
    for container in containers:
        children = getattr(container, "time_series", None)
        for series in (children.values() if children is not None else [container]):
            if hasattr(series, "timestamps") and hasattr(series, "data"):
                found.setdefault(series.name.lower(), series)
    return found


def series_times(series) -> np.ndarray:
    """Session-clock times of a TimeSeries' samples."""
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], float)
    return series.starting_time + np.arange(len(series.data)) / series.rate


def read_trials(nwbfile, path: str) -> TrialTable:
    """Decode the trials table, see the module docstring. Raises UserError when the file has none."""
    table = nwbfile.trials
    if table is None or len(table) == 0:
        raise UserError(f"{path} has no trials table (intervals/trials): nwb-biornn needs trials with task events")
    names = set(table.colnames)
    start = np.asarray(table["start_time"][:], float)
    stop = np.asarray(table["stop_time"][:], float)
    stop = _fill_stop(start, stop)
    events, sources = {"trial_start": start}, {"trial_start": "start_time"}
    series = event_series(nwbfile)
    for event in ("go_cue", "sample", "delay"):
        name = next((name for name in EVENT_COLUMNS[event] if name in names), None)
        if name is not None:
            events[event], sources[event] = _to_clock(column(table, name), start, stop), name
            continue
        name = next((name for name in EVENT_SERIES[event] if name in series), None)
        if name is not None:
            bound = events.get("go_cue", stop) if event != "go_cue" else stop
            bound = np.where(np.isfinite(bound), bound + 1e-9, stop)
            events[event] = _last_event(series_times(series[name]), start, bound)
            sources[event] = series[name].name
    choice = read_choice(table)
    return TrialTable(ids=np.asarray(table.id[:], int), start=start, stop=stop, events=events,
                      trial_type=_trial_types(table, names), excluded=_source_exclusions(table, names),
                      sources=sources, choice=choice)


def _fill_stop(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """NaN stop times (000006) become the next trial's start; the last one gets the median trial length."""
    if not np.isnan(stop).any():
        return stop
    next_start = np.r_[start[1:], np.nan]
    filled = np.where(np.isnan(stop), next_start, stop)
    lengths = (filled - start)[np.isfinite(filled)]
    typical = np.median(lengths) if len(lengths) else 1.0
    return np.where(np.isnan(filled), start + typical, filled)


def _trial_types(table, names) -> np.ndarray:
    name = next((name for name in TRIAL_TYPE_COLUMNS if name in names), None)
    if name is not None:
        return np.array([_text(value) or "none" for value in column(table, name)], dtype=object).astype(str)
    if {"HitL", "HitR"} <= names:
        left = np.zeros(len(table), bool)
        for prefix in ("Hit", "Err", "NoLick"):
            if f"{prefix}L" in names:
                left |= np.asarray(column(table, f"{prefix}L"), float) > 0
        return np.where(left, "left", "right")
    return np.full(len(table), "all")


def _source_exclusions(table, names) -> np.ndarray:
    excluded = np.full(len(table), "", dtype=object)

    def mark(mask, reason):
        excluded[np.asarray(mask, bool) & (excluded == "")] = reason

    for name in ("early_lick", "response", "outcome"):
        if name in names:
            mark([_text(value).lower() in ("early", "early lick", "yes") for value in column(table, name)],
                 "early lick")
    if "LickEarly" in names:
        mark(np.nan_to_num(np.asarray(column(table, "LickEarly"), float)) > 0, "early lick")
    for name in ("is_good", "GoodTrials", "good_trial"):
        if name in names:
            mark(np.asarray([_numbers(value)[:1] == [0.0] for value in column(table, name)]),
                 "marked bad in the source")
    for name in ("free_water", "auto_water"):
        if name in names:
            mark(np.asarray([_numbers(value)[:1] == [1.0] for value in column(table, name)]), name.replace("_", " "))
    return excluded.astype(str)


_SIDES = {"left": "left", "l": "left", "lick left": "left", "lick l trial": "left", "right": "right", "r": "right",
          "lick right": "right", "lick r trial": "right"}
_GO = {"go": True, "go trial": True, "nogo": False, "no-go": False, "no go": False, "nogo trial": False,
       "catch": False}
_GO_NOGO_OUTCOMES = {"hit": "hit", "miss": "miss", "fa": "false alarm", "false alarm": "false alarm",
                     "false_alarm": "false alarm", "cr": "correct rejection", "correct rejection": "correct rejection",
                     "correct_rejection": "correct rejection"}
_CORRECT = ("correct", "hit", "1", "1.0", "true")
_WRONG = ("incorrect", "miss", "error", "err", "0", "0.0", "false")
_NO_RESPONSE = ("no response", "ignore", "noresponse", "no lick", "nolick", "timeout")


def read_choice(table) -> Choice | None:
    """The choice of every trial from trial labels, or None when the table has none it understands.

    * two-choice (``type`` + ``response`` in 000006/000009, ``trial_instruction`` + ``outcome`` in
      000363/000060/000010/000011): the instructed side and whether the response was correct give the side
      licked (``correct``/``hit`` -> that side, ``incorrect``/``miss`` -> the other side, ``no response``/
      ``ignore`` -> ``"none"``, an early lick or a missing label -> ``""``);
    * two-choice MatNWB booleans (000221/000572): ``HitL``/``ErrR`` -> left, ``HitR``/``ErrL`` -> right,
      ``NoLickL``/``NoLickR`` -> ``"none"``;
    * go/no-go: an outcome column with hit / miss / false alarm (fa) / correct rejection (cr), or a go/no-go
      instruction with a responded/not outcome.
    """
    names = set(table.colnames)
    instruction = next((n for n in ("trial_instruction", "type", "trial_type", "instruction") if n in names), None)
    outcome = next((n for n in ("outcome", "response") if n in names), None)
    if instruction is not None and outcome is not None:
        kinds = [_text(v).lower() for v in column(table, instruction)]
        results = [_text(v).lower() for v in column(table, outcome)]
        source = f"trials.{instruction} + trials.{outcome}"
        if any(kind in _SIDES for kind in kinds):
            labels = [_side_choice(kind, result) for kind, result in zip(kinds, results)]
            return Choice(np.array(labels, dtype=object).astype(str), "two-choice", source)
        if any(kind in _GO for kind in kinds):
            labels = [_go_nogo(kind, result) for kind, result in zip(kinds, results)]
            return Choice(np.array(labels, dtype=object).astype(str), "go/no-go", source)
    if outcome is not None:
        results = [_text(v).lower() for v in column(table, outcome)]
        if any(result in ("fa", "cr", "false alarm", "correct rejection") for result in results):
            labels = [_GO_NOGO_OUTCOMES.get(result, "") for result in results]
            return Choice(np.array(labels, dtype=object).astype(str), "go/no-go", f"trials.{outcome}")
    flags = [n for n in ("HitL", "HitR", "ErrL", "ErrR", "NoLickL", "NoLickR") if n in names]
    if {"HitL", "HitR"} <= set(flags):
        labels = np.full(len(table), "", dtype=object)
        for name, side in (("HitL", "left"), ("ErrR", "left"), ("HitR", "right"), ("ErrL", "right"),
                           ("NoLickL", "none"), ("NoLickR", "none")):
            if name in names:
                labels[np.nan_to_num(np.asarray(column(table, name), float)) > 0] = side
        return Choice(labels.astype(str), "two-choice", "trials." + "/".join(flags))
    return None


def _side_choice(kind: str, result: str) -> str:
    side = _SIDES.get(kind)
    other = {"left": "right", "right": "left"}.get(side)
    if side is None or result in MISSING_TEXT:
        return ""
    if result in _NO_RESPONSE:
        return "none"
    if result in _CORRECT:
        return side
    return other if result in _WRONG else ""


def _go_nogo(kind: str, result: str) -> str:
    if result in _GO_NOGO_OUTCOMES:
        return _GO_NOGO_OUTCOMES[result]
    go = _GO.get(kind)
    if go is None or result in MISSING_TEXT or "early" in result:
        return ""
    responded = result not in _NO_RESPONSE and result not in ("miss", "cr")
    return {(True, True): "hit", (True, False): "miss", (False, True): "false alarm",
            (False, False): "correct rejection"}[go, responded]


_GO_NOGO_CHOICE = {"hit": LICK_PORTS[0], "false alarm": LICK_PORTS[0], "miss": NO_RESPONSE,
                   "correct rejection": NO_RESPONSE}


def labelled_choice(table, choice: Choice | None) -> tuple[tuple, np.ndarray, str]:
    """The ports, the per-trial ``Session.choice`` and its source that the trial labels give a session without
    lick events.

    Two-choice labels (:func:`read_choice`) give :data:`~nwb_biornn.core.session.CHOICE_PORTS` and the side;
    go/no-go labels give :data:`~nwb_biornn.core.session.LICK_PORTS`, ``"lick"`` for a hit or a false alarm and
    ``"none"`` for a miss or a correct rejection; an ``outcome``/``response`` column alone gives ``"lick"``
    unless it says no response (a miss, an ignore, a correct rejection...). ``""`` wherever the labels do not
    tell (an early lick, a missing label), and on every trial of a table without labels.
    """
    if choice is not None and choice.task == "two-choice":
        return CHOICE_PORTS, choice.labels, choice.source
    if choice is not None:
        labels = [_GO_NOGO_CHOICE.get(label, "") for label in choice.labels]
        return LICK_PORTS, np.array(labels, dtype=object).astype(str), choice.source
    name = next((name for name in ("outcome", "response") if name in table.colnames), None)
    if name is None:
        return LICK_PORTS, np.full(len(table), ""), ""
    labels = [_responded(_text(value).lower()) for value in column(table, name)]
    return LICK_PORTS, np.array(labels, dtype=object).astype(str), f"trials.{name}"


def _responded(result: str) -> str:
    if result in MISSING_TEXT or "early" in result:
        return ""
    return NO_RESPONSE if result in _NO_RESPONSE + ("miss", "cr", "correct rejection") else LICK_PORTS[0]


# --- optogenetics ------------------------------------------------------------------------------------------------

def _target_cell_type(text: str) -> str:
    """``"I"`` for photoinhibition (light on inhibitory neurons, the common case and the default), ``"E"`` when
    the text speaks of activation or of a (non-photo) stimulation without any inhibition word."""
    text = text.lower()
    if re.search(r"inactivat|inhibit|silenc|suppress", text):
        return "I"
    return "E" if re.search(r"\bactivat|(?<!photo)\bstimulat|\bexcitatory\b|pyramidal", text) else "I"


@dataclass(frozen=True)
class _Site:
    name: str
    area: str
    cell_type: str


def _sites(nwbfile, area_map) -> dict:
    """Optogenetic stimulation sites by name, with the area and cell type their location/description give."""
    sites = {}
    for name, site in nwbfile.ogen_sites.items():
        location, description = _text(site.location), _text(site.description)
        area = area_of(location, area_map)
        if area == UNKNOWN_AREA:
            named = areas_in_text(f"{description} {name.replace('-', ' ').replace('_', ' ')}", area_map)
            area = named[0] if len(named) == 1 else UNKNOWN_AREA
        sites[name] = _Site(name, area, _site_cell_type(location) or _target_cell_type(description))
    return sites


def _site_cell_type(location: str) -> str | None:
    try:
        entries = json.loads(location)
    except ValueError:
        return None
    entries = entries if isinstance(entries, list) else [entries]
    types = {entry.get("target_cell_type") for entry in entries if isinstance(entry, dict)}
    return types.pop() if len(types) == 1 and types <= {"E", "I"} else None


class _SiteResolver:
    """Finds the site of a light epoch: a per-trial ``photostim_site`` column, else the ``control`` code of the
    nearest ``photostim_start_times`` event (an index into ``control_description``, or the protocol suffix of
    000363's ``<device>_<protocol>`` site names), else the file's only site."""

    def __init__(self, nwbfile, table, area_map):
        self.sites = _sites(nwbfile, area_map)
        self.column = [_text(value) for value in column(table, "photostim_site")] \
            if "photostim_site" in table.colnames else None
        series = event_series(nwbfile).get("photostim_start_times")
        self.control = None
        if series is not None and series.control is not None and len(series.control):
            names = series.control_description
            names = names.split(",") if isinstance(names, str) else list(names[:])
            self.control = (series_times(series), np.asarray(series.control[:], int), [_text(n) for n in names])

    def _control_site(self, onset: float) -> str | None:
        times, codes, names = self.control
        nearest = int(np.argmin(np.abs(times - onset)))
        if abs(times[nearest] - onset) > 0.05:
            return None
        code = codes[nearest]
        if 0 <= code < len(names) and names[code] in self.sites:
            return names[code]
        return next((name for name in self.sites if name.endswith(f"_{code}")), None)

    def site(self, trial: int, onset: float) -> _Site | None:
        if self.column is not None and self.column[trial] in self.sites:
            return self.sites[self.column[trial]]
        name = self._control_site(onset) if self.control is not None else None
        if name is not None:
            return self.sites[name]
        return next(iter(self.sites.values())) if len(self.sites) == 1 else None


def _epoch(trial, onset, offset, power, site: _Site | None, fallback_text: str = "", area_map=None, **shape):
    if site is not None and site.area != UNKNOWN_AREA:
        area, cell_type = site.area, site.cell_type
    else:
        named = areas_in_text(fallback_text, area_map)
        area = "+".join(named) if named else UNKNOWN_AREA
        cell_type = site.cell_type if site is not None else _target_cell_type(fallback_text)
    return LightEpoch(trial=int(trial), onset=float(onset), offset=float(offset), power=float(power), area=area,
                      cell_type=cell_type, site=site.name if site is not None else None, **shape)


def site_locations(nwbfile) -> dict:
    """Location text of every optogenetic stimulation site, by name."""
    return {name: _text(site.location) for name, site in nwbfile.ogen_sites.items()}


def _pulse_train(trial, onsets, durations, powers, resolver, text, area_map, reference="") -> LightEpoch | str:
    """One epoch for a trial's pulses: a single pulse, or a regular 50 % duty-cycle train as ``"pulsed"``."""
    onset, duration, power = onsets[0], durations[0], powers[0]
    site = resolver.site(trial, onset)
    if len(onsets) == 1:
        return _epoch(trial, onset, onset + duration, power, site, text, area_map, reference=reference)
    period = np.diff(onsets)
    regular = np.allclose(period, period[0], rtol=0.02) and np.allclose(durations, period[0] / 2, rtol=0.05) \
        and np.allclose(powers, power, rtol=0.02)
    if not regular:
        return f"{len(onsets)} irregular light pulses in one trial"
    return _epoch(trial, onset, onsets[-1] + durations[-1], power, site, text, area_map,
                  waveform="pulsed", frequency=float(1.0 / period[0]), reference=reference)


def _string_columns(nwbfile, trials: TrialTable, area_map) -> Photostim | None:
    """000363 / 000060 / demo: ``photostim_onset/power/duration`` strings or objects; onsets relative to the
    trial start or, when the column description says so, to the go cue."""
    table = nwbfile.trials
    if "photostim_onset" not in table.colnames:
        return None
    from_go_cue = re.search(r"go[- _]?cue|\bgo\b", column_description(table, "photostim_onset").lower())
    reference = trials.events.get("go_cue", np.full(len(trials), np.nan)) if from_go_cue else trials.start
    onsets = column(table, "photostim_onset")
    powers = column(table, "photostim_power") if "photostim_power" in table.colnames else [np.nan] * len(onsets)
    durations = column(table, "photostim_duration") if "photostim_duration" in table.colnames else None
    resolver = _SiteResolver(nwbfile, table, area_map)
    text = " ".join(column_description(table, name) for name in table.colnames if name.startswith("photostim"))
    result = Photostim("photostim_onset/power/duration trial columns")
    for trial, cell in enumerate(onsets):
        relative = _numbers(cell)
        if not relative:
            continue
        if _zero(powers[trial]):
            result.zero_power.add(trial)
            continue
        duration = _numbers(durations[trial]) if durations is not None else []
        power = _numbers(powers[trial]) or [np.nan]
        if not np.isfinite(reference[trial]):
            result.undecoded[trial] = "light onset given from the go cue, but the trial has no go cue"
            continue
        if len(duration) != len(relative):
            result.undecoded[trial] = "light onset without a matching duration"
            continue
        power = power * len(relative) if len(power) == 1 else power
        epoch = _pulse_train(trial, reference[trial] + np.asarray(relative), np.asarray(duration),
                             np.asarray(power, float), resolver, text, area_map,
                             "go_cue" if from_go_cue else "trial_start")
        if isinstance(epoch, str):
            result.undecoded[trial] = epoch
        else:
            result.epochs.append(epoch)
    return result


_PERIOD_BOUNDS = {"sample": ("sample", "delay"), "delay": ("delay", "go_cue"), "response": ("go_cue", None)}
RESPONSE_EPOCH = 1.2
"""Seconds of light assumed for a ``"response"`` period photostimulation (the delayed-response tasks' epoch)."""


_GENERIC_KINDS = ("stimulation", "photostimulation")
"""``photo_stim_type`` values that say light was on, not what it did (DataJoint exports write ``'stimulation'`` on
every row of photoinhibition sessions): they leave the target cell type to the site, else photoinhibition."""


def _photo_stim_columns(nwbfile, trials: TrialTable, area_map) -> Photostim | None:
    """000009: ``photo_stim_type`` / ``photo_stim_period`` (sample, delay, response) / ``photo_stim_power``.

    A row has light when its type is not a no-light sentinel, its period names an epoch and its power is not
    zero: DataJoint exports write ``photo_stim_type`` ``'stimulation'`` on every row, ``'N/A'`` periods and
    ``0.0`` powers on the no-light rows. A row with a power but no period is undecoded; a named period that is
    not a task epoch is undecoded. The light covers the trial's own epoch (``epoch`` = the period), so trials
    whose delays differ keep one condition.
    """
    table = nwbfile.trials
    if "photo_stim_period" not in table.colnames and "photo_stim_type" not in table.colnames:
        return None
    n = len(trials)
    kinds = [_text(v) for v in column(table, "photo_stim_type")] if "photo_stim_type" in table.colnames \
        else ["stimulation"] * n
    periods = [_text(v).lower() for v in column(table, "photo_stim_period")] \
        if "photo_stim_period" in table.colnames else [""] * n
    powers = column(table, "photo_stim_power") if "photo_stim_power" in table.colnames else [np.nan] * n
    resolver = _SiteResolver(nwbfile, table, area_map)
    result = Photostim("photo_stim_type/period/power trial columns")
    for trial in range(n):
        if _missing(kinds[trial]) or kinds[trial] == "0":
            continue
        if _zero(powers[trial]):
            result.zero_power.add(trial)
            continue
        if _missing(periods[trial]):
            if _numbers(powers[trial]):
                result.undecoded[trial] = f"light of {_numbers(powers[trial])[0]:g} mW without a photostim period"
            continue
        period = next((key for key in _PERIOD_BOUNDS if key in periods[trial]), None)
        if period is None:
            result.undecoded[trial] = f"photostim period {periods[trial]!r} not understood"
            continue
        first, last = _PERIOD_BOUNDS[period]
        onset = trials.events.get(first, np.full(n, np.nan))[trial]
        offset = onset + RESPONSE_EPOCH if last is None else trials.events.get(last, np.full(n, np.nan))[trial]
        if not np.isfinite(onset) or not np.isfinite(offset) or offset <= onset:
            result.undecoded[trial] = f"no {period} epoch times for the photostim period"
            continue
        power = (_numbers(powers[trial]) or [np.nan])[0]
        site = resolver.site(trial, onset)
        said = "" if kinds[trial].lower() in _GENERIC_KINDS else kinds[trial]
        result.epochs.append(_epoch(trial, onset, offset, power, site, said, area_map, epoch=period,
                                    reference=first))
    return result


def _code_meanings(description: str) -> dict:
    """``'"1" = ALM left, ...; "2" = ...'`` -> {"1": "ALM left, ...", ...}."""
    parts = re.split(r"(?:^|[;\n]|,\s*(?=[\"']?\d+[\"']?\s*[=:]))\s*[\"']?(\d+(?:\.0)?)[\"']?\s*[=:]\s*", description)
    return {str(int(float(code))): text.strip(" ;,.") for code, text in zip(parts[1::2], parts[2::2])}


def _seconds(number: str, unit: str) -> float:
    return float(number) / (1000.0 if unit.lower() == "ms" else 1.0)


def _coded_type(nwbfile, trials: TrialTable, area_map) -> Photostim | None:
    """000221 / 000572: ``PhotostimulationType`` codes whose meaning (area, epoch, duration, ramp, power) is
    written in the column description, e.g. ``"1" = photoinhibition of left ALM, early delay, 800 ms (200 ms
    ramp)``. Power comes from the text or from an OptogeneticSeries trace."""
    table = nwbfile.trials
    if "PhotostimulationType" not in table.colnames:
        return None
    meanings = _code_meanings(column_description(table, "PhotostimulationType"))
    traces = _power_traces(nwbfile)
    resolver = _SiteResolver(nwbfile, table, area_map)
    result = Photostim("PhotostimulationType codes")
    for trial, value in enumerate(column(table, "PhotostimulationType")):
        numbers = _numbers(value)
        if not numbers:
            continue       # NaN / 'N/A' code: no light
        code = str(int(numbers[0]))
        meaning = meanings.get(code, "")
        if code == "0" or re.search(r"\bno (photo)?stim|control|no light", meaning, re.I):
            continue
        epoch = _decode_meaning(trial, meaning, trials, traces, resolver, area_map)
        if isinstance(epoch, str):
            result.undecoded[trial] = f"photostimulation code {code}: {epoch}"
        elif epoch.power == 0:
            result.zero_power.add(trial)
        else:
            result.epochs.append(epoch)
    return result


def _decode_meaning(trial, meaning, trials, traces, resolver, area_map) -> LightEpoch | str:
    text = meaning.lower()
    reference = "go_cue" if re.search(r"\bgo\b|go[- ]cue|response", text) else \
        "delay" if "delay" in text else "sample" if "sample" in text else "trial_start"
    onset = trials.events.get(reference, np.full(len(trials), np.nan))[trial]
    after = re.search(r"(\d+(?:\.\d+)?)\s*(ms|s)\s+after", text)
    if after:
        onset += _seconds(*after.groups())
    ramp = re.search(r"(\d+(?:\.\d+)?)\s*(ms|s)\s*(?:linear\s+)?ramp", text)
    durations = [m for m in re.finditer(r"(\d+(?:\.\d+)?)\s*(ms|s)\b(?!\s*(?:after|(?:linear\s+)?ramp))", text)]
    if not durations or not np.isfinite(onset):
        return "its description gives no light timing"
    ramp_down = _seconds(*ramp.groups()) if ramp else 0.0
    offset = onset + _seconds(*durations[0].groups()) - ramp_down
    power = re.search(r"(\d+(?:\.\d+)?)\s*mw", text)
    power = float(power.group(1)) if power else _trace_power(traces, onset, offset)
    shape = {"waveform": "ramp", "ramp_down": ramp_down} if ramp_down > 0 else {}
    site = None if areas_in_text(meaning, area_map) else resolver.site(trial, onset)
    return _epoch(trial, onset, offset, power, site, meaning, area_map, reference=reference, **shape)


def _events_pair(nwbfile, trials: TrialTable, area_map) -> Photostim | None:
    """000010 / 000011 (and 000363 without trial columns): ``photostim_start_time(s)`` / ``..._stop_time(s)``
    event series; ``data`` is the power in mW."""
    series = event_series(nwbfile)
    start = series.get("photostim_start_times", series.get("photostim_start_time"))
    stop = series.get("photostim_stop_times", series.get("photostim_stop_time"))
    if start is None or stop is None:
        return None
    onsets, offsets = series_times(start), np.sort(series_times(stop))
    powers = np.asarray(start.data[:], float) if start.unit in ("mW", "mw", "milliwatts") else \
        np.full(len(onsets), np.nan)
    resolver = _SiteResolver(nwbfile, nwbfile.trials, area_map)
    result = Photostim("photostim_start/stop event series")
    lit = ~(powers == 0)
    offsets = offsets[np.minimum(np.searchsorted(offsets, onsets), len(offsets) - 1)]
    _attach(result, onsets[lit], offsets[lit], powers[lit], trials, resolver.site, area_map)
    return result


def _attach(result: Photostim, onsets, offsets, powers, trials: TrialTable, site_of, area_map, shapes=None,
            texts=None):
    """Add one epoch per onset to the trial that contains it; several epochs in a trial are undecodable."""
    trial_of = np.searchsorted(trials.start, onsets, side="right") - 1
    valid = (trial_of >= 0) & (onsets < trials.stop[np.maximum(trial_of, 0)]) & (offsets > onsets)
    per_trial = {}
    for index in np.flatnonzero(valid):
        per_trial.setdefault(int(trial_of[index]), []).append(index)
    for trial, indices in per_trial.items():
        if len(indices) > 1:
            result.undecoded[trial] = f"{len(indices)} light epochs in one trial"
            continue
        i = indices[0]
        site = site_of(trial, onsets[i])
        result.epochs.append(_epoch(trial, onsets[i], offsets[i], powers[i], site, texts[i] if texts else "",
                                    area_map, **(shapes[i] if shapes else {})))


def _epochs_table(nwbfile, trials: TrialTable, area_map) -> Photostim | None:
    """ndx-optogenetics ``OptogeneticEpochsTable`` (or any intervals table with ``power_in_mW``): one row per
    epoch; a pulsed row (``pulse_length_in_ms`` shorter than ``period_in_ms``) becomes a ``"pulsed"`` waveform.
    Without a site, the target is read from a ``location`` column or the table description."""
    table = next((table for table in nwbfile.intervals.values() if "power_in_mW" in table.colnames), None) \
        if nwbfile.intervals else None
    if table is None:
        return None
    names = set(table.colnames)
    onsets, offsets = np.asarray(table["start_time"][:], float), np.asarray(table["stop_time"][:], float)
    powers = np.asarray(table["power_in_mW"][:], float)
    on = np.asarray(table["stimulation_on"][:], bool) if "stimulation_on" in names else np.ones(len(onsets), bool)
    shapes = [{}] * len(onsets)
    if {"pulse_length_in_ms", "period_in_ms"} <= names:
        pulse, period = np.asarray(table["pulse_length_in_ms"][:], float), np.asarray(table["period_in_ms"][:], float)
        shapes = [{"waveform": "pulsed", "frequency": 1000.0 / p} if np.isfinite(p) and 0 < l < p else {}
                  for l, p in zip(pulse, period)]
    texts = [_text(v) for v in column(table, "location")] if "location" in names else \
        [_text(table.description)] * len(onsets)
    resolver = _SiteResolver(nwbfile, nwbfile.trials, area_map)
    result = Photostim(f"{table.name} epochs table")
    keep = np.flatnonzero(on & ~(powers == 0))
    _attach(result, onsets[keep], offsets[keep], powers[keep], trials, resolver.site, area_map,
            [shapes[i] for i in keep], [texts[i] for i in keep])
    return result


def _power_traces(nwbfile) -> list:
    """OptogeneticSeries in stimulus and acquisition: (times, power in mW, site name)."""
    traces = []
    for series in list(nwbfile.stimulus.values()) + list(nwbfile.acquisition.values()):
        if type(series).__name__ != "OptogeneticSeries":
            continue
        scale = 1000.0 if series.unit.lower() in ("watts", "w", "watt") else 1.0
        data = np.asarray(series.data[:], float)
        data = data.max(axis=1) if data.ndim == 2 else data
        offset = getattr(series, "offset", 0.0) or 0.0
        traces.append((series_times(series), (data * series.conversion + offset) * scale, series.site.name))
    return traces


def _trace_power(traces, onset, offset) -> float:
    """Peak power (mW) of the first trace lit between onset and offset; NaN when none is."""
    for times, power, _ in traces:
        inside = (times >= onset) & (times < offset)
        if inside.any() and power[inside].max() > 0:
            return float(power[inside].max())
    return float("nan")


def _optogenetic_series(nwbfile, trials: TrialTable, area_map) -> Photostim | None:
    """000010 / 000011 / 000572: OptogeneticSeries power traces; light is on where power > 0."""
    traces = _power_traces(nwbfile)
    if not traces:
        return None
    sites = _sites(nwbfile, area_map)
    result = Photostim("OptogeneticSeries power traces")
    for times, power, site in traces:
        lit = np.r_[False, power > 0, False]
        edges = np.flatnonzero(np.diff(lit.astype(np.int8)))
        first, after = edges[0::2], edges[1::2]
        ends = np.r_[times[1:], times[-1] + (times[-1] - times[-2] if len(times) > 1 else 0.0)]
        peaks = np.array([power[a:b].max() for a, b in zip(first, after)])
        _attach(result, times[first], ends[after - 1], peaks, trials, lambda trial, onset, s=site: sites.get(s),
                area_map)
    return result


def _stim_flag(nwbfile, trials: TrialTable, area_map) -> Photostim | None:
    """000006 ``stim_present`` (or ``StimTrials``): a flag without light timing; flagged trials are excluded."""
    table = nwbfile.trials
    name = next((name for name in ("stim_present", "StimTrials", "photostim") if name in table.colnames), None)
    if name is None:
        return None
    flags = [(_numbers(value) or [0.0])[0] > 0 for value in column(table, name)]
    return Photostim(f"{name} flag", undecoded={trial: f"light on ({name}) but the file gives no light timing"
                                                for trial, flag in enumerate(flags) if flag})


PHOTOSTIM_ADAPTERS = (_string_columns, _photo_stim_columns, _coded_type, _events_pair, _epochs_table,
                      _optogenetic_series, _stim_flag)
"""Tried in this order; the first that recognizes its layout decodes the file."""


def read_photostim(nwbfile, trials: TrialTable, area_map: dict | None = None) -> Photostim:
    """Light epochs of the session from the first layout in :data:`PHOTOSTIM_ADAPTERS` found in the file."""
    for adapter in PHOTOSTIM_ADAPTERS:
        found = adapter(nwbfile, trials, area_map)
        if found is not None:
            return _flagged_without_light(nwbfile.trials, found)
    return Photostim("none")


def _flagged_without_light(table, photostim: Photostim) -> Photostim:
    """Rows a stimulation flag marks as stimulated while the light columns give no light are excluded with
    their own reason (docs/decisions.md: flagged but zero power)."""
    flag = next((name for name in FLAG_COLUMNS if name in table.colnames), None)
    if flag is None or photostim.layout == f"{flag} flag":
        return photostim
    lit = {epoch.trial for epoch in photostim.epochs} | set(photostim.undecoded)
    for trial, value in enumerate(column(table, flag)):
        if (_numbers(value) or [0.0])[0] > 0 and trial not in lit:
            reason = FLAGGED_ZERO_POWER if trial in photostim.zero_power else FLAGGED_NO_LIGHT
            photostim.undecoded[trial] = reason.format(flag=flag)
    return photostim


# --- behaviour and units -----------------------------------------------------------------------------------------

def lick_series(nwbfile) -> dict:
    """The event series of licks: every one whose name has ``lick`` and ``time`` (e.g. ``left_lick_times``)."""
    return {name: s for name, s in event_series(nwbfile).items() if "lick" in name and "time" in name}


@dataclass(frozen=True)
class Licks:
    """Lick times on the session clock, per port."""

    times: dict
    """Port -> sorted lick times: ``left`` and ``right`` (:data:`~nwb_biornn.core.session.CHOICE_PORTS`), or
    ``lick`` (:data:`~nwb_biornn.core.session.LICK_PORTS`)."""
    names: list
    """The series read, sorted."""

    @property
    def ports(self) -> tuple:
        return tuple(self.times)


def lick_side(name: str) -> str | None:
    """The side a lick series' name gives (``left_lick_times``, ``lick_right_times``...), None when it names
    neither side or both.

    Examples
    --------
    >>> lick_side("lick_left_times"), lick_side("right_lick_times"), lick_side("lick_times")
    ('left', 'right', None)
    """
    sides = [side for side in CHOICE_PORTS if side in name.lower()]
    return sides[0] if len(sides) == 1 else None


def read_licks(nwbfile) -> Licks | None:
    """The licks of :func:`lick_series` per port, None when the file has none: one port per side when every
    series' name gives its side (:func:`lick_side`), else all licks on the one ``lick`` port."""
    series = lick_series(nwbfile)
    if not series:
        return None
    sides = {name: lick_side(name) for name in series}
    ports = CHOICE_PORTS if all(sides.values()) else LICK_PORTS
    times = {port: np.sort(np.concatenate([np.empty(0)] + [series_times(s) for name, s in series.items()
                                                            if ports == LICK_PORTS or sides[name] == port]))
             for port in ports}
    return Licks(times, sorted(s.name for s in series.values()))


UNIT_AREA_COLUMNS = ("location", "brain_area", "anno_name", "brain_region", "area")


def _location_candidates(nwbfile) -> list[tuple[str, list]]:
    """(source name, location text per unit) for every place a unit's location may be written."""
    units = nwbfile.units
    found = [(f"units.{name}", [_text(value) for value in column(units, name)])
             for name in UNIT_AREA_COLUMNS if name in units.colnames]
    if "electrodes" in units.colnames and nwbfile.electrodes is not None \
            and "location" in nwbfile.electrodes.colnames:
        locations = np.array([_text(value) for value in nwbfile.electrodes["location"][:]], dtype=object)
        ends = np.asarray(units["electrodes"].data[:], int)
        rows = np.asarray(units["electrodes"].target.data[:], int)
        most_common = []
        for own in np.split(locations[rows], ends[:-1]):
            values, counts = np.unique(own.astype(str), return_counts=True)
            most_common.append(values[np.argmax(counts)] if len(values) else "")
        found.append(("electrodes.location", most_common))
    if "electrode_group" in units.colnames:
        found.append(("electrode_group.location", [_text(group.location) for group in units["electrode_group"][:]]))
    return found


def unit_locations(nwbfile) -> tuple[list[str], str]:
    """Location text of every unit and where it came from: per unit, the first non-empty of a unit column
    (:data:`UNIT_AREA_COLUMNS`), its electrodes' most common ``location``, its electrode group's ``location``."""
    texts = [""] * len(nwbfile.units)
    used = []
    for source, candidate in _location_candidates(nwbfile):
        fill = [i for i, text in enumerate(texts) if _missing(text) and not _missing(candidate[i])]
        for i in fill:
            texts[i] = candidate[i]
        if fill:
            used.append(source)
    return texts, ", ".join(used) or "none"


def unit_cell_types(nwbfile) -> tuple[np.ndarray, str]:
    """``"E"``/``"I"`` per unit and the rule used: a cell-type column with recognizable values (``FS``, ``PT``,
    ``E``/``I``, ``RSU``/``FSU``...), else a spike-width column (narrow < :data:`NARROW_SPIKE_MS` ms is I), else
    :data:`DEFAULT_CELL_TYPE` for all."""
    units = nwbfile.units
    for name in ("cell_type", "classification", "cell_class", "type", "putative_cell_type"):
        if name not in units.colnames:
            continue
        texts = [_text(value) for value in column(units, name)]
        inhibitory = np.array([bool(_INHIBITORY.match(text)) for text in texts])
        excitatory = np.array([bool(_EXCITATORY.match(text)) for text in texts])
        if (inhibitory | excitatory).any():
            return np.where(inhibitory, "I", "E"), f"units.{name}"
    for name in ("spk_width_ms", "spike_width_ms", "width"):
        if name in units.colnames:
            width = np.asarray(column(units, name), float)
            return np.where(np.nan_to_num(width, nan=np.inf) < NARROW_SPIKE_MS, "I", "E"), f"units.{name}"
    return np.full(len(units), DEFAULT_CELL_TYPE), "default"
