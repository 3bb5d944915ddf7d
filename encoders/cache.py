"""A persistent cache of embeddings keyed by content hash (SQLite, float32 blobs, no pickles).

Put the model name (and anything else that changes the vectors) into ``namespace``, e.g.
``EmbeddingCache(folder, f"text:{encoder.name}")``: a new model then misses the cache
instead of returning stale vectors.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from encoders.artefacts import MAX_DIM, safe_repr
from encoders.errors import ConfigError, EncoderError

DB_FILE = "embeddings.sqlite"
_CHUNK = 500  # keys per SELECT, well under SQLite's bound-variable limit


def content_hash(*parts: str | bytes) -> str:
    """Return the sha256 hex digest of the parts (each length-prefixed, so splits matter).

    Args:
        parts: strings (hashed as UTF-8) or bytes.

    Raises:
        ConfigError: a part is neither str nor bytes.

    """
    h = hashlib.sha256()
    for i, part in enumerate(parts):
        if isinstance(part, str):
            data = part.encode("utf-8")
        elif isinstance(part, bytes | bytearray | memoryview):
            data = bytes(part)
        else:
            raise ConfigError(f"parts[{i}] must be str or bytes, got {type(part).__name__}")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class EmbeddingCache:
    """Float32 vectors stored by key in ``folder/embeddings.sqlite``, one namespace per model.

    Args:
        folder: folder of the cache (created if missing); several namespaces share one file.
        namespace: name of the vector space, which must include the model name.
        dim: width of the vectors, if known; makes ``get_or_compute([])`` return (0, dim).

    Attributes:
        hits: rows served from the cache since this object was created.
        misses: rows computed since this object was created.

    Raises:
        ConfigError: ``namespace`` is empty.
        EncoderError: the database cannot be opened.

    """

    def __init__(self, folder: str | Path, namespace: str, dim: int | None = None) -> None:
        if not isinstance(namespace, str) or not namespace.strip():
            raise ConfigError(f"namespace must be a non-empty string, got {namespace!r}")
        if dim is not None and (not isinstance(dim, int) or dim < 1):
            raise ConfigError(f"dim must be a positive integer or None, got {dim!r}")
        self.folder = Path(folder)
        self.namespace = namespace
        self.dim = dim
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.folder / DB_FILE, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors ("
                " namespace TEXT NOT NULL, key TEXT NOT NULL, dim INTEGER NOT NULL,"
                " data BLOB NOT NULL, PRIMARY KEY (namespace, key))"
            )
            self._conn.commit()
        except (OSError, sqlite3.Error) as exc:
            raise EncoderError(
                f"cannot open the embedding cache {str(self.folder / DB_FILE)!r}: {exc}; "
                "delete the file to rebuild the cache"
            ) from exc

    def __repr__(self) -> str:
        return (
            f"EmbeddingCache(folder={str(self.folder)!r}, namespace={self.namespace!r}, "
            f"hits={self.hits}, misses={self.misses})"
        )

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __len__(self) -> int:
        with self._lock:
            rows = self._query("SELECT COUNT(*) FROM vectors WHERE namespace = ?",
                               (self.namespace,))
        return int(rows[0][0])  # type: ignore[call-overload]

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise EncoderError(
                f"cannot read the embedding cache {str(self.folder / DB_FILE)!r}: {exc}; "
                "delete the file to rebuild the cache"
            ) from exc

    def _damaged(self, key: object, problem: str) -> EncoderError:
        return EncoderError(
            f"embedding cache {str(self.folder / DB_FILE)!r} has a damaged row (namespace "
            f"{self.namespace!r}, key {safe_repr(key)}): {problem}; delete the file to rebuild"
        )

    def _fetch(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        width: int | None = None
        for s in range(0, len(keys), _CHUNK):
            chunk = keys[s : s + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT key, dim, data FROM vectors WHERE namespace = ? AND key IN ({marks})",
                (self.namespace, *chunk),
            )
            for key, dim, data in rows:
                if not isinstance(data, bytes) or len(data) % 4:
                    raise self._damaged(key, "its data is not float32 bytes")
                vec = np.frombuffer(data, dtype="<f4")
                if isinstance(dim, bool) or not isinstance(dim, int) or vec.shape != (dim,):
                    raise self._damaged(key, f"dim {safe_repr(dim)} does not match its "
                                             f"{vec.shape[0]} values")
                if not 1 <= dim <= MAX_DIM:
                    raise self._damaged(key, f"dim {dim} is outside [1, {MAX_DIM}]")
                if width is not None and dim != width:
                    raise self._damaged(key, f"width {dim} differs from the namespace's {width}")
                if not np.isfinite(vec).all():
                    raise self._damaged(key, "it holds NaN or infinite values")
                width = dim
                if not isinstance(key, str):
                    raise self._damaged(key, "its key is not text")
                found[key] = vec
        return found

    def get_or_compute(
        self, keys: list[str], compute: Callable[[list[int]], np.ndarray]
    ) -> np.ndarray:
        """Return the vectors of ``keys``, computing and storing only the missing ones.

        Args:
            keys: n keys (usually :func:`content_hash` of the encoded content); repeats allowed.
            compute: called once (or not at all) with the positions in ``keys`` of the missing
                keys (each missing key once, first occurrence); returns float (len(positions), d).

        Returns:
            float32 (n, d), rows in the order of ``keys``.

        Raises:
            ConfigError: a key is not a string.
            EncoderError: ``compute`` returns the wrong shape, non-finite values, or a width
                different from the vectors already cached in this namespace.

        """
        if isinstance(keys, str):
            raise ConfigError("keys must be a list of strings, not a single string")
        keys = list(keys)
        for i, k in enumerate(keys):
            if not isinstance(k, str):
                raise ConfigError(f"keys[{i}] must be a str, got {type(k).__name__}")
        with self._lock:
            found = self._fetch(list(dict.fromkeys(keys)))
            first_missing: dict[str, int] = {}
            for i, k in enumerate(keys):
                if k not in found and k not in first_missing:
                    first_missing[k] = i
            positions = list(first_missing.values())
            if positions:
                new = np.asarray(compute(positions), dtype=np.float32)
                if new.ndim != 2 or new.shape[0] != len(positions):
                    raise EncoderError(
                        f"compute returned shape {new.shape} for {len(positions)} missing keys; "
                        f"expected ({len(positions)}, d)"
                    )
                if not np.isfinite(new).all():
                    raise EncoderError(
                        "compute returned NaN or infinite values; nothing was cached"
                    )
                width = self._width(found)
                if width is not None and new.shape[1] != width:
                    raise EncoderError(
                        f"compute returned width {new.shape[1]} but namespace {self.namespace!r} "
                        f"holds width {width}; use a namespace that names the model"
                    )
                rows = []
                for row, (k, _) in enumerate(first_missing.items()):
                    vec = np.ascontiguousarray(new[row], dtype="<f4")
                    found[k] = vec
                    rows.append((self.namespace, k, int(vec.shape[0]), vec.tobytes()))
                try:
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO vectors (namespace, key, dim, data) "
                        "VALUES (?, ?, ?, ?)",
                        rows,
                    )
                    self._conn.commit()
                except sqlite3.Error as exc:
                    self._conn.rollback()
                    raise EncoderError(
                        f"cannot write to the embedding cache {str(self.folder / DB_FILE)!r}: {exc}"
                    ) from exc
            self.misses += len(positions)
            self.hits += len(keys) - len(positions)
        if not keys:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def _width(self, found: dict[str, np.ndarray]) -> int | None:
        if found:
            return int(next(iter(found.values())).shape[0])
        rows = self._query("SELECT dim FROM vectors WHERE namespace = ? LIMIT 1",
                           (self.namespace,))
        if rows:
            dim = rows[0][0]
            if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
                raise self._damaged(None, f"dim {safe_repr(dim)} is not a width in "
                                          f"[1, {MAX_DIM}]")
            return dim
        return self.dim
