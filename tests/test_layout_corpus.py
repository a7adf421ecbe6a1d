"""Real-recording quirks, reproduced with files written the way each dandiset family's conversion code writes them
(``dandi_layouts.py``), and the DANDI:000009 acceptance scenario through the command line: ``inspect`` reports
the fittable trials and the one unrecorded ALM condition with its warning, ``fit --areas 'Thalamus=ALM'`` and
``fit --hidden-areas ALM`` hold the usable light trials out as one condition and predict it."""
import hashlib
import json
from pathlib import Path

import dandi_layouts as corpus
import h5py
import numpy as np
import nwb_factories as factories
import pytest
import torch
from click.testing import CliRunner
from pynwb import NWBHDF5IO

from nwb_biornn.analysis import perturb
from nwb_biornn.cli import main
from nwb_biornn.core.session import CHOICE_PORTS, UNPERTURBED
from nwb_biornn.recordings import adapters
from nwb_biornn.recordings.inspection import describe_session
from nwb_biornn.recordings.nwbfile import load_session

GUO_NAME = "sub-anm302640_ses-20170602.nwb"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result):
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[-1]


def fingerprint(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest(), Path(path).stat().st_mtime_ns


@pytest.fixture(scope="module")
def guo(tmp_path_factory):
    """The DANDI:000009-like session of the issue (412 trials, 4 units in 'Thalamus', light on left ALM)."""
    return corpus.write_guo_inagaki_000009(tmp_path_factory.mktemp("guo") / GUO_NAME)


# --- the DANDI:000009 acceptance scenario ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inspected(guo):
    before = fingerprint(guo)
    result = run("inspect", guo, "--json")
    assert result.exit_code == 0, result.stderr
    assert fingerprint(guo) == before                       # read only
    return json.loads(result.stdout)["sessions"][0]


def test_inspect_reports_the_fittable_trials_and_one_unrecorded_condition(inspected):
    assert (inspected["trials"], inspected["units"]) == (412, 4)
    assert inspected["fitted_trials"] == corpus.GUO_FITTABLE == 210
    assert inspected["units_by_area"] == {"Thalamus": {"E": 3, "I": 1}}
    assert inspected["trial_types"] == {"lick left": 177, "lick right": 165, "non-performing": 70}
    (condition,) = inspected["conditions"]
    assert {k: condition[k] for k in ("area", "cell_type", "power", "power_unit", "n_trials", "n_usable",
                                      "recorded")} == {"area": "ALM", "cell_type": "I", "power": 1.5,
                                                       "power_unit": "mW", "n_trials": 63, "n_usable": 0,
                                                       "recorded": False}
    assert condition["epoch"] == "delay" and condition["label"] == "ALM-I delay -1.300-0.000s 1.5mW"
    assert inspected["excluded"] == {"target area ALM not recorded": 63, "no go_cue event": 70, "early lick": 30,
                                     "marked bad in the source": 35,
                                     "stimulation flagged (stim_present) but light power 0 mW": 4}
    assert (inspected["behaviour"], inspected["behaviour_source"]) == ("choice", "trials.type + trials.response")


def test_inspect_warns_about_the_stimulated_area_without_units(inspected):
    (warning,) = inspected["warnings"]
    for words in ("light targets ALM", "63 trials", "site 'left-ALM'", "brain_region: ALM",
                  "brain_region: Thalamus", "units' coordinates (AP 2.5, ML -1.5) equal the stimulation site's",
                  "--areas 'Thalamus=ALM'", "--hidden-areas ALM"):
        assert words in warning


def test_inspect_text_is_what_fit_prints_before_training(guo):
    result = run("inspect", guo)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "  trials: 412 (210 usable, 210 of them light-off to fit)" in text
    assert "    ALM-I delay -1.300-0.000s 1.5mW: 63 trials (0 usable), ALM not recorded" in text
    assert "  behaviour: choice (two-choice) from trials.type + trials.response" in text
    assert "  warning: light targets ALM" in text


def test_inspect_with_the_fixes_counts_the_usable_light_trials(guo):
    for option in (["--areas", "Thalamus=ALM"], ["--hidden-areas", "ALM"]):
        result = run("inspect", guo, *option, "--json")
        assert result.exit_code == 0, result.stderr
        session = json.loads(result.stdout)["sessions"][0]
        (condition,) = session["conditions"]
        assert (condition["n_usable"], condition["recorded"]) == (corpus.GUO_LIGHT_USABLE, True)
        assert session["warnings"] == [] and session["fitted_trials"] == corpus.GUO_FITTABLE


@pytest.fixture(scope="module", params=["areas", "hidden"])
def fitted_guo(request, guo, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"fit-{request.param}")
    option = ["--areas", "Thalamus=ALM"] if request.param == "areas" else ["--hidden-areas", "ALM"]
    before = fingerprint(guo)
    result = run("fit", guo, *option, "--steps", "2", "--out", out, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.stderr
    assert fingerprint(guo) == before
    return request.param, out, json.loads(result.stdout), result.stderr


def test_fit_holds_out_the_usable_light_trials_as_one_condition(fitted_guo):
    kind, _, document, printed = fitted_guo
    (evaluation,) = document["evaluation"]
    assert evaluation["held_out"]["perturbation_trials"] == corpus.GUO_LIGHT_USABLE
    (row,) = evaluation["conditions"]
    assert (row["area"], row["n_trials"], row["power"]) == ("ALM", corpus.GUO_LIGHT_USABLE, 1.5)
    assert np.isfinite(row["predicted_delta_behaviour"]) and np.isfinite(row["trial_matching_loss"])
    assert evaluation["session"] == "anm302640_2017-06-02_13-05-12"      # no session_id: the identifier
    assert "ALM-I delay -1.300-0.000s 1.5mW: 63 trials (54 usable)" in printed


def test_fit_with_a_hidden_area_adds_its_neurons_and_keeps_each_trials_window(fitted_guo, guo):
    kind, _, document, _ = fitted_guo
    (path,) = document["model_files"]
    info = json.loads(run("info", path, "--json").stdout)
    if kind == "hidden":
        assert info["neurons"] == {"Thalamus": {"E": 3, "I": 1, "mapped": 4}, "ALM": {"E": 3, "I": 1, "mapped": 0}}
    else:
        assert info["neurons"] == {"ALM": {"E": 3, "I": 1, "mapped": 4}}
    with NWBHDF5IO(path, "r") as io:
        trials = io.read().trials
        onset = np.asarray(trials["biornn_light_onset"][:])
        split = np.asarray(trials["biornn_split"][:]).astype(str)
    held = split == "perturbation"
    assert held.sum() == corpus.GUO_LIGHT_USABLE
    assert set(np.round(onset[held], 3)) >= {-1.3, -1.8}           # long delays keep their own window
    assert np.isnan(onset[split == "train"]).all()


def test_model_file_names_its_source_portably(fitted_guo, guo):
    _, out, document, _ = fitted_guo
    (path,) = document["model_files"]
    data = Path(path).read_bytes()
    for directory in {str(Path(guo).parent), str(out), str(Path.cwd()), str(Path.home()) + "/"}:
        assert directory.encode() not in data, directory
    info = json.loads(run("info", path, "--json").stdout)["source"]
    assert info["kind"] == "file" and info["file_name"] == GUO_NAME and info["path"] == GUO_NAME
    assert info["sha256"] == hashlib.sha256(Path(guo).read_bytes()).hexdigest()
    text = run("info", path).stdout
    assert f"source       {GUO_NAME}" in text and f"sha256 {info['sha256']}" in text


def test_dandi_provenance_names_instance_dandiset_version_asset_and_digest(dandi_server, tmp_path):
    source = factories.write_000363(tmp_path / "source.nwb", n_trials=12, lit=(1, 5, 9), licked=(0, 2, 4, 6))
    asset_path = "sub-m01/sub-m01_ses-1_ecephys+ogen.nwb"
    dandi_server.add_dandiset("000321", {"0.240101.0000": {asset_path: source}, "draft": {asset_path: source}})
    cache, out = tmp_path / "cache", tmp_path / "out"
    result = run("fit", "DANDI:000321/0.240101.0000", "--api-url", dandi_server.api_url, "--cache-dir", cache,
                 "--steps", "1", "--out", out, "--device", "cpu", "--subject-age", "P60D", "--json")
    assert result.exit_code == 0, result.stderr
    (path,) = json.loads(result.stdout)["model_files"]
    data = Path(path).read_bytes()
    assert str(cache).encode() not in data and str(tmp_path).encode() not in data
    info = json.loads(run("info", path, "--json").stdout)["source"]
    asset_id = info["asset_id"]
    assert {k: info[k] for k in ("kind", "api_url", "dandiset_id", "version", "asset_path")} == {
        "kind": "dandi", "api_url": dandi_server.api_url, "dandiset_id": "000321", "version": "0.240101.0000",
        "asset_path": asset_path}
    assert asset_id and info["digest"]["dandi:dandi-etag"]
    assert info["download_url"] == f"{dandi_server.api_url}/assets/{asset_id}/download/"
    assert "dandi-etag" in run("info", path).stdout


# --- bad input -----------------------------------------------------------------------------------------------------

def test_inspect_bad_input_is_one_line_and_writes_nothing(tmp_path):
    assert "no such file" in one_line_error(run("inspect", tmp_path / "missing.nwb"))
    no_trials = factories.write_without_trials(tmp_path / "no-trials.nwb")
    before = fingerprint(no_trials)
    assert "has no trials table" in one_line_error(run("inspect", no_trials))
    assert fingerprint(no_trials) == before and sorted(p.name for p in tmp_path.iterdir()) == ["no-trials.nwb"]
    assert "--hidden-neurons" in one_line_error(run("fit", no_trials, "--hidden-neurons", "0"))


# --- the quirks of each family -----------------------------------------------------------------------------------

def test_guo_000009_quirks(guo):
    with h5py.File(guo, "r") as file:
        assert file.attrs["nwb_version"] == "2.1.0"
        assert isinstance(file["intervals/trials/photo_stim_period"][0], bytes)          # ASCII text -> bytes
        assert file["intervals/trials/stim_present"].dtype == np.int32
    session = load_session(guo, hidden_areas=("ALM",))
    lit = session.condition != UNPERTURBED
    assert lit.sum() == corpus.GUO_LIGHT and len(session.conditions) == 1
    windows = session.light_window[lit]
    assert sorted(set(np.round(windows[:, 0], 2))) == sorted({-1.3, *(-d for d in corpus.GUO_LONG_DELAYS)})
    assert np.all(windows[:, 1] == 0.0) and np.isnan(session.light_window[~lit]).all()
    long = np.flatnonzero(lit & (np.round(session.light_window[:, 0], 2) == -3.46))[0]
    assert session.trial_light(long).onset == pytest.approx(-3.46) and session.trial_light(long).epoch == "delay"
    assert session.trial_light(int(np.flatnonzero(~lit)[0])) is None
    assert session.ports == CHOICE_PORTS and set(session.choice.tolist()) == {"left", "right", ""}
    # the labels do not tell the side of a non-performing trial or an early lick
    np.testing.assert_array_equal(session.choice == "", np.isin(session.excluded, ("no go_cue event", "early lick")))
    assert session.behaviour_name == "none" and not session.behaviour.any()       # no lick events anywhere


def test_economo_000006_quirks(tmp_path):
    path = corpus.write_economo_000006(tmp_path / "f.nwb")
    with h5py.File(path, "r") as file:
        assert file.attrs["nwb_version"] == "2.0.2" and np.isnan(file["intervals/trials/stop_time"][:]).all()
    session = load_session(path)
    assert session.behaviour_name == "lick_rate" and session.metadata["photostim_layout"] == "stim_present flag"
    flagged = session.excluded == "light on (stim_present) but the file gives no light timing"
    assert flagged.sum() == 8 and session.unit_area.tolist() == ["ALM"] * 3
    assert session.ports == CHOICE_PORTS and describe_session(session)["behaviour"] == "choice"
    with factories.opened(path) as nwbfile:                  # lick_left_times / lick_right_times, as labelled
        labels = adapters.read_trials(nwbfile, str(path)).choice.labels
    np.testing.assert_array_equal(session.choice[labels != ""], labels[labels != ""])


def test_li_000011_quirks(tmp_path):
    session = load_session(corpus.write_li_000011(tmp_path / "f.nwb"))
    assert session.metadata["photostim_layout"] == "photostim_start/stop event series"   # before the trace
    (condition,) = session.conditions
    assert (condition.area, condition.power, condition.onset, condition.offset) == ("ALM", 8.0, -1.2, -0.7)
    assert session.metadata["choice_task"] == "two-choice"
    assert session.metadata["choice_source"] == "trials.trial_instruction + trials.outcome"
    assert session.behaviour_name == "none"                # lick_trace is an analog trace, not lick events
    assert session.ports == CHOICE_PORTS and set(session.choice.tolist()) == {"left", "right"}
    assert session.unit_cell_type.tolist() == ["E", "E", "E", "I"]


def test_map_ephys_000363_and_000060_and_matnwb_quirks(tmp_path):
    ephys = load_session(corpus.write_map_ephys_000363(tmp_path / "a.nwb"))
    assert len(ephys.conditions) == 1 and ephys.conditions[0].site == "laser_5"
    assert (ephys.condition != UNPERTURBED).sum() == 5 and ephys.excluded.tolist().count("early lick") == 1
    pulses = load_session(corpus.write_finkelstein_000060(tmp_path / "b.nwb"))
    assert [c.waveform for c in pulses.conditions] == ["pulsed"] and pulses.trials_of(0).sum() == 3
    matnwb = corpus.write_matnwb_000221(tmp_path / "c.nwb")
    with h5py.File(matnwb, "r") as file:
        assert file.attrs["nwb_version"] == "2.5.0"
    coded = load_session(matnwb)
    assert coded.condition[[4, 7]].tolist() == [UNPERTURBED] * 2 and coded.usable[[4, 7]].all()   # NaN codes
    assert coded.choice.tolist() == ["left", "right"] * 4 and coded.ports == CHOICE_PORTS


# --- no-light sentinels in every adapter ---------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["N/A", "n/a", "NA", "none", "", "nan"])
def test_photo_stim_sentinels_mean_no_light(tmp_path, missing):
    nwbfile = factories.base_nwbfile(4, trial_columns={
        "cue_start_time": ("relative", [factories.GO] * 4), "pole_out_time": ("relative", [factories.DELAY] * 4),
        "photo_stim_type": ("type", ["stimulation"] * 4),
        "photo_stim_period": ("period", ["delay", missing, "delay", missing]),
        "photo_stim_power": ("mW", [1.5, 0.0, 0.0, np.nan])})
    factories.add_site(nwbfile, "left-ALM", "left ALM")
    session = load_session(factories.write(nwbfile, tmp_path / "f.nwb"))
    assert session.condition.tolist() == [0, UNPERTURBED, UNPERTURBED, UNPERTURBED]
    assert session.usable.all()          # no-light rows and a zero-power 'delay' row are light-off, not excluded


def test_flagged_rows_with_zero_power_are_excluded_with_their_own_reason(tmp_path):
    nwbfile = factories.base_nwbfile(4, trial_columns={
        "cue_start_time": ("relative", [factories.GO] * 4), "pole_out_time": ("relative", [factories.DELAY] * 4),
        "stim_present": ("flag", [1, 1, 0, 1]),
        "photo_stim_type": ("type", ["stimulation"] * 4),
        "photo_stim_period": ("period", ["delay", "N/A", "N/A", "N/A"]),
        "photo_stim_power": ("mW", [1.5, 0.0, 0.0, np.nan])})
    factories.add_site(nwbfile, "left-ALM", "left ALM")
    session = load_session(factories.write(nwbfile, tmp_path / "f.nwb"))
    assert session.excluded.tolist() == ["", adapters.FLAGGED_ZERO_POWER.format(flag="stim_present"), "",
                                         adapters.FLAGGED_NO_LIGHT.format(flag="stim_present")]


def test_zero_power_is_no_light_in_the_string_event_and_table_layouts(tmp_path):
    nwbfile = factories.base_nwbfile(3, trial_columns={
        "photostim_onset": ("from the trial start", ["1.3", "1.3", "N/A"]),
        "photostim_duration": ("s", ["0.5", "0.5", "N/A"]),
        "photostim_power": ("mW", ["5.5", "0.0000", "N/A"])})
    factories.add_site(nwbfile, "laser", "ALM")
    strings = load_session(factories.write(nwbfile, tmp_path / "a.nwb"))
    assert strings.condition.tolist() == [0, UNPERTURBED, UNPERTURBED] and strings.usable.all()
    nwbfile = factories.base_nwbfile(3, units=(("ALM", "E"),))
    factories.add_site(nwbfile, "left ALM", "left ALM")
    on = factories.trial_starts(3)[[0, 1]] + factories.LIGHT_ONSET
    factories.add_events(nwbfile, {"go": factories.trial_starts(3) + factories.GO, "photostim_start_time": on,
                                   "photostim_stop_time": on + 0.5},
                         photostim_start_time={"data": np.array([0.0, 5.5]), "unit": "mW"})
    events = load_session(factories.write(nwbfile, tmp_path / "b.nwb"))
    assert events.condition.tolist() == [UNPERTURBED, 0, UNPERTURBED] and events.usable.all()


# --- each trial keeps its own light window in simulation -----------------------------------------------------------

def test_simulated_trials_replay_each_recorded_trials_own_light_window(guo, monkeypatch):
    session = load_session(guo, hidden_areas=("ALM",), bin_size=0.01)
    from nwb_biornn.core.config import ModelConfig
    from nwb_biornn.model.layout import layout_for_sessions
    from nwb_biornn.model.network import BioRNN
    layout = layout_for_sessions([session], hidden_areas=("ALM",))
    model = BioRNN(ModelConfig(), layout, session.inputs.shape[2], session.dt)
    seen = {}
    original = model.simulate

    def spy(inputs, light=None, seed=None):
        seen["light"] = light
        return original(inputs, light, seed=seed)

    monkeypatch.setattr(model, "simulate", spy)
    lit = np.flatnonzero(session.condition == 0)
    windows = session.light_window[lit]
    picked = lit[np.argsort(windows[:, 0])[:2]]              # the two longest delays
    perturb.simulate_trials(model, layout, session, 0, picked, 2, condition=session.conditions[0])
    light = seen["light"]
    assert light.shape == (2, session.n_time, layout.n_neurons)
    alm_i = torch.as_tensor((layout.area == "ALM") & (layout.cell_type == "I"))
    first_on = [int(np.flatnonzero(light[k][:, alm_i].sum(1) > 0)[0]) for k in range(2)]
    expected = [int(np.ceil((max(w, session.t_start) - session.t_start) / session.dt - 1e-6))
                for w in session.light_window[picked, 0]]
    assert first_on == expected and first_on[0] != first_on[1]
