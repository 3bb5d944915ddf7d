"""Build the shopper simulator from a workspace: demo latent table, index vectors, real retrieval.

The simulator's products are the demo store's latent rows that are in the product index, in the
latent table's order; row ``i`` of the simulator is ``latent.product_id[i]`` and its vector is
``engine.index.vectors([product_id])``. Intent queries are encoded with the workspace's text
encoder, and candidates come from the FAISS index (top ``n_candidates - n_random_candidates``
by inner product), topped up by the simulator with random products.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shelfwise.errors import CatalogError
from shelfwise.sim.config import SimConfig
from shelfwise.sim.env import ShopperSimEnv
from shelfwise.sim.shoppers import QueryEncoder
from shelfwise.sim.vector_env import CandidateFn, SimBatch

__all__ = ["SimInputs", "env_from_workspace", "sim_from_workspace", "sim_inputs"]


@dataclass(frozen=True)
class SimInputs:
    """Everything the simulator needs from a workspace.

    Attributes:
        latent: latent table restricted to indexed products; row ``i`` ↔ ``vectors[i]``.
        vectors: ``float32 (P, d)`` product vectors from the index.
        query_encoder: ``list[str] -> float32 (m, d)`` (the workspace's text encoder).
        candidate_fn: ``(state (d,), n) -> int (<= n,)`` simulator rows from FAISS search.

    """

    latent: pd.DataFrame
    vectors: np.ndarray
    query_encoder: QueryEncoder
    candidate_fn: CandidateFn


def _engine(source: Any) -> Any:
    from shelfwise.engine import Engine

    if isinstance(source, Engine):
        return source
    if isinstance(source, str | Path) or source is None or hasattr(source, "policies_dir"):
        return Engine.open(source)
    raise CatalogError(
        f"engine_or_workspace: expected an Engine, a Workspace or a path, got "
        f"{type(source).__name__}"
    )


def sim_inputs(engine_or_workspace: Any, config: SimConfig | None = None) -> SimInputs:
    """Read the latent table and index vectors and wire retrieval and query encoding.

    Args:
        engine_or_workspace: an open ``Engine``, a ``Workspace`` or a workspace path.
        config: simulator settings (for the number of retrieved candidates).

    Returns:
        The aligned inputs of :class:`~shelfwise.sim.SimBatch`.

    Raises:
        ConfigError: the workspace holds no demo store.
        IndexError_: the workspace has no index.
        CatalogError: none of the latent products is in the index.

    """
    from shelfwise.demo_store import load_latent

    engine = _engine(engine_or_workspace)
    cfg = config if config is not None else SimConfig()
    latent = load_latent(engine.workspace)
    indexed = set(engine.index.ids)
    keep = latent["product_id"].astype(str).isin(indexed).to_numpy()
    if not keep.any():
        raise CatalogError(
            f"{engine.workspace.demo_dir / 'latent.parquet'}: none of the {len(latent)} demo "
            "products is in the index; rebuild it with `shelfwise index build`"
        )
    latent = latent.loc[keep].reset_index(drop=True)
    ids = latent["product_id"].astype(str).tolist()
    vectors = np.asarray(engine.index.vectors(ids), dtype=np.float32)
    row_of = {pid: i for i, pid in enumerate(ids)}
    n_top = cfg.n_candidates - cfg.n_random_candidates

    def candidate_fn(state: np.ndarray, n: int) -> np.ndarray:
        # The simulator tops the list up to n with random products (exploration headroom).
        found, _ = engine.index.search(np.asarray(state, dtype=np.float32), min(n_top, n))
        return np.array(
            [row_of.get(pid, -1) for pid in found[0] if pid is not None], dtype=np.int64
        )

    def query_encoder(texts: list[str]) -> np.ndarray:
        return np.asarray(engine.encoders.encode_texts(list(texts)), dtype=np.float32)

    return SimInputs(latent, vectors, query_encoder, candidate_fn)


def sim_from_workspace(
    engine_or_workspace: Any, config: SimConfig | None = None, *, use_index: bool = True
) -> SimBatch:
    """A vectorised simulator over the workspace's demo store.

    Args:
        engine_or_workspace: an open ``Engine``, a ``Workspace`` or a workspace path.
        config: simulator settings; default ``SimConfig()``.
        use_index: retrieve candidates with the FAISS index (one search per session and step);
            ``False`` uses the simulator's exact vectorised top dot product over the same
            vectors (identical for a flat index, much faster for large batches).

    Returns:
        A :class:`~shelfwise.sim.SimBatch`; call ``reset`` / ``step`` or ``run``.

    """
    inputs = sim_inputs(engine_or_workspace, config)
    return SimBatch(
        inputs.latent,
        inputs.vectors,
        config,
        query_encoder=inputs.query_encoder,
        candidate_fn=inputs.candidate_fn if use_index else None,
    )


def env_from_workspace(
    engine_or_workspace: Any, config: SimConfig | None = None
) -> ShopperSimEnv:
    """A Gymnasium :class:`~shelfwise.sim.ShopperSimEnv` over the workspace's demo store.

    Args:
        engine_or_workspace: an open ``Engine``, a ``Workspace`` or a workspace path.
        config: simulator settings.

    Returns:
        The single-session environment, with FAISS retrieval and encoded intents.

    """
    inputs = sim_inputs(engine_or_workspace, config)
    return ShopperSimEnv(
        inputs.latent,
        inputs.vectors,
        config,
        query_encoder=inputs.query_encoder,
        candidate_fn=inputs.candidate_fn,
    )
