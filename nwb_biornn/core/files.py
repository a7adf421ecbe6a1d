"""Writing files and folders so that no reader ever sees a partial one.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> with atomic_path(folder / "notes.txt") as tmp:
...     _ = tmp.write_text("done")
>>> (folder / "notes.txt").read_text(), sorted(p.name for p in folder.iterdir())
('done', ['notes.txt'])
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path, *, folder: bool = False):
    """A hidden temporary file (or, with ``folder``, folder) beside ``path``, renamed to ``path`` on success.

    The body writes the temporary path it is given; when it returns, the temporary path replaces ``path`` in
    one rename. When it raises, or the process dies, ``path`` is left as it was and the temporary path is
    removed (or, after a kill, stays hidden: its name starts with a dot). A folder is made readable by
    everyone, like an ordinary folder; renaming onto an existing non-empty folder raises ``OSError``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-"))
    else:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
        os.close(handle)
        tmp = Path(name)
    try:
        yield tmp
        if folder:
            tmp.chmod(0o755)
        os.replace(tmp, path)
    finally:
        if folder:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_dandiset_yaml(folder, name: str, description: str, derived_from: str | None = None) -> Path:
    """Write ``folder/dandiset.yaml``, the metadata that makes ``folder`` a dandiset (atomically).

    Parameters
    ----------
    name, description
        The dandiset's title and description.
    derived_from
        A DANDI reference ``DANDI:<id>/<version>`` of the dandiset these files were derived from.

    Examples
    --------
    >>> import tempfile, yaml
    >>> path = write_dandiset_yaml(tempfile.mkdtemp(), "models", "fitted", derived_from="DANDI:000363/draft")
    >>> yaml.safe_load(path.read_text())["relatedResource"][0]["url"]
    'https://dandiarchive.org/dandiset/000363/draft'
    """
    import yaml

    metadata = {"identifier": "000000", "name": name, "description": description, "license": ["spdx:CC-BY-4.0"]}
    if derived_from is not None:
        dandiset_id, _, version = derived_from.removeprefix("DANDI:").partition("/")
        metadata["relatedResource"] = [{
            "identifier": derived_from, "relation": "dcite:IsDerivedFrom",
            "url": f"https://dandiarchive.org/dandiset/{dandiset_id}/{version or 'draft'}"}]
    path = Path(folder) / "dandiset.yaml"
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True))
    return path
