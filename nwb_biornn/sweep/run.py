"""Running a sweep: plan its jobs, skip the finished ones, hand the others to an executor, retry the failed ones.

An executor (:class:`~nwb_biornn.sweep.local.LocalPool`, :class:`~nwb_biornn.sweep.ray_tasks.RayTasks`,
:class:`~nwb_biornn.sweep.slurm.SlurmArray`) has ``capacity`` (jobs in flight at once, None: no limit) and
``submit(jobs, options) -> handles``, ``wait(handles, timeout) -> [(handle, outcome or exception)]``,
``running(handles) -> int`` and ``close(in_flight, cancel)``; every one runs :func:`~nwb_biornn.sweep.job.run_job`.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from nwb_biornn import api
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.files import atomic_path
from nwb_biornn.recordings.areas import parse_area_overrides
from nwb_biornn.sweep.job import failed_outcome
from nwb_biornn.sweep.plan import PER, SWEEP_FOLDER, FitOptions, Job, overrides_of, parse_grid, plan_jobs
from nwb_biornn.synthetic.demo import default_bin_size, is_demo_source

EXECUTORS = ("local", "ray", "slurm")
HEARTBEAT_SECONDS = 30.0
"""Seconds between progress reports while no job finishes."""


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the jobs run.

    ``workers``: jobs at once (local default: half this machine's cores, at most the jobs to run; Ray: the same for
    a Ray started here, no limit on a cluster; SLURM: ``array_parallelism`` limits instead). ``cpus_per_job``:
    CPUs (and torch threads) of a job (default: cores / workers here, 1 on a cluster). ``gpus_per_job``: GPUs of a
    job on Ray (fractions share a GPU) or SLURM (whole).
    """

    name: str = "local"
    workers: int | None = None
    cpus_per_job: float | None = None
    gpus_per_job: float = 0.0
    address: str | None = None
    slurm_partition: str | None = None
    timeout_min: int = 240
    slurm_array_parallelism: int | None = None
    slurm_cluster: str = "slurm"


def run_sweep(source: str, out, *, models, seeds, settings=(), per: str = "session",
              executor: ExecutorOptions = ExecutorOptions(), retries: int = 1, sessions_glob=None, config_file=None,
              steps=None, device="auto", cache_dir=None, api_url=None, stream=False, areas_text=None, align="auto",
              bin_size=None, subject_overrides=None, calibrate_on=(), progress=None, download_progress=None) -> dict:
    """Fit every job of a sweep of ``source`` into the dandiset folder ``out``; return the sweep's document.

    Jobs are the groups of sessions (``per``) x ``models`` x ``seeds`` x the grid points of ``settings`` (``--set``
    texts, :func:`~nwb_biornn.sweep.plan.parse_grid`). Jobs whose model files exist are ``skipped``; the others run
    on ``executor`` and resume from their own checkpoints when an earlier run left some; a failed job is tried
    ``retries`` more times, and a job that still fails is reported, while the others go on. The other options are
    ``fit``'s (:func:`nwb_biornn.api.load_sessions`, :func:`~nwb_biornn.api.configure`, ...), the same for
    every job; they, the source and ``per`` are recorded in ``out/.sweep/sweep.json``, and a later run into the
    same folder must repeat them (the presets, seeds and grid may change).

    ``progress(counts, outcome)`` follows the run: ``counts`` has ``done`` (skipped included), ``skipped``,
    ``running``, ``failed``, ``to_run``, ``elapsed_seconds`` and ``eta_seconds`` (None until a fit finishes);
    ``outcome`` is a finished job's (``retrying`` True when it will be tried again) or None.

    Returns
    -------
    dict
        ``{"executor", "out", "jobs": [{"name", "preset", "seed", "sessions", "grid", "status", "model_files",
        "seconds", "error", "attempts", "resumed_from"}]}`` in plan order; ``status`` is done, skipped or failed.
    """
    start = time.monotonic()
    presets, seeds = list(models), [int(seed) for seed in seeds]
    _check(presets, seeds, per, executor, retries)
    grid = parse_grid(settings)
    options = FitOptions(
        source=source if is_demo_source(source) else _absolute(source), out=str(Path(out).expanduser().resolve()),
        sessions_glob=sessions_glob, config_file=_absolute(config_file), steps=steps, device=device,
        cache_dir=_absolute(cache_dir), api_url=api_url, stream=stream,
        area_map=parse_area_overrides(areas_text) if areas_text else None, align=align,
        bin_size=default_bin_size(source) if bin_size is None else bin_size,
        subject_overrides=dict(subject_overrides or {}), calibrate_on=tuple(calibrate_on))
    for preset in presets:
        for point in grid:
            api.configure(preset, options.config_file, steps, seeds[0], source, overrides=overrides_of(point))
    if executor.name == "local":
        api.resolve_device(device)
    elif executor.name == "ray":
        from nwb_biornn.sweep.ray_tasks import import_ray

        import_ray()
    else:
        from nwb_biornn.sweep.slurm import import_submitit

        import_submitit()
    sessions = api.load_sessions(options.source, sessions_glob, cache_dir=options.cache_dir, api_url=api_url,
                                 stream=stream, area_map=options.area_map, align=align, bin_size=options.bin_size,
                                 progress=download_progress)
    api.check_options(sessions, subject_overrides=options.subject_overrides, calibrate_on=options.calibrate_on)
    jobs = plan_jobs(sessions, options, presets, seeds, grid, per)
    del sessions
    _record(options, per)
    outcomes = {job.name: {"status": "skipped", "model_files": list(job.model_files), "seconds": 0.0, "error": None,
                           "attempts": 0, "resumed_from": None} for job in jobs if job.finished(options.steps)}
    pending = [job for job in jobs if job.name not in outcomes]
    if pending:
        runner, threads = _executor(executor, len(pending), options)
        options = dataclasses.replace(options, threads=threads)
        _schedule(runner, pending, options, retries, outcomes, _Progress(progress, start, outcomes, runner))
    else:
        _Progress(progress, start, outcomes, None)(None)
    return {"executor": executor.name, "out": options.out, "jobs": [_entry(job, outcomes[job.name]) for job in jobs]}


