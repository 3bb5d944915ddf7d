"""Validation of saved artefacts (policy checkpoints, index metadata, encoder configs, caches).

Everything shelfwise reads back from disk goes through these checks *before* anything is
allocated from what the file declares, so that a damaged or hostile file fails with a named
:class:`~encoders.errors.ShelfwiseError` subclass whose message names the file and the field,
never with a traceback, a huge allocation or silently poisoned numbers:

- :func:`parse_json_object` / :func:`read_json_object`: a JSON *object*; ``NaN``,
  ``Infinity``, numbers that overflow a float, integers too long to convert, duplicate keys,
  lone surrogate code points and nesting too deep for the parser are refused.
- :class:`Fields`: typed access to the keys of such an object (integers in a range, finite
  floats, known strings, nested objects), each error naming the dotted field path.
- :func:`read_npz` / :func:`read_npy_bytes`: numpy archives read with ``allow_pickle=False``
  after every member's header was checked against its real size (no decompression bombs,
  no object arrays).
- :func:`check_finite`: no NaN or infinity in any array.

Documented limits: :data:`MAX_DIM` for any vector or feature dimension a file declares.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from encoders.errors import ShelfwiseError

__all__ = [
    "MAX_DIM",
    "Fields",
    "check_finite",
    "check_text",
    "parse_json_object",
    "read_json_object",
    "read_npy_bytes",
    "read_npz",
    "safe_repr",
]

MAX_DIM = 65_536
"""Largest vector dimension a saved artefact may declare (index, policy, image encoder)."""

_REQUIRED: Any = object()


def safe_repr(value: object, limit: int = 60) -> str:
    """``repr`` that never fails (huge ints) and never floods a message (long strings)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    try:
        text = repr(value)
    except ValueError:  # pragma: no cover - ints are handled above
        return type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_text(value: str, where: str, error: type[ShelfwiseError]) -> str:
    """Return ``value`` if it encodes as UTF-8 (no lone surrogates), else raise ``error``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(f"{where} holds a lone surrogate code point at position {exc.start} "
                    "(not valid Unicode text)") from exc
    return value


# ---------------------------------------------------------------------------- JSON


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} does not fit a float")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {safe_repr(key)}")
        out[key] = value
    return out


def parse_json_object(text: str | bytes, source: str, error: type[ShelfwiseError], *,
                      float_check: bool = True) -> dict[str, Any]:
    """Parse ``text`` as one JSON object with finite numbers and unique keys.

    Args:
        text: the JSON document (bytes are decoded as UTF-8).
        source: what to name in the message (usually the file path).
        error: the exception class to raise.
        float_check: refuse numbers that overflow a float while parsing. ``False`` parses
            them as infinity (faster on large files); the caller must then check every
            float it reads for finiteness (``Fields.get_float`` does).

    Returns:
        the object as a ``dict``.

    Raises:
        error: not UTF-8, not JSON, not an object, ``NaN``/``Infinity``, a number that
            overflows a float or an integer too long to convert, duplicate keys, or nesting
            too deep for the parser.

    """
    try:
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant,
                          parse_float=_finite_float if float_check else float,
                          object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise error(f"{source} is not UTF-8 text: {exc}") from exc
    except RecursionError as exc:
        raise error(f"{source} is not valid JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, our hooks, int digits limit
        raise error(f"{source} is not valid JSON (corrupt or truncated): {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{source} must hold a JSON object, got {type(data).__name__}")
    return data


def read_json_object(path: Path, error: type[ShelfwiseError], *, max_bytes: int,
                     float_check: bool = True) -> dict[str, Any]:
    """Read ``path`` with :func:`parse_json_object`, refusing files over ``max_bytes``.

    Raises:
        error: missing or unreadable file, too large, or invalid (see the parser).

    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path} is {size} bytes, more than the {max_bytes} bytes such a "
                        "metadata file may have (corrupt or not a shelfwise file)")
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {path}: {exc}") from exc
    return parse_json_object(raw, str(path), error, float_check=float_check)


