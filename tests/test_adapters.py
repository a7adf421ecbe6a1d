
import numpy as np
import nwb_factories as factories
import pytest
from nwb_factories import (
    DELAY,
    ECONOMO,
    GO,
    LIGHT_DURATION,
    LIGHT_ONSET,
    LIGHT_POWER,
    SAMPLE,
    TRIAL_PERIOD,
    decode,
    opened,
    trial_starts,
)

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import CHOICE_PORTS, LICK_PORTS
from nwb_biornn.recordings import adapters


def test_000363_trials_use_the_last_sample_event_before_the_go_cue(tmp_path):
    path = factories.write_000363(tmp_path / "f.nwb", early=(3,))
    trials, _ = decode(path)
    starts = trial_starts(6)
    np.testing.assert_allclose(trials.events["go_cue"], starts + GO)
    np.testing.assert_allclose(trials.events["sample"], starts + SAMPLE)   # not the early-lick replay
    assert trials.sources["go_cue"] == "go_start_times"
    assert trials.trial_type.tolist() == ["left", "right"] * 3
    assert trials.excluded.tolist() == ["", "", "", "early lick", "", ""]
    assert trials.choice.labels.tolist() == ["left", "right", "left", "none", "none", "none"]   # hit / ignore


def test_000363_light_from_string_columns_with_sites_from_event_control(tmp_path):
    path = factories.write_000363(tmp_path / "f.nwb", lit=(1, 4), sites=("ALM", "vS1"),
                                  trial_site=[0, 1, 0, 0, 0, 0])
    _, photostim = decode(path)
    starts = trial_starts(6)
    assert [(e.trial, e.area, e.site, e.cell_type, e.power) for e in photostim.epochs] == \
        [(1, "vS1", "laser_vS1", "I", LIGHT_POWER), (4, "ALM", "laser_ALM", "I", LIGHT_POWER)]
    np.testing.assert_allclose([e.onset for e in photostim.epochs], starts[[1, 4]] + LIGHT_ONSET)
    np.testing.assert_allclose([e.offset for e in photostim.epochs], starts[[1, 4]] + LIGHT_ONSET + LIGHT_DURATION)
    assert photostim.undecoded == {}


def test_000363_sites_named_by_protocol_id_match_the_control_codes(tmp_path):
    path = factories.write_000363(tmp_path / "f.nwb", lit=(1, 4), sites=("ALM", "vS1"), protocols=(7, 9),
                                  trial_site=[0, 0, 0, 0, 1, 0])
    _, photostim = decode(path)
    assert [(e.trial, e.site, e.area) for e in photostim.epochs] == [(1, "laser_7", "ALM"), (4, "laser_9", "vS1")]


def test_onsets_from_the_go_cue_need_a_go_cue(tmp_path):
    nwbfile = factories.base_nwbfile(2, trial_columns={
        "photostim_onset": ("onset relative to the go cue (s)", ["-1.0", "N/A"]),
        "photostim_duration": ("s", ["0.5", "N/A"])})
    _, photostim = decode(factories.write(nwbfile, tmp_path / "f.nwb"))
    assert photostim.undecoded == {0: "light onset given from the go cue, but the trial has no go cue"}


def test_000060_ragged_pulse_train_relative_to_the_go_cue_is_pulsed(tmp_path):
    _, photostim = decode(factories.write_000060(tmp_path / "f.nwb", lit=(2,)))
    (epoch,) = photostim.epochs
    go = trial_starts(6)[2] + GO
    assert (epoch.waveform, epoch.area, epoch.cell_type, epoch.power) == ("pulsed", "vS1", "E", 2.0)
    assert epoch.frequency == pytest.approx(10.0)
    assert epoch.onset == pytest.approx(go - 1.2) and epoch.offset == pytest.approx(go - 1.2 + 0.2 + 0.05)


def test_irregular_pulses_are_reported_not_guessed(tmp_path):
    nwbfile = factories.base_nwbfile(2, trial_columns={
        "photostim_onset": ("from the trial start", ["0.1,0.3,0.4", "N/A"]),
        "photostim_duration": ("s", ["0.05,0.05,0.05", "N/A"]),
        "photostim_power": ("mW", ["1", "N/A"])})
    factories.add_site(nwbfile, "laser", "ALM")
    _, photostim = decode(factories.write(nwbfile, tmp_path / "irregular.nwb"))
    assert photostim.epochs == [] and photostim.undecoded == {0: "3 irregular light pulses in one trial"}


