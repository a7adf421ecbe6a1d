"""The ``slurm`` executor: the jobs as one SLURM job array, submitted through submitit.

submitit is imported only here (``pip install 'nwb-biornn[slurm]'``). Array tasks run :class:`ResumableJob`: when
SLURM preempts one or its time runs out, submitit requeues it and the rerun continues from the job's checkpoints.
The nodes need the same Python environment and the source, cache and output folder on a shared file system;
submitit's logs are under ``DIR/.sweep/slurm/``.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from nwb_biornn.core.errors import UserError
from nwb_biornn.sweep.job import ResumableJob
from nwb_biornn.sweep.plan import SWEEP_FOLDER


def import_submitit():
    try:
        import submitit
    except ImportError:
        raise UserError("--executor slurm needs submitit: pip install 'nwb-biornn[slurm]'") from None
    return submitit


class SlurmArray:
    """Each :meth:`submit` is one job array (retries are a further, smaller array).

    ``cluster`` is ``"slurm"``, or ``"local"`` to run the array on this machine through submitit's local executor
    (every task at once; to try a sweep without a cluster).
    """

    name = "slurm"
    capacity = None
    POLL_SECONDS = 2.0

    def __init__(self, out, *, cluster: str = "slurm", partition: str | None = None, timeout_min: int = 240,
                 cpus_per_job: int = 1, gpus_per_job: float = 0, array_parallelism: int | None = None):
        submitit = import_submitit()
        if gpus_per_job != int(gpus_per_job):
            raise UserError(f"--gpus-per-job must be a whole number on SLURM, not {gpus_per_job}")
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise UserError("--executor slurm: no SLURM here (sbatch not found); run from a SLURM login node, "
                            "or use --slurm-cluster local to try the array on this machine")
        self._executor = submitit.AutoExecutor(folder=Path(out) / SWEEP_FOLDER / "slurm" / "%j", cluster=cluster)
        parameters = dict(name="nwb-biornn-sweep", timeout_min=int(timeout_min), cpus_per_task=int(cpus_per_job),
                          gpus_per_node=int(gpus_per_job), slurm_partition=partition,
                          slurm_array_parallelism=array_parallelism)
        self._executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})

    def submit(self, jobs, options) -> list:
        jobs = list(jobs)
        return self._executor.map_array(ResumableJob(), jobs, [options] * len(jobs))

    def wait(self, handles, timeout: float) -> list:
        """``(handle, outcome or exception)`` of the handles that finish within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            done = [handle for handle in handles if handle.done()]
            if done or time.monotonic() >= deadline:
                break
            time.sleep(min(self.POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        finished = []
        for handle in done:
            try:
                finished.append((handle, handle.result()))
            except Exception as err:   # the task failed outside run_job (killed, out of time too often...)
                finished.append((handle, err))
        return finished

    def running(self, handles) -> int:
        """The array tasks that SLURM has started (those still waiting in its queue aside)."""
        waiting = ("PENDING", "REQUEUED", "CONFIGURING", "QUEUED", "UNKNOWN")
        return sum(not str(handle.state).upper().startswith(waiting) for handle in handles)

    def close(self, in_flight, cancel: bool = False) -> None:
        """With ``cancel`` (an interrupted sweep), cancel the array tasks still in flight."""
        if cancel:
            for handle in in_flight:
                handle.cancel(check=False)
