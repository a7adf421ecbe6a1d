"""Shared fixtures: a fake DANDI server on a loopback port, a small NWB file to serve, and sparse products for
small networks.

In-memory synthetic sessions for unit tests are in ``synthetic_sessions.py``.
"""
from __future__ import annotations

import pytest

from dandi_server import API_KEY, FakeDandiServer
from nwb_biornn.model import sparse
from nwb_factories import write_000363


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
