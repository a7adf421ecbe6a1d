"""How a simulation uses the CPU's threads.

Trials are independent, so a big run's time loop and its backward pass are split by trials into one shard per
thread: each thread integrates (and backpropagates) its own trials, with its own random draws
(:mod:`nwb_biornn.model.draws`, which do not depend on the split) and its own lists of spikes, and each runs
torch on one thread. A small network's steps take microseconds, so it runs on one thread, and its random draws
are made ahead by a background thread when the process may use more than one.

Examples
--------
>>> [(s.start, s.stop) for s in trial_shards(41, 2)]
[(0, 20), (20, 41)]
>>> with one_thread():
...     torch.get_num_threads()
1
"""
from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Callable

import torch

SMALL_STEP_WORK = 2 ** 23
"""Multiply-adds of one step's recurrent product below which a CPU simulation runs on a single thread."""

_AVAILABLE = contextvars.ContextVar("nwb_biornn_available_threads", default=None)


def available_threads() -> int:
    """The CPU threads the enclosing work may use: torch's thread count, or the count before
    :func:`single_thread_if_small` set it to one for a small network."""
    return _AVAILABLE.get() or torch.get_num_threads()


def is_small(device, n_trials: int, n_neurons: int, n_delays: int) -> bool:
    """Whether a run's recurrent product per step is below :data:`SMALL_STEP_WORK` multiply-adds on a CPU."""
    return torch.device(device).type == "cpu" and n_trials * n_neurons * n_neurons * n_delays < SMALL_STEP_WORK


@contextmanager
def single_thread_if_small(model, batch_size: int):
    """Run the enclosed CPU work of ``model`` (a :class:`~nwb_biornn.model.network.BioRNN`) on one thread when the
    network is small for ``batch_size`` trials.

    The per-step products of a small network take microseconds; splitting them over threads costs more in
    synchronisation than it saves, and on a busy machine (every core taken) it can make a step a thousand
    times slower. Wrap both simulation and backward pass (as :func:`~nwb_biornn.fit.trainer.fit` does).
    :func:`available_threads` still says how many threads there were (for the draws' background thread).
    """
    small = is_small(model.weight.device, batch_size, model.n_neurons, len(model.delay_steps()))
    token = _AVAILABLE.set(available_threads() if small else None)
    try:
        with one_thread(small):
            yield
    finally:
        _AVAILABLE.reset(token)


@contextmanager
def one_thread(when: bool = True):
    """Run the enclosed CPU work on one thread if ``when`` (torch's thread count is restored afterwards)."""
    threads = torch.get_num_threads()
    if when:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def trial_shards(n_trials: int, n_shards: int) -> list:
    """``n_trials`` split into at most ``n_shards`` consecutive slices whose sizes differ by at most one."""
    n_shards = max(1, min(n_shards, n_trials))
    bounds = [n_trials * i // n_shards for i in range(n_shards + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def run_shards(device, n_trials: int, n_neurons: int, n_delays: int) -> list:
    """The trial shards of one run: one per available thread for a big CPU run, else one (:func:`trial_shards`)."""
    big = torch.device(device).type == "cpu" and not is_small(device, n_trials, n_neurons, n_delays)
    return trial_shards(n_trials, available_threads() if big else 1)


def in_shards(work: Callable[[int, slice], None], shards: list) -> None:
    """Call ``work(index, shard)`` for every shard: the first in this thread, each other in a thread of its own
    (:func:`_helpers`), each running torch on one thread without gradient recording. A failure in any shard is
    raised here, once every shard is done."""
    if len(shards) == 1:
        work(0, shards[0])
        return

    def on_one_thread(index: int, shard: slice) -> None:
        torch.set_num_threads(1)
        with torch.no_grad():
            work(index, shard)

    with one_thread():
        helpers = _helpers(len(shards) - 1)
        futures = [helpers.submit(on_one_thread, i, shard) for i, shard in enumerate(shards[1:], 1)]
        try:
            on_one_thread(0, shards[0])
        finally:
            wait(futures)
        for future in futures:
            future.result()


_HELPERS: dict = {}
_HELPERS_LOCK = threading.Lock()


def _helpers(count: int) -> ThreadPoolExecutor:
    """This process's pool of ``count`` threads for shards, made on first use and kept: starting threads for
    every run costs milliseconds on some machines (a process forked from this one makes its own)."""
    key = (os.getpid(), count)
    with _HELPERS_LOCK:
        if key not in _HELPERS:
            _HELPERS[key] = ThreadPoolExecutor(count, thread_name_prefix="nwb-biornn-shard")
        return _HELPERS[key]
