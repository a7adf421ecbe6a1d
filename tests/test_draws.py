import pytest
import torch

from nwb_biornn.model.draws import CHUNK_STEPS, Draws


@pytest.mark.parametrize("n_time", [CHUNK_STEPS // 2, 3 * CHUNK_STEPS + 5])  # made up front / in the background
def test_draws_are_those_of_drawing_every_chunk_in_order(n_time):
    shape, noise_std = (n_time, 3, 4), torch.tensor([0.0, 1.0, 2.0, 0.5])
    external = torch.ones(shape)
    draws = Draws(shape, torch.Generator().manual_seed(7), spiking=True)
    draws.start(external, noise_std, lambda u: u.mul_(-1))
    draws.wait(n_time)
    generator = torch.Generator().manual_seed(7)
    for c0 in range(0, n_time, CHUNK_STEPS):
        c1 = min(n_time, c0 + CHUNK_STEPS)
        noise = torch.randn(c1 - c0, 3, 4, generator=generator)
        uniform = torch.rand(c1 - c0, 3, 4, generator=generator)
        torch.testing.assert_close(draws.noise[c0:c1], noise, rtol=0, atol=0)
        torch.testing.assert_close(external[c0:c1], 1 + noise * noise_std)
        torch.testing.assert_close(draws.thresholds[c0:c1], -uniform, rtol=0, atol=0)


def test_units_without_spikes_draw_no_uniforms():
    shape = (2 * CHUNK_STEPS, 2, 2)
    draws = Draws(shape, torch.Generator().manual_seed(1), spiking=False).start(torch.zeros(shape), torch.ones(2))
    draws.wait(shape[0])
    assert draws.thresholds is None
    torch.testing.assert_close(draws.noise, torch.randn(shape, generator=torch.Generator().manual_seed(1)))


def test_a_failed_draw_is_raised_where_the_loop_waits():
    shape = (3 * CHUNK_STEPS, 2, 2)

    def broken(uniform):
        raise RuntimeError("no thresholds today")

    draws = Draws(shape, None, spiking=True).start(torch.zeros(shape), torch.ones(2), broken)
    with pytest.raises(RuntimeError, match="no thresholds today"):
        draws.wait(1)
