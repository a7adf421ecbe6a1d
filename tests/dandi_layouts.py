"""A layout corpus: NWB files written the way each dandiset family's published conversion code writes them.

``nwb_factories.py`` writes small files on one shared timeline so tests can predict every loaded number; the
factories here copy what real files hold instead: the NWB version, column dtypes (text as ``str``, as
variable-length ASCII that h5py reads back as ``bytes``, or as objects), ``'N/A'`` strings and ``0.0`` powers on
no-light trials, event times relative to the trial start or absolute, ragged columns, MatNWB's layouts, and
realistic sizes and trial mixes. Each docstring names the public conversion code it follows, and the tests
(``tests/test_layout_corpus.py``) reproduce each quirk from these files, never from a copy of one real file.
The one real file kept in the tests is the DANDI:000006 session in ``tests/data``.

Conversion code followed (all public):

* DataJoint exports (000006, 000009, 000010, 000011): ``datajoint-company/DJ-NWB-Guo-Inagaki-2017``
  ``scripts/datajoint_to_nwb.py`` and its siblings ``DJ-NWB-Economo-2018``, ``DJ-NWB-Li-2015``: pynwb 1.x,
  NWB 2.0.2-2.1.0, text columns as variable-length ASCII (read back as ``bytes``), int32 flags, location strings
  ``'; '.join(f'{k}: {v}')`` of the DataJoint ``ActionLocation`` row, site names ``'<hemisphere>-<region>'``.
* map-ephys ``pipeline/export/nwb.py`` (000363): string ``photostim_*`` columns with ``'N/A'``, BehavioralEvents
  with ``control`` codes, JSON locations (:func:`nwb_factories.write_000363`, reused here).
* the 000060 converter (Finkelstein et al. 2021, map-ephys lineage): ragged object columns relative to the go cue.
* the MatNWB converters of 000221 / 000572: outcome booleans as float64, coded ``PhotostimulationType``, a
  2-column ``CueTime``, epoch times relative to the trial start.
"""
from __future__ import annotations

import warnings
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import nwb_factories
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.behavior import BehavioralEvents, BehavioralTimeSeries
from pynwb.file import Subject
from pynwb.ogen import OptogeneticSeries

GUO_TRIALS = 412
"""Trials of the DANDI:000009 session the issue describes, and its mix:"""
GUO_NON_PERFORMING = 70      # type 'non-performing', response 'N/A', NaN epoch times, no light
GUO_LIGHT = 63               # period 'delay', 1.5 mW, stim_present 1
GUO_LIGHT_LONG_DELAY = 7     # of the light trials, delays longer than 1.3 s
GUO_FLAGGED_ZERO_POWER = 4   # stim_present 1 but period 'N/A' and power 0.0
GUO_EARLY_LICK = 30          # light-off performing trials with response 'early lick'
GUO_BAD_ONLY = 35            # light-off performing trials with is_good 0 (and no early lick)
GUO_LIGHT_EXCLUDED = 9       # light trials that are early licks (5) or bad (4)
GUO_FITTABLE = GUO_TRIALS - GUO_NON_PERFORMING - GUO_LIGHT - GUO_FLAGGED_ZERO_POWER - GUO_EARLY_LICK - GUO_BAD_ONLY
"""Good light-off trials without an early lick: 210."""
GUO_LIGHT_USABLE = GUO_LIGHT - GUO_LIGHT_EXCLUDED
GUO_DELAY = 1.3
GUO_LONG_DELAYS = (1.8, 2.3, 2.8, 3.46, 2.1, 1.6, 3.0)
GUO_POWER = 1.5
SITE_LOCATION = ("brain_region: ALM; brain_subregion: N/A; cortical_layer: N/A; hemisphere: left; "
                 "coordinate_ref: bregma; coordinate_ap: 2.50; coordinate_ml: -1.50; coordinate_dv: 0.00")
THALAMUS_LOCATION = ("brain_region: Thalamus; brain_subregion: N/A; cortical_layer: N/A; hemisphere: left; "
                     "coordinate_ref: bregma; coordinate_ap: 2.50; coordinate_ml: -1.50; coordinate_dv: 3.50")


