"""DANDI access: version resolution, asset listings, a download cache that works offline, and streaming.

Everything goes through the ``dandi`` client (:class:`dandi.dandiapi.DandiAPIClient`) with two guards:
requests time out and an unreachable or failing server raises :class:`~nwb_biornn.core.errors.UserError` within
seconds (the client alone retries for about a minute), and nothing the server sends can make us write outside
the cache. The cache folder holds::

    <cache>/dandi/<instance>/dandisets/<id>/<version>.json     asset listing of a version
    <cache>/dandi/<instance>/dandisets/<id>/latest.json        the version an unpinned request resolved to
    <cache>/dandi/<instance>/assets/<asset id>/<digest key>/<file name>
    <cache>/remfile/                                           block cache of streamed files

Published versions are immutable, so their listing is reused without any request; ``draft`` and unpinned
requests are refreshed when the server answers and fall back to the cached listing when it does not.
The API key comes from ``DANDI_API_KEY`` and is only ever sent in request headers.

Examples
--------
>>> archive = DandiArchive("https://api.dandiarchive.org/api", cache_root())     # doctest: +SKIP
>>> listing = archive.listing("000363")                                         # doctest: +SKIP
>>> path = archive.download(listing, listing.assets[0])                         # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

os.environ.setdefault("DANDI_NO_ET", "1")  # the client would otherwise ask a telemetry server for its version

import requests  # noqa: E402
from dandi.consts import DandiInstance, known_instances  # noqa: E402
from dandi.dandiapi import AssetType, DandiAPIClient  # noqa: E402
from dandi.exceptions import NotFoundError  # noqa: E402

from nwb_biornn.core.errors import UserError
from nwb_biornn.core.files import atomic_path  # noqa: E402

logging.getLogger("dandi").addHandler(logging.NullHandler())  # the client's records reach the app's handlers only

DEFAULT_API_URL = known_instances["dandi"].api
"""The DANDI Archive API, used unless ``api_url`` or ``DANDI_API_URL`` names another instance."""

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a connection to the DANDI server."""
READ_TIMEOUT = 60.0
"""Seconds to wait for the server to send data once connected."""
RETRY_DELAYS = (0.5, 1.0)
"""Pauses before the quick retries of a failed request; after them the server counts as unreachable."""
CHUNK_SIZE = 1 << 20
"""Bytes per downloaded chunk (one progress update each)."""

Progress = Callable[[str, int, int], None]
"""``progress(asset_path, bytes_done, bytes_total)``, called as a download advances."""

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VERSION = r"draft|\d+(?:\.\d+)+"
_DANDI_ID = re.compile(rf"(?:dandi:)?(\d{{6}})(?:/({_VERSION}))?", re.IGNORECASE)
_API_PATH = re.compile(rf"(?P<api>.*/api)/dandisets/(?P<id>\d{{6}})(?:/versions/(?P<v>{_VERSION}))?(?:/assets)?/?")
_WEB_PATH = re.compile(rf"/dandiset/(?P<id>\d{{6}})(?:/(?P<v>{_VERSION}))?(?:/files)?/?")


def api_url_or_default(api_url=None) -> str:
    """The DANDI API URL to use: ``api_url``, else ``$DANDI_API_URL``, else the DANDI Archive."""
    return (api_url or os.environ.get("DANDI_API_URL") or DEFAULT_API_URL).rstrip("/")


@dataclass(frozen=True)
class AssetRecord:
    """One asset of a dandiset version, as listed by the server.

    ``digest`` is the asset's ``dandi:dandi-etag``, filled in once the asset has been downloaded.
    """

    asset_id: str
    path: str
    size: int
    modified: str
    digest: str | None = None


@dataclass(frozen=True)
class Listing:
    """The assets of one version of a dandiset, in path order."""

    api_url: str
    dandiset_id: str
    version: str
    assets: tuple[AssetRecord, ...]


@dataclass(frozen=True)
class DandiReference:
    """A dandiset named by the user: id, optional version, the instance's API URL when a URL named it, and an
    asset path prefix (from a ``files?location=`` or ``assets/?path=`` URL)."""

    dandiset_id: str
    version: str | None = None
    api_url: str | None = None
    path_prefix: str = ""


