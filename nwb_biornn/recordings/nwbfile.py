"""``load_session(path, ...) -> Session`` for one local NWB file of any supported optogenetics layout.

The file is opened read-only and closed before returning; nothing is ever written to it. Decisions:

* **Alignment** (``align="auto"``): the go cue when the file has one, else the sample (stimulus) onset, else the
  trial start. Trials without the alignment event are excluded.
* **Response window** (default): :data:`RESPONSE_DURATION` seconds from the go cue (from the alignment event
  when there is no go cue), clipped to the typical trial end.
* **Behaviour from lick events**: lick event series whose names give the side (``left_lick_times`` /
  ``right_lick_times`` in 000363, 000060, 000010/11; ``lick_left_times`` / ``lick_right_times`` in 000006)
  make a two-choice session: ``Session.ports`` is ``("left", "right")`` and ``Session.behaviour`` holds the left
  and the right lick rate (:func:`nwb_biornn.recordings.binning.lick_rate`). Lick series without a side (the
  ``demo``'s ``lick_times``) make one ``("lick",)`` port with the rate of all licks. ``Session.choice`` is the
  port licked first inside the response window (``"none"`` without a lick there, ``""`` when the first licks
  of two ports coincide or the trial has no alignment event); labels in the trials table do not override it.
* **Behaviour without lick events**: the trial labels give the choice and the ports
  (:func:`nwb_biornn.recordings.adapters.labelled_choice`): two-choice labels the side licked, go/no-go labels
  or an ``outcome``/``response`` column ``"lick"``/``"none"``, ``""`` where they do not tell and on every trial
  of a file without labels; ``Session.behaviour`` is zeros and ``behaviour_name`` ``"none"``.
* **Window** (default): from :data:`BASELINE` seconds before the earliest of stimulus onset, light onset and
  response window, to the latest light offset (plus ramp) or response-window end, clipped to the typical
  (median) trial start and stop.
* **Observation**: spikes count only inside a unit's ``obs_intervals``; a trial where some unit was not observed
  for the whole window is excluded ("unit not observed during the window") instead of reading missing data as
  silence.
* **Conditions are protocols**: light epochs with the same site (area and targeted cell type), timing, power
  (2 significant digits) and waveform form one :class:`Condition`. The timing is the task epoch the source
  names (``"delay"``), else the onset and duration relative to the task event the source times the light from
  (the trial start, the go cue...), else the onset and offset relative to the alignment event; times are
  rounded to :data:`TIME_RESOLUTION`. Trials of one protocol whose absolute timing varies (delays of different
  lengths) thus stay one condition: the condition's ``onset``/``offset`` are its most common window and every
  trial keeps its own window in ``Session.light_window``, used in simulation and scoring. A condition whose
  area has no recorded unit keeps its trials out ("target area X not recorded") unless the area is one of
  ``hidden_areas`` (modelled by hidden neurons), and a warning names the area, the stimulation site's and the
  units' locations and the fix.
* **Inputs**: a 10 ms pulse channel named after each trial type (``"left"``, ``"go"``...) at the sample onset of
  the trials of that type, and ``go_cue`` at the go cue (left out when it always coincides with the sample
  onset); a ``trial_start`` channel when the file has neither.
* **Metadata**: ``Session.metadata`` names the layout of the light (``photostim_layout``), where unit areas,
  cell types, behaviour and the alignment event were read from (``*_source``), holds the session-clock time
  of every trial's alignment event (``align_times``), the ``warnings`` of the decoding, the ``hidden_areas``
  asked for, the location texts of the units (``unit_locations``, distinct) and of the stimulation sites
  (``site_locations``), and the task and columns of the choice labels (``choice_task``, ``choice_source``) when
  the trials table has them.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
from pynwb import NWBHDF5IO

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import NO_RESPONSE, UNPERTURBED, Condition, Session, Source
from nwb_biornn.recordings import adapters, binning
from nwb_biornn.recordings.areas import UNKNOWN_AREA, area_of, coordinates_in_text

RESPONSE_DURATION = 1.0
"""Default length in seconds of the response window after the go cue."""
BASELINE = 0.2
"""Seconds of activity kept before the first task or light event by the default window."""
TIME_RESOLUTION = 0.01
"""Light onsets and offsets are rounded to this many seconds to group trials into conditions."""
ALIGN_EVENTS = ("go_cue", "sample", "trial_start")
_ALIGN_NAMES = {"go": "go_cue", "go_cue": "go_cue", "cue": "go_cue", "sample": "sample", "stimulus": "sample",
                "delay": "delay", "trial_start": "trial_start", "start": "trial_start"}


def load_session(path, align: str = "auto", window: tuple | None = None, bin_size: float = 0.002,
                 area_map: dict | None = None, source: Source | None = None,
                 response_window: tuple | None = None, cache_dir=None, hidden_areas=()) -> Session:
    """Read one NWB file into a :class:`Session` (see the module docstring for the decisions).

    Parameters
    ----------
    path
        Local NWB (HDF5) file; opened read-only.
    align
        ``"auto"``, ``"go_cue"``, ``"sample"``, ``"delay"`` or ``"trial_start"``.
    window
        ``(start, stop)`` seconds relative to the alignment event; default covers the light and the response.
    bin_size
        Bin width in seconds.
    area_map
        User overrides of the area rule (pattern -> area), see :func:`nwb_biornn.recordings.areas.area_of`.
    source
        Provenance to record; default ``Source(path)``.
    response_window
        ``(start, stop)`` seconds relative to the alignment event in which a lick counts as a response.
    cache_dir
        Cache folder for the blocks of a streamed file (see :func:`open_nwb`).
    hidden_areas
        Areas without recorded units that the model will hold as hidden neurons (``--hidden-areas``): their
        light conditions are kept (held out and predicted) instead of excluded.

    Raises
    ------
    UserError
        Missing, unreadable or non-NWB file; no trials table; no units; unknown ``align``.
    """
    if not bin_size > 0:
        raise UserError(f"bin size must be positive, not {bin_size}")
    with open_nwb(path, cache_dir) as io:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # old schema versions and cached extensions warn on every read
            try:
                nwbfile = io.read()
            except Exception as error:  # noqa: BLE001 -- failing to build the NWB object tree is the file's fault
                raise UserError(f"cannot read {path} as NWB ({type(error).__name__}: {error}); "
                                "check that it is a valid NWB file") from None
        return _session(nwbfile, path, align, window, bin_size, area_map, source or Source(path=str(path)),
                        response_window, tuple(hidden_areas or ()))


def is_url(path) -> bool:
    """True for an ``http(s)://`` address (a streamed DANDI asset) rather than a local path."""
    return str(path).startswith(("http://", "https://"))


