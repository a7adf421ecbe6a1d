"""Timing of the fit's training step on random data (what ``nwb-biornn bench`` reports).

One training step simulates ``batch`` trials of ``time_steps`` steps of ``neurons`` neurons with gradient and
backpropagates through time. Its dense work is one recurrent product forward and two backward per step and
delay block: ``6 N^2 T B`` floating-point operations for a single synaptic delay (:func:`step_flops`), the floor
against which the measured time is compared. The machine's dense matrix-multiply rate is measured in the same
process, on the shape of one step's recurrent product (:func:`gemm_gflops`). Big spiking networks on the CPU
multiply their sparse spikes as sums of rows (:mod:`nwb_biornn.model.sparse`), so their steps can beat that
floor; the report gives the spike density of the network being timed.

Peak memory is the process's peak resident set size (``VmHWM``, reset just before the timed steps through
``/proc/self/clear_refs``; ``ru_maxrss`` where that is unavailable) on the CPU, and
``torch.cuda.max_memory_allocated`` on CUDA.

Examples
--------
>>> report = benchmark(neurons=40, time_steps=30, batch=8, steps=2)  # doctest: +SKIP
>>> sorted(report)[:3]  # doctest: +SKIP
['batch', 'delay_blocks', 'device']
"""
from __future__ import annotations

import dataclasses
import resource
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from nwb_biornn.core.config import preset
from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import LICK_PORTS, NO_RESPONSE, UNPERTURBED, Session, Source
from nwb_biornn.fit.trainer import build_trainer
from nwb_biornn.model import sparse
from nwb_biornn.model.memory import reuse_freed_memory
from nwb_biornn.model.threads import one_thread, single_thread_if_small

INPUT_NAMES = ("stimulus", "go")
FIRING_RATE = 5.0
"""Mean firing rate (Hz) of the random recorded units."""
GEMM_SECONDS = 0.5
"""Seconds spent measuring the matrix-multiply rate."""


