"""The random draws of a simulation's runs, keyed so that they do not depend on who draws them.

Every step of :class:`~nwb_biornn.model.network.BioRNN` needs two random numbers per neuron and trial: its
membrane noise and the uniform draw that decides its escape-noise spike. They are drawn per chunk of
:data:`CHUNK_STEPS` steps and block of :data:`TRIAL_BLOCK` trials, each from torch's generator seeded by a key
of (simulation seed, run, chunk, block) (:func:`chunk_seeds`, counter-based in the manner of Philox): standard
normals, then uniforms. So the draws of a trial are the same whichever thread draws them, in whatever order,
however the trials are split between threads (:mod:`nwb_biornn.model.threads`); a block that two shards of
trials share is drawn once, by the first to reach it.

A run that integrates all its trials in one thread has its chunks drawn ahead by a background thread when the
process may use more than one (``start_drawing(..., background=True)``); otherwise each shard of trials draws
its chunks itself when it reaches them. Either way the loop calls :meth:`Draws.wait` before it uses a step, and
scales the noise and turns the uniforms into spike thresholds itself as it reaches them, while they are in
cache.

Examples
--------
>>> draws = Draws((140, 50, 3), seed=0, run=1, spiking=False)
>>> start_drawing(draws, background=False)
>>> draws.wait(140, slice(25, 50)); draws.wait(140, slice(0, 25))
>>> same = draw_all((140, 50, 3), seed=0, run=1, spiking=False)[0]
>>> bool(torch.equal(same, draws.noise))
True
"""
from __future__ import annotations

import threading

import numpy as np
import torch

CHUNK_STEPS = 128
"""Steps whose random numbers are drawn together."""
TRIAL_BLOCK = 32
"""Trials whose random numbers are drawn together."""


def chunk_seeds(seed: int, run: int, chunk: int, blocks: np.ndarray) -> np.ndarray:
    """The seeds (uint64) of the generators that draw chunk ``chunk`` of the trial ``blocks`` of run ``run`` of a
    simulation seeded by ``seed`` (any integer, taken modulo 2**64): SplitMix64's mixing function applied to
    each key in turn.

    >>> a, b = chunk_seeds(0, 1, 2, np.arange(2)).tolist()
    >>> bool(a == chunk_seeds(0, 1, 2, np.array([0]))[0] and a != b != chunk_seeds(0, 1, 3, np.arange(2))[1])
    True
    """
    state = np.array([seed % 2 ** 64], dtype=np.uint64)
    for part in (run, chunk):
        state = _splitmix(state ^ np.uint64(part))
    return _splitmix(state ^ np.asarray(blocks, dtype=np.uint64))


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's increment and finalizer (Steele, Lea & Flood 2014), element-wise, modulo 2**64."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def simulation_seed(seed: int | None) -> int:
    """``seed``, or if None one drawn from torch's global generator (so ``torch.manual_seed`` fixes it)."""
    return int(seed) if seed is not None else int(torch.randint(0, 2 ** 62, (1,)))