def test_000009_period_columns_use_the_relative_epoch_times(tmp_path):
    trials, photostim = decode(factories.write_000009(tmp_path / "f.nwb", lit=(1,), period="delay"))
    start = trial_starts(6)[1]
    (epoch,) = photostim.epochs
    assert (epoch.trial, epoch.area, epoch.cell_type, epoch.site, epoch.power) == (1, "ALM", "I", "left-ALM", 5.5)
    assert epoch.onset == pytest.approx(start + DELAY) and epoch.offset == pytest.approx(start + GO)
    assert trials.sources["go_cue"] == "cue_start_time"


def test_000009_unknown_period_is_undecoded(tmp_path):
    _, photostim = decode(factories.write_000009(tmp_path / "f.nwb", lit=(1,), period="whenever"))
    assert photostim.undecoded == {1: "photostim period 'whenever' not understood"}


def test_coded_photostimulation_type_is_decoded_from_its_description(tmp_path):
    trials, photostim = decode(factories.write_coded(tmp_path / "f.nwb"))
    starts = trial_starts(6)
    epochs = {epoch.trial: epoch for epoch in photostim.epochs}
    assert sorted(epochs) == [1, 2, 3]
    alm = epochs[1]
    assert (alm.area, alm.cell_type, alm.power, alm.waveform, alm.ramp_down) == ("ALM", "I", 5.0, "ramp", 0.2)
    assert alm.onset == pytest.approx(starts[1] + DELAY) and alm.offset == pytest.approx(starts[1] + DELAY + 0.6)
    ppn = epochs[2]
    assert (ppn.area, ppn.cell_type, np.isnan(ppn.power)) == ("PPN", "E", True)
    assert ppn.onset == pytest.approx(starts[2] + GO + 0.1) and ppn.offset == pytest.approx(starts[2] + GO + 0.4)
    assert set(photostim.undecoded) == {5}          # code 3 has no timing; the NaN code of trial 4 is no light
    assert trials.trial_type.tolist() == ["left", "right"] * 3
    np.testing.assert_allclose(trials.events["go_cue"], starts + GO)   # first column of the 2-column CueTime


def test_code_meanings_split_a_coded_description():
    assert adapters._code_meanings('"0" = none; "1" = left ALM, 800 ms; "12" = right ALM') == \
        {"0": "none", "1": "left ALM, 800 ms", "12": "right ALM"}


def test_optogenetic_series_trace_in_watts_gives_epochs_in_mw(tmp_path):
    _, photostim = decode(factories.write_power_trace(tmp_path / "f.nwb", lit=(1, 3)))
    starts = trial_starts(4)
    assert [(e.trial, e.area, e.site) for e in photostim.epochs] == [(1, "ALM", "bilateral ALM"),
                                                                       (3, "ALM", "bilateral ALM")]
    assert photostim.epochs[0].power == pytest.approx(4.0)
    assert photostim.epochs[0].onset == pytest.approx(starts[1] + LIGHT_ONSET)
    assert photostim.epochs[0].offset == pytest.approx(starts[1] + LIGHT_ONSET + LIGHT_DURATION)


def test_photostim_event_pair(tmp_path):
    _, photostim = decode(factories.write_events_pair(tmp_path / "f.nwb", lit=(0, 2)))
    assert [(e.trial, e.area, e.power) for e in photostim.epochs] == [(0, "ALM", 5.5), (2, "ALM", 5.5)]
    assert photostim.epochs[1].offset - photostim.epochs[1].onset == pytest.approx(LIGHT_DURATION)


def test_epochs_table_with_pulses(tmp_path):
    _, photostim = decode(factories.write_epochs_table(tmp_path / "f.nwb", lit=(1, 2)))
    assert [(e.trial, e.area, e.power, e.waveform, e.frequency) for e in photostim.epochs] == \
        [(1, "ALM", 3.0, "pulsed", 40.0), (2, "ALM", 3.0, "pulsed", 40.0)]


def test_stim_flag_without_timing_marks_trials_undecoded(tmp_path):
    nwbfile = factories.base_nwbfile(3, trial_columns={"stim_present": ("flag", [0, 1, 0])})
    _, photostim = decode(factories.write(nwbfile, tmp_path / "f.nwb"))
    assert photostim.epochs == [] and list(photostim.undecoded) == [1]


