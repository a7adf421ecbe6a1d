"""The synthetic demo dandiset: real NWB files in the DANDI:000363 layout, reproducible and cached."""
import json
import os

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import UNPERTURBED
from nwb_biornn.nwbio import read_reference_circuit
from nwb_biornn.recordings.inspection import describe_session
from nwb_biornn.recordings.nwbfile import load_session
from nwb_biornn.synthetic import circuits, demo, hemispheres

SMALL = dict(n_trials=40, perturbed_fraction=0.5, units_per_area=5)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = demo.write_demo_dandiset(tmp_path_factory.mktemp("demo"), "refcirc1", seed=0, **SMALL)
    return root, next(root.glob("sub-*/*.nwb"))


def _read(path):
    io = NWBHDF5IO(path, "r")
    return io, io.read()


def test_dandi_layout(small):
    root, path = small
    assert (root / "dandiset.yaml").is_file()
    assert path.relative_to(root).as_posix() == "sub-refcirc1/sub-refcirc1_ses-20240101T120000_ecephys+ogen.nwb"


def test_trials_photostim_columns_follow_000363(small):
    io, nwbfile = _read(small[1])
    with io:
        trials = nwbfile.trials.to_dataframe()
        for name in ("start_time", "stop_time", "trial", "trial_instruction", "outcome", "early_lick",
                     "photostim_onset", "photostim_power", "photostim_duration", "photostim_site"):
            assert name in trials.columns
        assert "trial start" in nwbfile.trials["photostim_onset"].description
        unlit = trials.photostim_site == "N/A"
        assert (trials.loc[unlit, ["photostim_onset", "photostim_power", "photostim_duration"]] == "N/A").all().all()
        assert (~unlit).sum() == 20
        conditions = {(c.site, round(c.onset, 4), round(c.offset - c.onset, 4), c.power) for c in demo.demo_conditions()}
        for row in trials[~unlit].itertuples():
            onset = float(row.photostim_onset) - circuits.STIMULUS_ONSET
            key = (row.photostim_site, round(onset, 4), float(row.photostim_duration), float(row.photostim_power))
            assert key in conditions
        assert set(trials.trial_instruction) == {"go", "nogo"}
        assert set(trials.early_lick) <= {"early", "no early"}


def test_behavioural_events_and_outcomes_agree(small):
    io, nwbfile = _read(small[1])
    with io:
        trials = nwbfile.trials.to_dataframe()
        events = nwbfile.acquisition["BehavioralEvents"].time_series
        assert {"sample_start_times", "go_start_times", "lick_times", "photostim_start_times",
                "photostim_stop_times"} <= set(events)
        stimulus = events["sample_start_times"].timestamps[:]
        np.testing.assert_allclose(stimulus, trials.start_time + circuits.STIMULUS_ONSET)
        licks = events["lick_times"].timestamps[:]
        licked = [((licks >= s) & (licks < e)).any() for s, e in zip(stimulus, trials.stop_time)]
        assert np.array_equal(licked, trials.outcome.isin(["hit", "fa"]))
        start = events["photostim_start_times"]
        lit = trials[trials.photostim_site != "N/A"]
        np.testing.assert_allclose(start.timestamps[:], lit.start_time + lit.photostim_onset.astype(float))
        np.testing.assert_allclose(start.data[:], lit.photostim_power.astype(float))
        names = list(start.control_description[:])
        assert [names[code] for code in start.control[:]] == list(lit.photostim_site)


def test_sites_units_and_subject(small):
    io, nwbfile = _read(small[1])
    with io:
        areas = {json.loads(site.location)[0]["brain_area"] for site in nwbfile.ogen_sites.values()}
        assert areas == {"A", "B"} and len(nwbfile.ogen_sites) == 4
        units = nwbfile.units.to_dataframe()
        assert list(units.anno_name) == ["A"] * 5 + ["B"] * 5
        assert list(units.cell_type) == ["E"] * 4 + ["I"] + ["E"] * 4 + ["I"]
        reference = read_reference_circuit(nwbfile)
        layout = reference.layout
        np.testing.assert_array_equal(layout.area[units.circuit_neuron], units.anno_name)
        np.testing.assert_array_equal(layout.cell_type[units.circuit_neuron], units.cell_type)
        expected, _ = circuits.reference_circuit("refcirc1")
        for key, values in expected.to_arrays().items():
            np.testing.assert_array_equal(reference.to_arrays()[key], values)
        intervals = nwbfile.trials.to_dataframe()[["start_time", "stop_time"]].to_numpy()
        for times, observed in zip(units.spike_times, units.obs_intervals):
            np.testing.assert_array_equal(observed, intervals)
            inside = (times[:, None] >= intervals[:, 0]) & (times[:, None] < intervals[:, 1])
            assert inside.any(axis=1).all()
        subject = nwbfile.subject
        assert (subject.species, subject.age, subject.subject_id) == ("Mus musculus", "P90D", "refcirc1")


