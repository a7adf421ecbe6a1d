"""Products of sparse spikes against dense products, and when a run uses them."""
import numpy as np
import pytest
import torch

from nwb_biornn.model import sparse
from nwb_biornn.model.sparse import SpikeLists, sparse_density_limit


def random_spikes(shape, density, seed):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator, dtype=torch.float64) < density).double()


@pytest.fixture
def steps():
    """Spikes of four steps of 6 trials x 5 neurons: sparse, empty, one spike, and a silent trial and neuron."""
    dense = random_spikes((6, 5), 0.3, seed=1)
    dense[2] = 0
    dense[:, 3] = 0
    one = torch.zeros(6, 5, dtype=torch.float64)
    one[4, 1] = 1
    return [random_spikes((6, 5), 0.1, seed=3), torch.zeros(6, 5, dtype=torch.float64), one, dense]


@pytest.mark.parametrize("max_density", [1.0, 0.05], ids=["sums of rows", "dense above 5 %"])
def test_products_equal_dense_products(steps, max_density):
    lists = SpikeLists(n_trials=6, n_neurons=5, n_steps=len(steps), max_density=max_density)
    for spikes in steps:
        lists.append(spikes)
    generator = torch.Generator().manual_seed(2)
    weights = torch.randn(5, 7, generator=generator, dtype=torch.float64)
    grad = torch.randn(6, 7, generator=generator, dtype=torch.float64)
    start_out = torch.randn(6, 7, generator=generator, dtype=torch.float64)
    start_grad = torch.randn(5, 7, generator=generator, dtype=torch.float64)
    for step, spikes in enumerate(steps):
        out, out_grad = start_out.clone(), start_grad.clone()
        lists.add_product_(out.numpy(), step, spikes.numpy(), weights.numpy())
        lists.add_transposed_product_(out_grad.numpy(), step, spikes.numpy(), grad.numpy())
        assert torch.allclose(out, start_out + spikes @ weights, rtol=1e-14, atol=1e-14)
        assert torch.allclose(out_grad, start_grad + spikes.T @ grad, rtol=1e-14, atol=1e-14)
        assert lists.density(step) == spikes.mean().item()
    assert len(lists) == len(steps)


def test_lists_record_the_spikes_at_append_time(steps):
    lists = SpikeLists(n_trials=6, n_neurons=5, n_steps=1)
    spikes = steps[0].clone()
    lists.append(spikes)
    expected = spikes.T @ torch.ones(6, 1, dtype=torch.float64)
    spikes.zero_()
    out = torch.zeros(5, 1, dtype=torch.float64)
    lists.add_transposed_product_(out.numpy(), 0, spikes.numpy(), np.ones((6, 1)))
    assert torch.equal(out, expected) and expected.sum() > 0


def test_only_big_spiking_cpu_runs_use_sparse_products():
    big = dict(n_trials=400, n_neurons=500, n_delays=1)
    assert sparse_density_limit("cpu", True, **big) == sparse.SPARSE_DENSITY
    assert sparse_density_limit("cpu", False, **big) == 0.0
    assert sparse_density_limit("meta", True, **big) == 0.0
    assert sparse_density_limit("cpu", True, n_trials=100, n_neurons=150, n_delays=1) == 0.0
    assert 100 * 150 ** 2 < sparse.SPARSE_STEP_WORK <= 400 * 500 ** 2
