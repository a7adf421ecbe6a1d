"""Model files: write, read back, re-simulate, validate for DANDI, read without our packages, bad input."""
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
import yaml
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.behavior import BehavioralEvents
from pynwb.file import Subject
from pynwb.misc import Units

import ndx_biornn
from nwb_biornn import nwbio
from nwb_biornn.analysis.predictions import ConditionPrediction
from nwb_biornn.core.config import FitConfig, ModelConfig
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import CHOICE_PORTS, LICK_PORTS, UNPERTURBED, Condition, Session, Source
from nwb_biornn.fit.trainer import FitResult
from nwb_biornn.model.layout import layout_for_sessions
from nwb_biornn.model.network import BioRNN
from nwb_biornn.recordings.binning import bin_spikes
from nwb_biornn.render.text import format_info

UNIT_IDS = [10, 11, 12]
TRIAL_START = np.arange(6) * 2.0 + 1.0
ALIGN = TRIAL_START + 0.5
T_START, DT, N_TIME = -0.2, 0.005, 80
SPLIT = np.array(["train", "train", "test", "train", "perturbation", "excluded"])
SITE = "laser_ALM"
CHOICES = {LICK_PORTS: ["lick", "none", "lick", "lick", "none", "lick"],
           CHOICE_PORTS: ["left", "right", "none", "left", "right", ""]}
BACK_COMPAT = Path(__file__).parent / "back_compat"
LICKS = {"left_lick_times": TRIAL_START[[0, 2]] + 0.6, "right_lick_times": TRIAL_START[[1, 3, 3]] + [0.6, 0.6, 0.7]}
SUMMARY = {"evaluation": {"session": "s1", "held_out": {"calibration_conditions": []},
                          "unperturbed": {"trial_matching_loss": 0.5, "psth_error": 0.9, "n_trials": 3},
                          "perturbed": {"trial_matching_loss": 1.0, "delta_behaviour_abs_error": 0.1,
                                        "n_conditions": 1, "n_trials": 1},
                          "conditions": [{"label": "x"}]},
           "light": {"mw_to_current": 0.04, "calibrated_on": []}}


def _spike_times(rng):
    return [np.sort(rng.uniform(0, 13, size=n)) for n in (300, 200, 250)]


def _write_source(path, rng):
    """A small optogenetics session: 3 units (one with descending spike times), 6 trials, one stimulation site."""
    nwbfile = NWBFile(session_description="source session", identifier="source-id", session_id="s1",
                      session_start_time=datetime(2025, 3, 1, 10, tzinfo=timezone.utc))
    nwbfile.subject = Subject(subject_id="m1", species="Mus musculus", sex="M", age="P90D")
    nwbfile.units = Units(name="units", description="sorted units", resolution=1 / 30000)
    nwbfile.add_unit_column("quality", "sorting quality")
    for unit_id, times in zip(UNIT_IDS, _spike_times(rng)):
        nwbfile.add_unit(id=unit_id, spike_times=times[::-1] if unit_id == 10 else times, quality="good")
    nwbfile.add_trial_column("trial_type", "lick side")
    nwbfile.add_trial_column("photostim_power", "light power (mW)")
    for start, kind, power in zip(TRIAL_START, "LRLRLR", [0, 0, 0, 0, 5.0, 0]):
        nwbfile.add_trial(start_time=start, stop_time=start + 1.5, trial_type=kind, photostim_power=power)
    laser = nwbfile.create_device(name="laser", description="473 nm laser")
    nwbfile.create_ogen_site(name=SITE, device=laser, description="ALM inactivation", excitation_lambda=473.0,
                             location="ALM")
    licks = BehavioralEvents(name="BehavioralEvents")
    for name, times in LICKS.items():
        licks.add_timeseries(TimeSeries(name=name, data=np.ones(len(times), np.uint8), timestamps=times,
                                        unit="a.u.", description="lick contacts"))
    nwbfile.create_processing_module("behavior", "licks").add(licks)
    with NWBHDF5IO(path, "w") as io:
        io.write(nwbfile)


