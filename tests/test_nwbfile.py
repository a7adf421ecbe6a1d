import hashlib
import shutil

import h5py
import numpy as np
import nwb_factories as factories
import pytest
from nwb_factories import ECONOMO, GO, LIGHT_ONSET, REALDATA, SAMPLE, SPIKE_AFTER_GO, SPIKE_AFTER_SAMPLE, UNIT_STEP
from pynwb import NWBHDF5IO

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import CHOICE_PORTS, LICK_PORTS, UNPERTURBED, Condition, Source
from nwb_biornn.recordings import adapters, binning
from nwb_biornn.recordings.inspection import describe_session
from nwb_biornn.recordings.nwbfile import load_session, safe_label
from nwb_biornn.render.text import format_sessions

PYNAPPLE = [REALDATA / "peyrache_pynapple_phy_A8604-211122.nwb",
            REALDATA / "peyrache_pynapple_neurosuite_A2929-200711.nwb"]


def fingerprint(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest(), path.stat().st_mtime_ns


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    """The DANDI:000363 layout that the ``demo`` dandiset follows."""
    path = tmp_path_factory.mktemp("nwb") / "sub-m01_ses-1.nwb"
    return factories.write_000363(path, n_trials=6, lit=(1, 4), licked=(0, 1, 2))


def test_000363_layout_loads_onto_the_go_cue_grid(demo_like):
    session = load_session(demo_like)
    assert (session.align_event, session.dt) == ("go_cue", 0.002)
    # default window: 0.2 s before the sample (-1.5 s) to the end of the 1 s response window
    assert session.t_start == pytest.approx(-1.7) and session.n_time == 1350
    assert session.spikes.shape == (6, 1350, 2) and session.spikes.dtype == np.uint8
    go_bins = [int((SPIKE_AFTER_GO + u * UNIT_STEP + 1.7) / 0.002) for u in range(2)]
    sample_bin = int((SAMPLE - GO + SPIKE_AFTER_SAMPLE + 1.7) / 0.002)
    for unit in range(2):
        assert session.spikes[:, go_bins[unit], unit].tolist() == [1] * 6
        assert session.spikes[:, sample_bin, unit].tolist() == [1] * 6
    assert session.spikes.sum() == 6 * 2 * 2
    assert session.unit_area.tolist() == ["ALM", "ALM"] and session.unit_cell_type.tolist() == ["E", "I"]
    assert session.unit_ids.tolist() == [0, 1] and session.trial_ids.tolist() == list(range(6))
    assert session.trial_type.tolist() == ["left", "right"] * 3


def test_000363_layout_conditions_behaviour_and_inputs(demo_like):
    session = load_session(demo_like)
    assert session.conditions == (Condition("ALM", "I", LIGHT_ONSET - GO, LIGHT_ONSET - GO + 0.5, 5.5,
                                            site="laser_ALM"),)
    assert session.condition.tolist() == [UNPERTURBED, 0, UNPERTURBED, UNPERTURBED, 0, UNPERTURBED]
    assert session.excluded.tolist() == [""] * 6
    assert session.response_window == (0.0, 1.0)
    assert session.ports == CHOICE_PORTS and session.choice.tolist() == ["left", "right", "left"] + ["none"] * 3
    assert session.response.tolist() == [True, True, True, False, False, False]
    lick_bin = round((0.2 + 1.7) / 0.002)                   # licks at go + 0.2 s and go + 0.22 s
    assert session.behaviour_name == "lick_rate" and session.behaviour.shape == (6, 1350, 2)
    assert session.behaviour[0, lick_bin, 0] == pytest.approx(20.0)
    assert session.behaviour[0, lick_bin + 10, 0] == pytest.approx(40.0)
    assert session.behaviour[0, lick_bin + 25, 0] == pytest.approx(20.0) and session.behaviour[0, :, 1].max() == 0
    assert session.behaviour[1, lick_bin + 10, 1] == pytest.approx(40.0) and session.behaviour[1, :, 0].max() == 0
    assert session.behaviour[3].max() == 0
    assert session.input_names == ("left", "right", "go_cue")
    assert np.flatnonzero(session.inputs[0, :, 0]).tolist() == list(range(100, 105))
    assert not session.inputs[0, :, 1].any() and session.inputs[1, 100, 1] == 1
    assert np.flatnonzero(session.inputs[2, :, 2]).tolist() == list(range(850, 855))
    assert session.subject["subject_id"] == "m01" and session.subject["sex"] == "F"
    assert session.session_id == "ses-1" and session.source == Source(path=str(demo_like))
    assert session.metadata["photostim_layout"].startswith("photostim_onset")


def test_alignment_choices_shift_the_grid(demo_like):
    session = load_session(demo_like, align="sample", window=(0.0, 0.1), bin_size=0.01)
    assert session.align_event == "sample" and session.n_time == 10
    assert session.spikes[:, 0, :].tolist() == [[1, 1]] * 6          # spikes at sample + 5.1 ms
    start_aligned = load_session(demo_like, align="trial_start", window=(GO, GO + 0.02), bin_size=0.01)
    assert start_aligned.spikes[:, 1, 0].tolist() == [1] * 6
    assert start_aligned.conditions[0].onset == pytest.approx(LIGHT_ONSET)
    with pytest.raises(UserError, match="no 'reward' event"):
        load_session(demo_like, align="reward")


def test_windows_outside_the_observed_intervals_exclude_trials(demo_like):
    session = load_session(demo_like, window=(-3.0, 1.0))     # the trials start 2.5 s before the go cue
    assert set(session.excluded.tolist()) == {"unit not observed during the window"}
    assert load_session(demo_like, window=(-2.4, 1.0)).usable.all()


def test_target_area_without_units_is_excluded_not_mislabelled(tmp_path):
    path = factories.write_000363(tmp_path / "f.nwb", lit=(1, 4), sites=("ALM", "vS1"),
                                  trial_site=[0, 1, 0, 0, 0, 0])
    session = load_session(path)
    assert [c.area for c in session.conditions] == ["ALM", "vS1"]
    assert session.excluded[1] == "target area vS1 not recorded" and session.excluded[4] == ""
    assert session.condition[[1, 4]].tolist() == [1, 0]
    assert session.trials_of(0).sum() == 1 and session.trials_of(1).sum() == 0


def test_summary_lists_units_conditions_behaviour_and_exclusions(tmp_path, demo_like):
    other = load_session(factories.write_000363(tmp_path / "f.nwb", lit=(1, 4), sites=("ALM", "vS1"),
                                                trial_site=[0, 1, 0, 0, 0, 0], early=(2,)))
    text = format_sessions([load_session(demo_like), other])
    assert text.splitlines()[0] == "2 session(s), 4 units, 12 trials"
    assert "  units: 2 (ALM: 1 E, 1 I)" in text
    assert "    ALM-I -1.200--0.700s 5.5mW: 2 trials (2 usable)" in text
    assert "    vS1-I -1.200--0.700s 5.5mW: 1 trials (0 usable)" in text
    assert "  excluded: target area vS1 not recorded (1); early lick (1)" in text
    assert "  behaviour: choice (two-choice) from left_lick_times, right_lick_times [" in text
    assert "in 3 of 6 trials" in text


def test_left_and_right_lick_series_give_per_port_rates_and_the_first_lick_choice(tmp_path):
    go = factories.trial_starts(6) + GO
    left = [go[0] + 0.1, go[1] + 0.3, go[2] - 0.5, go[5] + 0.5]
    right = [go[1] + 0.2, go[3] + 1.2, go[5] + 0.5]
    session = load_session(factories.write_000363(tmp_path / "f.nwb", lit=(), lick_events={
        "left_lick_times": left, "right_lick_times": right}))
    assert session.ports == CHOICE_PORTS and session.response_window == (0.0, 1.0)
    # left only; right first, then left; a lick only before the window; one only after it; no lick; a tie
    assert session.choice.tolist() == ["left", "right", "none", "none", "none", ""]
    before = round((-0.5 - session.t_start) / session.dt)
    assert session.behaviour[2, before, 0] == pytest.approx(20.0) and session.behaviour[2, :, 1].max() == 0
    for port, times in enumerate((left, right)):
        np.testing.assert_array_equal(session.behaviour[..., port],
                                      binning.lick_rate(np.array(times), go, session.t_start, session.dt,
                                                        session.n_time))


def test_lick_series_without_a_side_give_one_lick_port(tmp_path):
    starts = factories.trial_starts(4)
    nwbfile = factories.base_nwbfile(4)
    factories.add_events(nwbfile, {"go_start_times": starts + GO,
                                   "lick_times": factories.lick_times(starts, [True, False, True, False])})
    session = load_session(factories.write(nwbfile, tmp_path / "f.nwb"))
    assert session.ports == LICK_PORTS and session.behaviour.shape[2] == 1 and session.behaviour_name == "lick_rate"
    assert session.choice.tolist() == ["lick", "none", "lick", "none"]
    assert describe_session(session)["behaviour"] == "lick" and describe_session(session)["behaviour_recorded"]


def test_two_choice_labels_without_licks_give_the_labelled_sides_and_no_traces(tmp_path):
    session = load_session(factories.write_000009(tmp_path / "f.nwb"))
    assert session.ports == CHOICE_PORTS and session.behaviour_name == "none"
    assert session.behaviour.shape == (6, session.n_time, 2) and not session.behaviour.any()
    assert session.choice.tolist() == ["left", "right"] * 3                     # type + response 'correct'
    assert session.metadata["behaviour_source"] == "trials.type + trials.response"
    document = describe_session(session)
    assert (document["behaviour"], document["behaviour_recorded"]) == ("choice", False)
    assert document["choices"] == {"left": 3, "right": 3} and document["choice_task"] == "two-choice"


@pytest.mark.parametrize("columns, choice, source", [
    ({"trial_type": ("go or nogo", ["go", "go", "nogo", "nogo", "go"]),
      "outcome": ("hit/miss/fa/cr", ["hit", "miss", "fa", "cr", "N/A"])},
     ["lick", "none", "lick", "none", ""], "trials.trial_type + trials.outcome"),
    ({"outcome": ("outcome", ["correct", "ignore", "early lick", "N/A", "no response"])},
     ["lick", "none", "", "", "none"], "trials.outcome"),
    ({}, [""] * 5, "")])
def test_go_no_go_labels_without_licks_give_one_lick_port(tmp_path, columns, choice, source):
    nwbfile = factories.base_nwbfile(5, trial_columns=columns)
    session = load_session(factories.write(nwbfile, tmp_path / "f.nwb"))
    assert session.ports == LICK_PORTS and session.behaviour_name == "none" and not session.behaviour.any()
    assert session.choice.tolist() == choice and session.metadata["behaviour_source"] == source
    assert describe_session(session)["behaviour"] == ("lick" if source else None)     # nothing known: say so


def test_area_map_overrides_unit_areas(tmp_path):
    path = factories.write_000363(tmp_path / "f.nwb", units=(("Secondary motor area, layer 5", "E"), ("MOp", "E")),
                                  sites=("vS1",))
    session = load_session(path, area_map={"MOp": "vS1"})
    assert session.unit_area.tolist() == ["ALM", "vS1"] and session.usable.all()


def test_early_lick_trials_are_excluded(tmp_path):
    session = load_session(factories.write_000363(tmp_path / "f.nwb", early=(2,)))
    assert session.excluded.tolist() == ["", "", "early lick", "", "", ""]


@pytest.mark.parametrize("writer, area, waveform", [
    (factories.write_000060, "vS1", "pulsed"), (factories.write_000009, "ALM", "constant"),
    (factories.write_power_trace, "ALM", "constant"), (factories.write_events_pair, "ALM", "constant"),
    (factories.write_epochs_table, "ALM", "pulsed")])
def test_every_layout_yields_one_usable_condition(tmp_path, writer, area, waveform):
    session = load_session(writer(tmp_path / "f.nwb"))
    (condition,) = session.conditions
    assert (condition.area, condition.waveform) == (area, waveform)
    assert session.trials_of(0).sum() == 2 and session.usable.all()


def test_coded_layout_reports_undecodable_codes(tmp_path):
    session = load_session(factories.write_coded(tmp_path / "f.nwb"))
    assert [c.label for c in session.conditions] == ["ALM-I -1.000--0.400s 5mW ramp", "PPN-E 0.100-0.400s nanmW"]
    assert session.excluded[4] == "" and session.condition[4] == UNPERTURBED     # a NaN code means no light
    assert session.excluded[5].startswith("photostimulation code 3")
    assert session.behaviour_name == "none"                                       # no lick events, but labels:
    assert session.choice.tolist() == ["left", "right"] * 3                       # HitL / HitR
    assert session.metadata["choice_task"] == "two-choice" and session.ports == CHOICE_PORTS


def test_real_economo_session():
    session = load_session(ECONOMO)
    assert session.spikes.shape[0] == 178 and session.n_units == 1
    assert session.unit_area.tolist() == ["ALM"] and session.unit_cell_type.tolist() == ["E"]
    assert session.align_event == "go_cue" and session.metadata["align_source"] == "cue_start_time"
    assert session.conditions == () and (session.condition == UNPERTURBED).all()
    assert session.excluded.tolist().count("early lick") == 6
    assert session.usable.sum() == 160
    with NWBHDF5IO(ECONOMO, "r") as io:
        nwbfile = io.read()
        spikes = np.sort(nwbfile.units["spike_times"][0])      # this real file's spike times are not sorted
        go = nwbfile.trials["start_time"][:] + nwbfile.trials["cue_start_time"][:]
    edges = go[:, None] + session.t_start + session.dt * np.array([0, session.n_time])
    expected = np.searchsorted(spikes, edges[:, 1]) - np.searchsorted(spikes, edges[:, 0])
    assert session.spikes[:, :, 0].sum(axis=1).tolist() == expected.tolist()
    assert 0 < session.response.sum() < 178 and session.behaviour.max() > 0
    assert session.subject["subject_id"] == "anm369963"


def test_real_economo_session_decodes_left_and_right_licks_as_a_two_choice_session():
    session = load_session(ECONOMO)
    assert session.ports == CHOICE_PORTS and session.behaviour.shape == (178, session.n_time, 2)
    with factories.opened(ECONOMO) as nwbfile:
        licks = adapters.event_series(nwbfile)
        every_lick = np.concatenate([adapters.series_times(licks[name])
                                     for name in ("lick_left_times", "lick_right_times")])
        labels = adapters.read_trials(nwbfile, str(ECONOMO)).choice.labels
    go = session.metadata["align_times"]
    combined = binning.lick_rate(every_lick, go, session.t_start, session.dt, session.n_time)
    np.testing.assert_allclose(session.behaviour.sum(axis=2), combined, atol=1e-3)
    assert session.behaviour[..., 0].max() > 0 and session.behaviour[..., 1].max() > 0
    labelled = labels != ""                     # 'lick left/right' + 'correct/incorrect/no response': 172 trials
    agree = np.mean(session.choice[labelled] == labels[labelled])
    assert labelled.sum() == 172 and agree >= 0.97           # measured: 171 of 172 first licks match the labels


def test_the_demo_dandiset_loads_with_its_ground_truth_conditions(tmp_path):
    from nwb_biornn.synthetic.demo import demo_conditions, write_demo_dandiset

    root = write_demo_dandiset(tmp_path / "demo", n_trials=40, units_per_area=5)
    (path,) = root.glob("sub-*/*.nwb")
    session = load_session(path)
    assert set(session.excluded.tolist()) <= {"", "early lick"} and session.areas == ("A", "B")
    assert set(session.conditions) <= set(demo_conditions()) and len(session.conditions) >= 5
    assert session.input_names == ("go", "nogo") and session.t_start == pytest.approx(-0.1)
    assert session.response_window == (0.0, 0.3)
    assert session.ports == LICK_PORTS and session.behaviour_name == "lick_rate"    # one 'lick_times' series
    assert set(session.choice.tolist()) <= {"lick", "none"}


@pytest.mark.parametrize("path", PYNAPPLE)
def test_pynapple_files_without_trials_raise_a_clear_error(path):
    with pytest.raises(UserError, match="has no trials table"):
        load_session(path)


def test_bad_inputs_raise_user_errors_and_leave_files_unchanged(tmp_path, demo_like):
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(demo_like.read_bytes()[: demo_like.stat().st_size // 2])
    text = tmp_path / "notes.nwb"
    text.write_text("not an NWB file")
    plain_hdf5 = tmp_path / "plain.h5"
    with h5py.File(plain_hdf5, "w") as file:
        file["x"] = np.arange(3)
    cases = [(truncated, "truncated or damaged|cannot read"), (text, "not an NWB file"),
             (plain_hdf5, "cannot read .* as NWB"),
             (factories.write_without_trials(tmp_path / "no_trials.nwb"), "has no trials table"),
             (factories.write_without_units(tmp_path / "no_units.nwb"), "has no units with spike times")]
    for path, message in cases:
        before = fingerprint(path)
        with pytest.raises(UserError, match=message):
            load_session(path)
        assert fingerprint(path) == before
    with pytest.raises(UserError, match="no such file"):
        load_session(tmp_path / "missing.nwb")


def test_loading_never_modifies_the_file(tmp_path, demo_like):
    copy = shutil.copy(demo_like, tmp_path / "copy.nwb")
    before = fingerprint(copy)
    load_session(copy)
    assert fingerprint(copy) == before


@pytest.mark.parametrize("text, label", [("anm369963_2017-02-28_2", "anm369963-2017-02-28-2"),
                                         ("../../etc/passwd", "etc-passwd"), ("a b:c", "a-b-c"), ("__", "unknown"),
                                         (440956, "440956")])
def test_safe_label(text, label):
    assert safe_label(text) == label