def synthetic_session(n_units: int, n_time: int, n_trials: int, dt: float = 0.002, seed: int = 0) -> Session:
    """A :class:`Session` of random spikes: ``n_units`` units over two areas (80 % E), two trial types.

    Units fire as Poisson processes at random rates around :data:`FIRING_RATE`; the stimulus and go pulses
    (10 ms) start at a quarter and at half of the trial, the lick rate of its one port (go/no-go) is random.
    """
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, FIRING_RATE / 2, n_units) * dt
    spikes = (rng.random((n_trials, n_time, n_units), dtype=np.float32) < rates).astype(np.uint8)
    area = np.where(np.arange(n_units) < n_units // 2, "A", "B")
    cell_type = np.where(rng.random(n_units) < 0.8, "E", "I")
    trial_type = np.array(["go", "nogo"])[np.arange(n_trials) % 2]
    inputs = np.zeros((n_trials, n_time, len(INPUT_NAMES)), np.float32)
    width = max(1, round(0.010 / dt))
    inputs[trial_type == "go", n_time // 4:n_time // 4 + width, 0] = 1
    inputs[:, n_time // 2:n_time // 2 + width, 1] = 1
    behaviour = rng.gamma(1.0, 2.0, (n_trials, n_time, len(LICK_PORTS))).astype(np.float32)
    return Session(
        spikes=spikes, dt=dt, t_start=-n_time // 2 * dt, align_event="go_cue", unit_ids=np.arange(n_units),
        unit_area=area, unit_cell_type=cell_type, trial_ids=np.arange(n_trials), trial_type=trial_type,
        inputs=inputs, input_names=INPUT_NAMES, behaviour=behaviour, behaviour_name="lick_rate",
        ports=LICK_PORTS, choice=np.where(behaviour.mean((1, 2)) > 2.0, LICK_PORTS[0], NO_RESPONSE),
        response_window=(0.0, n_time // 2 * dt),
        condition=np.full(n_trials, UNPERTURBED), conditions=(), excluded=np.full(n_trials, ""),
        subject={"subject_id": "bench", "species": "Mus musculus", "sex": "U", "age": "P90D", "date_of_birth": None},
        session_id="bench", identifier="bench", session_description="random data for nwb-biornn bench",
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc), source=Source(path="memory"))


def step_flops(neurons: int, time_steps: int, batch: int, delay_blocks: int = 1) -> int:
    """Dense floating-point operations of one training step: ``6 N^2 T B`` per synaptic delay block."""
    return 6 * neurons ** 2 * time_steps * batch * delay_blocks


def gemm_gflops(rows: int, inner: int, cols: int, device: str = "cpu", seconds: float = GEMM_SECONDS) -> float:
    """Median rate (GFLOP/s) of ``torch.matmul`` of a (rows, inner) by an (inner, cols) float32 matrix."""
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(rows, inner, generator=generator).to(device)
    b = torch.rand(inner, cols, generator=generator).to(device)
    out = torch.empty(rows, cols, device=device)
    torch.matmul(a, b, out=out)
    times, begin = [], time.perf_counter()
    while time.perf_counter() - begin < seconds or len(times) < 5:
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * rows * inner * cols / statistics.median(times) / 1e9


def benchmark(neurons: int = 500, time_steps: int = 200, batch: int = 400, steps: int = 5,
              preset_name: str = "biornn", device: str = "cpu", dt: float = 0.002, warmup_steps: int = 1,
              one_thread_baseline: bool = True) -> dict:
    """Time ``steps`` training steps of :func:`~nwb_biornn.fit.trainer.fit`'s code path on random data.

    Parameters
    ----------
    neurons, time_steps, batch : int
        Recorded units (= model neurons, no hidden ones), steps per trial and trials per training step.
    steps : int
        Timed training steps (after ``warmup_steps`` untimed ones).
    preset_name : str
        Preset name.
    device : str
        Torch device.
    dt : float
        Step in seconds (with the default delays of 2-3 ms, 0.001 gives two delay blocks of one step each).
    one_thread_baseline : bool
        When the steps ran on more than one CPU thread, time as many steps again on one thread, for the speed-up
        the threads bring.

    Returns
    -------
    dict
        ``neurons``, ``time_steps``, ``batch``, ``dt``, ``preset``, ``device``, ``threads``, ``delay_blocks``,
        ``steps``, ``seconds_per_step`` (median), ``step_seconds`` (all), ``flops`` (:func:`step_flops`),
        ``gflops`` (achieved), ``gemm_gflops`` (measured), ``floor_seconds`` (``flops`` at the measured rate),
        ``peak_memory_mb``, ``spike_density`` (fraction of trials x neurons spiking per step, after the timed
        steps; None for units that do not spike), ``sparse_products`` (whether runs of this size multiply
        sparse spikes as sums of rows), ``sparse_max_density`` (the densest step multiplied that way, 0 if none),
        ``one_thread_seconds_per_step`` (median on one thread) and ``thread_speedup`` (its ratio to
        ``seconds_per_step``), both None when the steps ran on one thread (or on CUDA) or without the baseline.
    """
    for name, value in (("neurons", neurons), ("time_steps", time_steps), ("batch", batch), ("steps", steps)):
        if value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
    if neurons < 4:
        raise UserError(f"--neurons must be at least 4 (two areas of E and I neurons), not {neurons}")
    model_config, fit_config = preset(preset_name)
    fit_config = dataclasses.replace(fit_config, batch_size=batch, steps=warmup_steps + steps)
    n_trials = max(4, int(np.ceil(batch / (1 - fit_config.test_fraction))))
    session = synthetic_session(neurons, time_steps, n_trials, dt)
    trainer = build_trainer([session], model_config, fit_config, device=device)
    blocks = len(trainer.model.delay_steps())
    with single_thread_if_small(trainer.model, batch), reuse_freed_memory(time_steps * batch * neurons):
        threads = torch.get_num_threads()
        gemm = gemm_gflops(batch, neurons, neurons, device)
        _reset_peak_memory(device)
        times = _timed_steps(trainer, warmup_steps, steps, device)
        peak = _peak_memory_mb(device)
        density = _spike_density(trainer, batch)
        baseline = None
        if one_thread_baseline and threads > 1 and str(device) == "cpu":
            with one_thread():
                baseline = statistics.median(_timed_steps(trainer, warmup_steps, steps, device))
    limit = sparse.sparse_density_limit(device, model_config.spiking, batch, neurons, blocks)
    flops = step_flops(neurons, time_steps, batch, blocks)
    seconds = statistics.median(times)
    return {"neurons": neurons, "time_steps": time_steps, "batch": batch, "dt": dt, "preset": preset_name,
            "device": str(device), "threads": threads, "delay_blocks": blocks, "steps": steps,
            "seconds_per_step": seconds, "step_seconds": times, "flops": flops, "gflops": flops / seconds / 1e9,
            "gemm_gflops": gemm, "floor_seconds": flops / gemm / 1e9, "peak_memory_mb": peak,
            "spike_density": density, "sparse_products": limit > 0, "sparse_max_density": limit,
            "one_thread_seconds_per_step": baseline,
            "thread_speedup": None if baseline is None else baseline / seconds}


def _timed_steps(trainer, warmup_steps: int, steps: int, device) -> list:
    """Seconds of each of ``steps`` training steps, after ``warmup_steps`` untimed ones."""
    times = []
    for index in range(warmup_steps + steps):
        start = time.perf_counter()
        if trainer.train_step() is None:
            raise UserError("the benchmark's training step gave a non-finite loss; try another --model")
        _synchronize(device)
        trainer.step += 1
        if index >= warmup_steps:
            times.append(time.perf_counter() - start)
    return times


def _spike_density(trainer, batch: int) -> float | None:
    """Mean spikes per trial, neuron and step of the trainer's network on a batch of training inputs."""
    if not trainer.model.config.spiking:
        return None
    inputs, light, _ = trainer.objective.batch(trainer.objective.train, np.random.default_rng(0), batch)
    with torch.no_grad():
        return float(trainer.model.simulate(inputs, light, seed=0).spikes.mean())


def _synchronize(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


def _reset_peak_memory(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_memory_mb(device) -> float:
    if str(device).startswith("cuda"):
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
