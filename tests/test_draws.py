import numpy as np
import pytest
import torch

from nwb_biornn.model import philox
from nwb_biornn.model.draws import DEVICE_SEED_STEPS, Draws, chunk_seed, draw_all, simulation_seed, start_drawing
from nwb_biornn.model.threads import in_shards, trial_shards


def splitmix(x: int) -> int:
    """SplitMix64 on Python integers (the published constants)."""
    mask = 2 ** 64 - 1
    x = (x + 0x9E3779B97F4A7C15) & mask
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return x ^ (x >> 31)


def test_device_chunk_seeds_mix_seed_run_and_chunk_with_splitmix64():
    seed, run = 2 ** 62 + 12345, 1
    expected = [splitmix(splitmix(seed ^ run) ^ chunk) for chunk in range(3)]
    assert [chunk_seed(seed, run, chunk) for chunk in range(3)] == expected
    assert splitmix(0) == 0xE220A8397B1DCDAF  # the first output of SplitMix64 seeded with 0


def test_cpu_draws_of_a_step_and_trial_are_philox_rows_keyed_by_seed_run_step_and_trial():
    shape = (7, 5, 4)
    noise, log_uniforms = draw_all(shape, seed=7, run=1, spiking=True)
    row_noise, row_logs = np.empty((1, 1, 4), np.float32), np.empty((1, 1, 4), np.float32)
    philox.fill_(row_noise, row_logs, seed=7, run=1, first_step=6, first_trial=3)
    assert np.array_equal(noise[6, 3].numpy(), row_noise[0, 0])
    assert np.array_equal(log_uniforms[6, 3].numpy(), row_logs[0, 0])
    assert not torch.equal(noise, draw_all(shape, seed=7, run=0, spiking=True)[0])
    assert not torch.equal(noise, draw_all(shape, seed=8, run=1, spiking=True)[0])


def test_a_trials_draws_do_not_depend_on_how_many_trials_the_run_has():
    few = draw_all((9, 3, 5), seed=2, run=1, spiking=True, dtype=torch.float64)
    many = draw_all((9, 40, 5), seed=2, run=1, spiking=True, dtype=torch.float64)
    assert all(torch.equal(a, b[:, :3]) for a, b in zip(few, many))


@pytest.mark.parametrize("n_shards", [2, 3])
def test_draws_do_not_depend_on_the_split_of_trials_or_on_drawing_ahead(n_shards, monkeypatch):
    monkeypatch.setattr("nwb_biornn.model.draws.DRAW_ELEMENTS", 60)  # a few steps at a time
    shape = (23, 7, 2)
    for background in (True, False):
        runs = [Draws(shape, 3, run, spiking=True) for run in (0, 1)]
        assert runs[0].chunk(slice(0, 7)) == 4 and runs[0].chunk(slice(0, 3)) == 10
        start_drawing(*runs, background=background)
        for run in reversed(runs):  # the second run can be waited for before the first
            for trials in reversed(trial_shards(shape[1], 1 if background else n_shards)):
                run.wait(shape[0], trials)
        for run in runs:
            noise, log_uniforms = draw_all(shape, 3, run.run, spiking=True)
            assert torch.equal(run.noise, noise) and torch.equal(run.log_uniforms, log_uniforms)


def test_shards_drawing_at_once_each_draw_only_their_own_trials():
    shape = (9, 11, 3)
    draws = Draws(shape, 4, 1, spiking=True)
    start_drawing(draws, background=False)
    drawn = []
    draw = draws.draw

    def recording(steps, trials):
        drawn.append((steps.start, steps.stop, trials.start, trials.stop))
        draw(steps, trials)

    draws.draw = recording
    shards = trial_shards(shape[1], 3)
    in_shards(lambda index, trials: draws.wait(shape[0], trials), shards)
    assert sorted(drawn) == sorted((0, shape[0], s.start, s.stop) for s in shards)
    noise, log_uniforms = draw_all(shape, 4, 1, spiking=True)
    assert torch.equal(draws.noise, noise) and torch.equal(draws.log_uniforms, log_uniforms)


def test_units_without_spikes_draw_no_log_uniforms():
    shape = (20, 2, 2)
    draws = Draws(shape, 1, 1, spiking=False)
    start_drawing(draws, background=True)
    draws.wait(shape[0])
    assert draws.log_uniforms is None
    assert torch.equal(draws.noise, draw_all(shape, 1, 1, spiking=False)[0])


def test_draws_on_other_devices_come_from_torchs_generator_seeded_per_chunk():
    shape = (DEVICE_SEED_STEPS + 5, 3, 2)
    draws = Draws(shape, 5, 1, spiking=True)
    draws.counter_based = False  # CUDA's path, on CPU tensors
    start_drawing(draws, background=False)
    draws.wait(shape[0])
    for c0 in (0, DEVICE_SEED_STEPS):
        steps = slice(c0, min(shape[0], c0 + DEVICE_SEED_STEPS))
        generator = torch.Generator().manual_seed(chunk_seed(5, 1, c0 // DEVICE_SEED_STEPS))
        noise = torch.randn(steps.stop - steps.start, *shape[1:], generator=generator)
        assert torch.equal(draws.noise[steps], noise)
        assert torch.equal(draws.log_uniforms[steps], torch.empty_like(noise).uniform_(generator=generator).log_())


def test_a_failed_draw_is_raised_where_the_loop_waits_for_it_or_a_later_run():
    shape = (30, 2, 2)
    ok = Draws(shape, 0, 0, spiking=True)
    failing = Draws(shape, 0, 1, spiking=True)
    later = Draws(shape, 0, 2, spiking=True)

    def fail(steps, trials):
        raise RuntimeError("out of entropy")

    failing.draw = fail
    start_drawing(ok, failing, later, background=True)
    ok.wait(shape[0])
    for run in (failing, later):
        with pytest.raises(RuntimeError, match="out of entropy"):
            run.wait(1)


def test_a_simulation_without_seed_takes_it_from_torchs_global_generator():
    torch.manual_seed(5)
    first = simulation_seed(None)
    torch.manual_seed(5)
    assert simulation_seed(None) == first and simulation_seed(12) == 12
