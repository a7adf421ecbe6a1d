"""Time of one run's random draws on one thread: torch's generator against the counter-based one of nwb-biornn.

Both make what a spiking run needs per step, trial and neuron: a standard normal (membrane noise) and the log of
a uniform draw (spike threshold), step by step into arrays that are already in memory, as the time loop draws
them. "torch" is ``randn`` and ``uniform_`` of a generator, then ``log_`` (the draws before the eighth speed round,
docs/performance.md); "philox" is :func:`nwb_biornn.model.philox.fill_`. Run:
``python benchmarks/random_draws.py`` (N=500, K=200 trials, 200 steps: one shard of the benchmark's step).
"""
import argparse
import time

import numpy as np
import torch

from nwb_biornn.model import philox


def torch_draws(noise: torch.Tensor, log_uniforms: torch.Tensor) -> None:
    generator = torch.Generator().manual_seed(0)
    for step in range(len(noise)):
        torch.randn(noise.shape[1:], generator=generator, out=noise[step])
        log_uniforms[step].uniform_(generator=generator).log_()


def philox_draws(noise: torch.Tensor, log_uniforms: torch.Tensor) -> None:
    noise, log_uniforms = noise.numpy(), log_uniforms.numpy()
    for step in range(len(noise)):
        philox.fill_(noise[step:step + 1], log_uniforms[step:step + 1], seed=0, run=1, first_step=step,
                     first_trial=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=500)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    noise, log_uniforms = torch.ones(args.steps, args.trials, args.neurons), torch.ones(args.steps, args.trials,
                                                                                      args.neurons)
    philox_draws(noise[:1], log_uniforms[:1])  # compile
    print(f"{'draws':>7} {'median s':>9} {'ns per neuron-step':>19}")
    for name, draw in (("torch", torch_draws), ("philox", philox_draws)):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            draw(noise, log_uniforms)
            times.append(time.perf_counter() - start)
        median = float(np.median(times))
        print(f"{name:>7} {median:>9.3f} {median / noise.numel() * 1e9:>19.1f}")


if __name__ == "__main__":
    main()
