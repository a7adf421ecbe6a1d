import numpy as np
import pytest
import torch

from nwb_biornn.model.draws import (
    CHUNK_STEPS,
    TRIAL_BLOCK,
    Draws,
    chunk_seeds,
    draw_all,
    simulation_seed,
    start_drawing,
)
from nwb_biornn.model.threads import in_shards, trial_shards


def splitmix(x: int) -> int:
    """SplitMix64 on Python integers (the published constants)."""
    mask = 2 ** 64 - 1
    x = (x + 0x9E3779B97F4A7C15) & mask
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return x ^ (x >> 31)


def test_chunk_seeds_mix_seed_run_chunk_and_block_with_splitmix64():
    seed, run, chunk = 2 ** 62 + 12345, 1, 7
    expected = [splitmix(splitmix(splitmix(seed ^ run) ^ chunk) ^ block) for block in range(5)]
    assert chunk_seeds(seed, run, chunk, np.arange(5)).tolist() == expected
    assert splitmix(0) == 0xE220A8397B1DCDAF  # the first output of SplitMix64 seeded with 0


def test_draws_are_keyed_by_seed_run_chunk_and_block():
    shape = (CHUNK_STEPS + 5, TRIAL_BLOCK + 3, 4)
    noise, uniform = draw_all(shape, seed=7, run=1, spiking=True)
    for c0, c1 in ((0, CHUNK_STEPS), (CHUNK_STEPS, shape[0])):
        for b0, b1 in ((0, TRIAL_BLOCK), (TRIAL_BLOCK, shape[1])):
            key = chunk_seeds(7, 1, c0 // CHUNK_STEPS, np.array([b0 // TRIAL_BLOCK]))[0]
            generator = torch.Generator().manual_seed(int(key))
            expected_noise = torch.randn(c1 - c0, b1 - b0, 4, generator=generator)
            expected_uniform = torch.rand(c1 - c0, b1 - b0, 4, generator=generator)
            assert torch.equal(noise[c0:c1, b0:b1], expected_noise)
            assert torch.equal(uniform[c0:c1, b0:b1], expected_uniform)
    assert not torch.equal(noise, draw_all(shape, seed=7, run=0, spiking=True)[0])
    assert not torch.equal(noise, draw_all(shape, seed=8, run=1, spiking=True)[0])


@pytest.mark.parametrize("n_shards", [2, 3])
def test_draws_do_not_depend_on_the_split_of_trials_or_on_drawing_ahead(n_shards):
    shape = (3 * CHUNK_STEPS + 5, 3 * TRIAL_BLOCK + 2, 4)
    for background in (True, False):
        runs = [Draws(shape, 3, run, spiking=True) for run in (0, 1)]
        start_drawing(*runs, background=background)
        for run in reversed(runs):  # the second run can be waited for before the first
            for trials in reversed(trial_shards(shape[1], 1 if background else n_shards)):
                run.wait(shape[0], trials)
        for run in runs:
            noise, uniform = draw_all(shape, 3, run.run, spiking=True)
            assert torch.equal(run.noise, noise) and torch.equal(run.thresholds, uniform)


def test_shards_drawing_at_once_draw_each_shared_block_once_and_alike():
    shape = (2 * CHUNK_STEPS, 2 * TRIAL_BLOCK + 1, 3)
    draws = Draws(shape, 4, 1, spiking=True)
    start_drawing(draws, background=False)
    counted = []
    draw = draws.draw

    def counting(chunk, trials):
        counted.append((chunk.start, trials.start))
        draw(chunk, trials)

    draws.draw = counting
    in_shards(lambda index, trials: draws.wait(shape[0], trials), trial_shards(shape[1], 5))
    assert sorted(counted) == sorted(set(counted)) and len(counted) == 2 * 3   # 2 chunks x 3 blocks, once each
    noise, uniform = draw_all(shape, 4, 1, spiking=True)
    assert torch.equal(draws.noise, noise) and torch.equal(draws.thresholds, uniform)


def test_units_without_spikes_draw_no_uniforms():
    shape = (2 * CHUNK_STEPS, 2, 2)
    draws = Draws(shape, 1, 1, spiking=False)
    start_drawing(draws, background=True)
    draws.wait(shape[0])
    assert draws.thresholds is None
    assert torch.equal(draws.noise, draw_all(shape, 1, 1, spiking=False)[0])


def test_a_failed_draw_is_raised_where_the_loop_waits_for_it_or_a_later_run():
    shape = (3 * CHUNK_STEPS, 2, 2)
    ok = Draws(shape, 0, 0, spiking=True)
    failing = Draws(shape, 0, 1, spiking=True, dtype=torch.int64)  # no normal draws of integers
    later = Draws(shape, 0, 2, spiking=True)
    start_drawing(ok, failing, later, background=True)
    ok.wait(shape[0])
    for run in (failing, later):
        with pytest.raises(RuntimeError, match="Long"):
            run.wait(1)


def test_a_simulation_without_seed_takes_it_from_torchs_global_generator():
    torch.manual_seed(5)
    first = simulation_seed(None)
    torch.manual_seed(5)
    assert simulation_seed(None) == first and simulation_seed(12) == 12
