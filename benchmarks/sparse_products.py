"""Time of one step's recurrent product, dense against sums of rows, by network size and spike density.

The table behind ``SPARSE_DENSITY`` and ``SPARSE_STEP_WORK`` in :mod:`nwb_biornn.model.sparse` (docs/performance.md).
Run: ``OMP_NUM_THREADS=1 python benchmarks/sparse_products.py``. "sparse" includes recording the step's spikes
(:meth:`SpikeLists.append`), as the time loop does.
"""
import argparse
import time

import torch

from nwb_biornn.model.sparse import SpikeLists

SIZES = ((100, 150), (400, 150), (400, 500), (200, 1500))
DENSITIES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)


def seconds(work, repeats: int) -> float:
    """Median seconds of ``work()`` over ``repeats`` calls, after one untimed call."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    print(f"{'trials':>6} {'neurons':>7} {'density':>7} {'dense us':>9} {'sparse us':>9} {'sparse/dense':>12}")
    for n_trials, n_neurons in SIZES:
        weights = torch.randn(n_neurons, n_neurons, generator=generator)
        out = torch.zeros(n_trials, n_neurons)
        for density in DENSITIES:
            spikes = (torch.rand(n_trials, n_neurons, generator=generator) < density).float()
            lists = SpikeLists(n_trials, n_neurons, n_steps=args.repeats + 1)

            def sparse_step():
                lists.append(spikes)
                lists.add_product_(out.numpy(), len(lists) - 1, spikes.numpy(), weights.numpy())

            dense = seconds(lambda: torch.addmm(out, spikes, weights, out=out), args.repeats)
            sparse = seconds(sparse_step, args.repeats)
            print(f"{n_trials:>6} {n_neurons:>7} {density:>7.1%} {dense * 1e6:>9.0f} {sparse * 1e6:>9.0f} "
                  f"{sparse / dense:>12.2f}")


if __name__ == "__main__":
    main()
