"""The random draws of a simulation's runs, keyed so that they do not depend on who draws them.

Every step of :class:`~nwb_biornn.model.network.BioRNN` needs two random numbers per neuron and trial: its
membrane noise (a standard normal) and the draw that decides its escape-noise spike, the log of a uniform draw
(minus a standard exponential). On the CPU both come from the counter-based generator of
:mod:`nwb_biornn.model.philox`, keyed by (simulation seed, run, step, trial): the draws of a trial are the same
whichever thread draws them, in whatever order and in whatever pieces, however many trials the run has and however
they are split between threads (:mod:`nwb_biornn.model.threads`). On other devices (CUDA) they come from torch's
generator on the device, seeded per chunk of :data:`DEVICE_SEED_STEPS` steps by a key of (seed, run, chunk)
(:func:`chunk_seed`): the same on every run of that device, other numbers than the CPU's.

A run that integrates all its trials in one thread has its steps drawn ahead by a background thread when the
process may use more than one (``start_drawing(..., background=True)``); otherwise each shard of trials draws
its steps itself when it reaches them, a few at a time (about :data:`DRAW_ELEMENTS` draws of each kind), so they
are still in cache when the loop reads them. Either way the loop calls :meth:`Draws.wait` before it uses a step,
and scales the noise and turns the log-uniforms into spike thresholds itself as it reaches them.

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

from nwb_biornn.model import philox

DRAW_ELEMENTS = 2 ** 19
"""Draws of each kind (trials x neurons x steps) that a CPU run makes at once (at least one step)."""
DEVICE_SEED_STEPS = 128
"""Steps drawn from one generator seed on devices other than the CPU (the time loop takes its own chunks)."""


def chunk_seed(seed: int, run: int, chunk: int) -> int:
    """The seed of the generator that draws chunk ``chunk`` of run ``run`` of a simulation seeded by ``seed`` (any
    integer, taken modulo 2**64) on devices other than the CPU: SplitMix64's mixing function applied to each
    key in turn.

    >>> chunk_seed(0, 1, 2) == chunk_seed(0, 1, 2) != chunk_seed(0, 1, 3)
    True
    """
    state = np.array([seed % 2 ** 64], dtype=np.uint64)
    for part in (run, chunk):
        state = _splitmix(state ^ np.uint64(part))
    return int(state[0])


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
    """Membrane noise and escape-noise log-uniforms of every step of one run.

    Parameters
    ----------
    shape : (T, K, N)
        Steps, trials and neurons.
    seed : int
        The simulation's seed (:func:`simulation_seed`).
    run : int
        Which run of the simulation (0 for the warm-up, 1 for the trials).
    spiking : bool
        Whether the units spike (only then are log-uniforms drawn).
    device, dtype
        Of the draws.

    Attributes
    ----------
    noise : Tensor, shape (T, K, N)
        Standard normal draws (complete for a shard once :meth:`wait` has returned for its last step).
    log_uniforms : Tensor, shape (T, K, N), or None
        For spiking units, draws of ``log(u)`` for ``u`` uniform in (0, 1) (the loop turns each step's into the
        potentials above which its neurons spike: in place in tensor operations, as it reads them in fused steps).
    counter_based : bool
        Whether the draws come from :mod:`~nwb_biornn.model.philox` (on the CPU) or from torch's generator.
    """

    def __init__(self, shape: tuple, seed: int, run: int, spiking: bool, device=None, dtype=None):
        self.seed, self.run = seed, run
        self.noise = torch.empty(shape, device=device, dtype=dtype)
        self.log_uniforms = torch.empty(shape, device=device, dtype=dtype) if spiking else None
        self.counter_based = self.noise.device.type == "cpu"
        self.background = False
        self._drawn = 0
        self._ready: dict = {}
        self._condition = threading.Condition()
        self._error: BaseException | None = None

    def wait(self, stop: int, trials: slice = slice(None)) -> None:
        """Make sure every step before ``stop`` of ``trials`` is drawn: wait for the background thread
        (re-raising its failure) or draw the missing steps now."""
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
        chunk = self.chunk(trials)
        with torch.no_grad():
            while ready < stop:
                steps = slice(ready, min(len(self.noise), ready + chunk))
                self.draw(steps, trials)
                ready = self._ready[trials.start] = steps.stop

    def chunk(self, trials: slice) -> int:
        """How many steps of ``trials`` are drawn at once: about :data:`DRAW_ELEMENTS` draws of each kind (at least
        one step) from :mod:`~nwb_biornn.model.philox`, else :data:`DEVICE_SEED_STEPS`."""
        if not self.counter_based:
            return DEVICE_SEED_STEPS
        return max(1, DRAW_ELEMENTS // max(1, (trials.stop - trials.start) * self.noise.shape[2]))

    def draw(self, steps: slice, trials: slice) -> None:
        """Draw the ``steps`` of ``trials`` (from torch's generator: whole chunks of :data:`DEVICE_SEED_STEPS` steps
        of all trials)."""
        noise = self.noise[steps, trials]
        log_uniforms = None if self.log_uniforms is None else self.log_uniforms[steps, trials]
        if self.counter_based:
            logs = np.empty((0, 0, 0), dtype=noise.numpy().dtype) if log_uniforms is None else log_uniforms.numpy()
            philox.fill_(noise.numpy(), logs, self.seed, self.run, steps.start, trials.start)
            return
        generator = torch.Generator(noise.device).manual_seed(
            chunk_seed(self.seed, self.run, steps.start // DEVICE_SEED_STEPS))
        noise.copy_(torch.randn(noise.shape, generator=generator, device=noise.device, dtype=noise.dtype))
        if log_uniforms is not None:
            log_uniforms.uniform_(generator=generator).log_()

    def _draw_ahead(self) -> None:
        n_time, k, _ = self.noise.shape
        chunk = self.chunk(slice(0, k))
        for c0 in range(0, n_time, chunk):
            c1 = min(n_time, c0 + chunk)
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
    """The standard normals and, for spiking units, the log-uniforms (else None) of a whole run, (T, K, N) each."""
    draws = Draws(shape, seed, run, spiking, device, dtype)
    draws._draw_ahead()
    return draws.noise, draws.log_uniforms


def _draw_runs_ahead(*runs: Draws) -> None:
    try:
        with torch.no_grad():
            for run in runs:
                run._draw_ahead()
    except BaseException as error:  # noqa: BLE001 -- handed to the waiting loop, which re-raises it
        for run in runs:
            if run._drawn < len(run.noise):
                run._fail(error)