def _session(path, rng, unit_ids=(12, 10), session_id="s1", ports=LICK_PORTS):
    """The session as a loader would return it for the fitted units ``unit_ids`` (in that column order), of a
    go/no-go task (``ports`` :data:`LICK_PORTS`) or a two-choice task (:data:`CHOICE_PORTS`)."""
    times = _spike_times(np.random.default_rng(0))
    spikes = bin_spikes([times[UNIT_IDS.index(u)] for u in unit_ids], ALIGN, T_START, DT, N_TIME)[0]
    return Session(
        spikes=spikes, dt=DT, t_start=T_START, align_event="go_cue", unit_ids=np.array(unit_ids),
        unit_area=np.array(["ALM", "vS1"][:len(unit_ids)]), unit_cell_type=np.array(["E", "I"][:len(unit_ids)]),
        trial_ids=np.arange(6), trial_type=np.array(list("LRLRLR")),
        inputs=rng.random((6, N_TIME, 2)).astype(np.float32), input_names=("stimulus", "go_cue"),
        behaviour=rng.random((6, N_TIME, len(ports))).astype(np.float32), behaviour_name="lick_rate", ports=ports,
        choice=np.array(CHOICES[ports]), response_window=(0.0, 0.15),
        condition=np.array([UNPERTURBED] * 4 + [0, UNPERTURBED]),
        conditions=(Condition("ALM", "I", 0.0, 0.1, 5.0, site=SITE),),
        excluded=np.array([""] * 5 + ["early lick"]), subject={"subject_id": "m1", "species": "Mus musculus",
                                                               "sex": "M", "age": "P90D", "date_of_birth": None},
        session_id=session_id, identifier="source-id", session_description="source session",
        session_start_time=datetime(2025, 3, 1, 10, tzinfo=timezone.utc),
        source=Source(path=str(path), dandiset_id="000363", version="0.230822.0",
                      asset_path="sub-m1/sub-m1_ses-s1.nwb"),
        metadata={nwbio.ALIGN_TIMES: ALIGN, "lab": "test"})


def _result(sessions, splits, seed=3):
    layout = layout_for_sessions(sessions, hidden_per_area=2)
    config = ModelConfig(warmup=0.01)
    model = BioRNN(config, layout, n_inputs=2, dt=DT, seed=seed, n_ports=len(sessions[0].ports))
    with torch.no_grad():
        model.resting_potential.uniform_(-0.05, 0.05)
        model.readout_bias.copy_(torch.linspace(0.3, -0.2, model.n_ports))
    history = [{"step": 0, "lr": 1e-3, "trial": 2.0, "psth": 1.0, "rate": 0.5, "behaviour": 0.4, "choice": 0.2,
                "total": 4.1},
               {"step": 1, "lr": 1e-3, "trial": 1.5, "psth": 0.8, "rate": 0.4, "behaviour": 0.3, "choice": 0.1,
                "total": 3.1, "test_total": 3.5}]
    return FitResult(model=model, layout=layout, model_config=config, fit_config=FitConfig(seed=seed),
                     splits=splits, history=history, steps=2)