class Fields:
    """Typed, validated access to the keys of a JSON object read from ``source``.

    Every getter raises ``error`` with a message ``"<source>: field '<path>' ..."``.

    Args:
        data: the object.
        source: what to name in messages (the file path).
        error: the exception class to raise.
        prefix: dotted path of ``data`` inside the document (``""`` at the top).

    """

    def __init__(self, data: Mapping[str, Any], source: str, error: type[ShelfwiseError],
                 prefix: str = "") -> None:
        self.data = data
        self.source = source
        self.error = error
        self.prefix = prefix

    def name(self, key: str) -> str:
        """Dotted path of ``key``."""
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> NoReturn:
        """Raise ``error`` naming the file and the field."""
        raise self.error(f"{self.source}: field {self.name(key)!r} {problem}")

    def only(self, *allowed: str) -> None:
        """Refuse keys other than ``allowed`` (names them)."""
        extra = sorted(set(self.data) - set(allowed))
        if extra:
            raise self.error(f"{self.source}: unknown field(s) "
                             f"{', '.join(repr(self.name(k)) for k in extra[:5])}; "
                             f"expected only {', '.join(self.name(k) for k in allowed)}")

    def _get(self, key: str, default: Any) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                self.fail(key, "is missing")
            return default
        return self.data[key]

    def get_int(self, key: str, lo: int, hi: int, default: Any = _REQUIRED) -> Any:
        """An integer (not a bool) in ``[lo, hi]``."""
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(key, f"must be an integer in [{lo}, {hi}], got {safe_repr(value)}")
        return value

    def get_float(self, key: str, lo: float = -math.inf, hi: float = math.inf, *,
              lo_open: bool = False, default: Any = _REQUIRED) -> Any:
        """A finite number (int or float, not a bool) in ``[lo, hi]`` (``(lo, hi]``)."""
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        ok = (not isinstance(value, bool) and isinstance(value, int | float)
              and math.isfinite(value) and (value > lo if lo_open else value >= lo)
              and value <= hi)
        if not ok:
            bracket = "(" if lo_open else "["
            self.fail(key, f"must be a finite number in {bracket}{lo}, {hi}], got "
                           f"{safe_repr(value)}")
        return float(value)

    def get_bool(self, key: str, default: Any = _REQUIRED) -> Any:
        """``true`` or ``false``."""
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {safe_repr(value)}")
        return value

    def get_str(self, key: str, *, choices: Any = None, max_len: int = 1000,
            nullable: bool = False, default: Any = _REQUIRED) -> Any:
        """A valid-Unicode string of at most ``max_len`` characters, one of ``choices``."""
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {safe_repr(value)}")
        if len(value) > max_len:
            self.fail(key, f"is {len(value)} characters long, more than {max_len}")
        check_text(value, f"{self.source}: field {self.name(key)!r}", self.error)
        if choices is not None and value not in choices:
            self.fail(key, f"is {value!r}; expected one of: "
                           f"{', '.join(sorted(map(str, choices)))}")
        return value

    def get_obj(self, key: str, default: Any = _REQUIRED) -> Fields:
        """A nested object, as :class:`Fields` (``default`` is a ``dict`` when optional)."""
        value = self._get(key, default)
        if not isinstance(value, dict):
            self.fail(key, f"must be a JSON object, got {safe_repr(value)}")
        return Fields(value, self.source, self.error, prefix=f"{self.name(key)}.")

    def get_list(self, key: str, *, max_len: int, default: Any = _REQUIRED) -> Any:
        """A JSON array of at most ``max_len`` items (items unchecked)."""
        value = self._get(key, default)
        if not isinstance(value, list):
            self.fail(key, f"must be a JSON array, got {safe_repr(value)}")
        if len(value) > max_len:
            self.fail(key, f"has {len(value)} items, more than {max_len}")
        return value

    def get_sha256(self, key: str, default: Any = _REQUIRED) -> Any:
        """A lowercase 64-digit hex SHA-256 digest."""
        value = self.get_str(key, max_len=64, default=default)
        if value is default and key not in self.data:
            return value
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            self.fail(key, f"must be a 64-digit hex SHA-256, got {safe_repr(value)}")
        return value

    def items(self) -> Iterator[tuple[str, Any]]:
        """The raw key-value pairs."""
        return iter(self.data.items())


