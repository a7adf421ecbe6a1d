"""`nwb-biornn fit <dandiset>` end to end against the loopback DANDI server: download, cache, stream."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from dandi_server import API_KEY

from nwb_biornn.cli import main
from nwb_biornn.synthetic.demo import write_demo_dandiset


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    folder = write_demo_dandiset(tmp_path_factory.mktemp("demo"), "refcirc1", n_trials=60, units_per_area=6)
    return next(folder.rglob("*.nwb"))


@pytest.mark.parametrize("stream", [False, True])
def test_fit_a_dandiset_served_over_the_dandi_api(dandi_server, demo_file, tmp_path, stream):
    asset_path = "sub-refcirc1/sub-refcirc1_ses-20240101T120000_ecephys+ogen.nwb"
    dandi_server.add_dandiset("000123", {"0.240101.0000": {asset_path: demo_file}, "draft": {asset_path: demo_file}})
    out = tmp_path / "out"
    args = ["fit", "DANDI:000123", "--api-url", dandi_server.api_url, "--cache-dir", str(tmp_path / "cache"),
            "--sessions", "sub-refcirc1/*", "--steps", "2", "--out", str(out), "--json"]
    result = CliRunner().invoke(main, args + (["--stream"] if stream else []))
    assert result.exit_code == 0, result.stderr
    (path,) = json.loads(result.stdout)["model_files"]
    info = CliRunner().invoke(main, ["info", path, "--json"])
    assert info.exit_code == 0, info.stderr
    assert "000123" in info.stdout and "0.240101.0000" in info.stdout
    assert "000123" in (out / "dandiset.yaml").read_text()
    downloaded = list((tmp_path / "cache").rglob("*.nwb"))
    assert (len(downloaded) == 0) if stream else (len(downloaded) == 1)


def test_stream_an_embargoed_dandiset_through_its_signed_url(dandi_server, demo_file, tmp_path, monkeypatch):
    asset_path = "sub-refcirc1/sub-refcirc1_ses-20240101T120000_ecephys+ogen.nwb"
    dandi_server.add_dandiset("000124", {"draft": {asset_path: demo_file}}, embargoed=True)
    monkeypatch.setenv("DANDI_API_KEY", API_KEY)
    out, cache = tmp_path / "out", tmp_path / "cache"
    result = CliRunner().invoke(main, ["fit", "DANDI:000124/draft", "--api-url", dandi_server.api_url, "--stream",
                                       "--cache-dir", str(cache), "--steps", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    (path,) = json.loads(result.stdout)["model_files"]
    blobs = [p for _, p in dandi_server.requests if p.startswith("/blobs/")]
    assert blobs and all("signature=" in p for p in blobs)
    assert not list(cache.rglob("*.nwb")) and (cache / "remfile").is_dir()
    assert API_KEY.encode() not in Path(path).read_bytes()
    monkeypatch.delenv("DANDI_API_KEY")
    evaluation = CliRunner().invoke(main, ["evaluate", path, "--json"])
    assert evaluation.exit_code == 0, evaluation.stderr