def datajoint_quirks(path, nwb_version: str, groups=("intervals/trials", "units",
                                                     "general/extracellular_ephys/electrodes")) -> Path:
    """Make a pynwb-written file look like a DataJoint export of pynwb 1.x days: the root ``nwb_version``
    attribute, text columns as variable-length ASCII (h5py reads them as ``bytes``) and int64 columns as int32.
    Only plain columns are rewritten (never the target of an index or a reference)."""
    with h5py.File(path, "r+") as file:
        file.attrs["nwb_version"] = nwb_version
        for group_path in groups:
            if group_path not in file:
                continue
            group = file[group_path]
            indexed = {name[:-len("_index")] for name in group if name.endswith("_index")}
            for name in list(group):
                data = group[name]
                if not isinstance(data, h5py.Dataset) or name in indexed or name.endswith("_index") \
                        or data.ndim != 1 or data.attrs.get("neurodata_type") != "VectorData":
                    continue
                if h5py.check_string_dtype(data.dtype) is not None:
                    values = [v.decode() if isinstance(v, bytes) else str(v) for v in data[:]]
                    _replace(group, name, np.array([v.encode("ascii", "replace") for v in values], dtype=object),
                             h5py.string_dtype("ascii"))
                elif data.dtype == np.int64:
                    _replace(group, name, data[:].astype(np.int32), np.int32)
    return Path(path)


def _replace(group, name, values, dtype):
    attrs = dict(group[name].attrs)
    del group[name]
    new = group.create_dataset(name, data=values, dtype=dtype)
    for key, value in attrs.items():
        new.attrs[key] = value


