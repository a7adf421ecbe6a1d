"""The ``ray`` executor: each job a Ray task, on a cluster (``--address``, ``RAY_ADDRESS``) or on a Ray started here.

Ray is imported only here (``pip install 'nwb-biornn[ray]'``). Every machine of a cluster needs nwb-biornn installed
in the same environment, and the source, the cache and the output folder on a shared file system.
"""
from __future__ import annotations

import os
import socket

from nwb_biornn.core.errors import UserError
from nwb_biornn.sweep.job import run_job


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'nwb-biornn[ray]'") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when a ``HOST:PORT`` address has nobody listening (Ray waits long)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return   # "auto", "ray://..." (Ray Client): left to Ray
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as err:
        raise UserError(f"cannot reach the Ray cluster at {address} ({err.strerror or err}); start it with "
                        "`ray start --head` or check --address") from None


class RayTasks:
    """Jobs as Ray tasks that ask for ``cpus_per_job`` CPUs and ``gpus_per_job`` GPUs (fractions share a GPU).

    A Ray already initialized in this process is used as it is; else ``address`` (or ``RAY_ADDRESS``) joins a
    cluster; else a local Ray with ``workers x cpus_per_job`` CPUs is started, and shut down by :meth:`close`.
    At most ``workers`` jobs are in flight (None: as many as the cluster's resources allow).
    """

    name = "ray"

    def __init__(self, workers: int | None, cpus_per_job: float, gpus_per_job: float, address: str | None):
        ray = self._ray = import_ray()
        self.capacity, self._started = workers, False
        address = address or os.environ.get("RAY_ADDRESS")
        if not ray.is_initialized():
            if address:
                _check_reachable(address)
                try:
                    ray.init(address=address, log_to_driver=False)
                except Exception as err:   # Ray raises ConnectionError, RuntimeError or ValueError here
                    reason = " ".join(str(err).split())
                    raise UserError(f"cannot join the Ray cluster at {address}: {reason} (a cluster with token "
                                    "authentication also needs RAY_AUTH_MODE=token and its token here)") from None
            else:
                ray.init(num_cpus=int(max(1, (workers or 1) * cpus_per_job)), include_dashboard=False,
                         log_to_driver=False)
                self._started = True
        self._remote = ray.remote(run_job).options(num_cpus=cpus_per_job, num_gpus=gpus_per_job, max_retries=0)

    def submit(self, jobs, options) -> list:
        return [self._remote.remote(job, options) for job in jobs]

    def wait(self, handles, timeout: float) -> list:
        """``(handle, outcome or exception)`` of the handles that finish within ``timeout`` seconds."""
        ready, _ = self._ray.wait(list(handles), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self._ray.wait(list(handles), num_returns=len(handles), timeout=0)
        finished = []
        for handle in ready:
            try:
                finished.append((handle, self._ray.get(handle)))
            except Exception as err:   # the task's worker died, or Ray lost the task
                finished.append((handle, err))
        return finished

    def running(self, handles) -> int:
        return len(handles)

    def close(self, in_flight, cancel: bool = False) -> None:
        """Cancel the tasks still in flight with ``cancel`` (an interrupted sweep); shut down a Ray started here."""
        if cancel:
            for handle in in_flight:
                self._ray.cancel(handle, force=True)
        if self._started:
            self._ray.shutdown()
