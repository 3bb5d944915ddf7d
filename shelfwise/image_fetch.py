"""Download product images given as URLs into a content-hash cache in the workspace.

Nothing is fetched unless asked (``shelfwise ingest --fetch-images`` or
``shelfwise images fetch``). A catalog keeps each image URL as it is; the pipeline asks
:func:`cached_image_path` for the downloaded file and gives a product whose URL is not in the
cache a text-only vector.

Choices where the issue was silent:

* Files live in ``<workspace>/images/fetched/<sha256 of the bytes>.<format>``, so two URLs
  with the same picture share one file. The URL -> file map is a small SQLite table
  (``urls.sqlite`` in the same folder) written only by the calling thread.
* A URL already in the map whose file still exists is not downloaded again unless
  ``force=True``; failures are not remembered, so the next run tries them again.
* Downloads run on a bounded thread pool (``workers``, default 8) sharing one ``httpx.Client``.
* Retries (``retries``, default 2, exponential backoff from ``backoff`` seconds) happen only on
  connection errors (refused, reset, connect timeout, dropped mid-response) and 5xx answers; a
  4xx, a read timeout (a slow server stays slow), a non-image or an image over the limits fails
  at once.
* Bodies are streamed and reading stops as soon as ``MAX_IMAGE_BYTES`` is passed (a declared
  ``Content-Length`` over the limit is refused before reading); the bytes are then checked by
  :func:`shelfwise.images.check_image_bytes` (decodable, pixel limit) before being stored.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shelfwise.catalog import Product
from shelfwise.errors import ConfigError
from shelfwise.images import MAX_IMAGE_BYTES, ImageError, check_image_bytes, is_url
from shelfwise.workspace import Workspace

FETCHED_DIR = "fetched"
"""Sub-folder of the workspace's ``images/`` that holds downloaded images."""
MAP_FILE = "urls.sqlite"
USER_AGENT = "shelfwise-image-fetch/1"
_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}


