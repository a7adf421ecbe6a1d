"""Fixtures for DANDI tests: a fake DANDI server on a loopback port and a small NWB file to serve.

Register with ``pytest_plugins = ["conftest_dandi"]`` in ``tests/conftest.py``.
"""
from __future__ import annotations

import pytest

from dandi_server import FakeDandiServer
from nwb_factories import write_000363

API_KEY = "dandi-test-key-7f3a9c1e5b"
"""The key the fake server accepts (for embargoed dandisets)."""


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
