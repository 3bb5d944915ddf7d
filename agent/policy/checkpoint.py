"""Policy checkpoints: JSON metadata plus a numpy ``.npz`` of parameters, never pickled.

Layouts written by :func:`save_policy`:

- a folder (any path not ending in ``.npz``): ``meta.json`` and ``params.npz``;
- a single file ``<path>.npz``: the parameters plus the metadata JSON as the 0-d string
  array ``__meta__``.

:func:`load_policy` also accepts a ``.json`` file whose parameters lie beside it in the
``.npz`` of the same stem. Torch weights are stored as numpy arrays, so loading never runs
``pickle`` (``np.load(allow_pickle=False)``).

Loading validates everything before a policy is built (see :mod:`encoders.artefacts`):

- metadata: a JSON object with exactly the keys below, of the right types; ``name`` a
  registered policy; ``format_version`` this code's; ``dims`` both null or both integers in
  ``[1, MAX_DIM]``; ``seed`` and ``n_updates`` integers (``n_updates >= 0``); hyperparameters
  accepted by the policy's config (which bounds sizes such as ``hidden``);
- parameters: exactly the arrays the policy has for those dimensions, with their shapes,
  numeric dtypes, no NaN or infinity, the policy's own invariants (e.g. a symmetric positive
  definite ``A`` for the linear bandits) and, when recorded, the ``params_sha256`` checksum;
- finally the restored policy scores and samples a small synthetic request, and must give
  finite scores and positive propensities.

Metadata keys (format 1): ``format_version, name, version, seed, hyperparameters, dims
{state, candidates}, n_updates`` and ``params_sha256`` (optional, so older checkpoints still
load).

Hyperparameters added later load with the value older code used implicitly:
``feature_space`` is ``"shared"`` unless the recorded state and item dimensions differ
(then ``"separate"``, the outer-product features those versions switched to silently).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from agent.policy.base import SlatePolicy
from encoders.artefacts import (
    MAX_DIM,
    Fields,
    check_finite,
    parse_json_object,
    read_json_object,
    read_npz,
    safe_repr,
)
from encoders.errors import ConfigError, PolicyError, ShelfwiseError

__all__ = ["FORMAT_VERSION", "MAX_META_BYTES", "MAX_PARAMS_BYTES", "load_policy",
           "save_policy"]

FORMAT_VERSION = 1
"""Checkpoint format written by this code; others are refused."""

MAX_META_BYTES = 1 << 20
"""Largest ``meta.json`` accepted (1 MiB; a real one is under 1 KiB)."""

MAX_PARAMS_BYTES = 4 << 30
"""Largest total size of the parameter arrays accepted (4 GiB)."""

_META_KEY = "__meta__"
_META_FIELDS = ("format_version", "name", "version", "seed", "hyperparameters", "dims",
                "n_updates", "params_sha256")
_SEED_RANGE = (-(2**63), 2**64 - 1)
_COUNT_MAX = 2**63 - 1


def params_digest(params: dict[str, np.ndarray]) -> str:
    """SHA-256 over the sorted names, dtypes, shapes and bytes of ``params``."""
    h = hashlib.sha256()
    for key in sorted(params):
        arr = np.ascontiguousarray(params[key])
        h.update(f"{key}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _metadata(policy: SlatePolicy, params: dict[str, np.ndarray]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "name": policy.name,
        "version": policy.version,
        "seed": policy.seed,
        "hyperparameters": policy.config.to_dict(),
        "dims": {"state": policy.state_dim, "candidates": policy.cand_dim},
        "n_updates": policy.n_updates,
        "params_sha256": params_digest(params),
    }


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # write then rename, so that a crash never leaves a half-written checkpoint
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_policy(policy: SlatePolicy, path: str | Path) -> Path:
    """Write ``policy`` to ``path`` (a folder, or one file when it ends in ``.npz``).

    Returns:
        the path written.

    Raises:
        PolicyError: the path cannot be written, or the parameters hold NaN or infinity
            (such a checkpoint could never be loaded).

    """
    path = Path(path).expanduser()
    params = policy._get_params() if policy.state_dim is not None else {}
    check_finite(params, f"cannot save policy {policy.name!r} to {path}", PolicyError)
    meta = _metadata(policy, params)
    try:
        if path.suffix == ".npz":
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_npz(path, {**params, _META_KEY: np.array(json.dumps(meta))})
        else:
            path.mkdir(parents=True, exist_ok=True)
            _write_npz(path / "params.npz", params)
            (path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise PolicyError(f"cannot write policy checkpoint {path}: {exc}") from exc
    return path


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    return read_npz(path, PolicyError, max_bytes=MAX_PARAMS_BYTES, what="policy checkpoint")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PolicyError(f"policy checkpoint not found: {path}")
    return read_json_object(path, PolicyError, max_bytes=MAX_META_BYTES)


def _read(path: Path) -> tuple[dict[str, Any], str, dict[str, np.ndarray], str]:
    """``(meta, meta source, params, params source)`` of any of the three layouts."""
    if path.is_dir():
        meta_path, npz_path = path / "meta.json", path / "params.npz"
        return _read_json(meta_path), str(meta_path), _read_npz(npz_path), str(npz_path)
    if path.suffix == ".json":
        npz_path = path.with_suffix(".npz")
        return _read_json(path), str(path), _read_npz(npz_path), str(npz_path)
    if path.suffix == ".npz":
        params = _read_npz(path)
        if _META_KEY not in params:
            raise PolicyError(f"corrupt policy checkpoint {path}: no {_META_KEY} entry")
        raw = params.pop(_META_KEY)
        if raw.ndim != 0 or raw.dtype.kind != "U" or raw.dtype.itemsize > 4 * MAX_META_BYTES:
            raise PolicyError(f"corrupt policy checkpoint {path}: {_META_KEY} must be one "
                              f"string, got a {raw.dtype} array of shape {raw.shape}")
        src = f"{path} ({_META_KEY})"
        return parse_json_object(str(raw), src, PolicyError), src, params, str(path)
    raise PolicyError(f"policy checkpoint not found: {path}")


def _hyperparameters(f: Fields) -> dict[str, Any]:
    hyper = f.get_obj("hyperparameters", default={})
    out: dict[str, Any] = {}
    for key, value in hyper.items():
        if not (value is None or isinstance(value, bool | int | float | str)):
            hyper.fail(key, f"must be a number, true/false, a string or null, got "
                            f"{safe_repr(value)}")
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 63:
            hyper.fail(key, f"is out of range: {safe_repr(value)}")
        out[key] = value
    return out


def _dims(f: Fields, policy: SlatePolicy) -> tuple[int, int] | None:
    dims = f.get_obj("dims", default={})
    dims.only("state", "candidates")
    d_u, d_c = (None if dims.data.get(key) is None else dims.get_int(key, 1, MAX_DIM)
                for key in ("state", "candidates"))
    if (d_u is None) != (d_c is None):
        raise PolicyError(f"{f.source}: field 'dims' must give both 'state' and 'candidates' "
                          f"or neither, got {dims.data}")
    if d_u is None or d_c is None:
        return None
    try:
        policy.check_dims(d_u, d_c)
    except PolicyError as exc:
        raise PolicyError(f"{f.source}: field 'dims' does not fit the policy: {exc}") from exc
    return d_u, d_c


def _legacy_feature_space(hyper: dict[str, Any], meta: dict[str, Any]) -> None:
    """Fill ``feature_space`` for checkpoints written before it existed.

    Those versions chose silently: one space when the state and item dimensions were equal,
    outer-product features otherwise. Reproduce that choice so their parameters keep their
    meaning.
    """
    if "feature_space" in hyper:
        return
    dims = meta.get("dims")
    if not isinstance(dims, dict):
        return
    d_u, d_c = dims.get("state"), dims.get("candidates")
    extra = hyper.get("extra_features", 0)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (d_u, d_c, extra)) \
            and d_c - extra != d_u:
        hyper["feature_space"] = "separate"


def _check_params(policy: SlatePolicy, dims: tuple[int, int] | None,
                  params: dict[str, np.ndarray], src: str, n_updates: int) -> None:
    """Names, shapes, dtypes and values of the arrays, before anything is allocated."""
    expected = policy._param_shapes(*dims) if dims is not None else {}
    missing = sorted(set(expected) - set(params) - policy._optional_params())
    if missing:
        raise PolicyError(f"{src}: checkpoint lacks parameter {missing[0]!r} of policy "
                          f"{policy.name!r}")
    extra = sorted(set(params) - set(expected))
    if extra:
        raise PolicyError(f"{src}: unexpected parameter {extra[0]!r} for policy "
                          f"{policy.name!r} (expected: {', '.join(sorted(expected)) or 'none'})")
    for key, shape in expected.items():
        if key not in params:
            continue  # optional, absent from an older checkpoint
        arr = params[key]
        if arr.dtype.kind not in "fiu":
            raise PolicyError(f"{src}: parameter {key!r} has dtype {arr.dtype}, expected a "
                              "real number type")
        if tuple(arr.shape) != tuple(shape):
            raise PolicyError(f"{src}: parameter {key!r} has shape {arr.shape}, expected "
                              f"{tuple(shape)} for dims {dims}")
    check_finite(params, src, PolicyError)
    if dims is not None:
        policy._check_params(params, src, n_updates)


def _probe(policy: SlatePolicy, src: str) -> None:
    """The restored policy must score and sample a small synthetic request sanely."""
    if policy.state_dim is None or policy.cand_dim is None:
        return
    rng = np.random.default_rng(0)
    state = rng.normal(size=policy.state_dim)
    cands = rng.normal(size=(4, policy.cand_dim))
    state /= np.linalg.norm(state)
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        try:
            scores = np.asarray(policy.score(state, cands), dtype=np.float64)
            slate = policy.select(state, cands, 2, rng)
        except (ShelfwiseError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            raise PolicyError(f"{src}: the restored policy {policy.name!r} cannot act: "
                              f"{exc}") from exc
    props = np.asarray(slate.propensities, dtype=np.float64)
    if not np.all(np.isfinite(scores)) or not np.all(np.isfinite(slate.scores)):
        raise PolicyError(f"{src}: the restored policy {policy.name!r} gives NaN or infinite "
                          "scores (its parameters overflow); retrain it")
    if not np.all(np.isfinite(props) & (props > 0)):
        raise PolicyError(f"{src}: the restored policy {policy.name!r} gives invalid "
                          "propensities (its parameters overflow); retrain it")


def load_policy(path: str | Path) -> SlatePolicy:
    """Read a checkpoint written by :func:`save_policy`, validate it and rebuild the policy.

    Raises:
        PolicyError: missing, corrupt or truncated file; metadata that is not a JSON object
            with the expected fields and types; unknown policy; wrong ``format_version``;
            absurd dimensions or counts; parameters with wrong names, shapes, dtypes, NaN or
            infinity, or a failed checksum. The message names the file and the field.

    """
    from agent.policy.registry import POLICIES

    path = Path(path).expanduser()
    meta, src, params, params_src = _read(path)
    f = Fields(meta, src, PolicyError)
    fmt = meta.get("format_version")
    if isinstance(fmt, bool) or fmt != FORMAT_VERSION:
        raise PolicyError(f"{path}: checkpoint format_version {safe_repr(fmt)} is not supported "
                          f"(this code reads {FORMAT_VERSION})")
    name = meta.get("name")
    if not isinstance(name, str) or name not in POLICIES:
        raise PolicyError(f"{path}: unknown policy {safe_repr(name)}; choose one of: "
                          f"{', '.join(sorted(POLICIES))}")
    f.only(*_META_FIELDS)
    f.get_str("version", max_len=200, default=None)
    seed = f.get_int("seed", *_SEED_RANGE, default=0)
    n_updates = f.get_int("n_updates", 0, _COUNT_MAX, default=0)
    digest = f.get_sha256("params_sha256", default=None)
    hyper = _hyperparameters(f)
    _legacy_feature_space(hyper, meta)
    try:
        policy = POLICIES[name](seed=seed, **hyper)
    except ConfigError as exc:
        raise PolicyError(f"{src}: field 'hyperparameters' is invalid for policy {name!r}: "
                          f"{exc}") from exc
    dims = _dims(f, policy)
    if digest is not None and params_digest(params) != digest:
        raise PolicyError(f"{params_src}: parameters fail their params_sha256 checksum "
                          "(corrupt file, or changed after saving)")
    _check_params(policy, dims, params, params_src, n_updates)
    try:
        # overflow shows up as non-finite numbers, which the probe below reports by name
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if dims is not None:
                policy._ensure_dims(*dims)
                policy._set_params(params)
    except (ConfigError, KeyError, TypeError, ValueError, PolicyError,
            np.linalg.LinAlgError) as exc:
        raise PolicyError(f"{path}: cannot restore policy {name!r}: {exc}") from exc
    policy.n_updates = n_updates
    policy._touch()
    _probe(policy, str(path))
    return policy