def parse_dandi_reference(text: str) -> DandiReference | None:
    """Read a dandiset id or URL; None if ``text`` is neither.

    Examples
    --------
    >>> parse_dandi_reference("DANDI:000363/0.230822.0128")
    DandiReference(dandiset_id='000363', version='0.230822.0128', api_url=None, path_prefix='')
    >>> parse_dandi_reference("https://dandiarchive.org/dandiset/000363/draft/files?location=sub-440956")
    DandiReference(dandiset_id='000363', version='draft', api_url='https://api.dandiarchive.org/api', \
path_prefix='sub-440956')
    """
    if match := _DANDI_ID.fullmatch(text):
        return DandiReference(match[1], match[2])
    url = urlsplit(text)
    if url.scheme not in ("http", "https"):
        return None
    query = dict(parse_qsl(url.query))
    if match := _API_PATH.fullmatch(url.path):
        api_url = f"{url.scheme}://{url.netloc}{match['api']}"
        return DandiReference(match["id"], match["v"], api_url, query.get("path", ""))
    if match := _WEB_PATH.fullmatch(url.path):
        web = f"{url.scheme}://{url.netloc}"
        api_url = next((known.api for known in known_instances.values() if known.gui == web), f"{web}/api")
        return DandiReference(match["id"], match["v"], api_url, query.get("location", ""))
    return None


def check_asset_path(path: str, dandiset: str) -> str:
    """Return ``path`` if it is a clean relative POSIX path, else raise :class:`UserError`.

    A DANDI server only ever sends such paths; anything else (``..``, an absolute path, a backslash, empty
    parts) could make a client write outside its folder, so it is refused outright.
    """
    parts = path.split("/")
    if not path or "\\" in path or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise UserError(f"dandiset {dandiset} lists an unsafe asset path {path!r}; refusing to use this server")
    return path


def _checked_name(value: str, what: str) -> str:
    if not _SAFE_NAME.fullmatch(value) or value in (".", ".."):
        raise UserError(f"the DANDI server sent an invalid {what} {value!r}; refusing to use this server")
    return value


class ServerUnreachable(UserError):
    """The DANDI server cannot be reached or keeps failing."""


class _FailFastSession(requests.Session):
    """A requests session that gives up on an unreachable or failing server within seconds.

    The dandi client retries connection errors and 5xx answers with exponential backoff for about a minute;
    a :class:`UserError` raised here is not retried by it. Every request gets a timeout.
    """

    def __init__(self, api_url: str):
        super().__init__()
        self.api_url = api_url

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        for delay in (*RETRY_DELAYS, None):
            try:
                response = super().request(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout):
                problem = f"cannot reach the DANDI server {self.api_url}"
            else:
                if response.status_code < 500:
                    return response
                problem = f"the DANDI server {self.api_url} fails (HTTP {response.status_code})"
            if delay is None:
                raise ServerUnreachable(f"{problem}: check the network connection and the API URL "
                                        "(--api-url or DANDI_API_URL), or try again later")
            time.sleep(delay)