@dataclass
class FetchReport:
    """What :func:`fetch_images` did; counts are per product (a shared URL counts for each).

    Attributes:
        requested: Products whose image is an http(s) URL.
        fetched: Of those, products whose image was downloaded in this run.
        cached: Products whose URL was already in the cache (nothing downloaded).
        failed: ``(product id, reason)`` of products whose image could not be had; they keep
            their row and get a text-only vector.
        urls: Distinct URLs among the requested products.
        bytes_downloaded: Image bytes stored in this run.
        retries: Extra attempts made after connection errors or 5xx answers.
        seconds: Wall time of the whole run.
    """

    requested: int = 0
    fetched: int = 0
    cached: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    urls: int = 0
    bytes_downloaded: int = 0
    retries: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``failed`` as a list of ``{"id", "reason"}`` objects."""
        return {
            "requested": self.requested,
            "fetched": self.fetched,
            "cached": self.cached,
            "failed": [{"id": pid, "reason": why} for pid, why in self.failed],
            "urls": self.urls,
            "bytes_downloaded": self.bytes_downloaded,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
        }


class FetchError(ImageError):
    """One image URL could not be downloaded as a usable image (the message says why).

    Attributes:
        retries: Extra attempts made before giving up.
    """

    def __init__(self, message: str, retries: int = 0) -> None:
        super().__init__(message)
        self.retries = retries


class _Retryable(Exception):
    """A connection error or 5xx answer: worth another attempt."""


def fetched_dir(workspace: Workspace) -> Path:
    """The folder of downloaded images (``<workspace>/images/fetched``)."""
    return workspace.images_dir / FETCHED_DIR


class ImageUrlCache:
    """The URL -> downloaded file map of one workspace (SQLite, used from one thread).

    Args:
        workspace: The workspace; the folder is created on first write.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.folder = fetched_dir(workspace)
        self._db: sqlite3.Connection | None = None

    def _conn(self, *, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            path = self.folder / MAP_FILE
            if not create and not path.is_file():
                return None
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path)
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS urls (url TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
                    " file TEXT NOT NULL, bytes INTEGER NOT NULL, fetched_at REAL NOT NULL)"
                )
            except (OSError, sqlite3.DatabaseError) as exc:
                raise ConfigError(
                    f"{path}: cannot open the image URL cache: {exc}; delete the file to "
                    "start it afresh"
                ) from None
        return self._db

    def close(self) -> None:
        """Close the map's database."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def lookup(self, urls: Sequence[str]) -> dict[str, Path]:
        """Downloaded files of ``urls`` whose file still exists (unknown URLs left out)."""
        db = self._conn(create=False)
        if db is None:
            return {}
        found: dict[str, Path] = {}
        unique = list(dict.fromkeys(urls))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            try:
                rows = db.execute(
                    f"SELECT url, file FROM urls WHERE url IN ({marks})", chunk
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise ConfigError(
                    f"{self.folder / MAP_FILE}: the image URL cache is unreadable: {exc}; "
                    "delete the file to start it afresh"
                ) from None
            for url, name in rows:
                path = self.folder / name
                if path.is_file():
                    found[url] = path
        return found

    def store(self, url: str, data: bytes, suffix: str) -> Path:
        """Write ``data`` under its sha256 (once) and map ``url`` to it; returns the file."""
        digest = hashlib.sha256(data).hexdigest()
        name = digest + suffix
        path = self.folder / name
        db = self._conn(create=True)
        if db is None:  # pragma: no cover - create=True always opens it
            raise ConfigError(f"{self.folder / MAP_FILE}: cannot open the image URL cache")
        if not path.is_file():
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        with db:
            db.execute(
                "INSERT OR REPLACE INTO urls VALUES (?, ?, ?, ?, ?)",
                (url, digest, name, len(data), time.time()),
            )
        return path

    def __enter__(self) -> ImageUrlCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cached_image_path(workspace: Workspace, url: str) -> Path | None:
    """The downloaded file for an image URL, or ``None`` when it was never fetched."""
    with ImageUrlCache(workspace) as cache:
        return cache.lookup([url]).get(url)


def _download(
    client: Any, url: str, *, max_bytes: int, retries: int, backoff: float
) -> tuple[bytes, str, int]:
    """Download one image URL and check it; returns ``(bytes, file suffix, retries used)``.

    Raises:
        FetchError: unreachable after the retries, an HTTP error, too large, or not an image.
    """
    import httpx
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
    )

    attempts = 0

    def once() -> bytes:
        nonlocal attempts
        attempts += 1
        try:
            with client.stream("GET", url) as response:
                status = response.status_code
                if status >= 500:
                    raise _Retryable(f"HTTP {status}")
                if status >= 400:
                    raise FetchError(f"{url}: HTTP {status}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(
                        f"{url}: image is {int(declared):,} bytes, over {max_bytes:,}"
                    )
                buf = io.BytesIO()
                for chunk in response.iter_bytes():
                    buf.write(chunk)
                    if buf.tell() > max_bytes:
                        raise FetchError(f"{url}: image is over {max_bytes:,} bytes; stopped")
                return buf.getvalue()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        except httpx.TimeoutException as exc:
            raise FetchError(f"{url}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None

    try:
        data = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(retries + 1),
            wait=wait_exponential(multiplier=backoff, max=max(backoff * 8, 0.0)),
            reraise=False,
        )(once)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise FetchError(f"{url}: {last} (after {attempts} attempts)", attempts - 1) from None
    except FetchError as exc:
        raise FetchError(str(exc), attempts - 1) from None
    try:
        check_image_bytes(data, url)
    except ImageError as exc:
        raise FetchError(str(exc), attempts - 1) from None
    return data, _suffix(data), attempts - 1


def _suffix(data: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return _SUFFIXES.get(str(img.format), ".img")


@contextmanager
def _client(timeout: float, workers: int) -> Iterator[Any]:
    import httpx

    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(
        timeout=httpx.Timeout(timeout),
        limits=limits,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    ) as client:
        yield client


def fetch_images(
    workspace: Workspace,
    products: Sequence[Product],
    *,
    progress: bool = True,
    force: bool = False,
    workers: int = 8,
    timeout: float = 10.0,
    retries: int = 2,
    backoff: float = 0.5,
    max_bytes: int = MAX_IMAGE_BYTES,
) -> FetchReport:
    """Download the images of ``products`` whose image is an http(s) URL into the cache.

    Products with a local image or none are ignored. A product whose image cannot be had
    (unreachable, HTTP error, timeout, too large, not an image, a decompression bomb) is listed
    in ``failed`` with the reason; nothing is raised for it.

    Args:
        workspace: Where the cache lives (``<workspace>/images/fetched``).
        products: The products to fetch for (e.g. the whole catalog).
        progress: Show a progress bar (stderr) over the URLs to download.
        force: Download URLs already in the cache again.
        workers: Concurrent downloads (1-64).
        timeout: Seconds allowed for connecting and for each read.
        retries: Extra attempts after a connection error or a 5xx answer.
        backoff: First wait between attempts in seconds (doubling, at most 8x).
        max_bytes: Largest body read; at most ``MAX_IMAGE_BYTES``.

    Returns:
        The counts; ``requested == fetched + cached + len(failed)``.

    Raises:
        ConfigError: a bad argument, or the cache map cannot be opened.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ConfigError(f"workers must be an integer in [1, 64], got {workers!r}")
    if not 0 < timeout <= 600:
        raise ConfigError(f"timeout must be in (0, 600] seconds, got {timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise ConfigError(f"retries must be an integer in [0, 10], got {retries!r}")
    if not backoff >= 0:
        raise ConfigError(f"backoff must be >= 0 seconds, got {backoff!r}")
    if not 0 < max_bytes <= MAX_IMAGE_BYTES:
        raise ConfigError(f"max_bytes must be in (0, {MAX_IMAGE_BYTES}], got {max_bytes!r}")
    started = time.perf_counter()
    report = FetchReport()
    by_url: dict[str, list[str]] = {}
    for p in products:
        if p.image and is_url(p.image):
            by_url.setdefault(p.image.strip(), []).append(p.id)
    report.requested = sum(len(ids) for ids in by_url.values())
    report.urls = len(by_url)
    with ImageUrlCache(workspace) as cache:
        known = {} if force else cache.lookup(list(by_url))
        for url in known:
            report.cached += len(by_url[url])
        todo = [u for u in by_url if u not in known]
        if todo:
            _run_downloads(cache, todo, by_url, report, progress=progress, workers=workers,
                           timeout=timeout, retries=retries, backoff=backoff,
                           max_bytes=max_bytes)
    report.failed.sort()
    report.seconds = time.perf_counter() - started
    return report


def _run_downloads(
    cache: ImageUrlCache,
    todo: list[str],
    by_url: dict[str, list[str]],
    report: FetchReport,
    *,
    progress: bool,
    workers: int,
    timeout: float,
    retries: int,
    backoff: float,
    max_bytes: int,
) -> None:
    from tqdm.auto import tqdm

    stop = threading.Event()
    with (
        _client(timeout, workers) as client,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-fetch") as pool,
        tqdm(total=len(todo), desc="fetching images", unit="img", disable=not progress) as bar,
    ):
        def job(url: str) -> tuple[bytes, str, int]:
            if stop.is_set():
                raise FetchError(f"{url}: cancelled")
            return _download(client, url, max_bytes=max_bytes, retries=retries,
                             backoff=backoff)

        futures = {pool.submit(job, url): url for url in todo}
        try:
            for future in as_completed(futures):
                url = futures[future]
                ids = by_url[url]
                try:
                    data, suffix, used = future.result()
                except FetchError as exc:
                    report.failed.extend((pid, str(exc)) for pid in ids)
                    report.retries += exc.retries
                else:
                    cache.store(url, data, suffix)  # one thread writes the map
                    report.fetched += len(ids)
                    report.bytes_downloaded += len(data)
                    report.retries += used
                bar.update(1)
        except BaseException:
            stop.set()  # Ctrl-C: let running downloads finish, start no new one
            raise
