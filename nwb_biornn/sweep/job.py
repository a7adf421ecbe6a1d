"""One job of a sweep, run where an executor puts it: exactly ``fit``'s code path, made safe to repeat.

:func:`run_job` is a module-level function (process pools, Ray and submitit pickle it by reference). It takes the
job's lock, returns ``skipped`` when the job's model files already exist (fitted for at least ``options.steps``),
else loads the job's sessions, configures, fits (resuming from the job's own checkpoint folder when one is there:
an unfinished fit, or a finished one asked for more steps), predicts and saves through
:mod:`nwb_biornn.api`. It never raises for a failed fit: the failure comes back as the job's outcome (with the
traceback in the job folder's ``error.log``), so one bad job never stops the others.
"""
from __future__ import annotations

import contextlib
import socket
import time
import traceback

from nwb_biornn import api
from nwb_biornn.core.errors import UserError
from nwb_biornn.sweep.plan import FitOptions, Job, overrides_of


def run_job(job: Job, options: FitOptions) -> dict:
    """Run ``job`` (or find it finished) and return its outcome.

    Returns
    -------
    dict
        ``{"name", "status": "done" | "skipped" | "failed", "model_files", "seconds", "error", "resumed_from",
        "steps", "host"}``; ``resumed_from`` is the step a fit continued from (None for a fresh one).
    """
    start = time.monotonic()
    outcome = {"name": job.name, "status": "failed", "model_files": [], "error": None, "resumed_from": None,
               "steps": None, "host": socket.gethostname()}
    folder = job.folder(options.out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _exclusive(folder / "lock"):
            if job.finished(options.steps):
                outcome.update(status="skipped", model_files=list(job.model_files))
            else:
                outcome.update(_fit(job, options, folder), status="done")
                (folder / "error.log").unlink(missing_ok=True)
    except Exception as err:   # reported in the outcome, never raised: the other jobs go on
        outcome["error"] = failure_text(err)
        with contextlib.suppress(OSError):
            (folder / "error.log").write_text(traceback.format_exc())
    outcome["seconds"] = time.monotonic() - start
    return outcome


def failed_outcome(job: Job, err: BaseException, seconds: float = 0.0) -> dict:
    """The outcome of a job whose process or task died before :func:`run_job` could return (an executor's error)."""
    return {"name": job.name, "status": "failed", "model_files": [], "error": failure_text(err),
            "resumed_from": None, "steps": None, "host": None, "seconds": seconds}


def failure_text(err: BaseException) -> str:
    """One line: the error's message (a user error's as is; others prefixed by their type)."""
    text = " ".join(str(err).split()) or repr(err)
    return text if isinstance(err, UserError) else f"{type(err).__name__}: {text}"


class ResumableJob:
    """:func:`run_job` as a callable that submitit checkpoints: on preemption or timeout the same call is
    requeued, and it resumes from the job's checkpoints (the trainer writes them every 50 steps or 2 minutes)."""

    def __call__(self, job: Job, options: FitOptions) -> dict:
        return run_job(job, options)

    def checkpoint(self, job: Job, options: FitOptions):
        import submitit

        return submitit.helpers.DelayedSubmission(self, job, options)


def _fit(job: Job, options: FitOptions, folder) -> dict:
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    sessions = [session for pattern in job.patterns
                for session in api.load_sessions(options.source, pattern, cache_dir=options.cache_dir,
                                                 api_url=options.api_url, stream=options.stream,
                                                 area_map=options.area_map, align=options.align,
                                                 bin_size=options.bin_size)]
    found = [s.session_id for s in sessions]
    if found != list(job.sessions):
        raise UserError(f"the source's sessions changed since the sweep was planned (expected {list(job.sessions)}, "
                            f"found {found}); run the sweep again")
    model_config, fit_config = api.configure(job.preset, options.config_file, options.steps, job.seed, options.source,
                                             overrides=overrides_of(dict(job.grid)))
    resumed = []

    def progress(step, metrics):
        if metrics.get("resumed"):
            resumed.append(step)

    result = api.fit(sessions, model_config, fit_config, out=folder,
                     resume=(folder / "checkpoints" / "last.pt").exists(), device=options.device, progress=progress)
    predicted = api.predict(result, sessions, calibrate_on=options.calibrate_on)
    paths = [str(p) for p in api.save(result, sessions, predicted, options.out,
                                      subject_overrides=options.subject_overrides, desc=job.desc)]
    if sorted(paths) != sorted(job.model_files):
        raise RuntimeError(f"the job wrote {paths}, not the planned {list(job.model_files)}")
    return {"model_files": paths, "resumed_from": resumed[0] if resumed else None, "steps": result.steps}


@contextlib.contextmanager
def _exclusive(path):
    """Hold an exclusive lock on ``path`` (waiting for it): one process at a time runs a job, even when a sweep is
    started again while an earlier one's workers still run. Released when the process dies; a file system
    without locks runs unlocked."""
    try:
        import fcntl
    except ImportError:   # not on a POSIX system
        yield
        return
    with open(path, "a") as handle:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
