"""Small NWB files in the optogenetics layouts of real dandisets (dandi-layouts.md), written with pynwb.

Every file shares one task timeline so tests can predict the loaded arrays by hand. Trial ``k`` starts at
``TRIAL_PERIOD * k + 1``; relative to its start the sample (stimulus) is at ``SAMPLE``, the delay at ``DELAY``,
the go cue at ``GO`` and the trial stops at ``TRIAL_LENGTH``. Unit ``u`` spikes once at ``go + SPIKE_AFTER_GO +
u * UNIT_STEP`` and once at ``sample + SPIKE_AFTER_SAMPLE`` in every trial; trials in ``licked`` have licks at
``go + LICK_AFTER_GO`` and ``go + LICK_AFTER_GO + 0.02``. The light of a lit trial starts ``LIGHT_ONSET`` after
the trial start and lasts ``LIGHT_DURATION`` at ``LIGHT_POWER`` mW.

Each ``write_*`` function writes one layout to ``path`` and returns the path.
"""
from __future__ import annotations

import contextlib
import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.behavior import BehavioralEvents
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject
from pynwb.ogen import OptogeneticSeries

from nwb_biornn.recordings import adapters

REALDATA = Path(__file__).resolve().parent / "data"
"""Real NWB files made by others, kept in ``tests/data`` (sources and licences in its README.md)."""
ECONOMO = REALDATA / "economo2018_dandi000006_sub-anm369963_ses-20170228.nwb"
"""A real DANDI:000006 session (Economo et al. 2018)."""

TRIAL_PERIOD = 4.0
TRIAL_LENGTH = 3.8
SAMPLE = 1.0
DELAY = 1.5
GO = 2.5
SPIKE_AFTER_GO = 0.0105
SPIKE_AFTER_SAMPLE = 0.0051
UNIT_STEP = 0.01
LICK_AFTER_GO = 0.2
LIGHT_ONSET = 1.3
LIGHT_DURATION = 0.5
LIGHT_POWER = 5.5


def trial_starts(n_trials: int) -> np.ndarray:
    return 1.0 + TRIAL_PERIOD * np.arange(n_trials)


def base_nwbfile(n_trials=6, units=(("Secondary motor area, layer 5", "E"),) * 2, trial_columns=None,
                 unit_area_column="anno_name", cell_type_column="cell_type", obs_intervals=True,
                 electrode_locations=None, session_id="ses-1", subject_id="m01", stop_time=True,
                 background_rate=0.0) -> NWBFile:
    """A session with trials, units with known spikes and nothing task-specific.

    ``trial_columns`` maps a column name to ``(description, values)``; a list value in ``values`` makes the
    column ragged. ``units`` is a sequence of (area text, cell type text). ``background_rate`` (Hz) adds random
    spikes inside the trials (for benchmarks; tests keep it 0 to know every spike).
    """
    nwbfile = NWBFile(session_description="factory session", identifier=f"factory-{session_id}",
                      session_start_time=datetime(2024, 1, 1, 12, tzinfo=timezone.utc), session_id=session_id)
    nwbfile.subject = Subject(subject_id=subject_id, species="Mus musculus", sex="F", age="P60D")
    starts = trial_starts(n_trials)
    trial_columns = trial_columns or {}
    for name, (description, values) in trial_columns.items():
        nwbfile.add_trial_column(name=name, description=description, index=isinstance(values[0], list))
    for k, start in enumerate(starts):
        nwbfile.add_trial(start_time=start, stop_time=start + TRIAL_LENGTH if stop_time else np.nan,
                          **{name: values[k] for name, (_, values) in trial_columns.items()})
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group(name="shank0", description="shank", location="brain", device=device)
    for u in range(len(units)):
        nwbfile.add_electrode(location=electrode_locations[u] if electrode_locations else "unknown", group=group)
    if unit_area_column:
        nwbfile.add_unit_column(name=unit_area_column, description="brain area of the unit")
    if cell_type_column:
        nwbfile.add_unit_column(name=cell_type_column, description="cell type")
    for u, (area, cell_type) in enumerate(units):
        spikes = np.sort(np.r_[starts + GO + SPIKE_AFTER_GO + u * UNIT_STEP, starts + SAMPLE + SPIKE_AFTER_SAMPLE,
                               _background(starts, background_rate, seed=u)])
        extra = {}
        if unit_area_column:
            extra[unit_area_column] = area
        if cell_type_column:
            extra[cell_type_column] = cell_type
        if obs_intervals:
            extra["obs_intervals"] = np.column_stack([starts, starts + TRIAL_LENGTH])
        nwbfile.add_unit(spike_times=spikes, electrodes=[u], **extra)
    return nwbfile


