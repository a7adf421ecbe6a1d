"""The command line end to end, on a small synthetic dandiset (real NWB files, real torch fits)."""
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from nwb_factories import ECONOMO as REAL_FILE

from nwb_biornn.cli import main
from nwb_biornn.synthetic.demo import write_demo_dandiset


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def one_line_error(result):
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return lines[-1]


@pytest.fixture(scope="module")
def dandiset(tmp_path_factory):
    return write_demo_dandiset(tmp_path_factory.mktemp("demo"), "refcirc1", n_trials=80, units_per_area=6)


@pytest.fixture(scope="module")
def fitted(dandiset, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    result = run("fit", dandiset, "--steps", 3, "--out", out, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    return out, document


def test_fit_writes_a_model_file_per_session_and_prints_the_evaluation(fitted):
    out, document = fitted
    (path,) = document["model_files"]
    assert Path(path).is_file() and Path(path).name.endswith("_desc-biornn.nwb")
    assert (out / "dandiset.yaml").is_file() and (out / "checkpoints" / "last.pt").is_file()
    (evaluation,) = document["evaluation"]
    assert set(evaluation) >= {"unperturbed", "perturbed", "conditions", "reference"}
    assert evaluation["perturbed"]["n_conditions"] == len(evaluation["conditions"]) > 0
    assert evaluation["unperturbed"]["n_trials"] > 0


def test_evaluate_needs_only_the_model_file_and_reproduces_the_stored_scores(fitted, tmp_path):
    _, document = fitted
    moved = tmp_path / "alone" / Path(document["model_files"][0]).name
    moved.parent.mkdir()
    shutil.copy(document["model_files"][0], moved)
    result = run("evaluate", moved, "--json")
    assert result.exit_code == 0, result.stderr
    fresh = json.loads(result.stdout)
    stored = document["evaluation"][0]
    for block in ("unperturbed", "perturbed"):
        assert fresh[block] == pytest.approx(stored[block], nan_ok=True)
    assert fresh["reference"]["unperturbed"] == pytest.approx(stored["reference"]["unperturbed"])


def test_perturb_with_the_same_seed_reproduces_evaluate(fitted):
    _, document = fitted
    path = document["model_files"][0]
    row = document["evaluation"][0]["conditions"][0]
    args = ("perturb", path, "--area", row["area"], "--cell-type", row["cell_type"],
            "--window", f"{row['window'][0]},{row['window'][1]}", "--power", row["power"], "--json")
    first, second = run(*args), run(*args)
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    result = json.loads(first.stdout)
    assert result["recorded_trials"] == row["n_trials"]
    assert result["predicted_delta_behaviour"] == pytest.approx(row["predicted_delta_behaviour"])
    assert result["trial_matching_loss"] == pytest.approx(row["trial_matching_loss"])


def test_perturb_simulates_an_unrecorded_condition(fitted):
    path = fitted[1]["model_files"][0]
    result = run("perturb", path, "--area", "B", "--window", "0.05,0.2", "--power", 3, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["recorded_trials"] == 0 and document["recorded_delta_behaviour"] is None
    assert len(document["predicted_area_rate"]) == 2


def test_info_and_compare(fitted, tmp_path):
    path = fitted[1]["model_files"][0]
    info = run("info", path)
    assert info.exit_code == 0, info.stderr
    assert "biornn" in info.stdout and "A:" in info.stdout
    plot = tmp_path / "compare.png"
    compared = run("compare", path, "--plot", plot, "--json")
    assert compared.exit_code == 0, compared.stderr
    document = json.loads(compared.stdout)
    assert [entry["preset"] for entry in document["presets"]] == ["biornn"] and plot.stat().st_size > 0
    assert document["reference"] is not None


def test_evaluate_writes_plots(fitted, tmp_path):
    result = run("evaluate", fitted[1]["model_files"][0], "--plots", tmp_path / "plots")
    assert result.exit_code == 0, result.stderr
    names = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"behaviour_changes.png", "training.png", "psth_condition00.png"} <= names


@pytest.mark.parametrize("args, message", [
    (("--steps", "-5"), "--steps must be a positive"),
    (("--model", "nope"), "unknown model preset 'nope'"),
    (("--config", "MALFORMED"), "is not valid TOML"),
    (("--config", "WRONGTYPE"), "fit.steps must be of type int"),
    (("--config", "UNKNOWN"), "unknown field model.colour"),
])
def test_invalid_fit_options_fail_cleanly_and_write_nothing(dandiset, tmp_path, args, message):
    configs = {"MALFORMED": "[fit\nsteps = ", "WRONGTYPE": "[fit]\nsteps = 'many'\n", "UNKNOWN": "[model]\ncolour = 1\n"}
    args = list(args)
    if args[-1] in configs:
        config = tmp_path / "config.toml"
        config.write_text(configs[args[-1]])
        args[-1] = config
    out = tmp_path / "out"
    result = run("fit", dandiset, "--out", out, *args)
    assert message in one_line_error(result)
    assert not out.exists()


def test_bad_sources_fail_cleanly(tmp_path):
    assert "no such file" in one_line_error(run("fit", tmp_path / "missing.nwb", "--out", tmp_path / "o"))
    (tmp_path / "empty").mkdir()
    assert "no NWB files" in one_line_error(run("fit", tmp_path / "empty", "--out", tmp_path / "o"))
    junk = tmp_path / "junk.nwb"
    junk.write_text("not an NWB file")
    assert "not an NWB file" in one_line_error(run("fit", junk, "--out", tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_info_and_evaluate_refuse_files_without_a_model(tmp_path):
    junk = tmp_path / "junk.nwb"
    junk.write_text("hello")
    assert "not an NWB file" in one_line_error(run("info", junk))
    before = hashlib.sha256(REAL_FILE.read_bytes()).hexdigest()
    assert "holds no bioRNN model" in one_line_error(run("evaluate", REAL_FILE))
    assert "holds no bioRNN model" in one_line_error(run("info", REAL_FILE))
    assert hashlib.sha256(REAL_FILE.read_bytes()).hexdigest() == before


def test_usage_errors_are_one_line(fitted):
    result = run("perturb", fitted[1]["model_files"][0], "--area", "A", "--window", "0.2,0.1")
    assert "STOP must be after START" in one_line_error(result)
    assert "Missing argument" in one_line_error(run("fit"))


def test_simulate_writes_a_dandiset_and_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "sim"
    result = run("simulate", "--circuit", "refcirc2", "--out", out, "--trials", 20, "--json")
    assert result.exit_code == 0, result.stderr
    (file,) = json.loads(result.stdout)["files"]
    assert Path(file).is_file() and (out / "dandiset.yaml").is_file()
    assert "is not empty" in one_line_error(run("simulate", "--out", out))


def test_fit_killed_with_sigkill_resumes_from_its_checkpoint(dandiset, tmp_path):
    config = tmp_path / "fit.toml"
    config.write_text("[fit]\ncheckpoint_every = 2\nbatch_size = 16\neval_every = 5\n")
    out = tmp_path / "fit"
    command = [sys.executable, "-m", "nwb_biornn", "fit", str(dandiset), "--out", str(out), "--steps", "400",
               "--config", str(config), "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / "checkpoints" / "last.pt"
    deadline = time.time() + 240
    while not checkpoint.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists(), "no checkpoint was written before the kill"
    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode == 1 and "--resume" in refused.stderr
    resumed = subprocess.run(command[:-6] + ["--steps", "12", "--config", str(config), "--device", "cpu",
                                             "--resume"], capture_output=True, text=True, timeout=600)
    assert "resuming from step" in resumed.stderr, resumed.stderr
    step = int(resumed.stderr.split("resuming from step")[1].split()[0])
    assert step >= 2
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert list(out.glob("sub-*/*_desc-biornn.nwb"))


def test_real_session_without_subject_age_or_light_fits_once_the_age_is_given(tmp_path):
    """The real DANDI:000006 session lacks the subject's age (DANDI requires it) and has no light trials."""
    out = tmp_path / "out"
    refused = run("fit", REAL_FILE, "--out", out, "--steps", 2)
    assert "--subject-age" in one_line_error(refused)
    assert not out.exists()
    result = run("fit", REAL_FILE, "--out", out, "--steps", 2, "--subject-age", "P90D", "--json")
    assert result.exit_code == 0, result.stderr
    (evaluation,) = json.loads(result.stdout)["evaluation"]
    assert evaluation["perturbed"]["n_conditions"] == 0
    assert "nothing was held out" in evaluation["note"]
    assert evaluation["unperturbed"]["n_trials"] > 0


def test_sessions_fitted_together_share_one_model_written_into_each_file(tmp_path):
    data = tmp_path / "two"
    assert run("simulate", "--out", data, "--sessions", 2, "--trials", 40).exit_code == 0
    result = run("fit", data, "--steps", 2, "--out", tmp_path / "fit", "--json")
    assert result.exit_code == 0, result.stderr
    paths = json.loads(result.stdout)["model_files"]
    assert len(paths) == 2
    infos = [json.loads(run("info", path, "--json").stdout) for path in paths]
    assert infos[0]["model_id"] == infos[1]["model_id"]
    assert infos[0]["session_id"] != infos[1]["session_id"]
    assert infos[0]["n_neurons"] == 2 * 40


def test_evaluate_against_effects_observed_elsewhere(fitted, tmp_path):
    path = fitted[1]["model_files"][0]
    table = tmp_path / "observed.csv"
    table.write_text("area,start,stop,power,delta,n\nA,-0.02,0.1,25,-0.3,9\nB,-0.02,0.1,25,-0.4,9\n")
    result = run("evaluate", path, "--observed", table, "--json")
    assert result.exit_code == 0, result.stderr
    observed = json.loads(result.stdout)["observed"]
    assert observed["n_conditions"] == 2
    predicted = [row["predicted"] for row in observed["conditions"]]
    assert observed["abs_error"] == pytest.approx((abs(-0.3 - predicted[0]) + abs(-0.4 - predicted[1])) / 2)
    table.write_text("area,start,power\nA,0,1\n")
    assert "missing column(s) stop, delta" in one_line_error(run("evaluate", path, "--observed", table))
    table.write_text("area,start,stop,power,delta\nZ,0,0.1,1,0.1\n")
    assert "area(s) Z that the model does not have" in one_line_error(run("evaluate", path, "--observed", table))


def test_calibrated_conditions_are_flagged_and_left_out_of_the_scores(dandiset, tmp_path):
    probe = run("fit", dandiset, "--steps", 1, "--out", tmp_path / "probe", "--json")
    label = json.loads(probe.stdout)["evaluation"][0]["conditions"][0]["label"]
    result = run("fit", dandiset, "--steps", 1, "--out", tmp_path / "fit", "--calibrate-on", label, "--json")
    assert result.exit_code == 0, result.stderr
    (evaluation,) = json.loads(result.stdout)["evaluation"]
    flagged = [row["label"] for row in evaluation["conditions"] if row["calibration"]]
    assert flagged == [label]
    assert evaluation["perturbed"]["n_conditions"] == len(evaluation["conditions"]) - 1
    assert evaluation["held_out"]["calibration_conditions"] == [label]
    row = next(r for r in evaluation["conditions"] if not r["calibration"])
    path = json.loads(result.stdout)["model_files"][0]
    perturbed = run("perturb", path, "--area", row["area"], "--cell-type", row["cell_type"], "--power", row["power"],
                    "--window", f"{row['window'][0]},{row['window'][1]}", "--json")
    assert json.loads(perturbed.stdout)["predicted_delta_behaviour"] == pytest.approx(row["predicted_delta_behaviour"])
    assert "unknown condition" in one_line_error(run("fit", dandiset, "--out", tmp_path / "x", "--calibrate-on", "Q"))


@pytest.fixture(scope="module")
def two_choice_fit(tmp_path_factory):
    """A two-choice dandiset recorded by `simulate --circuit 2afc`, fitted for two steps."""
    data, out = tmp_path_factory.mktemp("sim2afc") / "data", tmp_path_factory.mktemp("fit2afc")
    simulated = run("simulate", "--circuit", "2afc", "--out", data, "--trials", 60, "--json")
    assert simulated.exit_code == 0, simulated.stderr
    result = run("fit", data, "--steps", 2, "--out", out, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_two_choice_fit_scores_the_change_in_p_correct_on_each_side(two_choice_fit):
    (evaluation,) = two_choice_fit["evaluation"]
    assert evaluation["behaviour"] == "choice"
    assert evaluation["perturbed"]["delta_behaviour_compared"] == "condition and trial type"
    assert any(c["area"] == "ALM_L+ALM_R" for c in evaluation["conditions"])
    for condition in evaluation["conditions"]:
        assert set(condition["delta_by_trial_type"]) <= {"left", "right"} and condition["delta_by_trial_type"]
    text = run("evaluate", two_choice_fit["model_files"][0])
    assert text.exit_code == 0 and "scored as ΔP(correct)" in text.stdout


def test_perturb_target_and_info_speak_choice_for_a_two_choice_model(two_choice_fit):
    path = two_choice_fit["model_files"][0]
    perturbed = run("perturb", path, "--area", "ALM_L+ALM_R", "--window", "-0.05,0", "--power", 5, "--json")
    assert perturbed.exit_code == 0, perturbed.stderr
    assert set(json.loads(perturbed.stdout)["delta_by_trial_type"]) == {"left", "right"}
    text = run("perturb", path, "--area", "ALM_L", "--window", "-0.05,0", "--power", 5).stdout
    assert "change in P(correct)" in text and "\n  left trials: predicted" in text and "\n  right trials:" in text
    targeted = run("target", path, "--neurons", 2, "--trials", 8, "--no-save", "--json")
    assert targeted.exit_code == 0, targeted.stderr
    assert json.loads(targeted.stdout)["objective"] == "correct"
    info = run("info", path)
    assert "behaviour    choice: a lick rate per port (left, right)" in info.stdout
    error = one_line_error(run("perturb", path, "--area", "ALM_L+V1", "--window", "-0.1,0", "--power", 5))
    assert "area 'V1' is not in the model" in error
