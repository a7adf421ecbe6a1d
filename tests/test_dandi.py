"""DANDI access through the real dandi client against the loopback fake server (tests/dandi_server.py)."""
import logging
import time

import h5py
import numpy as np
import pytest
from dandi_server import API_KEY
from pynwb import NWBHDF5IO

from nwb_biornn.core.errors import UserError
from nwb_biornn.recordings.dandi import DandiArchive
from nwb_biornn.recordings.nwbfile import load_session
from nwb_biornn.recordings.sources import resolve_source

PUBLISHED_1 = ["sub-1/sub-1_ses-a.nwb", "sub-2/sub-2_ses-a.nwb", "sub-2/sub-2_ses-b.nwb"]
PUBLISHED_2 = PUBLISHED_1 + ["sub-3/sub-3_ses-a.nwb"]
DRAFT = PUBLISHED_2 + ["sub-3/sub-3_ses-b.nwb", "sub-3/sub-3_video.mp4"]


@pytest.fixture
def server(dandi_server, small_nwb):
    """The fake server with 000001 (versions 0.1.0 < 0.2.0, and a draft) and 000002 (draft only)."""
    dandi_server.add_dandiset("000001", {
        "0.1.0": dict.fromkeys(PUBLISHED_1, small_nwb),
        "0.2.0": dict.fromkeys(PUBLISHED_2, small_nwb),
        "draft": dict.fromkeys(DRAFT, small_nwb),
    })
    dandi_server.add_dandiset("000002", {"draft": {"sub-9/sub-9_ses-a.nwb": small_nwb}})
    return dandi_server


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def asset_paths(resolved):
    return [r.source.asset_path for r in resolved]


def test_listing_resolves_pinned_latest_published_and_draft(server, cache, small_nwb):
    with DandiArchive(server.api_url, cache) as archive:
        assert archive.listing("000001").version == "0.2.0"
        assert [a.path for a in archive.listing("000001").assets] == PUBLISHED_2
        assert [a.path for a in archive.listing("000001", "0.1.0").assets] == PUBLISHED_1
        assert [a.path for a in archive.listing("000001", "draft").assets] == DRAFT  # 3 pages of 2
        assert archive.listing("000002").version == "draft"
    server.add_dandiset("000002", {"draft": {"sub-9/sub-9_ses-a.nwb": small_nwb, "sub-9/sub-9_ses-b.nwb": small_nwb}})
    with DandiArchive(server.api_url, cache) as archive:
        assert len(archive.listing("000002").assets) == 2  # a draft is refreshed


def test_resolve_by_id_and_urls_with_glob(server, cache):
    pinned = resolve_source("DANDI:000001/0.1.0", "sub-2/*", cache_dir=cache, api_url=server.api_url)
    assert asset_paths(pinned) == PUBLISHED_1[1:]
    assert {(r.source.dandiset_id, r.source.version, r.source.api_url) for r in pinned} == {
        ("000001", "0.1.0", server.api_url)}
    web = resolve_source(f"{server.url}/dandiset/000001/draft/files?location=sub-3", cache_dir=cache)
    assert asset_paths(web) == ["sub-3/sub-3_ses-a.nwb", "sub-3/sub-3_ses-b.nwb"]  # the .mp4 is not NWB
    api = resolve_source(f"{server.api_url}/dandisets/000001/", "*ses-a*", cache_dir=cache)
    assert asset_paths(api) == ["sub-1/sub-1_ses-a.nwb", "sub-2/sub-2_ses-a.nwb", "sub-3/sub-3_ses-a.nwb"]


def test_download_lands_in_cache_once_and_is_reused_without_network(server, cache, small_nwb):
    calls = []
    first = resolve_source("000001/0.1.0", cache_dir=cache, api_url=server.api_url,
                           progress=lambda *args: calls.append(args))
    size = small_nwb.stat().st_size
    assert [c for c in calls if c[1] == c[2]] == [(p, size, size) for p in PUBLISHED_1]
    assert all(r.path.read_bytes() == small_nwb.read_bytes() and r.path.is_relative_to(cache) for r in first)
    assert [r.source.path for r in first] == [str(r.path) for r in first]
    assert not list(cache.rglob(".partial-*"))
    downloads = sum("/download/" in path for _, path in server.requests)
    latest = resolve_source("000001", cache_dir=cache, api_url=server.api_url)  # resolves to 0.2.0 online
    assert sum("/download/" in path for _, path in server.requests) == downloads + 1  # only the new asset

    requests_so_far = len(server.requests)
    assert [r.path for r in resolve_source("000001", cache_dir=cache, api_url=server.api_url)] == [
        r.path for r in latest]
    assert server.requests[requests_so_far:] == [("GET", "/api/dandisets/000001/")]  # listing and files cached
    requests_so_far = len(server.requests)
    again = resolve_source("000001/0.1.0", cache_dir=cache, api_url=server.api_url)
    assert len(server.requests) == requests_so_far  # a cached published version needs no request at all
    assert [r.path for r in again] == [r.path for r in first]
    server.stop()
    offline_latest = resolve_source("DANDI:000001", cache_dir=cache, api_url=server.api_url)
    assert [r.path for r in offline_latest] == [r.path for r in latest]


def test_downloaded_session_loads_with_its_dandi_provenance(server, cache):
    (asset,) = resolve_source("000002", cache_dir=cache, api_url=server.api_url)
    session = load_session(asset.path, source=asset.source)
    assert session.n_trials == 6 and session.n_units == 2
    assert (session.source.dandiset_id, session.source.version, session.source.asset_path) == (
        "000002", "draft", "sub-9/sub-9_ses-a.nwb")