def write_guo_inagaki_000009(path, n_units: int = 4, seed: int = 0, unit_location: str = THALAMUS_LOCATION,
                             site_location: str = SITE_LOCATION) -> Path:
    """A DANDI:000009 session (Guo, Inagaki et al. 2017: left-ALM photoinhibition in a lick-left/lick-right
    delayed-response task) as the DataJoint export writes it (``DJ-NWB-Guo-Inagaki-2017``
    ``scripts/datajoint_to_nwb.py``, NWB 2.1.0), with the quirks of the real session the issue describes:

    * 412 trials: 70 ``'non-performing'`` (``response`` ``'N/A'``, NaN epoch times), 63 lit
      (``photo_stim_period`` ``'delay'``, ``photo_stim_power`` 1.5, galvo 1.5/2.5 mm, ``stim_present`` 1; 7 of
      them with delays longer than 1.3 s; 5 early licks and 4 ``is_good`` 0 among them), 4 with ``stim_present``
      1 but period ``'N/A'`` and power 0.0, and 275 light-off performing trials (30 early licks, 35 more
      ``is_good`` 0, :data:`GUO_FITTABLE` = 210 fittable);
    * ``photo_stim_type`` ``'stimulation'`` on every row, ``photo_stim_period`` ``'N/A'`` on every no-light row,
      ``photo_stim_power`` float 0.0 there, galvo coordinates 0.0;
    * ``pole_in_time``, ``pole_out_time``, ``cue_start_time``, ``cue_end_time`` relative to the trial start;
      sample 1.3 s, delay 1.3 s on most trials;
    * text columns as variable-length ASCII (read back as ``bytes``), flags as int32;
    * no lick events: the choice exists only as ``type`` + ``response``;
    * ``n_units`` units (4) on a 32-channel probe whose electrodes' location says ``brain_region: Thalamus``
      with the AP/ML coordinates of the only stimulation site ``left-ALM`` (``brain_region: ALM``); one
      ``'FS'`` unit, the others ``'N/A'``; spikes: a Poisson background (8 Hz) raised in the delay.
    """
    rng = np.random.default_rng(seed)
    n = GUO_TRIALS
    kind = np.array(["off"] * n, dtype=object)
    order = rng.permutation(n)
    cursor = 0
    for label, count in (("np", GUO_NON_PERFORMING), ("light", GUO_LIGHT), ("zero", GUO_FLAGGED_ZERO_POWER)):
        kind[order[cursor:cursor + count]] = label
        cursor += count
    off = np.flatnonzero(kind == "off")
    light = np.flatnonzero(kind == "light")
    early = set(rng.choice(off, GUO_EARLY_LICK, replace=False).tolist())
    not_early = [t for t in off if t not in early]
    bad = set(rng.choice(not_early, GUO_BAD_ONLY, replace=False).tolist())
    bad |= set(rng.choice(sorted(early), 10, replace=False).tolist())          # some early licks are also bad
    light_early = set(light[:5].tolist())
    bad |= set(light[5:9].tolist())
    early |= light_early
    long_delay = dict(zip(light[-GUO_LIGHT_LONG_DELAY:].tolist(), GUO_LONG_DELAYS))
    off_long = rng.choice(not_early, 12, replace=False)
    long_delay.update({int(t): float(rng.choice(GUO_LONG_DELAYS)) for t in off_long})

    nwbfile = NWBFile(session_description="", identifier="anm302640_2017-06-02_13-05-12",
                      session_start_time=datetime(2017, 6, 2, 13, 5, 12, tzinfo=timezone.utc),
                      file_create_date=datetime(2019, 9, 18, tzinfo=timezone.utc), experimenter="Nuo Li",
                      institution="Janelia Research Campus", related_publications="doi:10.1038/nature22324")
    nwbfile.subject = Subject(subject_id="anm302640", description="", genotype="VGAT-ChR2-EYFP",
                              sex="M", species="Mus musculus", date_of_birth=datetime(2016, 12, 1,
                                                                                         tzinfo=timezone.utc))
    probe = nwbfile.create_device(name="A32")
    group = nwbfile.create_electrode_group(name="A32 - 32 channels", description="N/A", device=probe,
                                           location=unit_location)
    for channel in range(32):
        nwbfile.add_electrode(id=channel + 1, group=group, x=0.0, y=float(channel * 25), z=0.0,
                              location=group.location)
    laser = nwbfile.create_device(name="laser")
    nwbfile.create_ogen_site(name="left-ALM", device=laser, excitation_lambda=473.0, location=site_location,
                             description="")

    columns = [
        ("type", "trial type (lick left, lick right, non-performing)"),
        ("response", "behavioral response (correct, incorrect, early lick, N/A)"),
        ("stim_present", "is this trial a Stimulation or No stimulation trial"),
        ("is_good", "is this a good or bad trial"),
        ("photo_stim_type", "photostim type"),
        ("photo_stim_period", "period during the trial"),
        ("photo_stim_power", "in mW, stimulus power"),
        ("photo_loc_galvo_x", "in mm, photostim galvo x"),
        ("photo_loc_galvo_y", "in mm, photostim galvo y"),
        ("photo_loc_galvo_z", "in mm, photostim galvo z"),
        ("pole_in_time", "the start of sample period for each trial, relative to trial start time"),
        ("pole_out_time", "the end of the sample period, relative to trial start time"),
        ("cue_start_time", "cue onset of this trial, with respect to this trial's start time"),
        ("cue_end_time", "cue end of this trial, with respect to this trial's start time"),
    ]
    for name, description in columns:
        nwbfile.add_trial_column(name=name, description=description)

    start = 0.0
    starts, pole_out_abs, cue_abs, types = [], [], [], []
    for trial in range(n):
        delay = long_delay.get(trial, GUO_DELAY)
        performing = kind[trial] != "np"
        pole_in = 0.5 + rng.uniform(0.0, 0.05)
        pole_out, cue = pole_in + 1.3, pole_in + 1.3 + delay
        length = cue + 2.5
        trial_type = "non-performing" if not performing else ("lick left" if rng.random() < 0.5 else "lick right")
        if not performing:
            response = "N/A"
        elif trial in early:
            response = "early lick"
        else:
            response = "correct" if rng.random() < 0.8 else "incorrect"
        lit = kind[trial] == "light"
        nan = float("nan")
        nwbfile.add_trial(
            start_time=start, stop_time=start + length, type=trial_type, response=response,
            stim_present=int(lit or kind[trial] == "zero"), is_good=int(performing and trial not in bad),
            photo_stim_type="stimulation", photo_stim_period="delay" if lit else "N/A",
            photo_stim_power=GUO_POWER if lit else 0.0, photo_loc_galvo_x=1.5 if lit else 0.0,
            photo_loc_galvo_y=2.5 if lit else 0.0, photo_loc_galvo_z=0.0,
            pole_in_time=pole_in if performing else nan, pole_out_time=pole_out if performing else nan,
            cue_start_time=cue if performing else nan, cue_end_time=cue + 0.1 if performing else nan)
        starts.append(start)
        pole_out_abs.append(start + pole_out if performing else nan)
        cue_abs.append(start + cue if performing else nan)
        types.append(trial_type)
        start += length + rng.uniform(0.5, 1.0)

    nwbfile.add_unit_column(name="unit_x", description="x-coordinate of this unit")
    nwbfile.add_unit_column(name="unit_y", description="y-coordinate of this unit")
    nwbfile.add_unit_column(name="unit_z", description="z-coordinate of this unit")
    nwbfile.add_unit_column(name="cell_type", description="cell type (e.g. wide width, narrow width spiking)")
    session_end = start
    for unit in range(n_units):
        rate = 8.0 + 2.0 * unit
        spikes = [rng.uniform(0.0, session_end, rng.poisson(rate * session_end))]
        for out, cue in zip(pole_out_abs, cue_abs):
            if np.isfinite(out):
                spikes.append(rng.uniform(out, cue, rng.poisson(10.0 * (cue - out))))
        nwbfile.add_unit(id=unit + 1, electrodes=[int(unit * 7 % 32)], spike_times=np.sort(np.concatenate(spikes)),
                         unit_x=0.0, unit_y=float(unit * 175), unit_z=3.5,
                         cell_type="FS" if unit == n_units - 1 else "N/A")
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return datajoint_quirks(path, "2.1.0")


