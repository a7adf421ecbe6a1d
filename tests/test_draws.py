import pytest
import torch

from nwb_biornn.model.draws import CHUNK_STEPS, Draws, start_drawing


@pytest.mark.parametrize("n_time", [CHUNK_STEPS // 2, 3 * CHUNK_STEPS + 5])  # made up front / in the background
def test_draws_are_those_of_drawing_every_chunk_in_order(n_time):
    shape, noise_std = (n_time, 3, 4), torch.tensor([0.0, 1.0, 2.0, 0.5])
    external = torch.ones(shape)
    generator = torch.Generator().manual_seed(7)
    runs = [Draws(shape, generator, spiking=True), Draws(shape, generator, spiking=True)]
    start_drawing(*runs)
    for run in reversed(runs):  # the second run can be completed before the first
        run.complete(external, noise_std, lambda u: u.mul_(-1)).wait(n_time)
    generator = torch.Generator().manual_seed(7)
    for run in runs:
        for c0 in range(0, n_time, CHUNK_STEPS):
            c1 = min(n_time, c0 + CHUNK_STEPS)
            noise = torch.randn(c1 - c0, 3, 4, generator=generator)
            uniform = torch.rand(c1 - c0, 3, 4, generator=generator)
            torch.testing.assert_close(run.noise[c0:c1], noise, rtol=0, atol=0)
            torch.testing.assert_close(run.thresholds[c0:c1], -uniform, rtol=0, atol=0)
    torch.testing.assert_close(external, 1 + (runs[0].noise + runs[1].noise) * noise_std)


def test_units_without_spikes_draw_no_uniforms():
    shape = (2 * CHUNK_STEPS, 2, 2)
    draws = Draws(shape, torch.Generator().manual_seed(1), spiking=False)
    start_drawing(draws)
    draws.complete(torch.zeros(shape), torch.ones(2)).wait(shape[0])
    assert draws.thresholds is None
    torch.testing.assert_close(draws.noise, torch.randn(shape, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("n_time", [CHUNK_STEPS // 2, 3 * CHUNK_STEPS])  # drawn up front / in the background
def test_a_failed_draw_is_raised_where_the_loop_waits_for_it_or_a_later_run(n_time):
    shape = (n_time, 2, 2)
    ok = Draws(shape, None, spiking=True)
    failing = Draws(shape, None, spiking=True, dtype=torch.int64)  # no normal draws of integers
    later = Draws(shape, None, spiking=True)
    start_drawing(ok, failing, later)
    ok.complete(torch.zeros(shape), torch.ones(2)).wait(n_time)
    for run in (failing, later):
        run.complete(torch.zeros(shape), torch.ones(2))
        with pytest.raises(RuntimeError, match="Long"):
            run.wait(1)