def test_no_critical_dandi_inspection(small):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    messages = list(inspect_nwbfile(nwbfile_path=small[1], config=load_config(filepath_or_keyword="dandi"),
                                    importance_threshold=Importance.CRITICAL))
    assert messages == []


def test_loader_recovers_the_protocol_and_the_circuit_inputs(small):
    session = load_session(small[1])
    assert session.areas == ("A", "B") and session.dt == circuits.DEMO_SCALE.dt
    protocol = {(c.area, c.cell_type, c.onset, c.offset, c.power) for c in demo.demo_conditions()}
    loaded = {(c.area, c.cell_type, round(c.onset, 3), round(c.offset, 3), c.power) for c in session.conditions}
    assert loaded <= protocol and len(loaded) == len(demo.demo_conditions())
    assert (session.condition != UNPERTURBED).sum() == 20
    assert session.t_start == pytest.approx(-circuits.STIMULUS_ONSET)  # the window is the whole simulated trial
    np.testing.assert_array_equal(session.inputs, circuits.stimulus_inputs(session.trial_type))


def test_the_ground_truth_is_re_simulated_only_on_its_own_step(small):
    from nwb_biornn.nwbio import read_reference_network

    assert read_reference_network(load_session(small[1])).model.dt == circuits.DEMO_SCALE.dt
    assert read_reference_network(load_session(small[1], bin_size=0.004)) is None


def test_same_seed_same_files_other_seed_other_spikes(small, tmp_path):
    again = demo.write_demo_dandiset(tmp_path / "again", "refcirc1", seed=0, **SMALL)
    other = demo.write_demo_dandiset(tmp_path / "other", "refcirc1", seed=1, **SMALL)
    spikes = []
    for path in (small[1], next(again.glob("sub-*/*.nwb")), next(other.glob("sub-*/*.nwb"))):
        io, nwbfile = _read(path)
        with io:
            spikes.append(np.concatenate(nwbfile.units["spike_times"][:]))
            trials = nwbfile.trials.to_dataframe().drop(columns="outcome")
            if len(spikes) == 1:
                first_trials = trials
            elif len(spikes) == 2:
                assert trials.equals(first_trials)
    np.testing.assert_array_equal(spikes[0], spikes[1])
    assert len(spikes[0]) != len(spikes[2]) or (spikes[0] != spikes[2]).any()


def test_several_sessions(tmp_path):
    root = demo.write_demo_dandiset(tmp_path, "refcirc2", n_sessions=2, n_trials=10, units_per_area=5)
    names = sorted(p.name for p in root.glob("sub-refcirc2/*.nwb"))
    assert names == ["sub-refcirc2_ses-20240101T120000_ecephys+ogen.nwb",
                     "sub-refcirc2_ses-20240102T120000_ecephys+ogen.nwb"]


def test_a_paper_size_demo_records_every_neuron_at_1_ms_steps_and_is_read_at_that_step(tmp_path):
    network = circuits.hand_built_circuit("paper-refcirc1")
    root = demo.write_demo_dandiset(tmp_path, "paper-refcirc1", n_trials=6, network=network)
    path = next(root.glob("sub-*/*.nwb"))
    io, nwbfile = _read(path)
    with io:
        assert len(nwbfile.units) == 500 and nwbfile.units.resolution == 0.001
        n_spikes = len(np.concatenate(nwbfile.units["spike_times"][:]))
    assert demo.default_bin_size("demo:paper-refcirc1") == 0.001
    session = load_session(path, bin_size=0.001)
    assert session.spikes.shape == (6, 400, 500) and session.spikes.sum() == n_spikes > 0
    np.testing.assert_array_equal(session.inputs, circuits.stimulus_inputs(session.trial_type, 0.001))


def test_protocol_balances_conditions():
    instructions, condition = demo.demo_protocol(100, 0.3, np.random.default_rng(0))
    assert (instructions == "go").sum() == 50
    counts = np.bincount(condition[condition != UNPERTURBED], minlength=len(demo.demo_conditions()))
    assert counts.sum() == 30 and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("arguments, message", [(dict(units_per_area=100), "units_per_area"),
                                                 (dict(perturbed_fraction=1.5), "perturbed_fraction"),
                                                 (dict(n_trials=0), "at least one")])