def _check(presets, seeds, per, executor: ExecutorOptions, retries):
    if not presets:
        raise UserError("--models: give at least one preset")
    if len(set(presets)) < len(presets) or len(set(seeds)) < len(seeds):
        raise UserError("--models and --seeds must not repeat a value")
    if not seeds:
        raise UserError("--seeds: give at least one seed")
    if per not in PER:
        raise UserError(f"--per must be one of {', '.join(PER)}, not {per!r}")
    if executor.name not in EXECUTORS:
        raise UserError(f"--executor must be one of {', '.join(EXECUTORS)}, not {executor.name!r}")
    if retries < 0:
        raise UserError(f"--retries must be 0 or more, not {retries}")
    if executor.workers is not None and executor.workers < 1:
        raise UserError(f"--workers must be at least 1, not {executor.workers}")
    if executor.cpus_per_job is not None and not executor.cpus_per_job > 0:
        raise UserError(f"--cpus-per-job must be positive, not {executor.cpus_per_job}")
    if executor.gpus_per_job < 0:
        raise UserError(f"--gpus-per-job must be 0 or more, not {executor.gpus_per_job}")
    if executor.gpus_per_job and executor.name == "local":
        raise UserError("--gpus-per-job is for --executor ray or slurm; local workers share this machine's GPUs "
                        "(--device cuda)")


def _absolute(path):
    """A local path made absolute (jobs may run in another folder or on another machine); other text as is."""
    if path is None:
        return None
    candidate = Path(path).expanduser()
    return str(candidate.resolve()) if candidate.exists() else path


