"""Source resolution of local NWB files and folders, the demo dandiset, and text that names nothing."""
import shutil

import pytest

from nwb_biornn.core.errors import UserError
from nwb_biornn.recordings.sources import resolve_source
from nwb_biornn.synthetic.demo import demo_folder

LAYOUT = ["sub-2/sub-2_ses-b.nwb", "sub-1/sub-1_ses-a.nwb", "sub-2/sub-2_ses-a.nwb", "top.nwb"]


@pytest.fixture
def dandiset_folder(tmp_path, small_nwb):
    """A local dandiset: NWB files in sub-folders, plus files that are not sessions."""
    root = tmp_path / "dandiset"
    for relative in LAYOUT + [".partial/sub-3.nwb", "sub-1/.hidden.nwb"]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(small_nwb, root / relative)
    (root / "dandiset.yaml").write_text("identifier: DANDI:000000\n")
    return root


def relative_paths(resolved, root):
    return [r.path.relative_to(root).as_posix() for r in resolved]


def test_local_file(small_nwb):
    (asset,) = resolve_source(str(small_nwb))
    assert asset.path == small_nwb.resolve() and asset.source.path == str(small_nwb.resolve())
    assert asset.source.dandiset_id is None
    with asset.open() as io:
        nwbfile = io.read()
        assert len(nwbfile.units) > 0 and nwbfile.trials is not None


def test_folder_is_searched_recursively_in_path_order_skipping_hidden_files(dandiset_folder):
    assert relative_paths(resolve_source(str(dandiset_folder)), dandiset_folder) == sorted(LAYOUT)


@pytest.mark.parametrize("glob, expected", [
    ("sub-2/*", ["sub-2/sub-2_ses-a.nwb", "sub-2/sub-2_ses-b.nwb"]),
    ("*ses-a*", ["sub-1/sub-1_ses-a.nwb", "sub-2/sub-2_ses-a.nwb"]),
    ("top.nwb", ["top.nwb"]),
])
def test_sessions_glob_filters_folder_paths(dandiset_folder, glob, expected):
    assert relative_paths(resolve_source(str(dandiset_folder), glob), dandiset_folder) == expected


def test_glob_matching_nothing(dandiset_folder):
    with pytest.raises(UserError, match=r"no NWB file in folder .* matches --sessions 'sub-9/\*'"):
        resolve_source(str(dandiset_folder), "sub-9/*")


def test_folder_without_nwb_files(tmp_path):
    (tmp_path / "notes.txt").write_text("no sessions here")
    with pytest.raises(UserError, match="no NWB files in folder"):
        resolve_source(str(tmp_path))


def test_file_that_is_not_nwb(tmp_path):
    (tmp_path / "table.csv").write_text("a,b\n")
    with pytest.raises(UserError, match="not an NWB file"):
        resolve_source(str(tmp_path / "table.csv"))


@pytest.mark.parametrize("text", ["missing/session.nwb", "00036", "https://example.org/data.nwb"])
def test_text_naming_nothing(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="no such file or folder, and not a DANDI id"):
        resolve_source(text)


def test_demo_dandiset_is_generated_once_into_the_cache(tmp_path):
    (asset,) = resolve_source(str(demo_folder("demo:refcirc1", cache_dir=tmp_path)))
    assert asset.path.is_relative_to(tmp_path) and asset.path.parent.name == "sub-refcirc1"
    (again,) = resolve_source(str(demo_folder("demo", cache_dir=tmp_path)), "sub-refcirc1/*")
    assert again.path == asset.path


def test_unknown_demo_circuit(tmp_path):
    with pytest.raises(UserError, match="unknown demo circuit 'refcirc9'"):
        demo_folder("demo:refcirc9", cache_dir=tmp_path)
