"""Fixtures of the batch tests: synthetic shoppers from the demo store, one local Ray."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

N_USERS = 10_000


def make_users(demo_workspace, n: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic shoppers: a third ask a "<colour> <category>" query, half have a history."""
    from shelfwise.demo_store import load_latent

    latent = load_latent(demo_workspace)
    ids = latent["product_id"].to_numpy()
    cats = sorted(latent["category"].unique())
    colours = ["black", "blue", "red", "brown", "white"]
    rng = np.random.default_rng(seed)
    queries, histories, query_cats = [], [], []
    for i in range(n):
        if i % 3 == 0:
            cat = cats[rng.integers(len(cats))]
            queries.append(f"{colours[rng.integers(len(colours))]} {cat}")
            query_cats.append(cat)
        else:
            queries.append(None)
            query_cats.append(None)
        histories.append([str(x) for x in rng.choice(ids, rng.integers(1, 6))] if i % 2 else [])
    return pd.DataFrame({"user_id": [f"user-{i:06d}" for i in range(n)], "query": queries,
                         "history": histories, "query_category": query_cats})


@pytest.fixture(scope="session")
def users_10k(demo_workspace) -> pd.DataFrame:
    return make_users(demo_workspace, N_USERS)


@pytest.fixture(scope="session")
def users_parquet(users_10k, tmp_path_factory):
    path = tmp_path_factory.mktemp("batch-in") / "users.parquet"
    users_10k.to_parquet(path)
    return path


@pytest.fixture(scope="session")
def local_ray():
    """One small local Ray for every Ray test (``run_batch`` reuses a running Ray)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=300 * 1024 * 1024,
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()

