"""The ``local`` executor: a pool of worker processes on this machine (spawned, so each starts clean)."""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool

from nwb_biornn.sweep.job import run_job


class LocalPool:
    """``workers`` processes, each running one job at a time.

    A worker that dies (killed, out of memory) fails the jobs it was running, and the pool is started again
    for the next ones. Workers end with this process, even when it is killed with ``kill -9``.
    """

    name = "local"

    def __init__(self, workers: int):
        self.workers = self.capacity = workers
        self._pool = self._start()

    def _start(self):
        return concurrent.futures.ProcessPoolExecutor(max_workers=self.workers,
                                                      mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=exit_with_parent, initargs=(os.getpid(),))

    def submit(self, jobs, options) -> list:
        return [self._pool.submit(run_job, job, options) for job in jobs]

    def wait(self, handles, timeout: float) -> list:
        """``(handle, outcome or exception)`` of the handles that finish within ``timeout`` seconds."""
        done, _ = concurrent.futures.wait(handles, timeout, return_when=concurrent.futures.FIRST_COMPLETED)
        finished, broken = [], False
        for handle in done:
            try:
                finished.append((handle, handle.result()))
            except Exception as err:   # the worker process died
                broken |= isinstance(err, BrokenProcessPool)
                finished.append((handle, err))
        if broken:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
        return finished

    def running(self, handles) -> int:
        return sum(handle.running() for handle in handles)

    def close(self, in_flight, cancel: bool = False) -> None:
        """Stop the workers (with ``cancel``, without waiting for the jobs in flight)."""
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end the worker as soon as the sweep's process ``parent`` is gone.

    A pool's idle workers would otherwise wait for work forever after a ``kill -9`` of the sweep, and busy ones
    would finish a job nobody waits for; the job's checkpoints let the next run resume it instead.
    """
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
