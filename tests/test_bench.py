import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nwb_biornn.cli import main
from nwb_biornn.core.errors import UserError
from nwb_biornn.fit.bench import benchmark, gemm_gflops, step_flops, synthetic_session
from nwb_biornn.model import threads
from nwb_biornn.render.text import format_benchmark

KEYS = {"neurons", "time_steps", "batch", "seconds_per_step", "gflops", "gemm_gflops", "peak_memory_mb"}


def test_synthetic_session_has_the_asked_size_two_areas_and_plausible_rates():
    session = synthetic_session(n_units=40, n_time=500, n_trials=30, dt=0.002, seed=1)
    assert session.spikes.shape == (30, 500, 40) and session.inputs.shape == (30, 500, 2)
    assert set(session.unit_area) == {"A", "B"} and set(session.unit_cell_type) == {"E", "I"}
    rate = session.spikes.mean() / session.dt
    assert 2.0 < rate < 10.0
    assert np.all(session.inputs[session.trial_type == "nogo", :, 0] == 0) and session.inputs[:, :, 1].sum() > 0


def test_step_flops_counts_three_products_per_delay_block():
    assert step_flops(500, 200, 400) == 6 * 500 ** 2 * 200 * 400
    assert step_flops(10, 3, 2, delay_blocks=2) == 2 * 6 * 100 * 3 * 2


def test_gemm_rate_is_positive_and_finite():
    assert 0 < gemm_gflops(32, 32, 32, seconds=0.01) < 1e6


@pytest.mark.parametrize("dt, blocks", [(0.002, 1), (0.001, 2)])
def test_benchmark_runs_the_training_step_and_reports_consistent_numbers(dt, blocks):
    report = benchmark(neurons=12, time_steps=20, batch=6, steps=2, dt=dt)
    assert KEYS <= set(report)
    assert (report["neurons"], report["time_steps"], report["batch"]) == (12, 20, 6)
    assert report["delay_blocks"] == blocks and len(report["step_seconds"]) == 2
    assert report["seconds_per_step"] > 0 and report["peak_memory_mb"] > 10
    assert report["flops"] == step_flops(12, 20, 6, blocks)
    assert report["gflops"] == pytest.approx(report["flops"] / report["seconds_per_step"] / 1e9)
    assert report["floor_seconds"] == pytest.approx(report["flops"] / report["gemm_gflops"] / 1e9)
    assert 0 <= report["spike_density"] < 0.5 and report["sparse_products"] is False  # too small to pay


def test_benchmark_rejects_bad_sizes():
    with pytest.raises(UserError, match="--batch"):
        benchmark(neurons=12, time_steps=20, batch=0)
    with pytest.raises(UserError, match="preset"):
        benchmark(neurons=12, time_steps=20, batch=4, preset_name="nope")


def test_bench_command_prints_the_documented_json_keys():
    result = CliRunner().invoke(main, ["bench", "--neurons", "10", "--time-steps", "15", "--batch", "4", "--steps", "1",
                                       "--model", "sigma_rnn", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert KEYS <= set(report) and report["preset"] == "sigma_rnn" and report["neurons"] == 10
    assert report["spike_density"] is None and report["sparse_products"] is False


def test_bench_command_prints_a_summary_for_people(sparse_products):
    sparse_products(0.5)
    options = ["--neurons", "10", "--time-steps", "15", "--batch", "4", "--steps", "1"]
    result = CliRunner().invoke(main, ["bench", *options])
    assert result.exit_code == 0, result.output
    assert "10 neurons x 15 steps x 4 trials" in result.output and "s per step (median of 1)" in result.output
    assert "recurrent products: sums of rows in steps at most 50% dense" in result.output


def test_bench_command_refuses_bad_options_in_one_line():
    result = CliRunner().invoke(main, ["bench", "--bin-size", "0"])
    assert result.exit_code == 1 and result.output.strip().startswith("error:") and "--bin-size" in result.output


@pytest.mark.parametrize("n_threads", [1, 2])
def test_benchmark_reports_the_speed_up_of_its_threads_over_one(monkeypatch, n_threads):
    monkeypatch.setattr(threads, "SMALL_STEP_WORK", 0)   # a network this small would otherwise run on one thread
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        report = benchmark(neurons=12, time_steps=20, batch=6, steps=2)
    finally:
        torch.set_num_threads(before)
    assert report["threads"] == n_threads
    if n_threads == 1:
        assert report["one_thread_seconds_per_step"] is None and report["thread_speedup"] is None
    else:
        assert report["one_thread_seconds_per_step"] > 0
        assert report["thread_speedup"] == pytest.approx(report["one_thread_seconds_per_step"]
                                                         / report["seconds_per_step"])
        assert "on one thread" in format_benchmark(report)
    assert torch.get_num_threads() == before
