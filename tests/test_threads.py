import threading
import time

import pytest
import torch

from nwb_biornn.model import threads
from nwb_biornn.model.threads import available_threads, in_shards, one_thread, run_shards, trial_shards


@pytest.mark.parametrize("n_trials, n_shards", [(40, 2), (400, 2), (200, 3), (5, 8), (33, 8), (1, 1)])
def test_shards_cover_the_trials_in_nearly_equal_parts(n_trials, n_shards):
    shards = trial_shards(n_trials, n_shards)
    assert shards[0].start == 0 and shards[-1].stop == n_trials
    assert all(a.stop == b.start for a, b in zip(shards[:-1], shards[1:]))
    assert len(shards) == min(n_shards, n_trials)
    sizes = [s.stop - s.start for s in shards]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_only_big_cpu_runs_are_split_between_the_available_threads(monkeypatch):
    monkeypatch.setattr(threads, "available_threads", lambda: 4)
    assert len(run_shards("cpu", 400, 500, 1)) == 4
    assert len(run_shards("cpu", 100, 40, 1)) == 1      # small: one thread
    assert len(run_shards("meta", 400, 500, 1)) == 1     # not a CPU


def test_shards_run_at_once_each_on_its_own_thread_with_one_torch_thread():
    seen, together = {}, threading.Barrier(3, timeout=10)  # broken unless the three shards run at once

    def work(index, shard):
        together.wait()
        seen[index] = (threading.get_ident(), torch.get_num_threads(), torch.is_grad_enabled())

    before = torch.get_num_threads()
    for _ in range(2):  # the helper threads are kept for the next run
        in_shards(work, trial_shards(40, 3))
        assert sorted(seen) == [0, 1, 2] and all(n == 1 and not grad for _, n, grad in seen.values())
        assert len({ident for ident, _, _ in seen.values()}) == 3 and seen[0][0] == threading.get_ident()
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("failing", [0, 1])
def test_a_failure_in_a_shard_is_raised_in_the_caller_once_the_others_are_done(failing):
    done = []

    def work(index, shard):
        if index == failing:
            raise ValueError(f"shard {index} failed")
        time.sleep(0.05)
        done.append(index)

    with pytest.raises(ValueError, match=f"shard {failing} failed"):
        in_shards(work, trial_shards(40, 3))
    assert sorted(done) == sorted({0, 1, 2} - {failing})


def test_a_small_network_on_one_thread_still_knows_how_many_threads_there_were():
    class Small:
        weight, n_neurons = torch.zeros(1), 10

        def delay_steps(self):
            return [1]

    with one_thread(False):
        torch.set_num_threads(2)
        with threads.single_thread_if_small(Small(), 5):
            assert torch.get_num_threads() == 1 and available_threads() == 2
            with one_thread():
                assert available_threads() == 2
        assert available_threads() == 2
