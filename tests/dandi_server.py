"""A small DANDI Archive stand-in on a loopback port, for tests of the real ``dandi`` client.

It speaks the part of the DANDI REST API that ``DandiAPIClient``, ``dandi download``, remfile and fsspec use
(nwb-notes.md §3.6): server info, dandisets, versions, paginated asset listings (``page``, ``page_size``,
``glob``, ``path``, ``order``), asset metadata with the dandi-etag digest, ``/download/`` as a 302 to a blob
URL, and blobs with ``Range`` / 206 and ``HEAD``. Dandisets can be embargoed: every dandiset and asset request then needs
``Authorization: token <api_key>``, and ``/download/`` redirects to a signed blob URL, the only one the blob
is served from. Asset paths are served exactly as given, so a test can publish a hostile
path such as ``../escape.nwb``. Every request is recorded in :attr:`FakeDandiServer.requests`. Two switches
make it misbehave: :attr:`FakeDandiServer.fail_status` answers every request with that HTTP status, and
:attr:`FakeDandiServer.truncate_blobs` drops blob connections halfway through the body.

Examples
--------
>>> server = FakeDandiServer()
>>> server.add_dandiset("000001", {"draft": {"sub-1/sub-1.nwb": some_file}})   # doctest: +SKIP
>>> with server:                                                               # doctest: +SKIP
...     DandiArchive(server.api_url, cache).listing("000001")
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import sys
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from dandischema.digests.dandietag import DandiETag

TIMESTAMP = "2024-01-01T00:00:00.000000Z"
DEFAULT_PAGE_SIZE = 2
"""Small, so that a listing of a few assets already spans several (parallel-fetched) pages."""

API_KEY = "dandi-test-key-7f3a9c1e5b"
"""The key the fake server accepts in tests (for embargoed dandisets)."""


@dataclass
class FakeAsset:
    path: str
    file: Path
    asset_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self):
        self.size = self.file.stat().st_size
        self.digest = DandiETag.from_file(self.file).as_str()

    def listing(self) -> dict:
        return {"asset_id": self.asset_id, "blob": self.asset_id, "zarr": None, "path": self.path,
                "size": self.size, "created": TIMESTAMP, "modified": TIMESTAMP}


@dataclass
class FakeDandiset:
    identifier: str
    versions: dict  # version id -> list of FakeAsset, in publication order, "draft" last
    embargoed: bool = False

    def version(self, version_id: str) -> dict:
        assets = self.versions[version_id]
        return {"version": version_id, "name": f"dandiset {self.identifier}", "asset_count": len(assets),
                "size": sum(a.size for a in assets), "created": TIMESTAMP, "modified": TIMESTAMP,
                "status": "Published" if version_id != "draft" else "Valid"}

    def summary(self) -> dict:
        published = [v for v in self.versions if v != "draft"]
        return {"identifier": self.identifier, "created": TIMESTAMP, "modified": TIMESTAMP,
                "contact_person": "Doe, Jane", "embargo_status": "EMBARGOED" if self.embargoed else "OPEN",
                "draft_version": self.version("draft"),
                "most_recent_published_version": self.version(published[-1]) if published else None}


class FakeDandiServer:
    """A threaded HTTP server on 127.0.0.1 (random port) serving fake dandisets.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. After :meth:`stop` the port refuses
    connections, which is how tests simulate a DANDI server that is down.
    """

    def __init__(self, api_key: str | None = None, page_size: int = DEFAULT_PAGE_SIZE):
        self.api_key = api_key
        self.page_size = page_size
        self.dandisets: dict[str, FakeDandiset] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_status: int | None = None
        self.truncate_blobs = False
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def add_dandiset(self, identifier: str, versions: dict, embargoed: bool = False) -> FakeDandiset:
        """Publish a dandiset: ``versions`` maps version ids (``"draft"`` required) to ``{asset path: file}``.

        Versions are published in the given order, so the last non-draft one is the most recent. As on DANDI,
        an unchanged asset (same path, same file) keeps its asset id across versions.
        """
        if "draft" not in versions:
            raise ValueError("a dandiset always has a draft version")
        ordered = [v for v in versions if v != "draft"] + ["draft"]
        unique = {}
        for v in ordered:
            for path, file in versions[v].items():
                if (path, str(file)) not in unique:
                    unique[path, str(file)] = FakeAsset(path, Path(file))
        dandiset = FakeDandiset(identifier, {
            v: [unique[path, str(file)] for path, file in versions[v].items()] for v in ordered
        }, embargoed)
        self.dandisets[identifier] = dandiset
        return dandiset

    def start(self) -> FakeDandiServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (idempotent)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def find_asset(self, asset_id: str) -> tuple[FakeDandiset, FakeAsset] | tuple[None, None]:
        """The dandiset holding an asset, and the asset."""
        for dandiset in self.dandisets.values():
            for assets in dandiset.versions.values():
                for asset in assets:
                    if asset.asset_id == asset_id:
                        return dandiset, asset
        return None, None

    def signature(self, asset_id: str) -> str:
        """The query signature of an embargoed asset's blob URL (as S3 presigns it), which holds no API key."""
        return hashlib.sha256(f"{self.api_key}/{asset_id}".encode()).hexdigest()[:16]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)  # remfile drops its size probe on purpose


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    routes = [
        (r"/server-info", "server_info"),
        (r"/api/info/", "server_info"),
        (r"/api/auth/token/?", "auth_token"),
        (r"/api/dandisets/(?P<ds>\d+)/", "dandiset"),
        (r"/api/dandisets/(?P<ds>\d+)/versions/", "versions"),
        (r"/api/dandisets/(?P<ds>\d+)/versions/(?P<v>[^/]+)/", "version_metadata"),
        (r"/api/dandisets/(?P<ds>\d+)/versions/(?P<v>[^/]+)/info/", "version_info"),
        (r"/api/dandisets/(?P<ds>\d+)/versions/(?P<v>[^/]+)/assets/", "assets"),
        (r"/api/dandisets/(?P<ds>\d+)/versions/(?P<v>[^/]+)/assets/(?P<aid>[^/]+)/", "asset_metadata"),
        (r"/api/dandisets/(?P<ds>\d+)/versions/(?P<v>[^/]+)/assets/(?P<aid>[^/]+)/info/", "asset_info"),
        (r"/api/assets/(?P<aid>[^/]+)/info/", "asset_info"),
        (r"/api/assets/(?P<aid>[^/]+)/download/", "download"),
        (r"/blobs/(?P<aid>[^/]+)/[^/]*", "blob"),
    ]

    @property
    def fake(self) -> FakeDandiServer:
        return self.server.fake

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_GET(self):
        self._dispatch(head=False)

    def do_HEAD(self):
        self._dispatch(head=True)

    def _dispatch(self, head: bool):
        split = urlsplit(self.path)
        self.fake.requests.append((self.command, self.path))
        self.query = dict(parse_qsl(split.query))
        self.head = head
        if self.fake.fail_status is not None:
            return self._error(self.fake.fail_status, "Server misbehaving on purpose.")
        for pattern, name in self.routes:
            match = re.fullmatch(pattern, split.path)
            if match:
                getattr(self, "_" + name)(**match.groupdict())
                return
        self._error(404, "Not found.")

    def _dandiset_or_error(self, ds: str, v: str | None = None):
        dandiset = self.fake.dandisets.get(ds)
        if dandiset is None:
            return self._error(404, "No Dandiset matches the given query.")
        if dandiset.embargoed and not self._authorized():
            return self._error(401, "Authentication credentials were not provided.")
        if v is not None and v not in dandiset.versions:
            return self._error(404, "No Version matches the given query.")
        return dandiset

    def _server_info(self):
        self._json({"version": "0.4.0", "schema_version": "0.6.10", "cli-minimal-version": "0.60.0",
                    "cli-bad-versions": [], "services": {"api": {"url": self.fake.api_url},
                                                          "webui": {"url": self.fake.url}}})

    def _authorized(self) -> bool:
        return self.fake.api_key is not None and self.headers.get("Authorization") == f"token {self.fake.api_key}"

    def _auth_token(self):
        if self.fake.api_key is None or self.headers.get("Authorization") != f"token {self.fake.api_key}":
            return self._error(401, "Invalid token.")
        self._json({"detail": "ok"})

    def _dandiset(self, ds):
        if dandiset := self._dandiset_or_error(ds):
            self._json(dandiset.summary())

    def _versions(self, ds):
        if dandiset := self._dandiset_or_error(ds):
            self._page([dandiset.version(v) for v in dandiset.versions])

    def _version_metadata(self, ds, v):
        if dandiset := self._dandiset_or_error(ds, v):
            self._json({"identifier": f"DANDI:{ds}", "name": dandiset.version(v)["name"], "version": v,
                        "schemaKey": "Dandiset"})

    def _version_info(self, ds, v):
        if dandiset := self._dandiset_or_error(ds, v):
            self._json({**dandiset.version(v), "asset_validation_errors": [], "version_validation_errors": []})

    def _assets(self, ds, v):
        if dandiset := self._dandiset_or_error(ds, v):
            assets = dandiset.versions[v]
            if "glob" in self.query:
                assets = [a for a in assets if fnmatch.fnmatchcase(a.path, self.query["glob"])]
            if "path" in self.query:
                assets = [a for a in assets if a.path.startswith(self.query["path"])]
            if self.query.get("order", "").lstrip("-") == "path":
                assets = sorted(assets, key=lambda a: a.path, reverse=self.query["order"].startswith("-"))
            self._page([a.listing() for a in assets])

    def _asset_of(self, aid, ds=None, v=None):
        if ds is None:
            dandiset, asset = self.fake.find_asset(aid)
            if dandiset is not None and dandiset.embargoed and not self._authorized():
                return self._error(401, "Authentication credentials were not provided.")
        else:
            dandiset = self._dandiset_or_error(ds, v)
            if dandiset is None:
                return None
            asset = next((a for a in dandiset.versions[v] if a.asset_id == aid), None)
        if asset is None:
            self._error(404, "No Asset matches the given query.")
        return asset

    def _metadata(self, asset: FakeAsset) -> dict:
        return {"id": f"dandiasset:{asset.asset_id}", "identifier": asset.asset_id, "path": asset.path,
                "contentSize": asset.size, "encodingFormat": "application/x-nwb", "schemaKey": "Asset",
                "digest": {"dandi:dandi-etag": asset.digest}, "blobDateModified": TIMESTAMP,
                "contentUrl": [f"{self.fake.api_url}/assets/{asset.asset_id}/download/",
                               f"{self.fake.url}/blobs/{asset.asset_id}/{Path(asset.path).name}"]}

    def _asset_metadata(self, ds, v, aid):
        if asset := self._asset_of(aid, ds, v):
            self._json(self._metadata(asset))

    def _asset_info(self, aid, ds=None, v=None):
        if asset := self._asset_of(aid, ds, v):
            self._json({**asset.listing(), "metadata": self._metadata(asset)})

    def _download(self, aid):
        if asset := self._asset_of(aid):
            name = Path(asset.path).name
            query = {"response-content-disposition": f'attachment; filename="{name}"'}
            if self.fake.find_asset(aid)[0].embargoed:
                query["signature"] = self.fake.signature(aid)
            self._respond(302, b"", "text/plain", {"Location": f"{self.fake.url}/blobs/{aid}/{name}?{urlencode(query)}"})

    def _blob(self, aid):
        dandiset, asset = self.fake.find_asset(aid)
        if asset is None:
            return self._error(404, "No such blob.")
        if dandiset.embargoed and self.query.get("signature") != self.fake.signature(aid):
            return self._error(403, "Access denied: the blob of an embargoed asset needs a signed URL.")
        data = asset.file.read_bytes()
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if self.fake.truncate_blobs:
            return self._respond(200, data, "application/octet-stream", {"Connection": "close"},
                                 send=len(data) // 2)
        if ranged is None:
            return self._respond(200, data, "application/octet-stream", {"Accept-Ranges": "bytes"})
        start = int(ranged[1])
        end = min(int(ranged[2]) if ranged[2] else len(data) - 1, len(data) - 1)
        if start > end:
            return self._respond(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
        self._respond(206, data[start:end + 1], "application/octet-stream",
                      {"Content-Range": f"bytes {start}-{end}/{len(data)}", "Accept-Ranges": "bytes"})

    def _page(self, items: list):
        page_size = int(self.query.get("page_size", self.fake.page_size))
        page = int(self.query.get("page", 1))
        chunk = items[(page - 1) * page_size: page * page_size]
        base = f"{self.fake.url}{urlsplit(self.path).path}"

        def link(number):
            return f"{base}?{urlencode({**self.query, 'page': number})}"

        self._json({"count": len(items), "results": chunk,
                    "next": link(page + 1) if page * page_size < len(items) else None,
                    "previous": link(page - 1) if page > 1 else None})

    def _json(self, data):
        self._respond(200, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, detail: str):
        self._respond(status, json.dumps({"detail": detail}).encode(), "application/json")

    def _respond(self, status: int, body: bytes, content_type: str, headers: dict | None = None,
                 send: int | None = None):
        """Answer with ``body`` (only its first ``send`` bytes, then hang up, when ``send`` is given)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not self.head:
            self.wfile.write(body[:send])
        if send is not None:
            self.close_connection = True
