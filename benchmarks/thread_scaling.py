"""How far this machine's cores speed up the kinds of work in a training step, split by trials as the time loop
splits them (nwb_biornn.model.threads): element-wise passes over one step's (trials, neurons) tensors, in memory
and in cache, the fused forward step of sparse spiking runs (nwb_biornn.model.fused, about 1 % of the neurons
spiking per step), the backward pass's dense product, and the random draws. Each kind runs on 1 thread, then on ``--threads``
threads that each take an equal share of the trials (torch on one thread each, like the loop's shards).

    python benchmarks/thread_scaling.py                     # N=500, K=400, 2 threads
    python benchmarks/thread_scaling.py --threads 8 --neurons 1500 --trials 200
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nwb_biornn.model import philox
from nwb_biornn.model.fused import integrate_step_
from nwb_biornn.model.sparse import SpikeLists
from nwb_biornn.model.threads import in_shards, one_thread, trial_shards


def element_wise(n_trials: int, n_neurons: int, repeats: int):
    """The leak-and-add of ``repeats`` steps, each step's potential written into a buffer of all steps and its
    drive read from one, as the time loop does (memory, not cache)."""
    drive, potentials = torch.randn(repeats, n_trials, n_neurons), torch.zeros(repeats, n_trials, n_neurons)
    alpha = torch.rand(n_neurons)

    def run() -> None:
        v = potentials[0]
        for t in range(1, repeats):
            v = torch.addcmul(drive[t], alpha, v, out=potentials[t])
    return run


def element_wise_in_cache(n_trials: int, n_neurons: int, repeats: int):
    """The same leak-and-add on one step's tensors, which stay in cache: what is left is each operation's own
    cost, partly Python's (under its global lock, which the threads take turns at)."""
    drive, v, out = torch.randn(n_trials, n_neurons), torch.zeros(n_trials, n_neurons), torch.empty(n_trials, n_neurons)
    alpha = torch.rand(n_neurons)

    def run() -> None:
        for _ in range(repeats):
            torch.addcmul(drive, alpha, v, out=out)
    return run


def fused_step(n_trials: int, n_neurons: int, repeats: int):
    """``repeats`` forward steps of :func:`~nwb_biornn.model.fused.integrate_step_`: drive, sums of the weight rows
    of the previous step's spikes, integration, spikes and slopes written into buffers of all steps."""
    generator = np.random.default_rng(0)
    noise = generator.standard_normal((repeats, n_trials, n_neurons), dtype=np.float32)
    log_uniforms = np.log(generator.random((n_trials, n_neurons), dtype=np.float32))
    spikes, slopes = np.zeros((repeats + 1, n_trials, n_neurons), np.float32), np.zeros_like(noise)
    weights = generator.standard_normal((n_neurons, n_neurons), dtype=np.float32) * 1e-3
    vector = np.full(n_neurons, 0.1, np.float32)
    no_rows, inputs = np.empty((0, n_neurons), np.float32), np.zeros((n_trials, 0), np.float32)

    def run() -> None:
        lists = SpikeLists(n_trials, n_neurons, repeats + 1, max_density=0.1)
        lists.append(torch.from_numpy(spikes[0]))
        v, free_from, sources = np.zeros((n_trials, n_neurons), np.float32), np.zeros_like(log_uniforms), np.zeros(1, int)
        for t in range(repeats):
            sources[0] = t
            integrate_step_(np.float32(t), inputs, no_rows, vector * 0, no_rows, noise[t], vector / 20, no_rows, weights,
                            sources, lists.neurons, lists.starts, lists.counts, lists.take_row(), v, spikes[t],
                            spikes[t + 1], log_uniforms, free_from, vector * 9, vector, vector * 0.3, np.float32(0.008),
                            vector * 20, vector, np.float32(3), np.float32(30), no_rows, slopes[t])
    return run


def product(n_trials: int, n_neurons: int, repeats: int):
    """The backward pass's (trials, N) x (N, N) product, ``repeats`` times."""
    rows, weights = torch.randn(n_trials, n_neurons), torch.randn(n_neurons, n_neurons) / n_neurons

    def run() -> None:
        for _ in range(repeats):
            torch.mm(rows, weights)
    return run


def draws(n_trials: int, n_neurons: int, repeats: int):
    """One step's normal and log-uniform draws (:func:`nwb_biornn.model.philox.fill_`), ``repeats`` times."""
    noise, log_uniforms = np.empty((1, n_trials, n_neurons), np.float32), np.empty((1, n_trials, n_neurons), np.float32)

    def run() -> None:
        for step in range(repeats):
            philox.fill_(noise, log_uniforms, seed=0, run=1, first_step=step, first_trial=0)
    return run


def seconds(work, n_trials: int, n_neurons: int, n_threads: int, repeats: int) -> float:
    """Wall time of ``work`` over all trials, split between ``n_threads`` threads (prepared before timing)."""
    shards = trial_shards(n_trials, n_threads)
    runs = [work(s.stop - s.start, n_neurons, repeats) for s in shards]
    start = time.perf_counter()
    if n_threads == 1:
        with one_thread():
            runs[0]()
    else:
        in_shards(lambda i, _: runs[i](), shards)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=500)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"| work (N={args.neurons}, K={args.trials}, {args.repeats} steps) | 1 thread (s) | "
          f"{args.threads} threads (s) | speed-up |")
    print("|---|---|---|---|")
    for name, work in (("element-wise pass", element_wise), ("element-wise, in cache", element_wise_in_cache),
                       ("fused forward step", fused_step), ("dense product", product), ("random draws", draws)):
        one, many = (min(seconds(work, args.trials, args.neurons, n, args.repeats) for _ in range(3))
                     for n in (1, args.threads))
        print(f"| {name} | {one:.3f} | {many:.3f} | {one / many:.2f}× |")


if __name__ == "__main__":
    main()
