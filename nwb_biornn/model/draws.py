"""The random draws of a simulation's runs, made while the time loop runs.

Every step of :class:`~nwb_biornn.model.network.BioRNN` needs two random numbers per neuron and trial: its
membrane noise and the uniform draw that decides its escape-noise spike. Drawing them costs about a third of a
training step's dense matrix products on a CPU (torch's generator is sequential), so :func:`start_drawing` draws
them in chunks of :data:`CHUNK_STEPS` steps in a background thread, run after run (the warm-up's, then the
trials'), while the loop integrates the chunks already drawn. The loop's thread completes each chunk as it
reaches it (:meth:`Draws.wait`: noise scaled into the external drive, uniforms turned into thresholds), so the
drawing thread only draws, and waits only when the loop catches up with it. The draws and their order (per
chunk: noise, then uniforms; run after run) are those of drawing everything up front, so a seed gives the same
simulation either way. On other devices the draws are made up front, where they are cheap.

Examples
--------
>>> external = torch.zeros(5, 2, 3)
>>> draws = Draws(external.shape, torch.Generator().manual_seed(0), spiking=False)
>>> start_drawing(draws)
>>> draws.complete(external, torch.ones(3)).wait(5)
>>> bool(torch.equal(external, draws.noise))
True
"""
from __future__ import annotations

import threading
from typing import Callable

import torch
from torch import Tensor

CHUNK_STEPS = 32
"""Steps whose random numbers are drawn together (fixed, so seeds give the same draws)."""


class Draws:
    """Membrane noise, added to the external drive, and spike thresholds of every step of one run.

    Parameters
    ----------
    shape : (T, K, N)
        Steps, trials and neurons.
    generator : torch.Generator or None
        Source of the draws (torch's global generator if None).
    spiking : bool
        Whether the units spike (only then are uniforms drawn and thresholds made).
    device, dtype
        Of the draws.

    Attributes
    ----------
    noise : Tensor, shape (T, K, N)
        Standard normal draws (complete once :meth:`wait` has returned for the last step).
    thresholds : Tensor, shape (T, K, N), or None
        Potentials above which neurons spike, for spiking units.
    """

    def __init__(self, shape: tuple, generator, spiking: bool, device=None, dtype=None):
        self.generator = generator
        self.noise = torch.empty(shape, device=device, dtype=dtype)
        self.thresholds = torch.empty(shape, device=device, dtype=dtype) if spiking else None
        self._drawn = self._completed = 0
        self._condition = threading.Condition()
        self._error: BaseException | None = None
        self._completion = None

    def complete(self, external: Tensor, noise_std: Tensor, to_thresholds: Callable[[Tensor], Tensor] | None = None):
        """Say how :meth:`wait` completes the draws: ``noise * noise_std`` is added to ``external`` (T, K, N) in
        place, and uniforms are turned into thresholds in place by ``to_thresholds`` (kept if None). Returns
        ``self``."""
        self._completion = (external, noise_std.detach(), to_thresholds)
        return self

    def wait(self, stop: int) -> None:
        """Block until every step before ``stop`` is drawn (re-raising a failure of the drawing), and complete
        the chunks of those steps not completed yet."""
        if self._drawn < stop:
            with self._condition:
                self._condition.wait_for(lambda: self._drawn >= stop or self._error is not None)
        if self._error is not None:
            raise self._error
        external, noise_std, to_thresholds = self._completion
        with torch.no_grad():
            while self._completed < stop:
                c0, c1 = self._completed, min(len(self.noise), self._completed + CHUNK_STEPS)
                external[c0:c1].addcmul_(self.noise[c0:c1], noise_std)
                if self.thresholds is not None and to_thresholds is not None:
                    to_thresholds(self.thresholds[c0:c1])
                self._completed = c1

    def _draw(self) -> None:
        n_time, k, n = self.noise.shape
        options = dict(generator=self.generator, device=self.noise.device, dtype=self.noise.dtype)
        for c0 in range(0, n_time, CHUNK_STEPS):
            c1 = min(n_time, c0 + CHUNK_STEPS)
            torch.randn(c1 - c0, k, n, out=self.noise[c0:c1], **options)
            if self.thresholds is not None:
                torch.rand(c1 - c0, k, n, out=self.thresholds[c0:c1], **options)
            with self._condition:
                self._drawn = c1
                self._condition.notify_all()

    def _fail(self, error: BaseException) -> None:
        with self._condition:
            self._error = error
            self._condition.notify_all()


def start_drawing(*runs: Draws) -> None:
    """Draw ``runs`` one after the other: in one background thread on a CPU if any is longer than a chunk,
    else now. A failure is raised where the loop waits for the failed run or a later one."""
    background = any(run.noise.device.type == "cpu" and len(run.noise) > CHUNK_STEPS for run in runs)
    if background:
        threading.Thread(target=_draw_all, args=runs, name="nwb-biornn-draws", daemon=True).start()
    else:
        _draw_all(*runs)


def _draw_all(*runs: Draws) -> None:
    try:
        with torch.no_grad():
            for run in runs:
                run._draw()
    except BaseException as error:  # noqa: BLE001 -- handed to the waiting loop, which re-raises it
        for run in runs:
            if run._drawn < len(run.noise):
                run._fail(error)
