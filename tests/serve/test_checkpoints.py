"""Online policy updates are checkpointed (periodically and at shutdown) and reloaded on start."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agent.policy import load_policy
from shelfwise.serve import create_app
from shelfwise.serve.wiring import open_service


def _click(client: TestClient, user: str, query: str) -> None:
    r = client.post("/recommend", json={"user_id": user, "query": query, "k": 4})
    assert r.status_code == 200, r.text
    slate = r.json()
    r = client.post("/feedback", json={
        "event_id": uuid.uuid4().hex, "slate_id": slate["slate_id"],
        "product_id": slate["items"][1]["product"]["id"], "kind": "click"})
    assert r.status_code == 200, r.text
    assert r.json()["policy_updated"] is True


def _params(policy) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in policy._get_params().items()}


def test_online_updates_survive_a_server_restart(demo_copy):
    service = open_service(demo_copy, policy="linucb", llm=False, seed=0,
                           checkpoint_every=1000, checkpoint_seconds=3600.0)
    try:
        with TestClient(create_app(service)) as client:  # startup ... shutdown
            _click(client, "u-ckpt", "waterproof jacket")
            _click(client, "u-ckpt", "wool sweater")
            assert not list((demo_copy.policies_dir / "online").glob("*.npz"))  # not yet due
        policy = service.recommender.policy
        assert policy.n_updates == 2
        saved = _params(policy)
        files = list((demo_copy.policies_dir / "online").glob("*.npz"))
        assert len(files) == 1  # written at shutdown, atomically (no temporary file left)
        assert not list((demo_copy.policies_dir / "online").glob("*.tmp"))
    finally:
        service.close()

    again = open_service(demo_copy, policy="linucb", llm=False, seed=0)
    try:
        with TestClient(create_app(again)) as client:
            assert client.get("/health").json()["policy_version"] == policy.version
            restored = again.recommender.policy
            assert restored.n_updates == 2
            for key, value in saved.items():
                np.testing.assert_array_equal(_params(restored)[key], value)
            _click(client, "u-ckpt-2", "red leather handbag")  # and it keeps learning
        assert load_policy(files[0]).n_updates == 3
    finally:
        again.close()

    # a newly trained base policy is not shadowed by its predecessor's online updates
    fresh = open_service(demo_copy, policy="linucb", llm=False, seed=1)
    try:
        assert fresh.recommender.policy.n_updates == 0
    finally:
        fresh.close()


def test_periodic_checkpoint_without_shutdown(demo_copy):
    service = open_service(demo_copy, policy="linucb", llm=False, seed=0, assistant=False,
                           checkpoint_every=2, checkpoint_seconds=3600.0)
    try:
        client = TestClient(create_app(service))  # no context manager: no shutdown event
        _click(client, "u-periodic", "waterproof jacket")
        folder = demo_copy.policies_dir / "online"
        time.sleep(0.3)
        assert not list(folder.glob("*.npz"))  # one update of two
        _click(client, "u-periodic", "wool sweater")
        deadline = time.monotonic() + 20
        while not list(folder.glob("*.npz")) and time.monotonic() < deadline:
            time.sleep(0.05)
        (path,) = folder.glob("*.npz")
        assert load_policy(path).n_updates == 2
        assert service.recommender.checkpoints.saves == 1
    finally:
        service.close()


def test_checkpoints_can_be_turned_off(demo_copy):
    (demo_copy.root / "shelfwise.toml").open("a").write("\n[online]\ncheckpoints = false\n")
    service = open_service(demo_copy, policy="linucb", llm=False, seed=0, assistant=False)
    try:
        with TestClient(create_app(service)) as client:
            _click(client, "u-off", "wool sweater")
        assert service.recommender.checkpoints is None
        assert not (demo_copy.policies_dir / "online").exists()
    finally:
        service.close()


def test_a_damaged_online_checkpoint_stops_the_start_naming_the_file(demo_copy):
    service = open_service(demo_copy, policy="linucb", llm=False, seed=0, assistant=False)
    try:
        with TestClient(create_app(service)) as client:
            _click(client, "u-bad", "wool sweater")
    finally:
        service.close()
    (path,) = (demo_copy.policies_dir / "online").glob("*.npz")
    path.write_bytes(path.read_bytes()[:200])
    from shelfwise.errors import PolicyError

    with pytest.raises(PolicyError, match=f"{path}.*delete {path}"):
        open_service(demo_copy, policy="linucb", llm=False, seed=0, assistant=False)
