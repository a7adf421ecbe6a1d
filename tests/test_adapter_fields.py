"""Fields of the optogenetics layouts that change what a light epoch is, each stated as the behaviour a user relies
on (the timeline is that of ``nwb_factories``: sample at ``SAMPLE``, delay at ``DELAY``, go cue at ``GO`` from the
trial start)."""

import numpy as np
import nwb_factories as factories
import pytest
from nwb_factories import DELAY, GO, LIGHT_DURATION, LIGHT_ONSET, SAMPLE, TRIAL_PERIOD, decode, trial_starts
from pynwb.ogen import OptogeneticSeries

from nwb_biornn.recordings import adapters


def write_scaled_trace(path, data_per_watt: float, conversion: float, offset: float = 0.0, power_w: float = 0.004,
                       n_trials: int = 4, lit=(1, 3)):
    """An OptogeneticSeries power trace (unit watts) stored as ``data = (watts - offset) / conversion``, as a
    writer that keeps mW integers or a DAQ's raw counts does; the light is ``power_w`` watts in ``lit`` trials."""
    nwbfile = factories.base_nwbfile(n_trials, units=(("ALM", "E"),))
    site = factories.add_site(nwbfile, "bilateral ALM", "bilateral ALM")
    starts = trial_starts(n_trials)
    times = np.arange(0.0, starts[-1] + TRIAL_PERIOD, 0.01)
    watts = np.zeros(len(times))
    for k in lit:
        on = (times >= starts[k] + LIGHT_ONSET - 1e-9) & (times < starts[k] + LIGHT_ONSET + LIGHT_DURATION - 1e-9)
        watts[on] = power_w
    data = (watts - offset) * data_per_watt
    nwbfile.add_stimulus(OptogeneticSeries(name="laser_power", data=data, site=site, timestamps=times,
                                           conversion=conversion, offset=offset))
    factories.add_events(nwbfile, {"go": starts + GO})
    return factories.write(nwbfile, path)


def test_optogenetic_series_power_is_data_times_conversion(tmp_path):
    """A trace stored in mW (conversion 1e-3 to watts) is 4 mW, not 4000 mW: power = data * conversion."""
    path = write_scaled_trace(tmp_path / "mw.nwb", data_per_watt=1000.0, conversion=1e-3)
    _, photostim = decode(path)
    assert [e.trial for e in photostim.epochs] == [1, 3]
    assert [e.power for e in photostim.epochs] == pytest.approx([4.0, 4.0])
    starts = trial_starts(4)
    assert photostim.epochs[0].onset == pytest.approx(starts[1] + LIGHT_ONSET)
    assert photostim.epochs[0].offset == pytest.approx(starts[1] + LIGHT_ONSET + LIGHT_DURATION)