class Draws:
    """Membrane noise and escape-noise uniforms of every step of one run.

    Parameters
    ----------
    shape : (T, K, N)
        Steps, trials and neurons.
    seed : int
        The simulation's seed (:func:`simulation_seed`).
    run : int
        Which run of the simulation (0 for the warm-up, 1 for the trials).
    spiking : bool
        Whether the units spike (only then are uniforms drawn and thresholds made).
    device, dtype
        Of the draws.

    Attributes
    ----------
    noise : Tensor, shape (T, K, N)
        Standard normal draws (complete for a shard once :meth:`wait` has returned for its last step).
    thresholds : Tensor, shape (T, K, N), or None
        Uniform draws in [0, 1) for spiking units (the loop turns each step's into the potentials above which
        its neurons spike: in place in tensor operations, into a scratch array in fused steps).
    """

    def __init__(self, shape: tuple, seed: int, run: int, spiking: bool, device=None, dtype=None):
        self.seed, self.run = seed, run
        self.noise = torch.empty(shape, device=device, dtype=dtype)
        self.thresholds = torch.empty(shape, device=device, dtype=dtype) if spiking else None
        self.background = False
        self._drawn = 0
        self._ready: dict = {}
        self._blocks: dict = {}
        self._lock = threading.Lock()
        self._condition = threading.Condition()
        self._error: BaseException | None = None

    def wait(self, stop: int, trials: slice = slice(None)) -> None:
        """Make sure every step before ``stop`` of ``trials`` is drawn: wait for the background thread
        (re-raising its failure) or draw the missing chunks now."""
        ready = self._ready.get(trials.start or 0, 0)
        if ready >= stop:
            return
        trials = slice(*trials.indices(self.noise.shape[1]))
        if self.background:
            with self._condition:
                self._condition.wait_for(lambda: self._drawn >= stop or self._error is not None)
            if self._error is not None:
                raise self._error
            self._ready[trials.start] = self._drawn
            return
        with torch.no_grad():
            while ready < stop:
                chunk = slice(ready, min(len(self.noise), ready + CHUNK_STEPS))
                self._draw_once(chunk, trials)
                ready = self._ready[trials.start] = chunk.stop

    def _draw_once(self, chunk: slice, trials: slice) -> None:
        """Draw the blocks of ``chunk`` that ``trials`` overlap, each once: a block that another shard of trials
        is drawing (shards need not be whole blocks) is waited for."""
        k = self.noise.shape[1]
        for block in range(trials.start // TRIAL_BLOCK, (trials.stop - 1) // TRIAL_BLOCK + 1):
            with self._lock:
                drawn = self._blocks.get((chunk.start, block))
                mine = drawn is None
                if mine:
                    drawn = self._blocks[chunk.start, block] = threading.Event()
            if not mine:
                drawn.wait()
                continue
            try:
                self.draw(chunk, slice(block * TRIAL_BLOCK, min(k, (block + 1) * TRIAL_BLOCK)))
            finally:
                drawn.set()

    def draw(self, chunk: slice, trials: slice) -> None:
        """Draw the steps ``chunk`` (one whole chunk) of ``trials`` (whole blocks)."""
        n = self.noise.shape[2]
        generator = torch.Generator(self.noise.device)
        options = dict(generator=generator, device=self.noise.device, dtype=self.noise.dtype)
        starts = range(trials.start, trials.stop, TRIAL_BLOCK)
        seeds = chunk_seeds(self.seed, self.run, chunk.start // CHUNK_STEPS, np.array(starts) // TRIAL_BLOCK)
        for b0, seed in zip(starts, seeds.tolist()):
            block = slice(b0, min(trials.stop, b0 + TRIAL_BLOCK))
            shape = (chunk.stop - chunk.start, block.stop - block.start, n)
            generator.manual_seed(seed)
            self.noise[chunk, block] = torch.randn(shape, **options)  # randn's numbers are those of a new tensor
            if self.thresholds is not None:
                self.thresholds[chunk, block].uniform_(generator=generator)  # the same in place

    def _draw_ahead(self) -> None:
        n_time, k, _ = self.noise.shape
        for c0 in range(0, n_time, CHUNK_STEPS):
            c1 = min(n_time, c0 + CHUNK_STEPS)
            self.draw(slice(c0, c1), slice(0, k))
            with self._condition:
                self._drawn = c1
                self._condition.notify_all()

    def _fail(self, error: BaseException) -> None:
        with self._condition:
            self._error = error
            self._condition.notify_all()


def start_drawing(*runs: Draws, background: bool) -> None:
    """With ``background``, draw ``runs`` one after the other in one background thread, ahead of the loop (a
    failure is raised where the loop waits for the failed run or a later one); else each shard of trials draws
    its chunks in :meth:`Draws.wait`."""
    for run in runs:
        run.background = background
    if background:
        threading.Thread(target=_draw_runs_ahead, args=runs, name="nwb-biornn-draws", daemon=True).start()


def draw_all(shape: tuple, seed: int, run: int, spiking: bool, device=None, dtype=None) -> tuple:
    """The standard normals and, for spiking units, the uniforms (else None) of a whole run, (T, K, N) each."""
    draws = Draws(shape, seed, run, spiking, device, dtype)
    draws._draw_ahead()
    return draws.noise, draws.thresholds


def _draw_runs_ahead(*runs: Draws) -> None:
    try:
        with torch.no_grad():
            for run in runs:
                run._draw_ahead()
    except BaseException as error:  # noqa: BLE001 -- handed to the waiting loop, which re-raises it
        for run in runs:
            if run._drawn < len(run.noise):
                run._fail(error)
