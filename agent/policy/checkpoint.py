"""Policy checkpoints: JSON metadata plus a numpy ``.npz`` of parameters, never pickled.

Layouts written by :func:`save_policy`:

- a folder (any path not ending in ``.npz``): ``meta.json`` and ``params.npz``;
- a single file ``<path>.npz``: the parameters plus the metadata JSON as the 0-d string
  array ``__meta__``.

:func:`load_policy` also accepts a ``.json`` file whose parameters lie beside it in the
``.npz`` of the same stem. Torch weights are stored as numpy arrays, so loading never runs
``pickle`` (``np.load(allow_pickle=False)``).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from agent.policy.base import SlatePolicy
from encoders.errors import ConfigError, PolicyError

__all__ = ["FORMAT_VERSION", "load_policy", "save_policy"]

FORMAT_VERSION = 1
"""Checkpoint format written by this code; others are refused."""

_META_KEY = "__meta__"


def _metadata(policy: SlatePolicy) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "name": policy.name,
        "version": policy.version,
        "seed": policy.seed,
        "hyperparameters": policy.config.to_dict(),
        "dims": {"state": policy.state_dim, "candidates": policy.cand_dim},
        "n_updates": policy.n_updates,
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
        PolicyError: the path cannot be written.

    """
    path = Path(path).expanduser()
    meta = _metadata(policy)
    params = policy._get_params() if policy.state_dim is not None else {}
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
    if not path.is_file():
        raise PolicyError(f"policy checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PolicyError(f"corrupt policy checkpoint {path}: {exc}") from exc


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PolicyError(f"policy checkpoint not found: {path}")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolicyError(f"corrupt policy metadata {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise PolicyError(f"corrupt policy metadata {path}: not a JSON object")
    return meta


def load_policy(path: str | Path) -> SlatePolicy:
    """Read a checkpoint written by :func:`save_policy` and rebuild the policy it names.

    Raises:
        PolicyError: missing file, corrupt file, unknown policy or wrong ``format_version``
            (the message names the path).

    """
    from agent.policy.registry import POLICIES

    path = Path(path).expanduser()
    if path.is_dir():
        meta = _read_json(path / "meta.json")
        params = _read_npz(path / "params.npz")
    elif path.suffix == ".json":
        meta = _read_json(path)
        params = _read_npz(path.with_suffix(".npz"))
    elif path.suffix == ".npz":
        params = _read_npz(path)
        if _META_KEY not in params:
            raise PolicyError(f"corrupt policy checkpoint {path}: no {_META_KEY} entry")
        try:
            meta = json.loads(str(params.pop(_META_KEY)))
        except json.JSONDecodeError as exc:
            raise PolicyError(f"corrupt policy metadata in {path}: {exc}") from exc
    else:
        raise PolicyError(f"policy checkpoint not found: {path}")
    fmt = meta.get("format_version")
    if fmt != FORMAT_VERSION:
        raise PolicyError(f"{path}: checkpoint format_version {fmt!r} is not supported "
                          f"(this code reads {FORMAT_VERSION})")
    name = meta.get("name")
    if name not in POLICIES:
        raise PolicyError(f"{path}: unknown policy {name!r}; choose one of: "
                          f"{', '.join(sorted(POLICIES))}")
    try:
        dims = meta.get("dims") or {}
        policy = POLICIES[name](seed=int(meta.get("seed", 0)),
                                **dict(meta.get("hyperparameters") or {}))
        d_u, d_c = dims.get("state"), dims.get("candidates")
        if d_u is not None and d_c is not None:
            policy._ensure_dims(int(d_u), int(d_c))
            policy._set_params(params)
        policy.n_updates = int(meta.get("n_updates", 0))
    except (ConfigError, KeyError, TypeError, ValueError, PolicyError) as exc:
        raise PolicyError(f"{path}: cannot restore policy {name!r}: {exc}") from exc
    policy._touch()
    return policy