def test_nan_stop_times_and_relative_event_columns(tmp_path):
    nwbfile = factories.base_nwbfile(3, stop_time=False, trial_columns={"cue_start_time": ("from start", [GO] * 3)})
    trials, _ = decode(factories.write(nwbfile, tmp_path / "f.nwb"))
    starts = trial_starts(3)
    np.testing.assert_allclose(trials.stop, np.r_[starts[1:], starts[-1] + TRIAL_PERIOD])
    np.testing.assert_allclose(trials.events["go_cue"], starts + GO)


def test_absolute_event_columns_stay_on_the_session_clock(tmp_path):
    starts = trial_starts(3)
    nwbfile = factories.base_nwbfile(3, trial_columns={"go_cue_time": ("session clock", list(starts + GO))})
    trials, _ = decode(factories.write(nwbfile, tmp_path / "f.nwb"))
    np.testing.assert_allclose(trials.events["go_cue"], starts + GO)


def test_missing_trials_table_raises_user_error(tmp_path):
    with opened(factories.write_without_trials(tmp_path / "f.nwb")) as nwbfile:
        with pytest.raises(UserError, match="has no trials table"):
            adapters.read_trials(nwbfile, "f.nwb")


def test_unit_cell_types_and_locations(tmp_path):
    with opened(factories.write_000060(tmp_path / "a.nwb")) as nwbfile:
        assert adapters.unit_cell_types(nwbfile)[0].tolist() == ["E", "I"]     # from spk_width_ms
        assert adapters.unit_locations(nwbfile) == (["vS1", "SSp-bfd4"], "units.anno_name")
    with opened(factories.write_000009(tmp_path / "b.nwb")) as nwbfile:
        cell_types, rule = adapters.unit_cell_types(nwbfile)
        assert (cell_types.tolist(), rule) == (["I", "E"], "units.cell_type")      # FS, PT
        texts, source = adapters.unit_locations(nwbfile)
        assert source == "electrodes.location" and texts[0].startswith("brain_region: ALM")
    nwbfile = factories.base_nwbfile(2, cell_type_column=None)
    with opened(factories.write(nwbfile, tmp_path / "c.nwb")) as nwbfile:
        cell_types, rule = adapters.unit_cell_types(nwbfile)
        assert (cell_types.tolist(), rule) == (["E", "E"], "default")


def test_units_without_an_area_fall_back_to_their_electrodes(tmp_path):
    path = factories.write_000363(tmp_path / "f.nwb", units=(("", "E"), ("Primary motor area", "E")))
    with opened(path) as nwbfile:
        texts, source = adapters.unit_locations(nwbfile)
    assert texts == ['{"brain_regions": "left ALM"}', "Primary motor area"]
    assert source == "units.anno_name, electrodes.location"


def test_real_economo_file_layout():
    with opened(ECONOMO) as nwbfile:
        trials = adapters.read_trials(nwbfile, ECONOMO)
        photostim = adapters.read_photostim(nwbfile, trials)
        licks = adapters.read_licks(nwbfile)
    assert len(trials) == 178 and np.isfinite(trials.stop).all()
    assert np.all(trials.stop > trials.start)
    assert np.all((trials.events["go_cue"] > trials.start) & (trials.events["sample"] > trials.start))
    assert photostim.layout == "stim_present flag" and photostim.epochs == [] and photostim.undecoded == {}
    assert licks.names == ["lick_left_times", "lick_right_times"] and licks.ports == CHOICE_PORTS
    for times in licks.times.values():
        assert len(times) > 50 and np.all(np.diff(times) >= 0)


@pytest.mark.parametrize("names, ports", [
    (("left_lick_times", "right_lick_times"), CHOICE_PORTS), (("lick_left_times", "lick_right_times"), CHOICE_PORTS),
    (("lick_times",), LICK_PORTS), (("left_lick_times", "lick_times"), LICK_PORTS)])
def test_lick_series_are_split_by_side_only_when_every_name_gives_one(tmp_path, names, ports):
    nwbfile = factories.base_nwbfile(2)
    factories.add_events(nwbfile, {name: [1.0 + i, 5.0 + i] for i, name in enumerate(names)})
    with opened(factories.write(nwbfile, tmp_path / "f.nwb")) as nwbfile:
        licks = adapters.read_licks(nwbfile)
    assert licks.ports == ports
    if ports == CHOICE_PORTS:
        assert licks.times["left"].tolist() == [1.0, 5.0] and licks.times["right"].tolist() == [2.0, 6.0]
    else:
        assert licks.times["lick"].tolist() == sorted(t for i in range(len(names)) for t in (1.0 + i, 5.0 + i))