def test_bad_arguments_are_user_errors_and_write_nothing(tmp_path, arguments, message):
    with pytest.raises(UserError, match=message):
        demo.write_demo_dandiset(tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists()


def test_demo_dandiset_is_generated_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NWB_BIORNN_CACHE", str(tmp_path))
    root = demo.demo_dandiset("refcirc1")
    assert root == tmp_path / "demo" / f"refcirc1-{demo.CACHE_VERSION}"
    path = next(root.glob("sub-*/*.nwb"))
    stamp = os.stat(path).st_mtime_ns
    assert demo.demo_dandiset("refcirc1") == root and os.stat(path).st_mtime_ns == stamp
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [root.name]
    with pytest.raises(UserError, match="refcirc1, refcirc2, paper-refcirc1, paper-refcirc2, 2afc"):
        demo.demo_dandiset("nonsense", cache_dir=tmp_path)


def test_models_fitted_to_demo_have_only_the_recorded_neurons_unless_a_config_file_adds_hidden_ones(tmp_path):
    from nwb_biornn import api

    for source in ("demo", "demo:refcirc2", "demo:2afc", "000363", None):
        assert api.configure("biornn", source=source)[0].hidden_per_area == 0
    config = tmp_path / "hidden.toml"
    config.write_text("[model]\nhidden_per_area = 3\n")
    assert api.configure("biornn", config, source="demo")[0].hidden_per_area == 3


def test_fits_of_the_two_choice_demo_train_longer_unless_told_otherwise():
    from nwb_biornn import api

    assert api.configure("biornn", source="demo:2afc")[1].steps == demo.CHOICE_STEPS
    assert api.configure("biornn", source="demo")[1].steps == api.configure("biornn")[1].steps < demo.CHOICE_STEPS
    assert api.configure("biornn", steps=7, source="demo:2afc")[1].steps == 7


@pytest.fixture(scope="module")
def two_choice(tmp_path_factory):
    root = demo.write_demo_dandiset(tmp_path_factory.mktemp("demo2afc"), "2afc", seed=0, n_trials=80,
                                    units_per_area=5)
    return next(root.glob("sub-*/*.nwb"))


def test_the_two_choice_demo_records_left_and_right_licks_and_outcomes_in_the_000363_layout(two_choice):
    io, nwbfile = _read(two_choice)
    with io:
        trials = nwbfile.trials.to_dataframe()
        events = nwbfile.acquisition["BehavioralEvents"].time_series
        assert {"left_lick_times", "right_lick_times", "sample_start_times", "go_start_times"} <= set(events)
        assert "lick_times" not in events and "early_lick" not in trials.columns
        assert set(trials.trial_instruction) == {"left", "right"}
        assert set(trials.outcome) <= {"hit", "miss", "ignore"} and (trials.outcome == "hit").mean() > 0.4
        go = events["go_start_times"].timestamps[:] - trials.start_time.to_numpy()
        np.testing.assert_allclose(go, hemispheres.GO_ONSET)


def test_the_two_choice_demo_loads_as_a_choice_session_whose_outcomes_are_its_first_licks(two_choice):
    session = load_session(two_choice)
    assert session.behaviour_kind == "choice" and session.ports == ("left", "right")
    assert session.align_event == "go_cue" and session.response_window == hemispheres.RESPONSE_WINDOW
    assert session.input_names == hemispheres.INPUT_NAMES and session.areas == hemispheres.AREAS
    io, nwbfile = _read(two_choice)
    with io:
        outcome = nwbfile.trials["outcome"][:]
    decided = np.isin(session.choice, session.ports)
    hit = session.choice == session.trial_type
    assert (np.asarray(outcome)[decided] == np.where(hit, "hit", "miss")[decided]).all()
    assert (np.asarray(outcome)[session.choice == "none"] == "ignore").all()
    labels = {c.label for c in session.conditions}
    assert {c.label for c in demo.demo_conditions("2afc")} == labels
    bilateral = [c for c in session.conditions if c.area == "ALM_L+ALM_R"]
    assert len(bilateral) == 2 and all(c.areas == hemispheres.AREAS for c in bilateral)
    assert session.usable[session.condition >= 0].all()
    assert all(c["recorded"] for c in describe_session(session)["conditions"])   # bilateral too
