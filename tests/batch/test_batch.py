"""``shelfwise batch`` end to end: 10,000 demo shoppers through Ray Data."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shelfwise.batch import (
    MANIFEST_NAME,
    OUTPUT_COLUMNS,
    SlateGenerator,
    read_users,
    resolve_policy,
)
from shelfwise.cli import main

K = 10


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["user_id", "rank"]).reset_index(drop=True)


def test_generator_is_independent_of_grouping(demo_engine, users_10k):
    """Without Ray: the slates of 60 shoppers are the same in one call or in three."""
    users = users_10k.iloc[:60][["user_id", "query", "history"]]
    policy = resolve_policy("greedy", None, dim=demo_engine.dim, seed=0)
    gen = SlateGenerator(demo_engine, policy, k=K, seed=3, reasons="template")
    whole = gen.slates(users)
    fresh = SlateGenerator(demo_engine, policy, k=K, seed=3, reasons="template")
    parts = pd.concat([fresh.slates(users.iloc[s:s + 20]) for s in (40, 0, 20)])
    pd.testing.assert_frame_equal(_sorted(whole), _sorted(parts))
    assert list(whole.columns) == list(OUTPUT_COLUMNS)
    assert whole["reason"].notna().all()
    other = SlateGenerator(demo_engine, policy, k=K, seed=4).slates(users)
    assert not whole["product_id"].equals(other["product_id"])
    assert other["reason"].isna().all()


@pytest.mark.ray
@pytest.mark.slow
def test_batch_10k_resume_and_determinism(demo_workspace, users_10k, users_parquet, local_ray,
                                          tmp_path, capsys):
    ws = str(demo_workspace.root)
    out = tmp_path / "slates"
    argv = ["batch", str(users_parquet), str(out), "--k", str(K), "--workers", "2",
            "--partition-size", "2500", "--reasons", "template", "--no-progress",
            "--workspace", ws, "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == 10_000 and summary["partitions"] == 4
    assert summary["computed"] == [0, 1, 2, 3] and summary["skipped"] == []
    parts = sorted(p.name for p in out.glob("part-*.parquet"))
    assert parts == [f"part-{i:05d}.parquet" for i in range(4)]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["complete"] and manifest["settings"]["seed"] == 0

    # a correct table: k distinct, existing products per shopper, ranks 1..k
    slates = pd.read_parquet(out)
    assert list(slates.columns) == list(OUTPUT_COLUMNS)
    assert len(slates) == 10_000 * K
    assert set(slates["user_id"]) == set(users_10k["user_id"])
    by_user = slates.groupby("user_id")
    assert (by_user["rank"].apply(lambda r: sorted(r) == list(range(1, K + 1)))).all()
    assert (by_user["product_id"].nunique() == K).all()
    latent = pd.read_parquet(demo_workspace.demo_dir / "latent.parquet")
    category = dict(zip(latent["product_id"], latent["category"], strict=True))
    assert set(slates["product_id"]) <= set(category)
    assert slates["propensity"].between(0, 1, inclusive="right").all()
    assert slates["reason"].notna().all() and (slates["policy"] == "greedy").all()

    # query shoppers get mostly the category they asked for
    asked = users_10k.dropna(subset=["query_category"]).set_index("user_id")["query_category"]
    q = slates[slates["user_id"].isin(asked.index)]
    hit = (q["product_id"].map(category) == q["user_id"].map(asked)).mean()
    assert hit > 0.6, hit  # half of them also have an unrelated history

    # re-run: nothing to do; then a lost part file is the only one recomputed
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["computed"] == [] and again["skipped"] == [0, 1, 2, 3]
    (out / "part-00002.parquet").unlink()
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["computed"] == [2] and again["skipped"] == [0, 1, 3]
    for name, mtime in mtimes.items():
        if name != "part-00002.parquet":
            assert (out / name).stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(out)), _sorted(slates))

    # other settings into the same folder are refused
    assert main([*argv[:-1], "--seed", "1", "--json"]) == 2
    err = capsys.readouterr().err
    assert "holds a batch job with other settings" in err and "seed: 0 then, 1 now" in err

    # same seed, other partitioning and worker count (and a CSV input): identical slates
    subset = users_10k.iloc[::7][["user_id", "query", "history"]].reset_index(drop=True)
    csv = tmp_path / "subset.csv"
    subset.assign(history=subset["history"].map(" ".join)).to_csv(csv, index=False)
    assert len(read_users(csv)) == len(subset)
    out_b = tmp_path / "slates-b"
    assert main(["batch", str(csv), str(out_b), "--k", str(K), "--workers", "1",
                 "--partition-size", "600", "--reasons", "template", "--no-progress",
                 "--workspace", ws]) == 0
    capsys.readouterr()
    b = _sorted(pd.read_parquet(out_b))
    expected = _sorted(slates[slates["user_id"].isin(subset["user_id"])])
    pd.testing.assert_frame_equal(b, expected)

    # another seed: other slates
    out_c = tmp_path / "slates-c"
    assert main(["batch", str(csv), str(out_c), "--k", str(K), "--seed", "1",
                 "--partition-size", "600", "--no-progress", "--workspace", ws]) == 0
    c = _sorted(pd.read_parquet(out_c))
    assert c["reason"].isna().all()
    assert (c["product_id"] != b["product_id"]).mean() > 0.3
