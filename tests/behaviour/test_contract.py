"""One shared suite run on every behaviour model (the BehaviourModel contract)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from encoders.behaviour import (
    BEHAVIOUR_MODELS,
    BehaviourModel,
    behaviour_model_class,
    load_behaviour_model,
    make_behaviour_model,
    with_content,
)
from encoders.behaviour.base import ARRAYS_FILE, CONFIG_FILE, _sha256
from encoders.errors import ConfigError, EncoderError

sys.path.insert(0, str(Path(__file__).parent))
from _behaviour_data import N_ITEMS, co_purchase_log  # noqa: E402

HISTORIES = [np.array([0, 12]), np.array([], np.int64), np.array([3]), np.array([29, 5, 5])]


class BehaviourContract:
    """Subclass per model with ``name`` and a small, fast ``config``."""

    name: str = ""
    config: dict = {}

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls):
        return co_purchase_log(seed=1, n_users=80)

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, data):
        m = cls.build()
        m.fit(data)
        return m

    @classmethod
    def build(cls):
        return make_behaviour_model(cls.name, **cls.config)

    def test_is_a_behaviour_model(self, model):
        assert isinstance(model, BehaviourModel)
        assert model.name == self.name or self.name == "content"

    def test_score_shapes_and_dtype(self, model):
        s = model.score(HISTORIES)
        assert s.shape == (len(HISTORIES), N_ITEMS) and s.dtype == np.float32
        assert np.isfinite(s).all()
        assert model.score([]).shape == (0, N_ITEMS)

    def test_empty_history_gets_popularity(self, model, data):
        s = model.score([np.array([], np.int64)])[0]
        counts = np.bincount(data.item, minlength=N_ITEMS)
        np.testing.assert_allclose(s, counts / counts.max(), rtol=1e-6)

    def test_scores_depend_on_history(self, model):
        s = model.score([np.array([0]), np.array([4])])
        assert not np.allclose(s[0], s[1])

    def test_vectors_match_scores(self, model):
        iv = model.item_vectors()
        uv = model.user_vectors(HISTORIES[:1])
        if iv is None:
            assert uv is None
            return
        assert iv.shape[0] == N_ITEMS and iv.dtype == np.float32
        assert uv.shape == (1, iv.shape[1]) and uv.dtype == np.float32
        np.testing.assert_allclose(uv @ iv.T, model.score(HISTORIES[:1]), rtol=1e-4, atol=1e-5)

    def test_save_load_gives_identical_scores(self, model, tmp_path):
        model.save(tmp_path / "m")
        again = load_behaviour_model(tmp_path / "m")
        assert type(again) is type(model)
        np.testing.assert_array_equal(again.score(HISTORIES), model.score(HISTORIES))
        assert again.item_ids == model.item_ids

    def test_saved_files_are_json_and_plain_npz(self, model, tmp_path):
        model.save(tmp_path / "m")
        doc = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
        assert doc["model"] == model.name and len(doc["item_ids"]) == N_ITEMS
        with np.load(tmp_path / "m" / ARRAYS_FILE, allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)

    def test_changed_array_file_is_refused(self, model, tmp_path):
        model.save(tmp_path / "m")
        npz = tmp_path / "m" / ARRAYS_FILE
        raw = bytearray(npz.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        npz.write_bytes(bytes(raw))
        with pytest.raises(EncoderError, match="checksum does not match"):
            load_behaviour_model(tmp_path / "m")

    def test_missing_file_is_refused(self, model, tmp_path):
        model.save(tmp_path / "m")
        (tmp_path / "m" / CONFIG_FILE).unlink()
        with pytest.raises(EncoderError, match="config.json is missing"):
            load_behaviour_model(tmp_path / "m")

    def test_non_finite_array_is_refused_even_with_matching_checksum(self, model, tmp_path):
        folder = tmp_path / "m"
        model.save(folder)
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["item_counts"] = arrays["item_counts"].copy()
        arrays["item_counts"][0] = np.nan
        np.savez(folder / ARRAYS_FILE, **arrays)
        doc = json.loads((folder / CONFIG_FILE).read_text())
        doc["checksum"] = _sha256(folder / ARRAYS_FILE)
        (folder / CONFIG_FILE).write_text(json.dumps(doc))
        with pytest.raises(EncoderError, match="'item_counts' has non-finite values"):
            load_behaviour_model(folder)

    def test_wrong_shape_is_refused(self, model, tmp_path):
        folder = tmp_path / "m"
        model.save(folder)
        doc = json.loads((folder / CONFIG_FILE).read_text())
        doc["item_ids"] = doc["item_ids"] + ["extra"]  # one more item than the arrays hold
        (folder / CONFIG_FILE).write_text(json.dumps(doc))
        with pytest.raises(EncoderError, match="shape"):
            load_behaviour_model(folder)

    def test_bad_histories_are_named(self, model):
        with pytest.raises(ConfigError, match=r"histories\[1\]\[0\] = 30 is outside"):
            model.score([np.array([1]), np.array([30])])
        with pytest.raises(ConfigError, match=r"histories\[0\] must be a 1-d integer"):
            model.score([np.array([0.5])])
        with pytest.raises(ConfigError, match="wrap it in a list"):
            model.score(np.array([1, 2]))

    def test_unfitted_model_refuses_to_score(self):
        with pytest.raises(EncoderError, match="not fitted"):
            self.build().score([np.array([0])])

    def test_refit_with_the_same_seed_is_deterministic(self, model, data):
        again = self.build()
        again.fit(data)
        np.testing.assert_allclose(again.score(HISTORIES), model.score(HISTORIES), rtol=1e-5,
                                   atol=1e-6)


class TestEASE(BehaviourContract):
    name = "ease"
    config = {"l2": 10.0}


class TestALS(BehaviourContract):
    name = "als"
    config = {"factors": 8, "iterations": 5, "num_threads": 1}


class TestItemKNN(BehaviourContract):
    name = "itemknn"
    config = {"k": 10}


class TestSASRec(BehaviourContract):
    name = "sasrec"
    config = {"dim": 16, "max_len": 8, "max_epochs": 3, "batch_size": 32}


class TestContentOverALS(BehaviourContract):
    name = "content"

    @classmethod
    def build(cls):
        content = np.random.default_rng(0).normal(size=(N_ITEMS, 4)).astype(np.float32)
        return with_content(make_behaviour_model("als", factors=8, iterations=5), content)

    def test_is_a_behaviour_model(self, model):
        assert isinstance(model, BehaviourModel) and model.inner.name == "als"


class TestContentOverEASE(TestContentOverALS):
    @classmethod
    def build(cls):
        content = np.random.default_rng(0).normal(size=(N_ITEMS, 4)).astype(np.float32)
        return with_content(make_behaviour_model("ease", l2=10.0), content)

    def test_is_a_behaviour_model(self, model):
        assert isinstance(model, BehaviourModel) and model.inner.name == "ease"


def test_every_registered_model_is_covered():
    covered = {c.name for c in (TestEASE, TestALS, TestItemKNN, TestSASRec)}
    assert covered == set(BEHAVIOUR_MODELS)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: make_behaviour_model("slope"),
     "unknown behaviour model 'slope'; choose one of: ease, als, itemknn, sasrec"),
    (lambda: behaviour_model_class(3), "unknown behaviour model 3"),
    (lambda: make_behaviour_model("ease", lambda_=3), r"unknown argument 'lambda_' .*valid "
                                                        r"arguments: l2, weighted"),
    (lambda: make_behaviour_model("ease", l2=0), "l2 must be a number > 0"),
    (lambda: make_behaviour_model("als", factors=2.5), "factors must be an int >= 1"),
    (lambda: make_behaviour_model("itemknn", k=True), "k must be an int >= 1"),
    (lambda: make_behaviour_model("sasrec", dim=10, n_heads=3), r"n_heads \(3\) must divide"),
    (lambda: make_behaviour_model("sasrec", dropout=1.5), "dropout must be a number >= 0.0, "
                                                          "<= 0.9"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_loading_one_model_as_another_is_refused(tmp_path):
    from encoders.behaviour.itemknn import ItemKNNModel

    m = make_behaviour_model("ease", l2=10.0)
    m.fit(co_purchase_log(n_users=20))
    m.save(tmp_path / "m")
    with pytest.raises(EncoderError, match="holds a 'ease' model, not 'itemknn'"):
        ItemKNNModel.load(tmp_path / "m")


def test_unregistered_saved_model_is_refused(tmp_path):
    m = make_behaviour_model("ease", l2=10.0)
    m.fit(co_purchase_log(n_users=20))
    m.save(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
    doc["model"] = "mystery"
    (tmp_path / "m" / CONFIG_FILE).write_text(json.dumps(doc))
    with pytest.raises(EncoderError, match="unknown behaviour model 'mystery'"):
        load_behaviour_model(tmp_path / "m")