def test_stream_reads_datasets_without_downloading(server, cache, small_nwb):
    resolved = resolve_source("000002", cache_dir=cache, api_url=server.api_url, stream=True)
    (asset,) = resolved
    assert asset.path is None and asset.source.path.startswith(f"{server.api_url}/assets/")
    with asset.open() as io:
        streamed = io.read().units["spike_times"][1]
    with h5py.File(small_nwb, "r") as local, NWBHDF5IO(file=local, load_namespaces=True) as io:
        np.testing.assert_array_equal(streamed, io.read().units["spike_times"][1])
    assert not [p for p in cache.rglob("*.nwb")]
    assert any(path.startswith("/blobs/") for _, path in server.requests)


def test_stream_uses_a_file_already_downloaded(server, cache):
    (downloaded,) = resolve_source("000002", cache_dir=cache, api_url=server.api_url)
    (streamed,) = resolve_source("000002", cache_dir=cache, api_url=server.api_url, stream=True)
    assert streamed.path == downloaded.path
    with streamed.open() as io:
        assert len(io.read().units) > 0


@pytest.mark.parametrize("hostile", ["../escape.nwb", "sub-1/../../escape.nwb", "/tmp/escape.nwb",
                                     "sub-1\\..\\escape.nwb"])
def test_hostile_asset_path_is_refused_and_nothing_is_written_outside_the_cache(
        dandi_server, small_nwb, tmp_path, hostile):
    dandi_server.add_dandiset("000003", {"draft": {"sub-1/ok.nwb": small_nwb, hostile: small_nwb}})
    workdir = tmp_path / "work"
    cache = workdir / "cache"
    with pytest.raises(UserError, match="unsafe asset path"):
        resolve_source("000003", cache_dir=cache, api_url=dandi_server.api_url)
    assert [p for p in workdir.rglob("*") if not p.is_relative_to(cache)] == []
    assert list(cache.rglob("*.nwb")) == []
    assert not list(tmp_path.parent.glob("escape.nwb")) and not list(tmp_path.glob("escape.nwb"))


@pytest.mark.parametrize("text, glob, message", [
    ("000404", None, "no dandiset 000404"),
    ("000001/0.9.9", None, "no version '0.9.9'; its versions are: 0.1.0, 0.2.0, draft"),
    ("000001", "sub-7/*", "no NWB file in dandiset 000001/0.2.0 matches --sessions 'sub-7/\\*'"),
])
def test_unknown_dandiset_version_or_glob(server, cache, text, glob, message):
    with pytest.raises(UserError, match=message):
        resolve_source(text, glob, cache_dir=cache, api_url=server.api_url)


def test_server_down_fails_within_seconds(server, cache, capsys):
    server.stop()
    start = time.monotonic()
    with pytest.raises(UserError, match=f"cannot reach the DANDI server {server.api_url}"):
        resolve_source("000001", cache_dir=cache, api_url=server.api_url)
    assert time.monotonic() - start < 5
    assert capsys.readouterr().err == ""


def test_failing_server_fails_within_seconds(server, cache):
    server.fail_status = 503
    start = time.monotonic()
    with pytest.raises(UserError, match=r"fails \(HTTP 503\)"):
        resolve_source("000001", cache_dir=cache, api_url=server.api_url)
    assert time.monotonic() - start < 5


def test_interrupted_download_leaves_no_file(server, cache, small_nwb):
    server.truncate_blobs = True
    with pytest.raises(UserError, match="download of sub-9/sub-9_ses-a.nwb .*run again"):
        resolve_source("000002", cache_dir=cache, api_url=server.api_url)
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == ["draft.json", "latest.json"]
    server.truncate_blobs = False
    (asset,) = resolve_source("000002", cache_dir=cache, api_url=server.api_url)
    assert asset.path.read_bytes() == small_nwb.read_bytes()


def test_server_url_from_environment(server, cache, monkeypatch):
    monkeypatch.setenv("DANDI_API_URL", server.api_url)
    monkeypatch.setenv("NWB_BIORNN_CACHE", str(cache))
    (asset,) = resolve_source("000002")
    assert asset.source.api_url == server.api_url and asset.path.is_relative_to(cache)


def test_embargoed_dandiset_needs_the_api_key_which_is_never_logged_or_written(
        server, cache, small_nwb, monkeypatch, caplog):
    server.add_dandiset("000004", {"draft": {"sub-1/sub-1_ses-a.nwb": small_nwb}}, embargoed=True)
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    with pytest.raises(UserError, match="needs authorization: set DANDI_API_KEY"):
        resolve_source("000004", cache_dir=cache, api_url=server.api_url)
    monkeypatch.setenv("DANDI_API_KEY", "wrong-key")
    with pytest.raises(UserError, match="rejected the key in DANDI_API_KEY"):
        resolve_source("000004", cache_dir=cache, api_url=server.api_url)

    monkeypatch.setenv("DANDI_API_KEY", API_KEY)
    with caplog.at_level(logging.DEBUG):
        (asset,) = resolve_source("000004", cache_dir=cache, api_url=server.api_url)
        (streamed,) = resolve_source("000004", cache_dir=cache, api_url=server.api_url, stream=True)
    assert asset.path.read_bytes() == small_nwb.read_bytes()
    assert caplog.records and API_KEY not in caplog.text
    assert API_KEY not in str(asset.source) + str(streamed.source)
    assert not [p for p in cache.rglob("*") if p.is_file() and API_KEY.encode() in p.read_bytes()]
