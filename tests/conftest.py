"""Shared fixtures: a fake DANDI server on a loopback port, a small NWB file to serve, sparse products and
trials split between threads for small networks, and a small synthetic dandiset with a model fitted to it by the command line.

In-memory synthetic sessions for unit tests are in ``synthetic_sessions.py``.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from dandi_server import API_KEY, FakeDandiServer
from nwb_factories import write_000363

from nwb_biornn.model import sparse, threads


@pytest.fixture(scope="session")
def small_nwb(tmp_path_factory):
    """One small NWB file in the DANDI:000363 layout, written once per test run (serve it under as many asset
    paths as needed)."""
    return write_000363(tmp_path_factory.mktemp("nwb") / "small.nwb")


@pytest.fixture
def dandi_server():
    """A running :class:`FakeDandiServer` (no dandisets yet) that accepts :data:`API_KEY`, stopped after the
    test."""
    with FakeDandiServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def sparse_products(monkeypatch):
    """``sparse_products(limit)`` makes spiking CPU runs of any size multiply steps whose spike density is at most
    ``limit`` as sums of rows (:mod:`nwb_biornn.model.sparse`), and the denser steps densely."""
    def use(limit: float) -> None:
        monkeypatch.setattr(sparse, "SPARSE_STEP_WORK", 0)
        monkeypatch.setattr(sparse, "SPARSE_DENSITY", limit)
    return use


@pytest.fixture(params=["tensor operations", "fused steps"])
def time_loop(request, sparse_products):
    """Runs a test once with each way the time loop takes its steps: in tensor operations (GPUs, dense runs) and
    in the fused kernels of sparse spiking CPU runs (:mod:`nwb_biornn.model.fused`, every step sparse)."""
    if request.param == "fused steps":
        sparse_products(1.0)
    return request.param


@pytest.fixture
def sharded_runs(monkeypatch):
    """``sharded_runs(n)`` makes CPU runs of any size split their trials into up to ``n`` shards (whole blocks
    of trials), each integrated and backpropagated by its own thread (:mod:`nwb_biornn.model.threads`)."""
    def use(n: int) -> None:
        monkeypatch.setattr(threads, "SMALL_STEP_WORK", 0)
        monkeypatch.setattr(threads, "available_threads", lambda: n)
    return use


@pytest.fixture(scope="session")
def fitted_demo(tmp_path_factory):
    """A model fitted by ``nwb-biornn fit`` (3 steps, CPU) to a small synthetic demo session (RefCirc1 ground
    truth, 40 trials of which 4 lit, 5 units per area), once per run: ``(out folder, the fit's --json document)``.

    Its predictions are not all zero and it has several held-out conditions, so evaluation tests have something
    to check; ``evaluate`` on it takes about two seconds. The model file is shared: copy it before a command that
    writes into it (``target``).
    """
    from nwb_biornn.cli import main
    from nwb_biornn.synthetic.demo import write_demo_dandiset

    root = write_demo_dandiset(tmp_path_factory.mktemp("demo"), "refcirc1", n_trials=40, perturbed_fraction=0.1,
                               units_per_area=5)
    out = tmp_path_factory.mktemp("fit")
    result = CliRunner().invoke(main, ["fit", str(root), "--steps", "3", "--out", str(out), "--device", "cpu",
                                       "--json"])
    assert result.exit_code == 0, result.stderr
    return out, json.loads(result.stdout)