def _datajoint_file(identifier: str, subject_id: str, when: datetime) -> NWBFile:
    nwbfile = NWBFile(session_description="", identifier=identifier, session_start_time=when,
                      file_create_date=datetime(2019, 9, 18, tzinfo=timezone.utc), experimenter="Nuo Li",
                      institution="Janelia Research Campus")
    nwbfile.subject = Subject(subject_id=subject_id, genotype="", sex="M", species="Mus musculus",
                              date_of_birth=datetime(2016, 12, 1, tzinfo=timezone.utc))
    return nwbfile


def _probe(nwbfile, location: str, n_channels: int = 32):
    probe = nwbfile.create_device(name="A32")
    group = nwbfile.create_electrode_group(name=f"A32 - {n_channels} channels", description="N/A", device=probe,
                                           location=location)
    for channel in range(n_channels):
        nwbfile.add_electrode(id=channel + 1, group=group, x=0.0, y=float(channel * 25), z=0.0,
                              location=location)


def write_economo_000006(path, n_trials: int = 40, seed: int = 1) -> Path:
    """A DANDI:000006 session (Economo et al. 2018, ALM) as ``DJ-NWB-Economo-2018``'s DataJoint export writes it
    (NWB 2.0.2): ``stop_time`` all NaN, ``type`` / ``response`` text read back as ``bytes``, ``stim_present``
    and ``is_good`` int32, ``pole_in_time`` / ``pole_out_time`` / ``cue_start_time`` relative to the trial
    start, licks as ``acquisition/lick_times/{lick_left_times, lick_right_times}`` (BehavioralEvents), units
    with ``cell_type`` 'PTlower' / 'PTupper', ``depth``, ``quality``, electrodes located by
    ``'brain_region: ALM; brain_subregion: N/A; cortical_layer: 5; hemisphere: left; ...'``. Every fifth trial
    has ``stim_present`` 1 (a flag without light timing: excluded)."""
    rng = np.random.default_rng(seed)
    nwbfile = _datajoint_file("anm369963_2017-02-28", "anm369963", datetime(2017, 2, 28, 10, tzinfo=timezone.utc))
    location = ("brain_region: ALM; brain_subregion: N/A; cortical_layer: 5; hemisphere: left; "
                "brain_location_full_name: N/A")
    _probe(nwbfile, location, 64)
    for name, description in (("type", "trial type"), ("response", "behavioral response"),
                              ("stim_present", "is this a stim or no-stim trial"),
                              ("is_good", "good/bad status of trial (bad trials are not analyzed)"),
                              ("pole_in_time", "onset of sample period, relative to the trial start"),
                              ("pole_out_time", "onset of the delay period, relative to the trial start"),
                              ("cue_start_time", "onset of response period, relative to the trial start")):
        nwbfile.add_trial_column(name=name, description=description)
    start, cues, left, right = 300.0, [], [], []
    for trial in range(n_trials):
        side = "lick left" if rng.random() < 0.5 else "lick right"
        response = rng.choice(["correct", "correct", "correct", "incorrect", "no response", "early lick"])
        pole_in = 4.0 + rng.uniform(0, 0.1)
        cue = pole_in + 2.2
        nwbfile.add_trial(start_time=start, stop_time=np.nan, type=side, response=str(response),
                          stim_present=int(trial % 5 == 4), is_good=1, pole_in_time=pole_in,
                          pole_out_time=pole_in + 1.0, cue_start_time=cue)
        if response in ("correct", "incorrect"):
            licked_left = (side == "lick left") == (response == "correct")
            (left if licked_left else right).extend(start + cue + 0.15 + 0.14 * np.arange(3))
        cues.append(start + cue)
        start += cue + 3.5 + rng.uniform(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        licks = BehavioralEvents(name="lick_times")
    for name, times in (("lick_left_times", left), ("lick_right_times", right)):
        licks.add_timeseries(TimeSeries(name=name, data=np.ones(len(times)), timestamps=np.asarray(times), unit="a.u."))
    nwbfile.add_acquisition(licks)
    nwbfile.add_unit_column(name="depth", description="depth (um)")
    nwbfile.add_unit_column(name="quality", description="quality of the spike sorted unit")
    nwbfile.add_unit_column(name="cell_type", description="cell type")
    for unit in range(3):
        spikes = np.sort(np.concatenate([rng.uniform(300.0, start, rng.poisson(6.0 * (start - 300.0))),
                                         *[c - rng.uniform(0, 0.3, 5) for c in cues]]))
        nwbfile.add_unit(electrodes=[unit * 5], spike_times=spikes, depth=700.0 + 50 * unit, quality="Good",
                         cell_type=["PTlower", "PTupper", "PTlower"][unit])
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return datajoint_quirks(path, "2.0.2")


def write_li_000011(path, n_trials: int = 60, seed: int = 2) -> Path:
    """A DANDI:000010 / 000011 session (Li et al. 2015; Li, Daie et al. 2016: ALM photoinhibition) as the
    DataJoint export writes it (``DJ-NWB-Li-2015`` lineage, NWB 2.1.0): trials ``task`` / ``task_protocol`` /
    ``trial_instruction`` ('left' / 'right') / ``early_lick`` ('early' / 'no early') / ``outcome`` ('hit' /
    'miss' / 'ignore') as ASCII text, task events and photostimulation as ``acquisition/BehavioralEvents`` series
    on the session clock (``sample``, ``delay``, ``go``, ``photostim_start_time``, ``photostim_stop_time`` with
    the power in mW as data), the laser power also as an ``OptogeneticSeries`` trace
    ``stimulus/presentation/left ALM_laser_power`` (W), a ``lick_trace`` BehavioralTimeSeries (an analog trace,
    no lick events: the choice comes from ``trial_instruction`` + ``outcome``), units with ``obs_intervals`` and
    ``cell_type`` 'Pyramidal' / 'FS'. Every fourth trial is lit: 0.5 s from the delay onset at 8 mW (``ALM``
    recorded, so the trials are usable)."""
    rng = np.random.default_rng(seed)
    nwbfile = _datajoint_file("anm218457_2014-05-13", "anm218457", datetime(2014, 5, 13, 9, tzinfo=timezone.utc))
    location = "brain_region: ALM; brain_subregion: N/A; cortical_layer: N/A; hemisphere: left"
    _probe(nwbfile, location)
    for name, description in (("task", "task type"), ("task_protocol", "task protocol"),
                              ("trial_instruction", "instruction: left or right"),
                              ("early_lick", "early lick or not"), ("outcome", "hit, miss or ignore")):
        nwbfile.add_trial_column(name=name, description=description)
    start, sample, delay, go, on, off, obs = 10.0, [], [], [], [], [], []
    for trial in range(n_trials):
        nwbfile.add_trial(start_time=start, stop_time=start + 5.0, task="audio delay", task_protocol="1",
                          trial_instruction="left" if trial % 2 == 0 else "right",
                          early_lick="early" if trial % 11 == 10 else "no early",
                          outcome=["hit", "hit", "miss", "ignore"][trial % 4 if trial % 4 != 3 else 0])
        sample.append(start + 0.5)
        delay.append(start + 1.8)
        go.append(start + 3.0)
        if trial % 4 == 3:
            on.append(start + 1.8)
            off.append(start + 2.3)
        obs.append((start, start + 5.0))
        start += 6.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        events = BehavioralEvents(name="BehavioralEvents")
    for name, times, data, unit in (("sample", sample, None, "a.u."), ("delay", delay, None, "a.u."),
                                    ("go", go, None, "a.u."), ("photostim_start_time", on, 8.0, "mW"),
                                    ("photostim_stop_time", off, 8.0, "mW")):
        values = np.ones(len(times)) if data is None else np.full(len(times), data)
        events.add_timeseries(TimeSeries(name=name, data=values, timestamps=np.asarray(times), unit=unit))
    nwbfile.add_acquisition(events)
    trace_time = np.arange(0.0, start, 0.01)
    lick = BehavioralTimeSeries(name="BehavioralTimeSeries")
    lick.add_timeseries(TimeSeries(name="lick_trace", data=rng.random(len(trace_time)), timestamps=trace_time,
                                   unit="a.u."))
    nwbfile.add_acquisition(lick)
    laser = nwbfile.create_device(name="laser")
    site = nwbfile.create_ogen_site(name="left ALM", device=laser, excitation_lambda=473.0, location="left ALM",
                                    description="photoinhibition of ALM in VGAT-ChR2 mice")
    power = np.zeros(len(trace_time))
    for a, b in zip(on, off):
        power[(trace_time >= a - 1e-9) & (trace_time < b - 1e-9)] = 0.008
    nwbfile.add_stimulus(OptogeneticSeries(name="left ALM_laser_power", data=power, site=site, timestamps=trace_time))
    nwbfile.add_unit_column(name="cell_type", description="cell type")
    for unit in range(4):
        spikes = np.sort(rng.uniform(10.0, start, rng.poisson(8.0 * (start - 10.0))))
        nwbfile.add_unit(electrodes=[unit], spike_times=spikes, obs_intervals=np.array(obs),
                         cell_type="FS" if unit == 3 else "Pyramidal")
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return datajoint_quirks(path, "2.1.0")


def write_map_ephys_000363(path, n_trials: int = 20) -> Path:
    """A DANDI:000363 session as map-ephys ``pipeline/export/nwb.py`` writes it: string ``photostim_onset`` /
    ``photostim_power`` / ``photostim_duration`` columns with ``'N/A'`` on no-light trials and numbers as
    ``'%.4f'`` text, onsets from the trial start, BehavioralEvents with ``control`` protocol codes on the
    photostim events, JSON locations (:func:`nwb_factories.write_000363`)."""
    return nwb_factories.write_000363(path, n_trials=n_trials, lit=tuple(range(1, n_trials, 4)),
                                      licked=tuple(range(0, n_trials, 2)), early=(n_trials - 1,), protocols=(5,))


def write_finkelstein_000060(path) -> Path:
    """A DANDI:000060 session (Finkelstein et al. 2021: vS1 photostimulation) as its converter writes it: ragged
    object ``photostim_*`` columns relative to the go cue (a pulse train per lit trial, ``'None'`` on others),
    a plain-text site location, ``spk_width_ms`` instead of a usable cell type (:func:`nwb_factories.write_000060`)."""
    return nwb_factories.write_000060(path, n_trials=8, lit=(2, 3, 6))


def write_matnwb_000221(path) -> Path:
    """A DANDI:000221 / 000572 session as the MatNWB converters write it (NWB 2.5.0): a coded
    ``PhotostimulationType`` (float64, NaN where the code is missing) explained in its column description,
    outcome booleans ``HitL`` / ``HitR`` / ``LickEarly`` / ``GoodTrials`` as float64, a 2-column ``CueTime``,
    epoch times relative to the trial start, an OptogeneticSeries power trace (:func:`nwb_factories.write_coded`)."""
    nwb_factories.write_coded(path, codes=(0, 1, 2, 1, np.nan, 0, 1, np.nan))
    with h5py.File(path, "r+") as file:
        file.attrs["nwb_version"] = "2.5.0"
    return Path(path)