class DandiArchive:
    """One DANDI instance seen through the on-disk cache.

    Parameters
    ----------
    api_url
        The instance's API URL, e.g. ``https://api.dandiarchive.org/api``.
    cache_dir
        The cache folder (see :func:`nwb_biornn.recordings.cache.cache_root`).

    The client is created, and ``DANDI_API_KEY`` sent, only when a request is needed.
    """

    def __init__(self, api_url: str, cache_dir):
        self.api_url = api_url.rstrip("/")
        self.cache_dir = Path(cache_dir)
        instance = urlsplit(self.api_url)
        self.folder = self.cache_dir / "dandi" / re.sub(r"[^A-Za-z0-9.-]+", "_", instance.netloc + instance.path)
        self._client: DandiAPIClient | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._client is not None:
            self._client.session.close()
            self._client = None

    def listing(self, dandiset_id: str, version: str | None = None) -> Listing:
        """The assets of ``version`` of a dandiset (default: most recent published, else draft).

        A cached published version is returned without any request. Otherwise the server is asked; when it
        cannot be reached, the cached listing of the same request is used if there is one.
        """
        if version not in (None, "draft") and self._listing_file(dandiset_id, version).exists():
            return self._read_listing(dandiset_id, version)
        try:
            listing = self._fetch_listing(dandiset_id, version)
        except ServerUnreachable:
            cached = self._cached_listing(dandiset_id, version)
            if cached is None:
                raise
            return cached
        self._write_listing(listing)
        if version is None:
            _write_json_atomic(self._latest_file(dandiset_id), {"version": listing.version})
        return listing

    def cached_path(self, asset: AssetRecord) -> Path | None:
        """The cached file of an asset, or None if it has not been downloaded."""
        if asset.digest is None:
            return None
        path = self._asset_file(asset, asset.digest)
        return path if path.is_file() else None

    def download(self, listing: Listing, asset: AssetRecord, progress: Progress | None = None) -> Path:
        """The local file of an asset, downloaded into the cache unless already there.

        The file is written under a temporary name and renamed into place once complete, so an interrupted
        download leaves no partial file. ``progress(asset.path, bytes_done, bytes_total)`` follows it.
        """
        cached = self.cached_path(asset)
        if cached is not None:
            return cached
        remote = self._remote_asset(listing, asset)
        digest = remote.get_raw_digest()
        self._remember_digest(listing, asset, digest)
        target = self._asset_file(asset, digest)
        if target.is_file():
            return target
        try:
            with atomic_path(target) as partial, open(partial, "wb") as out:
                done = 0
                for chunk in remote.get_download_file_iter(chunk_size=CHUNK_SIZE)():
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(asset.path, done, asset.size)
                if done != asset.size:
                    raise UserError(f"download of {asset.path} stopped after {done} of {asset.size} bytes; "
                                    "run again to retry")
        except requests.RequestException as error:
            raise UserError(f"download of {asset.path} from {self.api_url} failed ({type(error).__name__}); "
                            "run again to retry") from None
        return target

    def digest(self, listing: Listing, asset: AssetRecord) -> str:
        """The asset's ``dandi:dandi-etag`` digest: remembered in the cached listing once known (every download
        records it), else asked of the server and remembered."""
        if asset.digest is not None:
            return asset.digest
        cached = self._cached_listing(listing.dandiset_id, listing.version)
        known = next((a.digest for a in (cached.assets if cached else ()) if a.asset_id == asset.asset_id), None)
        if known is not None:
            return known
        digest = self._remote_asset(listing, asset).get_raw_digest()
        self._remember_digest(listing, asset, digest)
        return digest

    def asset_content_url(self, asset_id: str) -> str:
        """The URL an asset's bytes are served from (its download redirect's target), for streaming."""
        client = self._client_or_new()
        try:
            remote = client.get_asset(_checked_name(asset_id, "asset id"))
            return remote.get_content_url(regex=re.escape(self.api_url), follow_redirects=1)
        except NotFoundError:
            raise UserError(f"asset {asset_id} is gone from {self.api_url}") from None
        except requests.HTTPError as error:
            raise self._http_problem(error, f"of asset {asset_id}") from None

    def download_url(self, asset: AssetRecord) -> str:
        """The stable API download URL of an asset (safe to record: it holds no credentials)."""
        return f"{self.api_url}/assets/{asset.asset_id}/download/"

    def _client_or_new(self) -> DandiAPIClient:
        if self._client is None:
            name = urlsplit(self.api_url).netloc
            instance = next((known for known in known_instances.values() if known.api == self.api_url),
                            DandiInstance(name=name, gui=None, api=self.api_url))
            client = DandiAPIClient(dandi_instance=instance)
            session = _FailFastSession(self.api_url)
            session.headers.update(client.session.headers)
            client.session.close()
            client.session = session
            token = os.environ.get("DANDI_API_KEY")
            if token:
                try:
                    client.authenticate(token)
                except requests.HTTPError:
                    raise UserError(f"{self.api_url} rejected the key in DANDI_API_KEY; "
                                    "set it to a valid DANDI API key or unset it") from None
            self._client = client
        return self._client

    def _dandiset(self, dandiset_id: str, version: str | None):
        client = self._client_or_new()
        try:
            dandiset = client.get_dandiset(dandiset_id, lazy=False)
        except NotFoundError:
            raise UserError(f"no dandiset {dandiset_id} on {self.api_url}: check the id "
                            "(and --api-url or DANDI_API_URL)") from None
        except requests.HTTPError as error:
            raise self._http_problem(error, dandiset_id) from None
        if version is None or version == dandiset.version_id:
            return dandiset
        if version == "draft":
            return dandiset.for_version(dandiset.draft_version)
        try:
            return dandiset.for_version(version)
        except NotFoundError:
            versions = ", ".join(v.identifier for v in dandiset.get_versions())
            raise UserError(f"dandiset {dandiset_id} has no version {version!r}; "
                            f"its versions are: {versions}") from None

    def _http_problem(self, error: requests.HTTPError, dandiset_id: str) -> UserError:
        status = error.response.status_code if error.response is not None else None
        if status in (401, 403):
            return UserError(f"dandiset {dandiset_id} on {self.api_url} needs authorization: "
                             "set DANDI_API_KEY to your DANDI API key")
        return UserError(f"the DANDI server {self.api_url} refused a request for dandiset {dandiset_id} "
                         f"(HTTP {status})")

    def _fetch_listing(self, dandiset_id: str, version: str | None) -> Listing:
        dandiset = self._dandiset(dandiset_id, version)
        resolved = _checked_name(dandiset.version_id, "version")
        if resolved != "draft" and self._listing_file(dandiset_id, resolved).exists():
            return self._read_listing(dandiset_id, resolved)  # published versions never change
        try:
            assets = tuple(
                AssetRecord(_checked_name(a.identifier, "asset id"), check_asset_path(a.path, dandiset_id),
                            a.size, a.modified.isoformat())
                for a in dandiset.get_assets(order="path") if a.asset_type is AssetType.BLOB
            )
        except requests.HTTPError as error:
            raise self._http_problem(error, dandiset_id) from None
        listing = Listing(self.api_url, dandiset_id, resolved, assets)
        previous = self._cached_listing(dandiset_id, resolved)
        if previous is not None:
            listing = _with_digests(listing, {a.asset_id: a.digest for a in previous.assets if a.digest})
        return listing

    def _remote_asset(self, listing: Listing, asset: AssetRecord):
        dandiset = self._client_or_new().get_dandiset(listing.dandiset_id, listing.version)
        try:
            return dandiset.get_asset(asset.asset_id)
        except NotFoundError:
            raise UserError(f"asset {asset.path} is gone from dandiset {listing.dandiset_id}/{listing.version}; "
                            "run again to refresh the listing") from None
        except requests.HTTPError as error:
            raise self._http_problem(error, listing.dandiset_id) from None

    def _remember_digest(self, listing: Listing, asset: AssetRecord, digest: str) -> None:
        cached = self._cached_listing(listing.dandiset_id, listing.version) or listing
        self._write_listing(_with_digests(cached, {asset.asset_id: digest}))

    def _cached_listing(self, dandiset_id: str, version: str | None) -> Listing | None:
        if version is None:
            latest = self._latest_file(dandiset_id)
            if not latest.exists():
                return None
            version = json.loads(latest.read_text())["version"]
        if not self._listing_file(dandiset_id, version).exists():
            return None
        return self._read_listing(dandiset_id, version)

    def _read_listing(self, dandiset_id: str, version: str) -> Listing:
        data = json.loads(self._listing_file(dandiset_id, version).read_text())
        return Listing(data["api_url"], data["dandiset_id"], data["version"],
                       tuple(AssetRecord(**asset) for asset in data["assets"]))

    def _write_listing(self, listing: Listing) -> None:
        _write_json_atomic(self._listing_file(listing.dandiset_id, listing.version), asdict(listing))

    def _listing_file(self, dandiset_id: str, version: str) -> Path:
        return self.folder / "dandisets" / dandiset_id / f"{version}.json"

    def _latest_file(self, dandiset_id: str) -> Path:
        return self.folder / "dandisets" / dandiset_id / "latest.json"

    def _asset_file(self, asset: AssetRecord, digest: str) -> Path:
        digest_key = hashlib.sha256(digest.encode()).hexdigest()[:16]
        return self.folder / "assets" / asset.asset_id / digest_key / PurePosixPath(asset.path).name


DOWNLOAD_URL = re.compile(r"(?P<api_url>https?://.+)/assets/(?P<asset_id>[^/?#]+)/download/?")
"""An asset's stable download URL on a DANDI API (what model files record as their source)."""


def open_stream(url: str, cache_dir):
    """A read-only file object on a remote file (``h5py.File`` opens it), block-cached under ``cache_dir``.

    For an asset's DANDI download URL the bytes are read from where the API redirects this user, asked with
    ``DANDI_API_KEY`` when it is set: a signed URL for an asset of an embargoed dandiset.
    """
    import remfile

    download = DOWNLOAD_URL.fullmatch(url)
    if download is not None:
        with DandiArchive(download["api_url"], cache_dir) as archive:
            url = archive.asset_content_url(download["asset_id"])
    folder = Path(cache_dir) / "remfile"
    folder.mkdir(parents=True, exist_ok=True)
    return remfile.File(url, disk_cache=remfile.DiskCache(str(folder)))


def _with_digests(listing: Listing, digests: dict) -> Listing:
    assets = tuple(replace(a, digest=digests.get(a.asset_id, a.digest)) for a in listing.assets)
    return replace(listing, assets=assets)


def _write_json_atomic(path: Path, data) -> None:
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(data, indent=1))
