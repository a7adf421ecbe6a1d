import pytest


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """pynwb's round-trip mixins write into the working directory: keep that inside tmp_path."""
    monkeypatch.chdir(tmp_path)
