"""Damaged or hostile policy checkpoints are refused at load with a named error; updates that
would make a parameter NaN or infinite are refused and leave the policy unchanged."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.policy import Feedback, load_policy, make_policy
from agent.policy.checkpoint import params_digest
from encoders.errors import ConfigError, PolicyError

D = 4
RNG = np.random.default_rng(0)
STATE = RNG.normal(size=D)
CANDS = RNG.normal(size=(6, D))


def _trained(name: str, tmp: Path, layout: str = "dir") -> Path:
    policy = make_policy(name, dim=D, seed=1)
    rng = np.random.default_rng(1)
    for _ in range(3):
        slate = policy.select(STATE, CANDS, 2, rng)
        policy.update([Feedback(STATE, CANDS, slate, np.array([True, False]),
                                np.array([1.0, 0.0]))])
    return policy.save(tmp / ("ckpt.npz" if layout == "npz" else "ckpt"))


def _meta(path: Path) -> dict:
    return json.loads((path / "meta.json").read_text())


def _set_meta(path: Path, meta: dict) -> None:
    (path / "meta.json").write_text(json.dumps(meta))


def _edit_meta(**changes: object) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        meta = _meta(path)
        for key, value in changes.items():
            if "." in key:
                outer, inner = key.split(".")
                meta[outer][inner] = value
            elif value is _DROP:
                meta.pop(key)
            else:
                meta[key] = value
        _set_meta(path, meta)
    return edit


_DROP = object()


def _raw_meta(text: str) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        (path / "meta.json").write_text(text)
    return edit


def _replace_in_meta(old: str, new: str) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        text = json.dumps(_meta(path))
        assert old in text
        (path / "meta.json").write_text(text.replace(old, new, 1))
    return edit


def _load_params(path: Path) -> dict[str, np.ndarray]:
    with np.load(path / "params.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _edit_params(fn: Callable[[dict[str, np.ndarray]], None], *,
                 fix_checksum: bool = True) -> Callable[[Path], None]:
    """Change the arrays; by default re-sign them, so the deeper checks are what refuses."""
    def edit(path: Path) -> None:
        params = _load_params(path)
        fn(params)
        with open(path / "params.npz", "wb") as fh:
            np.savez(fh, **params)
        if fix_checksum:
            meta = _meta(path)
            meta["params_sha256"] = params_digest(params)
            _set_meta(path, meta)
    return edit


def _nan_at(key: str, value: float = np.nan) -> Callable[[dict[str, np.ndarray]], None]:
    def fn(params: dict[str, np.ndarray]) -> None:
        params[key] = params[key].copy()
        params[key].reshape(-1)[0] = value
    return fn


def _asymmetric(params: dict[str, np.ndarray]) -> None:
    params["A"] = params["A"].copy()
    params["A"][0, 1] += 5.0


def _not_pd(params: dict[str, np.ndarray]) -> None:
    params["A"] = -params["A"]


def _huge_b(params: dict[str, np.ndarray]) -> None:
    # finite and positive definite, but theta = A^-1 b = 1e310 overflows
    params["A"] = np.eye(len(params["b"])) * 1e-300
    params["b"] = np.full_like(params["b"], 1e10)


def _drop(key: str) -> Callable[[dict[str, np.ndarray]], None]:
    return lambda params: params.pop(key)


def _add(key: str, value: np.ndarray) -> Callable[[dict[str, np.ndarray]], None]:
    def fn(params: dict[str, np.ndarray]) -> None:
        params[key] = value
    return fn


def _retype(key: str, dtype: str) -> Callable[[dict[str, np.ndarray]], None]:
    def fn(params: dict[str, np.ndarray]) -> None:
        params[key] = params[key].astype(dtype)
    return fn


def _npz_with_member(name: str, data: bytes) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        with zipfile.ZipFile(path / "params.npz", "a") as zf:
            zf.writestr(name, data)
    return edit


def _npy_header_only(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\x00" * 64


def _pickled_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buf.getvalue()


DEEP = "[" * 100_000 + "]" * 100_000

# (case id, policy, how to damage the folder checkpoint, error message regex)
CASES = [
    ("meta not json", "linucb", _raw_meta("{not json"), r"meta.json is not valid JSON"),
    ("meta is a list", "linucb", _raw_meta("[1, 2]"), r"meta.json must hold a JSON object"),
    ("meta deeply nested", "linucb", _raw_meta('{"hyperparameters": ' + DEEP + "}"),
     r"meta.json is not valid JSON: nested too deeply"),
    ("meta NaN literal", "linucb", _replace_in_meta('"n_updates": 3', '"n_updates": NaN'),
     r"meta.json is not valid JSON.*NaN is not a finite number"),
    ("meta float overflow", "linucb", _replace_in_meta('"n_updates": 3', '"n_updates": 1e400'),
     r"meta.json is not valid JSON.*does not fit a float"),
    ("meta int too long", "linucb",
     _replace_in_meta('"n_updates": 3', '"n_updates": ' + "9" * 5000),
     r"meta.json is not valid JSON.*(digits|integer string conversion)"),
    ("meta duplicate key", "linucb", _replace_in_meta('"n_updates": 3', '"n_updates": 3, '
                                                       '"n_updates": 4'),
     r"meta.json is not valid JSON.*duplicate key 'n_updates'"),
    ("meta lone surrogate", "linucb", _replace_in_meta('"version": "', '"version": "\\ud800'),
     r"field 'version' holds a lone surrogate"),
    ("meta too large", "linucb", _raw_meta('{"x": "' + "a" * (1 << 20) + '"}'),
     r"meta.json is \d+ bytes, more than the 1048576 bytes"),
    ("unknown policy", "linucb", _edit_meta(name="linucbX"), r"unknown policy 'linucbX'"),
    ("policy name not a string", "linucb", _edit_meta(name=5), r"unknown policy 5"),
    ("format version as string", "linucb", _edit_meta(format_version="1"),
     r"checkpoint format_version '1' is not supported"),
    ("unknown field", "linucb", _edit_meta(extra=1), r"unknown field\(s\) 'extra'"),
    ("absurd dimension", "linucb", _edit_meta(**{"dims.state": 10**12, "dims.candidates": 10**12}),
     r"field 'dims.state' must be an integer in \[1, 65536\], got 1000000000000"),
    ("negative dimension", "slateq", _edit_meta(**{"dims.state": -3}),
     r"field 'dims.state' must be an integer in \[1, 65536\], got -3"),
    ("float dimension", "linucb", _edit_meta(**{"dims.candidates": 4.0}),
     r"field 'dims.candidates' must be an integer"),
    ("one dimension missing", "linucb", _edit_meta(**{"dims.candidates": None}),
     r"field 'dims' must give both 'state' and 'candidates'"),
    ("dims off the shared space", "linucb",
     _edit_meta(**{"dims.state": 300, "dims.candidates": 301}),
     r"field 'dims' does not fit the policy: .*state has dimension 300 and the candidates 301"),
    ("outer product too large", "linucb",
     _edit_meta(**{"dims.state": 300, "dims.candidates": 301,
                   "hyperparameters.feature_space": "separate"}),
     r"gives 90300 outer-product features, above 8192"),
    ("dims disagree with arrays", "linucb", _edit_meta(**{"dims.state": 5, "dims.candidates": 5}),
     r"parameter 'A' has shape \(6, 6\), expected \(7, 7\)"),
    ("dims disagree with weights", "reinforce",
     _edit_meta(**{"dims.state": 6, "dims.candidates": 6}),
     r"parameter 'net.0.weight' has shape \(64, 10\), expected \(64, 14\)"),
    ("negative n_updates", "linucb", _edit_meta(n_updates=-1),
     r"field 'n_updates' must be an integer in \[0, \d+\], got -1"),
    ("boolean n_updates", "linucb", _edit_meta(n_updates=True),
     r"field 'n_updates' must be an integer"),
    ("huge seed", "slateq", _edit_meta(seed=2**70), r"field 'seed' must be an integer in"),
    ("hyperparameters not an object", "linucb", _edit_meta(hyperparameters=[1]),
     r"field 'hyperparameters' must be a JSON object"),
    ("hyperparameter is a list", "linucb", _edit_meta(**{"hyperparameters.alpha": [1]}),
     r"field 'hyperparameters.alpha' must be a number"),
    ("unknown hyperparameter", "linucb", _edit_meta(**{"hyperparameters.alpah": 1.0}),
     r"field 'hyperparameters' is invalid for policy 'linucb': unknown argument 'alpah'"),
    ("absurd hidden width", "slateq", _edit_meta(**{"hyperparameters.hidden": 10**9}),
     r"hidden must be at most 4096, got 1000000000"),
    ("absurd posterior draws", "lints", _edit_meta(**{"hyperparameters.n_posterior": 10**9}),
     r"n_posterior must be at most 4096"),
    ("string hyperparameter", "linucb", _edit_meta(**{"hyperparameters.ridge": "big"}),
     r"ridge must be a positive number, got 'big'"),
    ("NaN in A", "linucb", _edit_params(_nan_at("A")),
     r"params.npz: parameter 'A' holds 1 NaN or infinite value\(s\) of \d+"),
    ("inf in b", "lints", _edit_params(_nan_at("b", np.inf)),
     r"parameter 'b' holds 1 NaN or infinite value"),
    ("NaN in a Q network", "slateq", _edit_params(_nan_at("q.0.weight")),
     r"parameter 'q.0.weight' holds 1 NaN or infinite value"),
    ("NaN in a policy network", "reinforce", _edit_params(_nan_at("net.2.bias")),
     r"parameter 'net.2.bias' holds 1 NaN or infinite value"),
    ("NaN without checksum", "linucb", _edit_params(_nan_at("A"), fix_checksum=False),
     r"params.npz: parameters fail their params_sha256 checksum"),
    ("A not symmetric", "linucb", _edit_params(_asymmetric), r"parameter 'A' is not symmetric"),
    ("A not positive definite", "linucb", _edit_params(_not_pd),
     r"parameter 'A' is not positive definite"),
    ("finite but overflowing b", "linucb", _edit_params(_huge_b),
     r"gives NaN or infinite scores"),
    ("missing parameter", "linucb", _edit_params(_drop("b")), r"lacks parameter 'b'"),
    ("extra parameter", "linucb", _edit_params(_add("C", np.zeros(3))),
     r"unexpected parameter 'C'"),
    ("complex parameter", "linucb", _edit_params(_retype("b", "complex128")),
     r"parameter 'b' has dtype complex128"),
    ("negative grad steps", "slateq", _edit_params(_add("grad_steps_done", np.array(-1))),
     r"'grad_steps_done' is -1, outside \[0, 3\]"),
    ("grad steps beyond updates", "slateq",
     _edit_params(_add("grad_steps_done", np.array(10**6))),
     r"'grad_steps_done' is 1000000, outside \[0, 3\]"),
    ("pickled member", "linucb", _npz_with_member("evil.npy", _pickled_npy()),
     r"member 'evil.npy': holds Python objects"),
    ("header claims huge array", "linucb", _npz_with_member("big.npy",
                                                            _npy_header_only((10**6, 10**6))),
     r"member 'big.npy' declares shape \(1000000, 1000000\)"),
    ("member not npy", "linucb", _npz_with_member("notes.txt", b"hello"),
     r"member 'notes.txt' is not a .npy array"),
    ("params not a zip", "linucb", lambda p: (p / "params.npz").write_bytes(b"garbage"),
     r"corrupt policy checkpoint .*params.npz"),
    ("params truncated", "slateq",
     lambda p: (p / "params.npz").write_bytes((p / "params.npz").read_bytes()[:300]),
     r"corrupt policy checkpoint .*params.npz"),
]


@pytest.mark.parametrize(("policy", "damage", "match"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_damaged_checkpoint_is_refused(tmp_path, policy, damage, match):
    path = _trained(policy, tmp_path)
    load_policy(path)  # intact: loads
    damage(path)
    with pytest.raises(PolicyError, match=match):
        load_policy(path)


def test_nan_checkpoint_is_refused_at_load(tmp_path):
    """The case that made the server answer 409 forever: NaN weights, checksum intact."""
    path = _trained("linucb", tmp_path)
    _edit_params(_nan_at("b"))(path)
    with pytest.raises(PolicyError, match=r"ckpt.params.npz: parameter 'b' holds 1 NaN"):
        load_policy(path)


def test_old_checkpoint_without_checksum_still_loads(tmp_path):
    path = _trained("slateq", tmp_path)
    before = load_policy(path)
    _edit_meta(params_sha256=_DROP)(path)
    after = load_policy(path)
    assert after.version == before.version
    np.testing.assert_array_equal(after.score(STATE, CANDS), before.score(STATE, CANDS))


@pytest.mark.parametrize(("meta", "match"), [
    (np.array([1.0, 2.0]), r"__meta__ must be one string, got a float64 array"),
    (np.array("[]"), r"ckpt.npz \(__meta__\) must hold a JSON object"),
    (np.array('{"format_version": 1, "name": "linucb", "n_updates": Infinity}'),
     r"not valid JSON.*Infinity is not a finite number"),
])
def test_single_file_checkpoint_meta_is_validated(tmp_path, meta, match):
    path = _trained("linucb", tmp_path, layout="npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["__meta__"] = meta
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(PolicyError, match=match):
        load_policy(path)


def test_single_file_checkpoint_nan_is_refused(tmp_path):
    path = _trained("reinforce", tmp_path, layout="npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["net.0.weight"] = arrays["net.0.weight"].copy()
    arrays["net.0.weight"][0, 0] = np.nan
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(PolicyError, match=r"ckpt.npz: parameters fail their params_sha256"):
        load_policy(path)


def test_save_refuses_nan_parameters(tmp_path):
    policy = make_policy("linucb", dim=D)
    policy.b = policy.b.copy()
    policy.b[0] = np.nan
    with pytest.raises(PolicyError, match=r"cannot save policy 'linucb'.*parameter 'b' holds"):
        policy.save(tmp_path / "bad")


# ---------------------------------------------------------------------------- updates


def _feedback(policy, rewards, **extra) -> Feedback:
    slate = policy.select(STATE, CANDS, 2, np.random.default_rng(3))
    return Feedback(STATE, CANDS, slate, np.array([True, True]), np.asarray(rewards), **extra)


@pytest.mark.parametrize("name", ["linucb", "lints", "slateq", "reinforce"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_update_refuses_non_finite_rewards(name, bad):
    policy = make_policy(name, dim=D, seed=0)
    version = policy.version
    with pytest.raises(ConfigError, match=r"batch\[0\].rewards contains NaN or inf"):
        policy.update([_feedback(policy, [1.0, bad])])
    assert policy.version == version and policy.n_updates == 0


@pytest.mark.parametrize("name", ["linucb", "lints", "slateq", "reinforce"])
def test_update_that_overflows_is_refused_and_rolled_back(name):
    policy = make_policy(name, dim=D, seed=0)
    policy.update([_feedback(policy, [1.0, 0.0])])
    version = policy.version
    before = {k: np.array(v, copy=True) for k, v in policy._get_params().items()}
    scores = policy.score(STATE, CANDS)
    with pytest.raises(PolicyError, match=rf"{name}: update refused: .*NaN or infinite.*"
                                          r"policy is unchanged"):
        policy.update([_feedback(policy, [1e308, 1e308])])
    assert policy.n_updates == 1
    assert policy.version == version
    for key, value in policy._get_params().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    np.testing.assert_array_equal(policy.score(STATE, CANDS), scores)
    policy.update([_feedback(policy, [0.0, 1.0])])  # still learns afterwards
    assert policy.n_updates == 2 and policy.version != version


def test_update_refuses_non_finite_next_state():
    policy = make_policy("slateq", dim=D)
    nxt = STATE.copy()
    nxt[1] = np.inf
    with pytest.raises(ConfigError, match=r"batch\[0\].next_state contains NaN or inf"):
        policy.update([_feedback(policy, [1.0, 0.0], next_state=nxt, done=False)])
    assert policy.n_updates == 0


def test_refused_update_keeps_optimizer_state():
    policy = make_policy("reinforce", dim=D, seed=0)
    policy.update([_feedback(policy, [1.0, 0.0])])
    moments = {k: v.clone() for k, v in next(iter(policy.optimizer.state.values())).items()}
    with pytest.raises(PolicyError):
        policy.update([_feedback(policy, [1e308, 1e308])])
    after = next(iter(policy.optimizer.state.values()))
    for key, value in moments.items():
        assert bool((after[key] == value).all()), key


def test_policy_config_bounds():
    with pytest.raises(ConfigError, match="hidden must be at most 4096"):
        make_policy("reinforce", hidden=5000)
    with pytest.raises(ConfigError, match="grad_steps must be at most 10000"):
        make_policy("slateq", grad_steps=10**7)