def _background(starts, rate, seed):
    rng = np.random.default_rng(seed)
    count = rng.poisson(rate * TRIAL_LENGTH * len(starts))
    return rng.choice(starts, count) + rng.uniform(0.0, TRIAL_LENGTH, count)


def add_events(nwbfile, names_times: dict, name="BehavioralEvents", **series_kwargs):
    """A BehavioralEvents container of event TimeSeries (as real files have, though pynwb now deprecates it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        events = BehavioralEvents(name=name)
    for series_name, times in names_times.items():
        kwargs = series_kwargs.get(series_name, {})
        data = kwargs.pop("data", np.ones(len(times)))
        events.add_timeseries(TimeSeries(name=series_name, data=data, timestamps=np.asarray(times, float),
                                         unit=kwargs.pop("unit", "a.u."), **kwargs))
    nwbfile.add_acquisition(events)


def lick_times(starts, licked):
    first = starts[np.asarray(licked, bool)] + GO + LICK_AFTER_GO
    return np.sort(np.r_[first, first + 0.02])


def add_site(nwbfile, name, location, description="excitation_duration: 0.5"):
    device = nwbfile.devices.get("laser") or nwbfile.create_device(name="laser")
    return nwbfile.create_ogen_site(name=name, device=device, description=description, excitation_lambda=473.0,
                                    location=location)


def write(nwbfile, path):
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def write_000363(path, n_trials=6, lit=(1, 4), licked=(0, 1, 2), early=(), sites=("ALM",), trial_site=None,
                 units=(("Secondary motor area, layer 5", "E"), ("ALM", "I")), protocols=None, lick_events=None,
                 **base_kwargs):
    """DANDI:000363 / the ``demo`` layout: string ``photostim_*`` columns from the trial start, BehavioralEvents
    (go, sample with early-lick replays, left/right licks, photostim start/stop with ``control``), JSON sites.

    ``trial_site[k]`` is the index into ``sites`` of the site lit in trial ``k``. With ``protocols`` (one id per
    site) the sites are named ``laser_<protocol>`` and ``control`` holds protocol ids, as in the map-ephys export;
    otherwise ``control`` indexes ``control_description``. ``lick_events`` (series name -> session-clock times)
    replaces the left/right licks of the ``licked`` trials (left in even trials, right in odd ones).
    ``base_kwargs`` go to :func:`base_nwbfile`."""
    def light(value):
        return [f"{value:.4f}" if k in lit else "N/A" for k in range(n_trials)]

    columns = {
        "trial_instruction": ("left or right", ["left" if k % 2 == 0 else "right" for k in range(n_trials)]),
        "early_lick": ("early or no early", ["early" if k in early else "no early" for k in range(n_trials)]),
        "outcome": ("hit/miss/ignore", ["hit" if k in licked else "ignore" for k in range(n_trials)]),
        "photostim_onset": ("onset of each photostim event, in seconds from the trial start; N/A if none",
                            light(LIGHT_ONSET)),
        "photostim_power": ("power of each photostim event (mW)", light(LIGHT_POWER)),
        "photostim_duration": ("duration of each photostim event (s)", light(LIGHT_DURATION)),
    }
    nwbfile = base_nwbfile(n_trials, units=units, trial_columns=columns,
                           electrode_locations=[json.dumps({"brain_regions": "left ALM"})] * len(units), **base_kwargs)
    starts = trial_starts(n_trials)
    site = np.asarray(trial_site if trial_site is not None else [0] * n_trials)
    site_names = [f"laser_{label}" for label in (protocols or sites)]
    for name, area in zip(site_names, sites):
        add_site(nwbfile, name, json.dumps([{"brain_area": area, "skull_reference": "bregma",
                                             "ap_location": 2.5, "ml_location": 1.5}]))
    control = np.asarray(protocols)[site[list(lit)]] if protocols else site[list(lit)]
    lit_starts = starts[list(lit)]
    licks = lick_events if lick_events is not None else {
        "left_lick_times": lick_times(starts, [k in licked and k % 2 == 0 for k in range(n_trials)]),
        "right_lick_times": lick_times(starts, [k in licked and k % 2 == 1 for k in range(n_trials)])}
    add_events(nwbfile, {
        "sample_start_times": np.sort(np.r_[starts + SAMPLE, starts[list(early)] + 0.3]),
        "delay_start_times": starts + DELAY,
        "go_start_times": starts + GO,
        **licks,
        "photostim_start_times": lit_starts + LIGHT_ONSET,
        "photostim_stop_times": lit_starts + LIGHT_ONSET + LIGHT_DURATION,
    }, photostim_start_times={"data": np.full(len(lit), LIGHT_POWER), "unit": "mW",
                              "control": control.astype(np.uint8),
                              "control_description": ["photostim protocol id"] if protocols else site_names},
        photostim_stop_times={"data": np.full(len(lit), LIGHT_POWER), "unit": "mW"})
    return write(nwbfile, path)


def write_000060(path, n_trials=6, lit=(2, 3), pulses=3, pulse_period=0.1, pulse_power=2.0):
    """DANDI:000060: ragged object photostim columns relative to the go cue (a pulse train per lit trial), a vS1
    site with a plain-text location, and a ``spk_width_ms`` column instead of a usable cell type."""
    onsets = [list(-1.2 + pulse_period * np.arange(pulses)) if k in lit else [] for k in range(n_trials)]

    def ragged(value):
        return [[str(value)] * len(onsets[k]) or ["None"] for k in range(n_trials)]

    columns = {
        "trial_instruction": ("lick direction", ["left"] * n_trials),
        "photostim_onset": ("onset relative to the go-cue (s); None for no-stim trials",
                            [[f"{v:.4f}" for v in onsets[k]] or ["None"] for k in range(n_trials)]),
        "photostim_power": ("power (mW)", ragged(pulse_power)),
        "photostim_duration": ("duration (s)", ragged(pulse_period / 2)),
    }
    nwbfile = base_nwbfile(n_trials, units=(("vS1", "unidentified"), ("SSp-bfd4", "unidentified")),
                           trial_columns=columns)
    nwbfile.units.add_column(name="spk_width_ms", description="spike width (ms)", data=[0.5, 0.2])
    add_site(nwbfile, "LaserGem473_1", "left vS1", description="vS1 photostimulation (activation)")
    add_events(nwbfile, {"go_start_times": trial_starts(n_trials) + GO}, name="PhotostimEvents")
    return write(nwbfile, path)


def write_000009(path, n_trials=6, lit=(1, 2), period="delay"):
    """DANDI:000009: ``photo_stim_type/period/power`` columns, epoch times relative to the trial start
    (``pole_in_time``, ``pole_out_time``, ``cue_start_time``), a ``left-ALM`` site, units located by their
    electrodes (``brain_region: ...`` strings), no lick events."""
    columns = {
        "type": ("trial type", ["lick left", "lick right"] * (n_trials // 2)),
        "response": ("outcome", ["correct"] * n_trials),
        "pole_in_time": ("onset of sample period", [SAMPLE] * n_trials),
        "pole_out_time": ("onset of the delay period", [DELAY] * n_trials),
        "cue_start_time": ("onset of response period", [GO] * n_trials),
        "photo_stim_type": ("photostim type", ["inhibition" if k in lit else "N/A" for k in range(n_trials)]),
        "photo_stim_period": ("photostim period", [period if k in lit else "N/A" for k in range(n_trials)]),
        "photo_stim_power": ("power (mW)", [LIGHT_POWER if k in lit else np.nan for k in range(n_trials)]),
    }
    location = "brain_region: ALM; brain_subregion: N/A; cortical_layer: 5; hemisphere: left"
    nwbfile = base_nwbfile(n_trials, units=(("", "FS"), ("", "PT")), trial_columns=columns, unit_area_column=None,
                           electrode_locations=[location] * 2, obs_intervals=False)
    add_site(nwbfile, "left-ALM", "left ALM", description="photoinhibition")
    return write(nwbfile, path)


CODED_DESCRIPTION = ('"0" = no stimulation; "1" = photoinhibition of left ALM, early delay, 800 ms (200 ms ramp), '
                     '5 mW; "2" = PPN stimulation 0.1 s after the go cue, 300 ms; "3" = photoinhibition of right ALM')


def write_coded(path, codes=(0, 1, 2, 1, np.nan, 3)):
    """DANDI:000221 / 000572 (MatNWB): coded ``PhotostimulationType`` explained in its description, epoch
    columns relative to the trial start (2-column ``CueTime``), outcome booleans, an OptogeneticSeries trace."""
    n = len(codes)
    columns = {
        "PhotostimulationType": (CODED_DESCRIPTION, list(np.asarray(codes, float))),
        "SampleOnset": ("sample onset", [SAMPLE] * n),
        "DelayOnset": ("delay onset", [DELAY] * n),
        "HitL": ("hit left", [1.0, 0.0] * (n // 2)),
        "HitR": ("hit right", [0.0, 1.0] * (n // 2)),
        "LickEarly": ("early lick", [0.0] * n),
        "GoodTrials": ("good", [1.0] * n),
    }
    nwbfile = base_nwbfile(n, units=(("ALM", "E"), ("PPN", "E")), trial_columns=columns, unit_area_column="location")
    nwbfile.trials.add_column(name="CueTime", description="go cue (start, stop) from the trial start",
                              data=np.tile([GO, GO + 0.1], (n, 1)))
    site = add_site(nwbfile, "ALM_site", "ALM")
    times = np.arange(0.0, trial_starts(n)[-1] + TRIAL_PERIOD, 0.01)
    nwbfile.add_stimulus(OptogeneticSeries(name="laser_power", data=np.zeros(len(times)), site=site,
                                           timestamps=times))
    return write(nwbfile, path)


def write_power_trace(path, n_trials=4, lit=(1, 3), power_w=0.004):
    """DANDI:000010 / 000011: light only as an OptogeneticSeries trace (watts) on a ``bilateral ALM`` site."""
    nwbfile = base_nwbfile(n_trials, units=(("ALM", "E"),))
    site = add_site(nwbfile, "bilateral ALM", "bilateral ALM")
    starts = trial_starts(n_trials)
    times = np.arange(0.0, starts[-1] + TRIAL_PERIOD, 0.01)
    power = np.zeros(len(times))
    for k in lit:
        power[(times >= starts[k] + LIGHT_ONSET - 1e-9) & (times < starts[k] + LIGHT_ONSET + LIGHT_DURATION - 1e-9)] \
            = power_w
    nwbfile.add_stimulus(OptogeneticSeries(name="bilateral ALM_laser_power", data=power, site=site,
                                           timestamps=times))
    add_events(nwbfile, {"go": starts + GO})
    return write(nwbfile, path)


def write_events_pair(path, n_trials=4, lit=(0, 2)):
    """DANDI:000010 / 000011 events: ``photostim_start_time`` / ``photostim_stop_time`` (data = mW), no trial
    columns for the light, one ``left ALM`` site."""
    nwbfile = base_nwbfile(n_trials, units=(("ALM", "E"),))
    add_site(nwbfile, "left ALM", "left ALM")
    starts = trial_starts(n_trials)
    on = starts[list(lit)] + LIGHT_ONSET
    add_events(nwbfile, {"go": starts + GO, "photostim_start_time": on, "photostim_stop_time": on + LIGHT_DURATION},
               photostim_start_time={"data": np.full(len(lit), LIGHT_POWER), "unit": "mW"})
    return write(nwbfile, path)


def write_epochs_table(path, n_trials=4, lit=(1, 2)):
    """ndx-optogenetics style ``OptogeneticEpochsTable`` columns in a plain TimeIntervals table (pulsed 40 Hz,
    12.5 ms pulses) whose ``location`` column names the target."""
    nwbfile = base_nwbfile(n_trials, units=(("MOs", "E"),))
    table = TimeIntervals(name="optogenetic_epochs", description="light epochs")
    for name in ("stimulation_on", "power_in_mW", "pulse_length_in_ms", "period_in_ms", "location"):
        table.add_column(name=name, description=name)
    for k in lit:
        onset = trial_starts(n_trials)[k] + LIGHT_ONSET
        table.add_row(start_time=onset, stop_time=onset + LIGHT_DURATION, stimulation_on=True, power_in_mW=3.0,
                      pulse_length_in_ms=12.5, period_in_ms=25.0, location="ALM")
    nwbfile.add_time_intervals(table)
    add_events(nwbfile, {"go_start_times": trial_starts(n_trials) + GO})
    return write(nwbfile, path)


def write_without_trials(path):
    nwbfile = NWBFile(session_description="no trials", identifier="no-trials",
                      session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_unit(spike_times=[0.1, 0.2])
    return write(nwbfile, path)


def write_without_units(path):
    nwbfile = NWBFile(session_description="no units", identifier="no-units",
                      session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_trial(start_time=0.0, stop_time=1.0)
    return write(nwbfile, path)


@contextlib.contextmanager
def opened(path):
    """The NWB file at ``path``, read (closed on exit)."""
    with NWBHDF5IO(str(path), "r") as io:
        yield io.read()


def decode(path, area_map=None):
    """The trials and decoded light of the NWB file at ``path``, as the loader reads them."""
    with opened(path) as nwbfile:
        trials = adapters.read_trials(nwbfile, str(path))
        return trials, adapters.read_photostim(nwbfile, trials, area_map)
