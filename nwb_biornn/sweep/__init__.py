"""Sweeps: many fits of one source (sessions grouped per session, subject or all x presets x seeds x ``--set`` grid
points) into one output dandiset, on this machine's cores, a Ray cluster or SLURM.

The layer between :mod:`nwb_biornn.api` (each job is exactly ``fit``'s code path through it) and the command line
(``nwb-biornn sweep``): :mod:`~nwb_biornn.sweep.plan` names the jobs and their model files,
:mod:`~nwb_biornn.sweep.job` runs one (skip, resume, report a failure), :mod:`~nwb_biornn.sweep.run` schedules them
(retries, progress) on an executor: :mod:`~nwb_biornn.sweep.local` (process pool), :mod:`~nwb_biornn.sweep.ray_tasks`
(Ray tasks) or :mod:`~nwb_biornn.sweep.slurm` (a submitit job array). Ray and submitit are imported only by their
executor.
"""
from nwb_biornn.sweep.job import run_job
from nwb_biornn.sweep.plan import PER, FitOptions, Job, desc_label, parse_grid, plan_jobs
from nwb_biornn.sweep.run import EXECUTORS, ExecutorOptions, run_sweep

__all__ = ["EXECUTORS", "PER", "ExecutorOptions", "FitOptions", "Job", "desc_label", "parse_grid", "plan_jobs",
           "run_job", "run_sweep"]