def _record(options: FitOptions, per: str) -> None:
    """Write ``out/.sweep/sweep.json`` with the options every job shares, or check that they are the recorded ones."""
    recorded = {"source": options.source, "sessions": options.sessions_glob, "per": per,
                "config": options.config_file, "align": options.align, "bin_size": options.bin_size,
                "areas": options.area_map, "calibrate_on": list(options.calibrate_on)}
    path = Path(options.out) / SWEEP_FOLDER / "sweep.json"
    if path.is_file():
        before = json.loads(path.read_text())
        changed = [key for key in recorded if before.get(key) != recorded[key]]
        if changed:
            raise UserError(f"{options.out} holds a sweep with other {', '.join(changed)} "
                            f"({', '.join(f'{k}={before.get(k)!r}' for k in changed)}); repeat them, or choose another "
                            "--out")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(recorded, indent=1))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _executor(chosen: ExecutorOptions, n_jobs: int, options: FitOptions):
    """The executor and the torch threads of a job (here, workers x threads stay within this machine's cores)."""
    cores = _cores()
    on_cluster = chosen.name == "slurm" or (chosen.name == "ray" and (chosen.address or os.environ.get("RAY_ADDRESS")))
    workers = chosen.workers
    if workers is None and not on_cluster:
        workers = max(1, min(n_jobs, cores // 2))
    cpus = chosen.cpus_per_job or (1 if on_cluster else max(1, cores // workers))
    if chosen.name == "local":
        from nwb_biornn.sweep.local import LocalPool

        runner = LocalPool(workers)
    elif chosen.name == "ray":
        from nwb_biornn.sweep.ray_tasks import RayTasks

        runner = RayTasks(workers, cpus, chosen.gpus_per_job, chosen.address)
    else:
        from nwb_biornn.sweep.slurm import SlurmArray

        runner = SlurmArray(options.out, cluster=chosen.slurm_cluster, partition=chosen.slurm_partition,
                            timeout_min=chosen.timeout_min, cpus_per_job=max(1, round(cpus)),
                            gpus_per_job=chosen.gpus_per_job, array_parallelism=chosen.slurm_array_parallelism)
    return runner, max(1, int(cpus))


def _schedule(runner, pending: list[Job], options: FitOptions, retries: int, outcomes: dict, report) -> None:
    """Run ``pending`` on ``runner`` until every job is done or failed ``retries + 1`` times; fill ``outcomes``."""
    queue, in_flight, attempts = collections.deque(pending), {}, collections.Counter()
    report.in_flight, report.queue = in_flight, queue
    first = True
    try:
        while queue or in_flight:
            free = len(queue) if runner.capacity is None else max(0, runner.capacity - len(in_flight))
            batch = [queue.popleft() for _ in range(min(free, len(queue)))]
            if batch:
                for handle, job in zip(runner.submit(batch, options), batch):
                    in_flight[id(handle)] = (handle, job, time.monotonic())
                if first:
                    report(None)
                    first = False
            finished = runner.wait([handle for handle, _, _ in in_flight.values()], HEARTBEAT_SECONDS)
            for handle, outcome in finished:
                _, job, started = in_flight.pop(id(handle))
                if isinstance(outcome, BaseException):
                    outcome = failed_outcome(job, outcome, time.monotonic() - started)
                attempts[job.name] += 1
                outcome["attempts"] = attempts[job.name]
                retry = outcome["status"] == "failed" and attempts[job.name] <= retries
                if retry:
                    queue.append(job)
                else:
                    outcomes[job.name] = outcome
                report(dict(outcome, retrying=retry, preset=job.preset, seed=job.seed, grid=dict(job.grid),
                            sessions=list(job.sessions)))
            if not finished:
                report(None)
    except BaseException:
        runner.close([handle for handle, _, _ in in_flight.values()], cancel=True)
        raise
    runner.close([], cancel=False)


class _Progress:
    """Counts for ``progress(counts, outcome)``."""

    def __init__(self, progress, start, outcomes, runner):
        self.progress, self.start, self.outcomes, self.runner = progress, start, outcomes, runner
        self.in_flight, self.queue, self.fitted = {}, collections.deque(), []

    def __call__(self, outcome):
        if outcome is not None and outcome["status"] == "done":
            self.fitted.append(outcome["seconds"])
        if self.progress is None:
            return
        statuses = collections.Counter(o["status"] for o in self.outcomes.values())
        handles = [handle for handle, _, _ in self.in_flight.values()]
        running = self.runner.running(handles) if handles else 0
        to_run = len(self.queue) + len(handles) - running
        eta = None
        if self.fitted and running + to_run:
            parallel = max(1, min(self.runner.capacity or running or 1, running + to_run))
            eta = (running + to_run) * (sum(self.fitted) / len(self.fitted)) / parallel
        counts = {"done": statuses["done"] + statuses["skipped"], "skipped": statuses["skipped"], "running": running,
                  "failed": statuses["failed"], "to_run": to_run, "elapsed_seconds": time.monotonic() - self.start,
                  "eta_seconds": eta}
        self.progress(counts, outcome)


def _entry(job: Job, outcome: dict) -> dict:
    return {"name": job.name, "preset": job.preset, "seed": job.seed, "sessions": list(job.sessions),
            "grid": dict(job.grid), "status": outcome["status"], "model_files": outcome["model_files"],
            "seconds": outcome["seconds"], "error": outcome["error"], "attempts": outcome["attempts"],
            "resumed_from": outcome.get("resumed_from")}