def checked_hdf5_path(path, hint: str) -> Path:
    """``path`` as a Path, after checking that it is an existing HDF5 file (``hint`` ends the error line).

    Raises
    ------
    UserError
        ``no such file`` or ``not an NWB file (not HDF5)``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    if not h5py.is_hdf5(path):
        raise UserError(f"{path} is not an NWB file (not HDF5): {hint}")
    return path


def open_nwb(path, cache_dir=None) -> NWBHDF5IO:
    """Open a local NWB file, or stream a remote one (``http(s)://``, through remfile), read-only.

    Streamed blocks are cached under ``cache_dir`` (default: :func:`nwb_biornn.recordings.cache.cache_root`).

    Raises
    ------
    UserError
        Missing file, not HDF5, or unreadable (truncated, damaged, unreachable).
    """
    if is_url(path):
        from nwb_biornn.recordings.cache import cache_root
        from nwb_biornn.recordings.dandi import open_stream

        try:
            return NWBHDF5IO(file=h5py.File(open_stream(str(path), cache_root(cache_dir)), "r"), mode="r", load_namespaces=True)
        except UserError:
            raise
        except Exception as error:  # noqa: BLE001 -- remfile and h5py raise many types for a bad remote file
            raise UserError(f"cannot stream {path} ({type(error).__name__}: {error}); "
                            "check the connection or fit without --stream") from None
    path = checked_hdf5_path(path, "give a .nwb file written by pynwb or MatNWB")
    try:
        return NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"cannot open {path} ({error}): the file may be truncated or damaged; download it again")


def _session(nwbfile, path, align, window, dt, area_map, source, response_window, hidden_areas=()) -> Session:
    trials = adapters.read_trials(nwbfile, str(path))
    units = nwbfile.units
    if units is None or len(units) == 0 or "spike_times" not in units.colnames:
        raise UserError(f"{path} has no units with spike times (units table missing, empty or without "
                        "spike_times): nwb-biornn fits spike trains of sorted units")
    align = _choose_alignment(trials, align, path)
    align_times = trials.events[align]
    photostim = adapters.read_photostim(nwbfile, trials, area_map)
    locations, location_source = adapters.unit_locations(nwbfile)
    unit_area = np.array([area_of(text, area_map) for text in locations], dtype=object).astype(str)
    cell_type, cell_type_source = adapters.unit_cell_types(nwbfile)

    relative = {name: times - align_times for name, times in trials.events.items()}
    if response_window is None:
        response_window = _default_response_window(trials, relative, align)
    if window is None:
        window = _default_window(photostim, align_times, relative, response_window)
    t_start, n_bins = _grid(window, dt)

    has_align = np.isfinite(align_times)
    grid_align = np.where(has_align, align_times, 0.0)
    spike_times = _ragged(units, "spike_times")
    obs = _ragged(units, "obs_intervals") if "obs_intervals" in units.colnames else None
    spikes, observed = binning.bin_spikes(spike_times, grid_align, t_start, dt, n_bins, obs)
    spikes[~has_align] = 0

    inputs, input_names = _inputs(trials, grid_align, t_start, dt, n_bins)
    behaviour, behaviour_name, ports, choice, behaviour_source = _behaviour(
        nwbfile, trials, grid_align, has_align, t_start, dt, n_bins, response_window)

    modelled = set(unit_area.tolist()) | set(hidden_areas)
    condition, conditions, light_window, light_reasons = _conditions(photostim, trials, align, grid_align,
                                                                     modelled)
    excluded = _exclusions(trials, has_align, align, light_reasons, observed)
    sites = adapters.site_locations(nwbfile)
    warnings_ = _unrecorded_warnings(conditions, condition, unit_area, locations, sites, hidden_areas)
    labels = {}
    if trials.choice is not None:
        labels = {"choice_task": trials.choice.task, "choice_source": trials.choice.source}
    inputs[~has_align] = 0.0
    behaviour[~has_align] = 0.0

    subject = nwbfile.subject
    return Session(
        spikes=spikes, dt=float(dt), t_start=float(t_start), align_event=align,
        unit_ids=np.asarray(units.id[:], int), unit_area=unit_area, unit_cell_type=np.asarray(cell_type, str),
        trial_ids=trials.ids, trial_type=trials.trial_type, inputs=inputs, input_names=input_names,
        behaviour=behaviour, behaviour_name=behaviour_name, ports=ports, choice=choice,
        response_window=(float(response_window[0]), float(response_window[1])),
        condition=condition, conditions=conditions, excluded=excluded,
        subject={key: getattr(subject, key, None) if subject is not None else None
                 for key in ("subject_id", "species", "sex", "age", "date_of_birth")},
        session_id=nwbfile.session_id or "", identifier=nwbfile.identifier or "",
        session_description=nwbfile.session_description or "", session_start_time=nwbfile.session_start_time,
        source=source,
        metadata={"photostim_layout": photostim.layout, "unit_area_source": location_source,
                  "cell_type_source": cell_type_source, "behaviour_source": behaviour_source,
                  "align_source": trials.sources[align], "align_times": align_times,
                  "warnings": warnings_, "hidden_areas": list(hidden_areas),
                  "unit_locations": list(dict.fromkeys(str(t) for t in locations)), "site_locations": sites, **labels},
        light_window=light_window,
    )


def _behaviour(nwbfile, trials, align, has_align, t_start, dt, n_bins, response_window) -> tuple:
    """(behaviour, behaviour_name, ports, choice, behaviour_source): per-port lick rates and the first-lick choice
    when the file has lick events, else zero traces and the choice of the trial labels (module docstring)."""
    licks = adapters.read_licks(nwbfile)
    if licks is None:
        ports, choice, source = adapters.labelled_choice(nwbfile.trials, trials.choice)
        return np.zeros((len(trials), n_bins, len(ports)), np.float32), "none", ports, choice, source
    behaviour = np.stack([binning.lick_rate(times, align, t_start, dt, n_bins) for times in licks.times.values()],
                         axis=-1)
    first = np.column_stack([binning.first_event_in(times, align + response_window[0], align + response_window[1])
                             for times in licks.times.values()])
    first = np.where(np.isnan(first), np.inf, first)                       # (trials, ports), inf: no lick
    earliest = first.min(axis=1)
    licked = np.isfinite(earliest)
    choice = np.where(licked, np.asarray(licks.ports)[first.argmin(axis=1)], NO_RESPONSE).astype(object)
    tied = (first == earliest[:, None]).sum(axis=1) > 1
    choice[(licked & tied) | ~has_align] = ""
    return behaviour, "lick_rate", licks.ports, choice.astype(str), ", ".join(licks.names)


def _choose_alignment(trials, align, path) -> str:
    available = [name for name, times in trials.events.items() if np.isfinite(times).any()]
    if align == "auto":
        return next(name for name in ALIGN_EVENTS if name in available)
    name = _ALIGN_NAMES.get(align)
    if name not in available:
        raise UserError(f"{path} has no {align!r} event to align on; available: {', '.join(available)}")
    return name


def _median(values) -> float:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else float("nan")


def _default_response_window(trials, relative, align) -> tuple:
    begin = _median(relative["go_cue"]) if "go_cue" in relative else 0.0
    begin = 0.0 if not np.isfinite(begin) else begin
    end = min(begin + RESPONSE_DURATION, _median(trials.stop - trials.events[align]))
    end = end if end > begin else begin + RESPONSE_DURATION
    return round(begin, 6), round(end, 6)


def _default_window(photostim, align_times, relative, response_window) -> tuple:
    light_on = [epoch.onset - align_times[epoch.trial] for epoch in photostim.epochs]
    light_off = [epoch.offset + epoch.ramp_down - align_times[epoch.trial] for epoch in photostim.epochs]
    starts = [value for value in (np.nanmin(light_on) if light_on else np.nan,
                                  _median(relative.get("sample", np.nan)), response_window[0]) if np.isfinite(value)]
    stops = [value for value in (np.nanmax(light_off) if light_off else np.nan, response_window[1])
             if np.isfinite(value)]
    first = max(min(starts) - BASELINE, _median(relative["trial_start"]))
    last = max(stops)
    return first, last


def _grid(window, dt) -> tuple[float, int]:
    first, last = float(window[0]), float(window[1])
    if not last > first:
        raise UserError(f"empty time window {window}: its end must come after its start")
    t_start = np.floor(first / dt + 1e-6) * dt
    return float(t_start), int(np.ceil((last - t_start) / dt - 1e-6))


def _ragged(table, name) -> list:
    index = table[name]
    ends = np.asarray(index.data[:], int)
    flat = np.asarray(index.target.data[:], float)
    return np.split(flat, ends[:-1])


def _inputs(trials, align, t_start, dt, n_bins):
    events, names = [], []
    sample, go = trials.events.get("sample"), trials.events.get("go_cue")
    if sample is not None:
        for trial_type in sorted(set(trials.trial_type.tolist())):
            events.append(np.where(trials.trial_type == trial_type, sample, np.nan))
            names.append(trial_type)
    same = sample is not None and go is not None and np.allclose(sample, go, atol=1e-3, equal_nan=True)
    if go is not None and not same:
        events.append(go)
        names.append("go_cue")
    if not events:
        events, names = [trials.start], ["trial_start"]
    return binning.pulse_inputs(events, align, t_start, dt, n_bins), tuple(names)


def _rounded(time: float) -> float:
    return round(round(time / TIME_RESOLUTION) * TIME_RESOLUTION, 6)


def _window(epoch, align) -> tuple:
    """A light epoch's (onset, offset) relative to its trial's alignment, rounded to TIME_RESOLUTION."""
    onset = _rounded(epoch.onset - align[epoch.trial])
    return onset, max(_rounded(epoch.offset - align[epoch.trial]), round(onset + TIME_RESOLUTION, 6))


def _protocol_key(epoch, trials, align_event, align) -> tuple:
    """(area, cell type, timing, power, waveform, frequency, ramp) of a light epoch: the timing is the named task
    epoch, else (reference event, onset from it, duration), else the window relative to the alignment; power
    to 2 significant digits (None when unknown)."""
    if epoch.epoch:
        timing = ("epoch", epoch.epoch)
    elif epoch.reference and epoch.reference != align_event and epoch.reference in trials.events:
        reference = trials.events[epoch.reference][epoch.trial]
        timing = (epoch.reference, _rounded(epoch.onset - reference), _rounded(epoch.offset - epoch.onset))
    else:
        timing = ("aligned",) + _window(epoch, align)
    power = float(f"{epoch.power:.2g}") if np.isfinite(epoch.power) else None
    return (epoch.area, epoch.cell_type, timing, power, epoch.waveform, round(epoch.frequency, 3),
            round(epoch.ramp_down, 6))


def _conditions(photostim, trials, align_event, align, modelled_areas) -> tuple:
    """Per-trial condition index, the distinct conditions (sorted by area, cell type, onset, power...), each
    trial's own light window ((trials, 2), NaN without light), and the light-related exclusion reasons."""
    keys = [_protocol_key(epoch, trials, align_event, align) for epoch in photostim.epochs]
    windows = [_window(epoch, align) for epoch in photostim.epochs]
    members, sites = {}, {}
    for key, window, epoch in zip(keys, windows, photostim.epochs):
        members.setdefault(key, []).append(window)
        sites.setdefault(key, epoch.site)
    built = {}
    for key, own in members.items():
        counts = Counter(own)
        typical = max(sorted(counts), key=lambda window: counts[window])
        built[key] = Condition(area=key[0], cell_type=key[1], onset=typical[0], offset=typical[1],
                               power=np.nan if key[3] is None else key[3], waveform=key[4], frequency=key[5],
                               ramp_down=key[6], site=sites[key], epoch=key[2][1] if key[2][0] == "epoch" else "")
    order = sorted(built, key=lambda key: (key[0], key[1], built[key].onset, built[key].offset,
                                           np.inf if key[3] is None else key[3], key[4], key[5], key[6], str(key[2])))
    index = {key: i for i, key in enumerate(order)}
    condition = np.full(len(align), UNPERTURBED, int)
    light_window = np.full((len(align), 2), np.nan)
    reasons = dict(photostim.undecoded)
    for key, window, epoch in zip(keys, windows, photostim.epochs):
        condition[epoch.trial] = index[key]
        light_window[epoch.trial] = window
        if epoch.area == UNKNOWN_AREA:
            reasons.setdefault(epoch.trial, "stimulation target area unknown")
        elif not set(epoch.area.split("+")) <= set(modelled_areas):
            reasons.setdefault(epoch.trial, f"target area {epoch.area} not recorded")
    return condition, tuple(built[key] for key in order), light_window, reasons


def _unrecorded_warnings(conditions, condition, unit_area, locations, sites, hidden_areas) -> list:
    """One warning per stimulated area without recorded units (and not hidden): the area, the stimulation
    site's and the units' locations, whether their coordinates agree, and the fixes."""
    recorded = list(dict.fromkeys(unit_area.tolist()))
    found = []
    for area in dict.fromkeys(c.area for c in conditions):
        if set(area.split("+")) <= {*recorded, *hidden_areas} or area == UNKNOWN_AREA:
            continue
        indices = [i for i, c in enumerate(conditions) if c.area == area]
        n_trials = int(np.isin(condition, indices).sum())
        site_names = list(dict.fromkeys(conditions[i].site for i in indices if conditions[i].site))
        site_text = "; ".join(f"site {name!r} at {sites.get(name, '')!r}" for name in site_names) or "no site"
        locations = [str(text) for text in locations]
        unit_texts = list(dict.fromkeys(locations))
        units_text = "; ".join(f"{text!r} ({int(np.sum(np.asarray(locations) == text))} units)"
                               for text in unit_texts[:3]) + (" ..." if len(unit_texts) > 3 else "")
        matching = _areas_at_site([sites.get(name, "") for name in site_names], locations, unit_area)
        lines = [f"light targets {area} ({n_trials} trials; {site_text}), but no recorded unit is in {area}: the "
                 f"units are in {', '.join(recorded)} (locations {units_text})"]
        if matching:
            lines.append(f"the units' coordinates ({matching[0][1]}) equal the stimulation site's, so the units may "
                         f"be in {area} under another region name")
        suggestion = matching[0][0] if matching else (recorded[0] if len(recorded) == 1 else "PATTERN")
        lines.append(f"if the units are in {area}, map them with --areas '{suggestion}={area}'; to predict the light "
                     f"on {area} from a model fitted to the recorded areas, add it as hidden neurons with "
                     f"--hidden-areas {area}; until then these trials are excluded")
        found.append("; ".join(lines))
    return found


def _areas_at_site(site_texts, locations, unit_area) -> list:
    """(recorded area, 'AP x, ML y') for areas whose units' AP/ML coordinates equal a stimulation site's."""
    matches = []
    for site_text in site_texts:
        site = coordinates_in_text(site_text)
        if not {"ap", "ml"} <= set(site):
            continue
        for text, area in zip(locations, unit_area.tolist()):
            unit = coordinates_in_text(text)
            if {"ap", "ml"} <= set(unit) and all(abs(unit[k] - site[k]) < 1e-6 for k in ("ap", "ml")):
                matches.append((area, f"AP {unit['ap']:g}, ML {unit['ml']:g}"))
    return list(dict.fromkeys(matches))


def _exclusions(trials, has_align, align, light_reasons, observed) -> np.ndarray:
    excluded = np.where(has_align, "", f"no {align} event").astype(object)
    for trial, reason in light_reasons.items():
        if not excluded[trial]:
            excluded[trial] = reason
    source = (excluded == "") & (trials.excluded != "")
    excluded[source] = trials.excluded[source]
    excluded[(excluded == "") & ~observed.all(axis=1)] = "unit not observed during the window"
    return excluded.astype(str)


def safe_label(text) -> str:
    """A DANDI-safe file-name label: letters, digits and ``-`` only (no ``_``, ``/``, ``..``, spaces).

    Examples
    --------
    >>> safe_label("anm369963_2017-02-28/../x y")
    'anm369963-2017-02-28-x-y'
    """
    label = re.sub(r"[^A-Za-z0-9-]+", "-", str(text))
    label = re.sub(r"-{2,}", "-", label).strip("-")
    return label or "unknown"
