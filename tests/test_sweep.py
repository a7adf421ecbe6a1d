"""``nwb-biornn sweep``: job planning, the three executors run for real (a local process pool, a local Ray with 2 CPUs,
submitit's local executor), skipping finished jobs, resuming from checkpoints, retrying failures; ``compare DIR``.

Fits are tiny (1-2 steps) on a small synthetic session (40 trials, 5 units per area), so a job takes seconds; the Ray
tests share one Ray started once for the module.
"""
import json
import re
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from nwb_biornn import api, nwbio
from nwb_biornn.cli import main
from nwb_biornn.core.errors import UserError
from nwb_biornn.sweep import FitOptions, desc_label, parse_grid, plan_jobs, run_job
from nwb_biornn.sweep.job import ResumableJob
from nwb_biornn.synthetic.demo import write_demo_dandiset


def dandi_file_name():
    """dandi's own rule for file names in a dandiset."""
    from dandi.organize import ORGANIZED_FILENAME_REGEX

    return ORGANIZED_FILENAME_REGEX


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def sweep_json(*args, ok=True):
    result = run("sweep", *args, "--steps", 1, "--device", "cpu", "--json")
    if ok:
        assert result.exit_code == 0, result.stderr[-3000:]
    return result, json.loads(result.stdout)


def small_dandiset(folder, circuit="refcirc1", n_sessions=1):
    return write_demo_dandiset(folder, circuit, n_sessions=n_sessions, n_trials=40, perturbed_fraction=0.1,
                               units_per_area=5)