def coded_type_session(n: int):
    """A 000221/000572-like file: a ``PhotostimulationType`` code whose text names no power, and one ALM site."""
    description = '"0" = no stimulation; "1" = photoinhibition of left ALM, delay, 500 ms'
    nwbfile = factories.base_nwbfile(n, units=(("ALM", "E"),), unit_area_column="location", trial_columns={
        "PhotostimulationType": (description, [0.0, 1.0] * (n // 2)),
        "SampleOnset": ("sample onset", [SAMPLE] * n), "DelayOnset": ("delay onset", [DELAY] * n)})
    return nwbfile, factories.add_site(nwbfile, "ALM_site", "ALM")


def test_coded_type_takes_its_power_from_a_converted_trace(tmp_path):
    """000221/000572: a code whose text gives no power reads it from the OptogeneticSeries, in mW after
    conversion."""
    n = 4
    nwbfile, site = coded_type_session(n)
    starts = trial_starts(n)
    times = np.arange(0.0, starts[-1] + TRIAL_PERIOD, 0.01)
    mw = np.zeros(len(times))
    for k in (1, 3):
        mw[(times >= starts[k] + DELAY) & (times < starts[k] + DELAY + 0.5)] = 7.0
    nwbfile.add_stimulus(OptogeneticSeries(name="laser_power", data=mw, site=site, timestamps=times,
                                           conversion=1e-3))
    _, photostim = decode(factories.write(nwbfile, tmp_path / "coded.nwb"))
    assert [(e.trial, e.area) for e in photostim.epochs] == [(1, "ALM"), (3, "ALM")]
    assert [e.power for e in photostim.epochs] == pytest.approx([7.0, 7.0])


def test_optogenetic_series_power_adds_the_offset(tmp_path):
    """A DAQ trace whose zero is stored as -1 (offset 1e-3 W, conversion 1e-3): light off is 0 mW, light on 4 mW."""
    path = write_scaled_trace(tmp_path / "offset.nwb", data_per_watt=1000.0, conversion=1e-3, offset=1e-3)
    _, photostim = decode(path)
    assert [e.trial for e in photostim.epochs] == [1, 3]
    assert [e.power for e in photostim.epochs] == pytest.approx([4.0, 4.0])


@pytest.mark.parametrize("period, start, stop", [("sample", SAMPLE, DELAY), ("delay", DELAY, GO),
                                                 ("response", GO, GO + adapters.RESPONSE_EPOCH)])
def test_000009_photostim_period_spans_its_task_epoch(tmp_path, period, start, stop):
    """``photo_stim_period`` names a task epoch: sample = pole in -> pole out (the delay onset), delay = pole out ->
    go cue, response = go cue + the response epoch (dandi-layouts.md §1, 000009)."""
    trials, photostim = decode(factories.write_000009(tmp_path / "f.nwb", lit=(1, 2), period=period))
    starts = trial_starts(6)
    assert [e.trial for e in photostim.epochs] == [1, 2] and photostim.undecoded == {}
    for epoch, trial_start in zip(photostim.epochs, starts[[1, 2]]):
        assert epoch.onset == pytest.approx(trial_start + start)
        assert epoch.offset == pytest.approx(trial_start + stop)
    assert trials.sources["sample"] == "pole_in_time" and trials.sources["delay"] == "pole_out_time"


# --- DANDI:000009 photo_stim_type / photo_stim_period / photo_stim_power ----------------------------------------

SITE_ALM = ("left-ALM", "left ALM", "photoinhibition")
SITE_VS1 = ("left-vS1", "left vS1", "photoinhibition")


def write_period_rows(path, types=None, periods=None, powers=None, delay=None, drop=(), sites=(SITE_ALM,),
                      site_column=None, control=None):
    """A 000009-like file with one row per entry of the given per-trial ``photo_stim_*`` values (a column is left
    out when its values are None); ``delay`` overrides the per-trial ``pole_out_time``, ``drop`` leaves out epoch
    columns, ``sites`` are (name, location, description), ``site_column`` names a site per trial and ``control``
    gives per-trial indices into ``sites`` as the ``control`` of ``photostim_start_times`` events at the delay."""
    n = len(next(v for v in (types, periods, powers) if v is not None))
    columns = {"type": ("trial type", ["lick left", "lick right"] * (n // 2) + ["lick left"] * (n % 2)),
               "pole_in_time": ("onset of sample period", [SAMPLE] * n),
               "pole_out_time": ("onset of the delay period", list(delay) if delay is not None else [DELAY] * n),
               "cue_start_time": ("onset of response period", [GO] * n)}
    columns = {name: value for name, value in columns.items() if name not in drop}
    for name, values in (("photo_stim_type", types), ("photo_stim_period", periods), ("photo_stim_power", powers)):
        if values is not None:
            columns[name] = (name, list(values))
    if site_column is not None:
        columns["photostim_site"] = ("site lit in the trial", list(site_column))
    nwbfile = factories.base_nwbfile(n, units=(("ALM", "E"),), trial_columns=columns)
    for name, location, description in sites:
        factories.add_site(nwbfile, name, location, description=description)
    if control is not None:
        lit = [k for k, code in enumerate(control) if code is not None]
        onsets = trial_starts(n)[lit] + DELAY
        factories.add_events(nwbfile, {"photostim_start_times": onsets}, photostim_start_times={
            "data": np.full(len(lit), 5.0), "unit": "mW", "control": np.array([control[k] for k in lit], np.uint8),
            "control_description": [name for name, _, _ in sites]})
    return factories.write(nwbfile, path)


def test_000009_datajoint_rows_with_zero_power_have_no_light(tmp_path):
    """DataJoint exports write 'stimulation' on every row, with 'N/A' periods and 0.0 powers where no light was on."""
    path = write_period_rows(tmp_path / "f.nwb", types=["stimulation"] * 4, periods=["N/A", "delay", "N/A", "delay"],
                             powers=[0.0, 1.5, 0.0, 1.5])
    _, photostim = decode(path)
    assert photostim.layout == "photo_stim_type/period/power trial columns"
    assert [(e.trial, e.power, e.area) for e in photostim.epochs] == [(1, 1.5, "ALM"), (3, 1.5, "ALM")]
    assert photostim.zero_power == {0, 2} and photostim.undecoded == {}


def test_000009_no_light_sentinels_in_the_type_column(tmp_path):
    path = write_period_rows(tmp_path / "f.nwb", types=["N/A", "0", "inhibition", "none"], periods=["delay"] * 4,
                             powers=[5.0] * 4)
    _, photostim = decode(path)
    assert [e.trial for e in photostim.epochs] == [2] and photostim.undecoded == {}


def test_000009_period_column_alone_is_enough(tmp_path):
    path = write_period_rows(tmp_path / "f.nwb", periods=["N/A", "delay", "sample"], powers=[np.nan, 5.0, 2.0])
    _, photostim = decode(path)
    starts = trial_starts(3)
    assert [(e.trial, e.power, e.area, e.cell_type, e.epoch) for e in photostim.epochs] == \
        [(1, 5.0, "ALM", "I", "delay"), (2, 2.0, "ALM", "I", "sample")]
    assert photostim.epochs[1].onset == pytest.approx(starts[2] + SAMPLE)
    assert photostim.epochs[1].offset == pytest.approx(starts[2] + DELAY)


def test_000009_light_without_a_period_is_undecoded(tmp_path):
    path = write_period_rows(tmp_path / "f.nwb", types=["inhibition"] * 4, powers=[np.nan, 5.5, np.nan, 3.0])
    _, photostim = decode(path)
    assert photostim.layout == "photo_stim_type/period/power trial columns" and photostim.epochs == []
    assert photostim.undecoded == {1: "light of 5.5 mW without a photostim period",
                                   3: "light of 3 mW without a photostim period"}


def test_000009_without_a_power_column_the_power_is_unknown(tmp_path):
    path = write_period_rows(tmp_path / "f.nwb", types=["N/A", "inhibition"], periods=["N/A", "delay"])
    _, photostim = decode(path)
    assert [e.trial for e in photostim.epochs] == [1] and np.isnan(photostim.epochs[0].power)


def test_000009_rows_after_an_undecodable_one_are_still_decoded(tmp_path):
    path = write_period_rows(tmp_path / "f.nwb", types=["inhibition"] * 3, periods=["whenever", "N/A", "delay"],
                             powers=[5.0, 4.0, 3.0])
    _, photostim = decode(path)
    assert photostim.undecoded == {0: "photostim period 'whenever' not understood",
                                   1: "light of 4 mW without a photostim period"}
    assert [(e.trial, e.power) for e in photostim.epochs] == [(2, 3.0)]


def test_000009_period_whose_epoch_times_are_missing_is_undecoded(tmp_path):
    """Without ``pole_out_time`` the delay epoch has no start and the sample epoch no end."""
    path = write_period_rows(tmp_path / "f.nwb", types=["inhibition"] * 3, periods=["delay", "sample", "response"],
                             powers=[5.0] * 3, drop=("pole_out_time",))
    _, photostim = decode(path)
    assert photostim.undecoded == {0: "no delay epoch times for the photostim period",
                                   1: "no sample epoch times for the photostim period"}
    (epoch,) = photostim.epochs
    start = trial_starts(3)[2]
    assert (epoch.trial, epoch.epoch, epoch.reference) == (2, "response", "go_cue")
    assert epoch.onset == pytest.approx(start + GO) and epoch.offset == pytest.approx(start + GO + 1.2)


def test_000009_epoch_that_does_not_last_is_undecoded(tmp_path):
    """A delay that starts at (or after) the go cue leaves the delay light no time."""
    path = write_period_rows(tmp_path / "f.nwb", types=["inhibition"] * 3, periods=["delay"] * 3, powers=[5.0] * 3,
                             delay=[DELAY, GO, GO + 0.1])
    _, photostim = decode(path)
    assert [e.trial for e in photostim.epochs] == [0]
    assert photostim.undecoded == {1: "no delay epoch times for the photostim period",
                                   2: "no delay epoch times for the photostim period"}


def test_000009_site_of_each_trial_from_a_site_column(tmp_path):
    path = write_period_rows(tmp_path / "f.nwb", types=["inhibition"] * 2, periods=["delay"] * 2, powers=[5.0] * 2,
                             sites=(SITE_ALM, SITE_VS1), site_column=["left-vS1", "left-ALM"])
    _, photostim = decode(path)
    assert [(e.trial, e.site, e.area) for e in photostim.epochs] == [(0, "left-vS1", "vS1"), (1, "left-ALM", "ALM")]


def test_000009_site_of_each_trial_from_the_control_of_light_events(tmp_path):
    path = write_period_rows(tmp_path / "f.nwb", types=["inhibition", "N/A", "inhibition"], periods=["delay"] * 3,
                             powers=[5.0] * 3, sites=(SITE_ALM, SITE_VS1), control=[1, None, 0])
    _, photostim = decode(path)
    assert [(e.trial, e.site, e.area) for e in photostim.epochs] == [(0, "left-vS1", "vS1"), (2, "left-ALM", "ALM")]


def test_000009_without_a_site_the_type_says_which_cells_are_driven(tmp_path):
    path = write_period_rows(tmp_path / "f.nwb", types=["inhibition", "activation"], periods=["delay"] * 2,
                             powers=[5.0] * 2, sites=())
    _, photostim = decode(path)
    assert [(e.area, e.cell_type, e.site) for e in photostim.epochs] == \
        [(adapters.UNKNOWN_AREA, "I", None), (adapters.UNKNOWN_AREA, "E", None)]


def test_000009_area_map_names_custom_sites_and_types(tmp_path):
    """The user's area map (``--area-map``) resolves a site location, and, without a site, the type text."""
    area_map = {"*fiber 7*": "ALM"}
    with_site = write_period_rows(tmp_path / "site.nwb", types=["inhibition"], periods=["delay"], powers=[5.0],
                                  sites=(("laser", "fiber 7", "photoinhibition"),))
    assert [e.area for e in decode(with_site, area_map)[1].epochs] == ["ALM"]
    assert [e.area for e in decode(with_site)[1].epochs] == ["fiber 7"]   # an unknown location names its own area
    no_site = write_period_rows(tmp_path / "type.nwb", types=["inhibition at fiber 7"], periods=["delay"],
                                powers=[5.0], sites=())
    assert [e.area for e in decode(no_site, area_map)[1].epochs] == ["ALM"]


@pytest.mark.parametrize("period, reference", [("sample", "sample"), ("delay", "delay"), ("response", "go_cue")])
def test_000009_light_is_described_by_its_epoch_and_reference_event(tmp_path, period, reference):
    _, photostim = decode(factories.write_000009(tmp_path / "f.nwb", lit=(1,), period=period))
    (epoch,) = photostim.epochs
    assert (epoch.epoch, epoch.reference) == (period, reference)


# --- OptogeneticSeries power traces (000010 / 000011 / 000572) ---------------------------------------------------

def write_trace(path, times, data, n_trials=4, location="bilateral ALM", other_stimulus=False):
    """One OptogeneticSeries (watts) with the given samples; ``other_stimulus`` adds a plain TimeSeries stimulus
    (an audio cue) listed before it."""
    nwbfile = factories.base_nwbfile(n_trials, units=(("ALM", "E"),))
    site = factories.add_site(nwbfile, "laser site", location)
    if other_stimulus:
        from pynwb import TimeSeries

        nwbfile.add_stimulus(TimeSeries(name="a_tone", data=np.ones(3), unit="V", timestamps=[1.0, 2.0, 3.0]))
    nwbfile.add_stimulus(OptogeneticSeries(name="laser_power", data=np.asarray(data, float), site=site,
                                           timestamps=np.asarray(times, float)))
    factories.add_events(nwbfile, {"go": trial_starts(n_trials) + GO})
    return factories.write(nwbfile, path)


def test_optogenetic_series_layout_and_weak_light(tmp_path):
    """Light of 0.5 mW (0.0005 W) is light."""
    _, photostim = decode(write_scaled_trace(tmp_path / "weak.nwb", 1.0, 1.0, power_w=0.0005))
    assert photostim.layout == "OptogeneticSeries power traces"
    assert [(e.trial, e.power) for e in photostim.epochs] == [(1, pytest.approx(0.5)), (3, pytest.approx(0.5))]


def test_optogenetic_series_with_a_power_per_fiber_uses_the_strongest(tmp_path):
    start = trial_starts(4)[1] + LIGHT_ONSET
    times = [0.0, start, start + 0.25, start + LIGHT_DURATION, start + 1.0]
    data = np.zeros((5, 2))
    data[1:3, 1] = 0.004
    data[1:3, 0] = 0.001
    _, photostim = decode(write_trace(tmp_path / "fibers.nwb", times, data))
    (epoch,) = photostim.epochs
    assert (epoch.trial, epoch.power) == (1, pytest.approx(4.0))
    assert epoch.onset == pytest.approx(start) and epoch.offset == pytest.approx(start + LIGHT_DURATION)


def test_optogenetic_series_after_another_stimulus_is_found(tmp_path):
    path = write_scaled_trace(tmp_path / "plain.nwb", 1.0, 1.0)
    start = trial_starts(4)[1] + LIGHT_ONSET
    times, data = [0.0, start, start + LIGHT_DURATION], [0.0, 0.004, 0.0]
    _, photostim = decode(write_trace(tmp_path / "cue.nwb", times, data, other_stimulus=True))
    assert [(e.trial, e.power) for e in photostim.epochs] == [(1, pytest.approx(4.0))]
    assert path.exists()


@pytest.mark.parametrize("n_lit", [1, 2, 5])
def test_light_still_on_at_the_end_of_the_trace_lasts_one_more_sample(tmp_path, n_lit):
    """The last sample of a trace lasts one sampling interval (0.1 s here); a trace of one sample has no
    interval, so its light has no duration and gives no epoch."""
    start = trial_starts(4)[2] + LIGHT_ONSET
    times = start + 0.1 * np.arange(n_lit)
    _, photostim = decode(write_trace(tmp_path / "end.nwb", times, np.full(n_lit, 0.003)))
    if n_lit == 1:
        assert photostim.epochs == []
    else:
        (epoch,) = photostim.epochs
        assert epoch.onset == pytest.approx(start) and epoch.offset == pytest.approx(times[-1] + 0.1)


def test_optogenetic_series_site_is_resolved_with_the_area_map(tmp_path):
    start = trial_starts(4)[1] + LIGHT_ONSET
    path = write_trace(tmp_path / "map.nwb", [0.0, start, start + 0.5], [0.0, 0.004, 0.0], location="fiber 7")
    assert [e.area for e in decode(path, {"*fiber 7*": "ALM"})[1].epochs] == ["ALM"]
    assert [e.area for e in decode(path)[1].epochs] == ["fiber 7"]


def test_coded_type_power_is_the_peak_of_the_trace_inside_the_light_window(tmp_path):
    """[onset, offset): the sample at the onset counts (here the peak of a ramp), the one at the offset (the next
    light) does not, nor does any other trial's light; 0.8 mW is light."""
    n = 4
    nwbfile, site = coded_type_session(n)
    on1, on3 = trial_starts(n)[1] + DELAY, trial_starts(n)[3] + DELAY
    times = [0.0, on1 - 0.05, on1, on1 + 0.2, on1 + 0.4, on1 + 0.5, on1 + 0.55, on3, on3 + 0.25, on3 + 0.5]
    mw = [0.0, 0.0, 8.0, 6.0, 4.0, 30.0, 0.0, 0.8, 0.8, 0.0]
    nwbfile.add_stimulus(OptogeneticSeries(name="laser_power", data=np.asarray(mw) / 1000, site=site,
                                           timestamps=times))
    _, photostim = decode(factories.write(nwbfile, tmp_path / "coded.nwb"))
    assert [(e.trial, e.power) for e in photostim.epochs] == [(1, pytest.approx(8.0)), (3, pytest.approx(0.8))]


def test_000009_period_column_alone_without_a_site_defaults_to_photoinhibition(tmp_path):
    """Nothing says what the light drives: photoinhibition (I), the default of every other layout."""
    path = write_period_rows(tmp_path / "f.nwb", periods=["delay"], powers=[5.0], sites=())
    _, photostim = decode(path)
    assert [(e.area, e.cell_type) for e in photostim.epochs] == [(adapters.UNKNOWN_AREA, "I")]