# ---------------------------------------------------------------------------- numpy


def check_finite(arrays: Mapping[str, np.ndarray], source: str, error: type[ShelfwiseError],
                 what: str = "parameter") -> None:
    """Refuse NaN or infinity in any floating or complex array of ``arrays``.

    Raises:
        error: ``"<source>: <what> '<key>' holds N NaN or infinite value(s) of M"``.

    """
    for key, arr in arrays.items():
        a = np.asarray(arr)
        if a.dtype.kind in "fc":
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            if bad:
                raise error(f"{source}: {what} {key!r} holds {bad} NaN or infinite value(s) "
                            f"of {a.size}")


def _header(fh: Any, source: str, error: type[ShelfwiseError]) -> tuple[tuple[int, ...], Any]:
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = fmt.read_array_header_2_0(fh)
    else:  # pragma: no cover - read_magic refuses other versions
        raise error(f"{source}: unsupported .npy version {version}")
    if dtype.hasobject:
        raise error(f"{source}: holds Python objects (dtype {dtype}); refused, nothing is "
                    "unpickled")
    return tuple(int(n) for n in shape), dtype


_NPY_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
               NotImplementedError, RuntimeError)


def read_npz(path: Path, error: type[ShelfwiseError], *, max_bytes: int,
             what: str = "checkpoint") -> dict[str, np.ndarray]:
    """Read every array of a ``.npz`` (``np.savez``) file without trusting its headers.

    Each member's declared shape and dtype must fit in the bytes it really has before it
    is read; object arrays are refused; the arrays together may hold at most ``max_bytes``.

    Returns:
        ``{name: array}`` (names without ``.npy``).

    Raises:
        error: missing, corrupt or truncated archive, a member that is not a ``.npy`` array,
            duplicate names, a header claiming more data than stored, or too much data.

    """
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(info.file_size for info in infos)
            if total > max_bytes:
                raise error(f"corrupt {what} {path}: its arrays hold {total} bytes, more than "
                            f"the {max_bytes} allowed")
            for info in infos:
                name = info.filename
                member = f"{path} member {name!r}"
                if not name.endswith(".npy"):
                    raise error(f"corrupt {what} {path}: member {name!r} is not a .npy array")
                key = name[:-4]
                if key in out:
                    raise error(f"corrupt {what} {path}: member {name!r} appears twice")
                with zf.open(info) as fh:
                    shape, dtype = _header(fh, member, error)
                    need = math.prod(shape) * dtype.itemsize
                    if need > info.file_size - fh.tell():
                        raise error(f"corrupt {what} {path}: member {name!r} declares shape "
                                    f"{shape} ({need} bytes) but stores "
                                    f"{max(info.file_size - fh.tell(), 0)} bytes")
                with zf.open(info) as fh:
                    out[key] = np.lib.format.read_array(fh, allow_pickle=False)
    except ShelfwiseError:
        raise
    except _NPY_ERRORS as exc:
        raise error(f"corrupt {what} {path}: {exc}") from exc
    return out


def read_npy_bytes(raw: bytes, source: str, error: type[ShelfwiseError], *,
                   shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Read one ``.npy`` image from ``raw`` after checking it declares ``shape`` and ``dtype``.

    Raises:
        error: unreadable, or another shape or dtype than expected (nothing is allocated
            from a wrong header).

    """
    import io

    try:
        fh = io.BytesIO(raw)
        got_shape, got_dtype = _header(fh, source, error)
        if got_shape != tuple(shape) or got_dtype != np.dtype(dtype):
            raise error(f"{source} has shape {got_shape} {got_dtype}, expected "
                        f"{tuple(shape)} {np.dtype(dtype)}")
        fh.seek(0)
        return np.lib.format.read_array(fh, allow_pickle=False)
    except ShelfwiseError:
        raise
    except _NPY_ERRORS as exc:
        raise error(f"{source} cannot be read: {exc}") from exc
