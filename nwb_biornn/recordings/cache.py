"""The one cache folder of nwb-biornn: DANDI downloads, streamed blocks and the generated demo."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_root(cache_dir=None) -> Path:
    """The cache folder: ``cache_dir``, else ``$NWB_BIORNN_CACHE``, else the user cache dir of nwb-biornn.

    Examples
    --------
    >>> cache_root("/tmp/my-cache")
    PosixPath('/tmp/my-cache')
    """
    return Path(cache_dir or os.environ.get("NWB_BIORNN_CACHE") or platformdirs.user_cache_dir("nwb-biornn"))