@pytest.fixture(scope="module")
def dandiset(tmp_path_factory):
    """One small synthetic session."""
    return small_dandiset(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def two_subjects(tmp_path_factory):
    """Three sessions: two of subject refcirc1, one of subject refcirc2."""
    folder = tmp_path_factory.mktemp("subjects")
    small_dandiset(folder, "refcirc1", n_sessions=2)
    small_dandiset(folder, "refcirc2", n_sessions=1)
    return folder


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module's Ray tests (a sweep uses a Ray already started in its process)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


# planning ------------------------------------------------------------------------------------------------------

def test_grid_values_are_toml_or_text_and_bad_keys_are_refused():
    assert parse_grid([]) == [{}]
    assert parse_grid(["fit.lr=1e-3,3e-3", "fit.trial_matching=none,'sinkhorn'"]) == [
        {"fit.lr": 0.001, "fit.trial_matching": "none"}, {"fit.lr": 0.001, "fit.trial_matching": "sinkhorn"},
        {"fit.lr": 0.003, "fit.trial_matching": "none"}, {"fit.lr": 0.003, "fit.trial_matching": "sinkhorn"}]
    weights = parse_grid(["fit.loss_weights={trial = 1.0, psth = 1.0, rate = 1.0},{trial = 0, psth = 1.0, rate = 1.0}"])
    assert [point["fit.loss_weights"]["trial"] for point in weights] == [1.0, 0]
    for bad, message in (("fit.colour=1", "not a configuration field"), ("lr=1", "not a configuration field"),
                         ("fit.seed=1,2", "--seeds"), ("model.preset=x", "--models"), ("fit.lr", "KEY=VALUE"),
                         ("fit.lr=1,1", "repeated")):
        with pytest.raises(UserError, match=re.escape(message)):
            parse_grid([bad])
    with pytest.raises(UserError, match="given twice"):
        parse_grid(["fit.lr=1", "fit.lr=2"])


@pytest.mark.parametrize("per, groups", [("session", 3), ("subject", 2), ("all", 1)])
def test_jobs_are_groups_x_presets_x_seeds_x_grid_with_unique_dandi_valid_names(two_subjects, tmp_path, per, groups):
    sessions = api.load_sessions(str(two_subjects))
    options = FitOptions(source=str(two_subjects), out=str(tmp_path / "out"))
    grid = parse_grid(["fit.lr=1e-3,3e-3"])
    jobs = plan_jobs(sessions, options, ["biornn", "sigma_rnn"], [0, 1], grid, per)

    assert len(jobs) == groups * 2 * 2 * 2
    assert len({job.name for job in jobs}) == len(jobs)
    files = [Path(path) for job in jobs for path in job.model_files]
    assert len(set(files)) == len(files) == 3 * 2 * 2 * 2          # every session once per preset, seed, grid point
    for path in files:
        assert re.fullmatch(dandi_file_name(), path.name), path.name
        assert path.parent.parent == tmp_path / "out" and path.parent.name == path.name.split("_")[0]
    assert {job.desc for job in jobs} == {desc_label(p, s, g) for p in ("biornn", "sigma_rnn") for s in (0, 1)
                                          for g in grid}
    assert desc_label("sigma_rnn", 1, grid[1]) == "sigmarnn-seed1-lr0p003"
    sizes = sorted({len(job.sessions) for job in jobs})
    assert sizes == {"session": [1], "subject": [1, 2], "all": [3]}[per]
    for job in jobs[:: 8]:                                          # the patterns load exactly the job's sessions
        loaded = [s.session_id for p in job.patterns for s in api.load_sessions(str(two_subjects), p)]
        assert loaded == list(job.sessions)
    assert not any(job.finished() for job in jobs)


# executors -----------------------------------------------------------------------------------------------------

def test_local_workers_run_the_jobs_retry_a_failing_one_and_a_second_run_skips_the_finished(dandiset, tmp_path):
    out = tmp_path / "sweep"
    args = (dandiset, "--models", "biornn", "--seeds", "0,1", "--workers", 2, "--retries", 1, "--out", out)
    result, document = sweep_json(*args, "--set", "fit.lr=1e-3,1e300", ok=False)

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: 2 of 4 jobs failed")
    assert document["executor"] == "local" and document["out"] == str(out.resolve())
    by_point = {(job["seed"], job["grid"]["fit.lr"]): job for job in document["jobs"]}
    assert sorted(by_point) == [(0, 0.001), (0, 1e300), (1, 0.001), (1, 1e300)]
    for seed in (0, 1):
        done, failed = by_point[seed, 0.001], by_point[seed, 1e300]
        assert done["status"] == "done" and done["attempts"] == 1 and done["error"] is None
        assert [Path(p).name for p in done["model_files"]] == [
            f"sub-refcirc1_ses-20240101T120000_desc-biornn-seed{seed}-lr0p001.nwb"]
        assert Path(done["model_files"][0]).is_file() and done["seconds"] > 0
        assert failed["status"] == "failed" and failed["attempts"] == 2 and failed["model_files"] == []
        assert "RuntimeError" in failed["error"]
        assert (out / ".sweep" / failed["name"] / "error.log").read_text().startswith("Traceback")
    assert "failed, retrying" in result.stderr and "to run" in result.stderr

    start = time.monotonic()
    again, document = sweep_json(*args, "--set", "fit.lr=1e-3")
    assert [job["status"] for job in document["jobs"]] == ["skipped", "skipped"]
    assert time.monotonic() - start < 30

    compared = json.loads(run("compare", out, "--json").stdout)
    (entry,) = compared["presets"]
    assert (entry["preset"], entry["n_models"], entry["grid"]) == ("biornn", 2, {})
    assert entry["unperturbed.trial_matching_loss"]["n"] == 2 and entry["perturbed.trial_matching_loss"]["std"] >= 0


def test_ray_runs_the_jobs_as_tasks_on_the_running_ray(dandiset, tmp_path, local_ray):
    out = tmp_path / "sweep"
    result, document = sweep_json(dandiset, "--models", "biornn,sigma_rnn", "--seeds", 0, "--executor", "ray",
                                  "--workers", 2, "--cpus-per-job", 1, "--out", out)
    assert document["executor"] == "ray"
    assert [(job["preset"], job["status"]) for job in document["jobs"]] == [("biornn", "done"), ("sigma_rnn", "done")]
    assert all(Path(f).is_file() for job in document["jobs"] for f in job["model_files"])
    assert local_ray.is_initialized()                      # a Ray the sweep did not start is left running

    compared = json.loads(run("compare", out, "--json").stdout)
    assert {entry["preset"]: entry["n_models"] for entry in compared["presets"]} == {"biornn": 1, "sigma_rnn": 1}


def test_ray_reports_a_job_whose_source_file_became_unreadable(dandiset, tmp_path, local_ray):
    """A job fails (tried twice) when its session file cannot be read any more; the other job still succeeds."""
    source = small_dandiset(tmp_path / "source", n_sessions=2)
    options = FitOptions(source=str(source), out=str(tmp_path / "out"), steps=1, device="cpu", threads=1)
    jobs = plan_jobs(api.load_sessions(str(source)), options, ["biornn"], [0], [{}], "session")
    broken = Path(api.load_sessions(str(source), jobs[1].patterns[0])[0].source.path)
    broken.write_bytes(b"not an NWB file any more")

    refs = [local_ray.remote(run_job).remote(job, options) for job in jobs]
    done, failed = local_ray.get(refs)
    assert done["status"] == "done" and Path(done["model_files"][0]).is_file()
    assert failed["status"] == "failed" and "not an NWB file" in failed["error"]


def test_submitit_local_executor_runs_the_job_array(dandiset, tmp_path):
    pytest.importorskip("submitit")
    out = tmp_path / "sweep"
    result, document = sweep_json(dandiset, "--models", "biornn", "--seeds", "0,1", "--executor", "slurm",
                                  "--slurm-cluster", "local", "--timeout-min", 10, "--out", out)
    assert document["executor"] == "slurm"
    assert [(job["seed"], job["status"]) for job in document["jobs"]] == [(0, "done"), (1, "done")]
    assert all(Path(f).is_file() for job in document["jobs"] for f in job["model_files"])
    assert list((out / ".sweep" / "slurm").glob("*/*_log.err"))


def test_a_requeued_submitit_job_is_the_same_call():
    """What submitit requeues after a preemption or timeout: the same job, which resumes from its checkpoints."""
    pytest.importorskip("submitit")
    job, options = object(), object()
    callable_ = ResumableJob()
    delayed = callable_.checkpoint(job, options)
    assert delayed.function is callable_ and delayed.args == (job, options)


# skip and resume -----------------------------------------------------------------------------------------------

def test_an_unfinished_job_resumes_from_its_checkpoint(dandiset, tmp_path):
    out = tmp_path / "sweep"
    options = FitOptions(source=str(dandiset), out=str(out), steps=1, device="cpu")
    (job,) = plan_jobs(api.load_sessions(str(dandiset)), options, ["biornn"], [3], [{}], "session")
    first = run_job(job, options)
    assert (first["status"], first["resumed_from"], first["steps"]) == ("done", None, 1)

    Path(job.model_files[0]).unlink()       # killed after the fit's checkpoint, before its model file was written
    longer = FitOptions(source=str(dandiset), out=str(out), steps=2, device="cpu")
    second = run_job(job, longer)
    assert (second["status"], second["resumed_from"], second["steps"]) == ("done", 1, 2)
    assert len((job.folder(out) / "metrics.jsonl").read_text().splitlines()) == 2
    assert api.load_model(job.model_files[0]).fit_config.seed == 3
    assert run_job(job, longer)["status"] == "skipped"


def test_a_finished_job_asked_for_more_steps_trains_on_to_where_a_longer_fit_gets(dandiset, tmp_path):
    def options(out, steps):
        return FitOptions(source=str(dandiset), out=str(tmp_path / out), steps=steps, device="cpu")

    sessions = api.load_sessions(str(dandiset))
    (job,) = plan_jobs(sessions, options("sweep", 1), ["biornn"], [0], [{}], "session")
    assert run_job(job, options("sweep", 1))["status"] == "done"
    assert job.finished(1) and not job.finished(2) and nwbio.fitted_steps(job.model_files[0]) == 1

    extended = run_job(job, options("sweep", 2))
    assert (extended["status"], extended["resumed_from"], extended["steps"]) == ("done", 1, 2)
    assert nwbio.fitted_steps(job.model_files[0]) == 2
    assert [run_job(job, options("sweep", steps))["status"] for steps in (1, 2)] == ["skipped", "skipped"]

    (direct,) = plan_jobs(sessions, options("direct", 2), ["biornn"], [0], [{}], "session")
    run_job(direct, options("direct", 2))
    trained_on, trained_at_once = (torch.load(j.folder(tmp_path / out) / "checkpoints" / "last.pt")["model"]
                                   for j, out in ((job, "sweep"), (direct, "direct")))
    assert all(torch.equal(trained_on[name], trained_at_once[name]) for name in trained_at_once)


def test_options_that_change_what_is_fitted_are_refused_in_an_existing_sweep(dandiset, tmp_path):
    out = tmp_path / "sweep"
    out.joinpath(".sweep").mkdir(parents=True)
    out.joinpath(".sweep", "sweep.json").write_text(json.dumps({"source": "elsewhere", "per": "all"}))
    result = run("sweep", dandiset, "--out", out, "--steps", 1)
    assert result.exit_code == 1 and "holds a sweep with other source" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_executor_package_is_one_line_naming_the_extra(dandiset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)          # as if submitit were not installed
    result = run("sweep", dandiset, "--executor", "slurm", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --executor slurm needs submitit: pip install 'nwb-biornn[slurm]'")
    assert not (tmp_path / "out").exists()