def _prediction(session, rng, recorded=True):
    time = session.time[::4] + 2 * DT
    shape_area, shape_unit = (len(time), 2), (len(time), session.n_units)
    return ConditionPrediction(
        condition=session.conditions[0], n_heldout_trials=1, predicted_delta_behaviour=-0.4,
        recorded_delta_behaviour=-0.3 if recorded else np.nan, trial_matching_loss=0.7 if recorded else np.nan,
        time=time, areas=("ALM", "vS1"), predicted_area_psth=rng.random(shape_area).astype(np.float32),
        recorded_area_psth=rng.random(shape_area).astype(np.float32) if recorded else None,
        unit_ids=session.unit_ids, predicted_unit_psth=rng.random(shape_unit).astype(np.float32),
        recorded_unit_psth=rng.random(shape_unit).astype(np.float32) if recorded else None)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One source file, its session, a fit with a reference circuit, and the model file written from them."""
    root = tmp_path_factory.mktemp("nwbio")
    rng = np.random.default_rng(0)
    source = root / "source.nwb"
    _write_source(source, rng)
    source_digest = hashlib.sha256(source.read_bytes()).hexdigest()
    session = _session(source, rng)
    result = _result([session], [SPLIT])
    reference = _result([session], [SPLIT], seed=9).model
    predictions = [_prediction(session, rng), replace(_prediction(session, rng, recorded=False), n_heldout_trials=0)]
    path = nwbio.write_model_file(root / "out", session, result, 0, predictions, reference=reference,
                                  summary=SUMMARY)
    return SimpleNamespace(root=root, source=source, source_digest=source_digest, session=session, result=result,
                           reference=reference, predictions=predictions, path=path)


@pytest.fixture(scope="module")
def written_choice(written):
    """A two-choice session of the same source and a model with two readout ports, written to its own dandiset."""
    rng = np.random.default_rng(2)
    session = _session(written.source, rng, ports=CHOICE_PORTS)
    result = _result([session], [SPLIT])
    path = nwbio.write_model_file(written.root / "choice", session, result, 0, [_prediction(session, rng)])
    return SimpleNamespace(root=written.root / "choice", session=session, result=result, path=path)


def test_file_is_named_and_placed_for_dandi_and_the_source_is_untouched(written):
    out = written.root / "out"
    assert written.path == out / "sub-m1" / "sub-m1_ses-s1_desc-biornn.nwb"
    assert sorted(p.name for p in out.rglob("*")) == ["dandiset.yaml", "sub-m1", written.path.name]
    dandiset = yaml.safe_load((out / "dandiset.yaml").read_text())
    assert dandiset["relatedResource"] == [{"identifier": "DANDI:000363/0.230822.0",
                                            "relation": "dcite:IsDerivedFrom",
                                            "url": "https://dandiarchive.org/dandiset/000363/0.230822.0"}]
    assert hashlib.sha256(written.source.read_bytes()).hexdigest() == written.source_digest


def test_session_is_rebuilt_exactly_from_the_file(written):
    loaded = nwbio.read_model_file(written.path)
    session, back = written.session, loaded.session
    for name in ("spikes", "inputs", "behaviour", "unit_ids", "unit_area", "unit_cell_type", "trial_ids",
                 "trial_type", "choice", "response", "condition", "excluded"):
        np.testing.assert_array_equal(getattr(back, name), getattr(session, name), err_msg=name)
    assert back.spikes.sum() > 0
    assert (back.dt, back.t_start, back.align_event, back.input_names, back.response_window) == (
        DT, T_START, "go_cue", ("stimulus", "go_cue"), (0.0, 0.15))
    assert (back.ports, back.behaviour_name) == (LICK_PORTS, "lick_rate")
    # the stored source names the DANDI asset, never the local path it was read from (portable provenance)
    assert back.conditions == session.conditions and back.source == replace(session.source,
                                                                            path=session.source.asset_path)
    assert back.subject["species"] == "Mus musculus" and back.session_id == "s1" and back.identifier == "source-id"
    np.testing.assert_array_equal(back.metadata[nwbio.ALIGN_TIMES], ALIGN)
    assert back.metadata["lab"] == "test"
    np.testing.assert_array_equal(loaded.split, SPLIT)


def test_two_choice_session_and_model_read_back_and_resimulate_identically(written_choice):
    loaded = nwbio.read_model_file(written_choice.path)
    session, back = written_choice.session, loaded.session
    assert back.ports == CHOICE_PORTS and back.behaviour_kind == "choice" and back.behaviour.shape == (6, N_TIME, 2)
    for name in ("behaviour", "choice", "outcome", "spikes", "inputs"):
        np.testing.assert_array_equal(getattr(back, name), getattr(session, name), err_msg=name)
    arrays = written_choice.result.model.to_arrays()
    assert arrays["readout_weights"].shape == (written_choice.result.layout.n_neurons, 2)
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded.model.to_arrays()[key], value, err_msg=key)
    assert loaded.model.n_ports == 2 and loaded.model_id == nwbio.model_id(written_choice.result.model)
    inputs = torch.as_tensor(session.inputs[:3])
    expected = written_choice.result.model.simulate(inputs, seed=loaded.seed)
    got = loaded.model.simulate(inputs, seed=loaded.seed)
    assert expected.spikes.sum() > 0 and got.behaviour.shape == (3, N_TIME, 2)
    assert torch.equal(got.spikes, expected.spikes) and torch.equal(got.behaviour, expected.behaviour)
    with NWBHDF5IO(written_choice.path, "r") as io:
        nwbfile = io.read()
        assert list(nwbfile.trials["biornn_choice"][:]) == CHOICES[CHOICE_PORTS]
        assert "biornn_response" not in nwbfile.trials.colnames
        assert list(nwbfile.processing["biornn"]["fitted_session"].ports) == list(CHOICE_PORTS)
    info = nwbio.describe_model_file(written_choice.path)
    assert info["behaviour"] == {"name": "lick_rate", "kind": "choice", "ports": ["left", "right"]}


def test_a_file_written_by_ndx_biornn_0_1_0_reads_as_one_lick_port():
    """The committed file of nwb-biornn at ndx-biornn 0.1.0 (tests/back_compat/make_model_file.py): 2-D behaviour,
    a boolean biornn_response column, a readout of one output (weights [neurons], scalar bias)."""
    path, simulated = BACK_COMPAT / "model_ndx-biornn_0.1.0.nwb", np.load(BACK_COMPAT / "model_ndx-biornn_0.1.0.npz")
    with h5py.File(path, "r") as raw:
        stored = raw["processing/biornn/fitted_session/behaviour"][()]
        assert stored.shape == (6, N_TIME) and raw["processing/biornn/biornn_model"].attrs["readout_bias"].shape == ()
    loaded = nwbio.read_model_file(path)
    session = loaded.session
    assert session.ports == LICK_PORTS and session.behaviour_kind == "lick"
    np.testing.assert_array_equal(session.behaviour, stored[:, :, None])
    assert session.choice.tolist() == CHOICES[LICK_PORTS] and session.response.tolist() == [1, 0, 1, 1, 0, 1]
    assert loaded.model.n_ports == 1 and loaded.model.to_arrays()["readout_bias"].shape == (1,)
    assert nwbio.model_id(loaded.model) == loaded.model_id
    inputs = torch.as_tensor(session.inputs[:3])
    for model, prefix in ((loaded.model, ""), (loaded.reference, "reference_")):
        with torch.no_grad():
            got = model.simulate(inputs, seed=3)
        np.testing.assert_array_equal(got.spikes.numpy(), simulated[f"{prefix}spikes"])
        np.testing.assert_allclose(got.behaviour.numpy()[:, :, 0], simulated[f"{prefix}behaviour"], rtol=1e-5)
    assert nwbio.describe_model_file(path)["behaviour"] == {"name": "lick rate (Hz)", "kind": "lick",
                                                           "ports": ["lick"]}


def test_lick_events_are_copied(written):
    with NWBHDF5IO(written.path, "r") as io:
        copied = io.read().processing["behavior"].data_interfaces
        assert sorted(copied) == sorted(LICKS)
        for name, times in LICKS.items():
            np.testing.assert_array_equal(copied[name].timestamps[:], times)
            np.testing.assert_array_equal(copied[name].data[:], np.ones(len(times)))
            assert copied[name].unit == "a.u."


def test_model_predictions_and_history_read_back(written):
    loaded = nwbio.read_model_file(written.path)
    result = written.result
    for key, value in result.model.to_arrays().items():
        np.testing.assert_array_equal(loaded.model.to_arrays()[key], value, err_msg=key)
    assert loaded.model_config == result.model_config and loaded.fit_config == result.fit_config
    np.testing.assert_array_equal(loaded.layout.unit, result.layout.unit)
    assert loaded.layout.areas == result.layout.areas and loaded.seed == 3
    assert loaded.history == result.history
    assert loaded.training_summary["trials"] == {"train": 3, "test": 1, "perturbation": 1, "excluded": 1}
    assert loaded.training_summary["excluded_reasons"] == {"early lick": 1}
    assert loaded.training_summary["heldout_conditions"] == [written.session.conditions[0].label]
    assert loaded.training_summary["evaluation"] == SUMMARY["evaluation"]
    assert loaded.model_id == nwbio.model_id(result.model)
    for got, expected in zip(loaded.predictions, written.predictions, strict=True):
        assert got.condition == expected.condition and got.n_heldout_trials == expected.n_heldout_trials
        np.testing.assert_array_equal(got.time, expected.time)
        np.testing.assert_array_equal(got.unit_ids, expected.unit_ids)
        np.testing.assert_array_equal(got.predicted_unit_psth, expected.predicted_unit_psth)
        np.testing.assert_array_equal(got.predicted_area_psth, expected.predicted_area_psth)
        for name in ("recorded_area_psth", "recorded_unit_psth"):
            if getattr(expected, name) is None:
                assert getattr(got, name) is None
            else:
                np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
        np.testing.assert_equal(got.recorded_delta_behaviour, expected.recorded_delta_behaviour)


def test_reloaded_model_and_reference_resimulate_identically(written):
    loaded = nwbio.read_model_file(written.path)
    inputs = torch.as_tensor(written.session.inputs[:3])
    light = torch.zeros(N_TIME, written.result.layout.n_neurons)
    light[20:40, 1] = 0.2
    for original, reloaded in ((written.result.model, loaded.model), (written.reference, loaded.reference)):
        expected = original.simulate(inputs, light=light, seed=loaded.seed)
        got = reloaded.simulate(inputs, light=light, seed=loaded.seed)
        assert expected.spikes.sum() > 0
        assert torch.equal(got.spikes, expected.spikes) and torch.equal(got.behaviour, expected.behaviour)


def test_reference_circuit_of_a_synthetic_source_file_reads_back(written, tmp_path):
    nwbfile = NWBFile(session_description="synthetic", identifier="syn",
                      session_start_time=datetime(2025, 1, 1, tzinfo=timezone.utc))
    nwbio.add_reference_circuit(nwbfile, written.reference, written.reference.layout, "refcirc1")
    with NWBHDF5IO(tmp_path / "synthetic.nwb", "w") as io:
        io.write(nwbfile)
    reference = nwbio.read_reference_circuit(tmp_path / "synthetic.nwb")
    inputs = torch.as_tensor(written.session.inputs[:2])
    assert torch.equal(reference.simulate(inputs, seed=5).spikes, written.reference.simulate(inputs, seed=5).spikes)
    assert nwbio.read_reference_circuit(written.source) is None


def test_every_unit_and_trial_is_copied_with_biornn_columns(written):
    with NWBHDF5IO(written.path, "r") as io:
        nwbfile = io.read()
        units, trials = nwbfile.units, nwbfile.trials
        assert list(units.id[:]) == UNIT_IDS and list(units["quality"][:]) == ["good"] * 3
        assert units.resolution == 1 / 30000
        assert all(np.all(np.diff(units["spike_times"][row]) >= 0) for row in range(3))
        assert list(units["biornn_fitted"][:]) == [True, False, True]
        assert list(units["biornn_area"][:]) == ["vS1", "", "ALM"]
        assert list(trials["biornn_split"][:]) == SPLIT.tolist() and list(trials["trial_type"][:]) == list("LRLRLR")
        assert list(trials["biornn_excluded"][:])[-1] == "early lick"
        model = nwbfile.processing["biornn"]["biornn_model"]
        assert list(model.heldout_trials.data[:]) == [4] and list(model.training_trials.data[:]) == [0, 1, 3]
        assert model.source_units is units
        assert model.recurrent_weights.compression == "gzip"
        predictions = nwbfile.processing["biornn"]["perturbation_predictions"]
        assert predictions["stimulus_site"][0] is nwbfile.ogen_sites[SITE]


def test_a_model_fitted_on_two_sessions_goes_into_both_files_under_one_id(written, tmp_path):
    rng = np.random.default_rng(1)
    first = _session(written.source, rng, unit_ids=(12, 10), session_id="s1")
    second = _session(written.source, rng, unit_ids=(11,), session_id="s2")
    result = _result([first, second], [SPLIT, SPLIT])
    paths = [nwbio.write_model_file(tmp_path, s, result, i, [], session_ids=["s1", "s2"])
             for i, s in enumerate((first, second))]
    assert [p.name for p in paths] == ["sub-m1_ses-s1_desc-biornn.nwb", "sub-m1_ses-s2_desc-biornn.nwb"]
    loaded = [nwbio.read_model_file(p) for p in paths]
    assert loaded[0].model_id == loaded[1].model_id == nwbio.model_id(result.model)
    assert [f.session_index for f in loaded] == [0, 1]
    assert loaded[0].session_ids == loaded[1].session_ids == ("s1", "s2")
    np.testing.assert_array_equal(loaded[1].session.spikes, second.spikes)
    np.testing.assert_array_equal(loaded[1].session.unit_ids, [11])
    assert loaded[1].predictions == [] and loaded[1].reference is None


def test_interrupted_write_leaves_no_file(written, tmp_path, monkeypatch):
    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(NWBHDF5IO, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        nwbio.write_model_file(tmp_path, written.session, written.result, 0, written.predictions)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["dandiset.yaml"]


@pytest.mark.parametrize("fixture, folder", [("written", "out"), ("written_choice", "choice")])
def test_file_passes_dandi_validate_and_nwbinspector(fixture, folder, request):
    written = request.getfixturevalue(fixture)
    from nwbinspector import Importance, inspect_nwbfile, load_config
    critical = list(inspect_nwbfile(nwbfile_path=written.path, config=load_config(filepath_or_keyword="dandi"),
                                    importance_threshold=Importance.CRITICAL))
    assert critical == []
    os.environ.setdefault("DANDI_NO_ET", "1")
    from dandi.validate import Severity
    from dandi.validate._core import validate
    errors = [r for r in validate(str(written.root / folder)) if r.severity is not None
              and r.severity >= Severity.ERROR]
    assert errors == [], [e.message for e in errors]


def test_plain_pynwb_reads_weights_neurons_and_predictions_from_the_cached_spec(written):
    code = textwrap.dedent(f"""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("ndx_biornn", "nwb_biornn"):
                    raise ImportError(name + " is blocked")

        sys.meta_path.insert(0, Block())
        import json
        from pynwb import NWBHDF5IO
        with NWBHDF5IO({str(written.path)!r}, "r") as io:
            module = io.read().processing["biornn"]
            model = module["biornn_model"]
            predictions = module["perturbation_predictions"]
            print(json.dumps({{"weights": model.recurrent_weights[:].tolist(),
                               "areas": model.neurons["area"][:].tolist(),
                               "delta": predictions["predicted_delta_behaviour"][:].tolist()}}))
    """)
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    values = json.loads(result.stdout)
    np.testing.assert_array_equal(values["weights"], written.result.model.to_arrays()["recurrent_weights"])
    assert values["areas"] == written.result.layout.area.tolist() and values["delta"] == [-0.4, -0.4]


def test_describe_and_format_info(written):
    info = nwbio.describe_model_file(written.path)
    layout, mask = written.result.layout, written.result.model.to_arrays()["connectivity_mask"]
    across = (layout.area[:, None] != layout.area[None, :]) & mask
    assert info["source"]["dandiset_id"] == "000363" and info["preset"] == "biornn"
    assert info["behaviour"] == {"name": "lick_rate", "kind": "lick", "ports": ["lick"]}
    assert info["neurons"] == {"ALM": {"E": 3, "I": 0, "mapped": 1}, "vS1": {"E": 2, "I": 1, "mapped": 1}}
    assert info["across_area_weights"]["allowed"] == int(across.sum())
    assert info["training"]["steps"] == 2 and info["scores"] == SUMMARY
    assert [p["num_heldout_trials"] for p in info["predictions"]] == [1, 0]
    text = format_info(info)
    assert "DANDI:000363/0.230822.0" in text and "vS1: 2 E + 1 I (1 mapped)" in text
    assert "predicted delta behaviour -0.400, recorded -0.300, 1 held-out trials" in text
    assert "scores       light-off TM 0.500, PSTH 0.900 (3 trials); light-on TM 1.000, |ΔP(lick)| 0.100" in text
    assert "light        0.04 model current per mW (the fixed default)" in text and "label" not in text
    assert "behaviour    lick: a lick rate per port (lick), fitted to the recorded lick rates; scored as ΔP(lick)" in text


def test_add_targets_rewrites_the_file_and_replaces_earlier_sets(written, tmp_path):
    path = tmp_path / written.path.name
    path.write_bytes(written.path.read_bytes())
    target = SimpleNamespace(name="positive", objective="lick", neurons=[0, 1, 3], onset=0.0, offset=0.1,
                             power=0.5, predicted_effect=0.2, simulated_effect=0.1)
    nwbio.add_targets(path, [target])
    nwbio.add_targets(path, [target, replace_ns(target, name="random", neurons=[2])])
    with NWBHDF5IO(path, "r") as io:
        table = io.read().processing["biornn"]["targeted_neuron_sets"]
        assert list(table["set_name"][:]) == ["positive", "random"]
        assert list(table["neurons"][0].index) == [0, 1, 3]
        mapped = written.result.layout.session[[0, 1, 3]] >= 0
        assert len(table["units"][0]) == int(mapped.sum())
    assert nwbio.describe_model_file(path)["targeted_sets"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def replace_ns(namespace, **changes):
    return SimpleNamespace(**{**vars(namespace), **changes})


@pytest.mark.parametrize("species, sex, age, birth, overrides, expected", [
    ("mouse", "male", "P60D", None, {}, ("Mus musculus", "M", "P60D")),
    (None, None, None, "2024-01-01", {"species": "Mus musculus", "sex": "F"}, ("Mus musculus", "F", None)),
    ("Rattus norvegicus", "U", None, None, {"age": "P30D/P40D"}, ("Rattus norvegicus", "U", "P30D/P40D")),
])
def test_subject_for_dandi_accepts_source_values_and_overrides(species, sex, age, birth, overrides, expected):
    subject = nwbio.subject_for_dandi({"subject_id": "m1", "species": species, "sex": sex, "age": age,
                                       "date_of_birth": birth}, overrides)
    assert (subject["species"], subject["sex"], subject["age"]) == expected
    assert (subject["date_of_birth"] is None) == (birth is None)


def test_subject_for_dandi_names_the_options_for_what_is_missing():
    with pytest.raises(UserError) as error:
        nwbio.subject_for_dandi({"subject_id": "m1", "species": None, "sex": "X", "age": "90 days"})
    message = str(error.value)
    assert all(option in message for option in ("--subject-species", "--subject-sex", "--subject-age"))
    assert "\n" not in message


def test_fit_refuses_to_write_a_file_dandi_would_reject(written, tmp_path):
    session = replace(written.session, subject={"subject_id": "m1", "species": "Mus musculus", "sex": "M"})
    with pytest.raises(UserError, match="--subject-age"):
        nwbio.write_model_file(tmp_path, session, written.result, 0, [])
    assert list(tmp_path.iterdir()) == []


def test_bad_files_raise_user_errors(written, tmp_path):
    text = tmp_path / "notes.nwb"
    text.write_text("not hdf5")
    newer = tmp_path / "newer.nwb"
    newer.write_bytes(written.path.read_bytes())
    major, minor, _ = ndx_biornn.__version__.split(".")
    version = f"{major}.{int(minor) + 1}.0"
    with h5py.File(newer, "a") as raw:
        group = raw["specifications/ndx-biornn"]
        group.move(ndx_biornn.__version__, version)
        namespace = json.loads(group[f"{version}/namespace"][()])
        namespace["namespaces"][0]["version"] = version
        group[f"{version}/namespace"][()] = json.dumps(namespace)
    cases = [(tmp_path / "missing.nwb", "no such file"), (text, "not an NWB file"),
             (written.source, "holds no bioRNN model"), (newer, "newer than the installed")]
    for path, message in cases:
        for reader in (nwbio.read_model_file, nwbio.describe_model_file):
            with pytest.raises(UserError, match=message):
                reader(path)
