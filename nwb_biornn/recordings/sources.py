"""Source resolution: turn what the user typed (DANDI id or URL, NWB file, folder) into NWB files.

Examples
--------
>>> [asset.source.asset_path for asset in resolve_source("000363", sessions_glob="sub-440956/*")]  # doctest: +SKIP
['sub-440956/sub-440956_ses-20190207T120657_behavior+ecephys+ogen.nwb']
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from pynwb import NWBHDF5IO

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.session import Source
from nwb_biornn.recordings.cache import cache_root
from nwb_biornn.recordings.nwbfile import open_nwb


@dataclass(frozen=True)
class ResolvedAsset:
    """One NWB file to load: a local ``path``, or ``None`` for a DANDI asset streamed from ``source.path`` (its
    blocks cached under ``cache_dir``)."""

    source: Source
    path: Path | None = None
    cache_dir: Path | None = None

    @property
    def location(self) -> str | Path:
        """What :func:`~nwb_biornn.recordings.nwbfile.open_nwb` opens: the local path, else the URL to stream."""
        return self.path if self.path is not None else self.source.path

    def open(self) -> NWBHDF5IO:
        """The file opened read-only with :func:`~nwb_biornn.recordings.nwbfile.open_nwb`."""
        return open_nwb(self.location, self.cache_dir)


def resolve_source(text: str, sessions_glob: str | None = None, cache_dir=None, api_url: str | None = None,
                   stream: bool = False, progress=None) -> list[ResolvedAsset]:
    """The NWB files named by ``text``, in path order.

    Parameters
    ----------
    text
        A path to an NWB file or to a folder searched recursively for ``*.nwb``; a dandiset id (``000363``,
        ``DANDI:000363``, ``DANDI:000363/0.230822.0128``); or a DANDI web or API URL. (``demo`` is resolved by
        :func:`nwb_biornn.api.load_sessions`, which writes the synthetic dandiset and passes its folder here.)
    sessions_glob
        Keeps only the files whose path inside the folder or dandiset matches this pattern
        (:func:`fnmatch.fnmatchcase`, where ``*`` also matches ``/``), e.g. ``"sub-440956/*"``.
    cache_dir
        Cache folder for DANDI downloads (default: ``$NWB_BIORNN_CACHE``, else the user cache dir).
    api_url
        DANDI API URL for a bare dandiset id (default: ``$DANDI_API_URL``, else the DANDI Archive).
    stream
        Stream DANDI assets with remfile instead of downloading them (already downloaded files are used as is).
    progress
        ``progress(asset_path, bytes_done, bytes_total)`` during downloads.

    Raises
    ------
    UserError
        Missing path, folder without NWB files, nothing matching ``sessions_glob``, unknown dandiset or version,
        unreachable server.
    """
    text = text.strip()
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix != ".nwb":
            raise UserError(f"{text} is not an NWB file (no .nwb suffix): give an NWB file, a folder, "
                            "a DANDI id or URL, or 'demo'")
        return [_local_asset(path)]
    if path.is_dir():
        return _resolve_folder(path, sessions_glob)
    return _resolve_dandi(text, sessions_glob, cache_dir, api_url, stream, progress)


def select_paths(paths: list[str], sessions_glob: str | None, where: str) -> list[str]:
    """The ``.nwb`` paths of ``paths`` that match ``sessions_glob`` (all of them when it is None)."""
    nwb = [p for p in paths if p.endswith(".nwb")]
    if not nwb:
        raise UserError(f"no NWB files in {where}")
    if sessions_glob is None:
        return nwb
    chosen = [p for p in nwb if fnmatch.fnmatchcase(p, sessions_glob)]
    if not chosen:
        raise UserError(f"no NWB file in {where} matches --sessions {sessions_glob!r}; "
                        f"its {len(nwb)} NWB files look like {nwb[0]!r}")
    return chosen


def _local_asset(path: Path) -> ResolvedAsset:
    path = path.resolve()
    return ResolvedAsset(Source(str(path)), path=path)


def _resolve_folder(folder: Path, sessions_glob: str | None) -> list[ResolvedAsset]:
    relative = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.nwb") if p.is_file())
    visible = [p for p in relative if not any(part.startswith(".") for part in p.split("/"))]
    return [_local_asset(folder / p) for p in select_paths(visible, sessions_glob, f"folder {folder}")]


def _resolve_dandi(text, sessions_glob, cache_dir, api_url, stream, progress) -> list[ResolvedAsset]:
    from nwb_biornn.recordings import dandi

    reference = dandi.parse_dandi_reference(text)
    if reference is None:
        raise UserError(f"{text}: no such file or folder, and not a DANDI id (e.g. 000363), DANDI URL or 'demo'")
    root = cache_root(cache_dir)
    with dandi.DandiArchive(reference.api_url or dandi.api_url_or_default(api_url), root) as archive:
        listing = archive.listing(reference.dandiset_id, reference.version)
        where = f"dandiset {listing.dandiset_id}/{listing.version}"
        prefix = reference.path_prefix.rstrip("/")
        if prefix:
            where += f" under {prefix}/"
        assets = [a for a in listing.assets if not prefix or a.path == prefix or a.path.startswith(prefix + "/")]
        by_path = {a.path: a for a in assets}
        resolved = []
        for path in select_paths(list(by_path), sessions_glob, where):
            asset = by_path[path]
            source = dict(dandiset_id=listing.dandiset_id, version=listing.version, asset_path=asset.path,
                          asset_id=asset.asset_id, api_url=archive.api_url)
            local = archive.cached_path(asset) if stream else archive.download(listing, asset, progress)
            source["digest"] = archive.digest(listing, asset)
            if local is not None:
                resolved.append(ResolvedAsset(Source(str(local), **source), path=local))
            else:
                resolved.append(ResolvedAsset(Source(archive.download_url(asset), **source), cache_dir=root))
        return resolved
