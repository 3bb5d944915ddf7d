"""Seeded synthetic interaction logs whose right answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from encoders.behaviour import Interactions

N_PAIRS = 5  # co-purchase pairs (0, 1), (2, 3), ..., (8, 9)
N_ITEMS = 30

CHAINS = [(0, 1, 2), (1, 0, 3), (4, 5, 6), (7, 8, 9)]
"""Planted sequences: the same items in another order lead elsewhere ([0, 1] -> 2 but
[1, 0] -> 3), so only an order-aware model gets both right."""
SEQ_ITEMS = 16  # items 10..15 are noise between chains


def frame(rows: list[tuple[int, int, float]], weight: list[float] | None = None) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user_id", "product_id", "time"])
    df["user_id"] = "u" + df["user_id"].astype(str)
    df["product_id"] = "p" + df["product_id"].astype(str)
    if weight is not None:
        df["weight"] = weight
    return df


def item_ids(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


def co_purchase_log(seed: int = 0, n_users: int = 300) -> Interactions:
    """Every user buys both items of 1-2 planted pairs, plus 3 random items from 10..29.

    A shopper who has item ``2p`` should get ``2p + 1`` ranked first (and vice versa).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items: list[int] = []
        for p in rng.choice(N_PAIRS, size=rng.integers(1, 3), replace=False):
            items += [2 * int(p), 2 * int(p) + 1]
        items += rng.choice(np.arange(2 * N_PAIRS, N_ITEMS), size=3, replace=False).tolist()
        rng.shuffle(items)
        rows += [(u, i, float(t)) for t, i in enumerate(items)]
    return Interactions.from_frame(frame(rows), item_ids=item_ids(N_ITEMS))


def sequence_log(seed: int = 0, n_users: int = 300, chains_per_user: int = 5) -> Interactions:
    """Each user's sequence is random :data:`CHAINS` with a noise item after some."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        seq: list[int] = []
        for _ in range(chains_per_user):
            seq += CHAINS[int(rng.integers(len(CHAINS)))]
            if rng.random() < 0.5:
                seq.append(int(rng.integers(10, SEQ_ITEMS)))
        rows += [(u, i, float(t)) for t, i in enumerate(seq)]
    return Interactions.from_frame(frame(rows), item_ids=item_ids(SEQ_ITEMS))


CLUSTERS = 4
PER_CLUSTER = 10
COLD_PER_CLUSTER = 2  # the last 2 items of each cluster have no events


def cluster_log(seed: int = 0, n_users: int = 240, content_dim: int = 8,
                ) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Items in 4 content clusters; each user interacts within one cluster only.

    Returns:
        (interactions, content (40, content_dim) float32, cold item indices (8,)). Item
        ``c * 10 + j`` is in cluster ``c``; items with ``j >= 8`` never occur in the log.

    """
    rng = np.random.default_rng(seed)
    centres = 2.0 * rng.normal(size=(CLUSTERS, content_dim))  # well apart: noise is 0.3
    n_items = CLUSTERS * PER_CLUSTER
    cluster = np.repeat(np.arange(CLUSTERS), PER_CLUSTER)
    content = (centres[cluster] + 0.3 * rng.normal(size=(n_items, content_dim))).astype(
        np.float32)
    warm_per = PER_CLUSTER - COLD_PER_CLUSTER
    rows = []
    for u in range(n_users):
        c = u % CLUSTERS
        items = c * PER_CLUSTER + rng.choice(warm_per, size=4, replace=False)
        rows += [(u, int(i), float(t)) for t, i in enumerate(items)]
    cold = np.array([c * PER_CLUSTER + j for c in range(CLUSTERS)
                     for j in range(warm_per, PER_CLUSTER)])
    return Interactions.from_frame(frame(rows), item_ids=item_ids(n_items)), content, cold
