"""A damaged or hostile saved index is refused at load with a named error naming file and field."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from encoders.errors import IndexError_
from index import ItemMeta, VectorIndex
from index import vector_index as vi

N, D = 60, 8


def _vectors(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, D)).astype(np.float32)


def _saved(tmp: Path, spec: str = "Flat", remove: int = 0) -> Path:
    index = VectorIndex(D, spec, model_names={"text": "tiny"})
    ids = [f"p{i}" for i in range(N)]
    metas = [ItemMeta(f"cat{i % 3}", float(i), i % 2 == 0) for i in range(N)]
    index.add(ids, _vectors(), metas)
    if remove:
        index.remove(ids[:remove])
    return index.save(tmp / "index")


def _meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text())


def _write(folder: Path, meta: dict, *, resign: bool = True) -> None:
    """Write ``meta``; re-sign the item list so that the deeper checks are what refuses."""
    if resign:
        meta["items_sha256"] = vi._sha256(vi._canonical(meta["items"]))
    (folder / "meta.json").write_text(json.dumps(meta))


def _set(path: str, value: object, *, resign: bool = True) -> Callable[[Path], None]:
    """Set a dotted field (``params.nprobe``, ``items.price.3``)."""
    def edit(folder: Path) -> None:
        meta = _meta(folder)
        *outer, last = path.split(".")
        node = meta
        for key in outer:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DROP:
            del node[last]
        else:
            node[last] = value
        _write(folder, meta, resign=resign)
    return edit


_DROP = object()


def _raw(text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / "meta.json").write_text(text)
    return edit


def _replace(old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        text = (folder / "meta.json").read_text()
        assert old in text, old
        (folder / "meta.json").write_text(text.replace(old, new, 1))
    return edit


def _index_file(fn: Callable[[bytes], bytes], *, resign: bool) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        raw = fn((folder / "index.faiss").read_bytes())
        (folder / "index.faiss").write_bytes(raw)
        if resign:
            meta = _meta(folder)
            meta["files"]["index"].update(sha256=vi._sha256(raw), bytes=len(raw))
            _write(folder, meta)
    return edit


def _swap_index(spec: str) -> Callable[[Path], None]:
    """Put a valid index of another type (same vectors and slots) beside the meta file."""
    def edit(folder: Path) -> None:
        other = VectorIndex(D, spec)
        other.add([f"p{i}" for i in range(N)], _vectors())
        other.save(folder / "other")
        raw = (folder / "other" / "index.faiss").read_bytes()
        (folder / "index.faiss").write_bytes(raw)
        meta = _meta(folder)
        meta["files"]["index"].update(sha256=vi._sha256(raw), bytes=len(raw))
        _write(folder, meta)
    return edit


def _vectors_file(arr: np.ndarray) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        raw = buf.getvalue()
        (folder / "vectors.npy").write_bytes(raw)
        meta = _meta(folder)
        meta["files"]["vectors"] = {"name": "vectors.npy", "sha256": vi._sha256(raw),
                                    "bytes": len(raw)}
        _write(folder, meta)
    return edit


def _nan_vectors() -> np.ndarray:
    arr = _vectors()
    arr[3, 2] = np.nan
    return arr


DEEP = "[" * 100_000 + "]" * 100_000

# (case id, spec, removed items, damage, message regex)
CASES = [
    ("not json", "Flat", 0, _raw("{oops"), r"meta.json is not valid JSON"),
    ("a list", "Flat", 0, _raw("[]"), r"meta.json must hold a JSON object"),
    ("deeply nested", "Flat", 0, _raw('{"items": ' + DEEP + "}"), r"nested too deeply"),
    ("NaN literal", "Flat", 0, _replace('"count": 60', '"count": NaN'),
     r"NaN is not a finite number"),
    ("float overflow", "Flat", 0, _replace('"tombstone_fraction": 0.25',
                                          '"tombstone_fraction": 1e999'),
     r"field 'params.tombstone_fraction' must be a finite number in \(0.0, 1.0\], got inf"),
    ("int too long", "Flat", 0, _replace('"count": 60', '"count": ' + "7" * 6000),
     r"not valid JSON.*(digits|integer string conversion)"),
    ("duplicate key", "Flat", 0, _replace('"count": 60', '"count": 60, "count": 61'),
     r"duplicate key 'count'"),
    ("lone surrogate", "Flat", 0, _replace('"text": "tiny"', '"text": "\\udc80"'),
     r"field 'model_names.text' holds a lone surrogate"),
    ("wrong format", "Flat", 0, _set("format", "other"),
     r"is not a shelfwise vector index meta file"),
    ("future version", "Flat", 0, _set("format_version", 2), r"has format_version 2"),
    ("version as bool", "Flat", 0, _set("format_version", True), r"has format_version True"),
    ("unknown field", "Flat", 0, _set("surprise", 1), r"unknown field\(s\) 'surprise'"),
    ("absurd dimension", "Flat", 0, _set("dimension", 10**12),
     r"field 'dimension' must be an integer in \[1, 65536\], got 1000000000000"),
    ("zero dimension", "Flat", 0, _set("dimension", 0), r"field 'dimension' must be an integer"),
    ("dimension as string", "Flat", 0, _set("dimension", "8"),
     r"field 'dimension' must be an integer in \[1, 65536\], got '8'"),
    ("dimension disagrees", "Flat", 0, _set("dimension", 16),
     r"index.faiss has dimension 8 but meta.json says 16"),
    ("invalid spec", "Flat", 0, _set("spec", "NotAnIndex"),
     r"field 'spec' is 'NotAnIndex', which FAISS cannot build for dimension 8"),
    ("invalid resolved spec", "Flat", 0, _set("resolved_spec", "IVF,,Flat"),
     r"field 'resolved_spec' is 'IVF,,Flat', which FAISS cannot build"),
    ("spec with absurd number", "Flat", 0, _set("resolved_spec", "IVF99999999999,Flat"),
     r"field 'resolved_spec' is 'IVF99999999999,Flat': a number above 1048576"),
    ("spec not ascii", "Flat", 0, _set("spec", "Fl\u00e4t"),
     r"field 'spec' is 'Fl.t', not a FAISS"),
    ("spec not a string", "Flat", 0, _set("spec", ["Flat"]), r"field 'spec' must be a string"),
    ("spec of another kind", "Flat", 0, _set("resolved_spec", "HNSW32"),
     r"field 'resolved_spec' is 'HNSW32' \(a hnsw index\) but index.faiss holds a flat index"),
    ("index of another kind", "HNSW16", 0, _swap_index("Flat"),
     r"field 'resolved_spec' is 'HNSW16' \(a hnsw index\) but index.faiss holds a flat index"),
    ("model names not an object", "Flat", 0, _set("model_names", "tiny"),
     r"field 'model_names' must be a JSON object"),
    ("negative count", "Flat", 0, _set("count", -1),
     r"field 'count' must be an integer in \[0, 2147483648\], got -1"),
    ("count above ntotal", "Flat", 0, _set("count", 61),
     r"fields 'count' \(61\), 'ntotal' \(60\) and 'next_slot' \(60\) must satisfy"),
    ("absurd next_slot", "Flat", 0, _set("next_slot", 10**12),
     r"field 'next_slot' must be an integer in \[0, 2147483648\]"),
    ("sparse next_slot", "Flat", 0, _set("next_slot", 10**6),
     r"field 'next_slot' is 1000000, more than 2 x count \+ 4096"),
    ("ntotal disagrees", "Flat", 0, _set("ntotal", 59),
     r"must satisfy count <= ntotal <= next_slot"),
    ("ntotal above faiss", "Flat", 0, lambda f: (_set("next_slot", 61)(f), _set("ntotal", 61)(f)),
     r"index.faiss holds 60 vectors but meta.json says 61"),
    ("count disagrees with items", "Flat", 0, _set("count", 59),
     r"item lists disagree with count 59"),
    ("missing param", "Flat", 0, _set("params.nprobe", _DROP),
     r"field 'params.nprobe' is missing"),
    ("zero ef_search", "Flat", 0, _set("params.ef_search", 0),
     r"field 'params.ef_search' must be an integer in \[1, 1048576\], got 0"),
    ("absurd ef_search", "HNSW16", 0, _set("params.ef_search", 10**9),
     r"field 'params.ef_search' must be an integer in \[1, 1048576\]"),
    ("tombstone fraction zero", "Flat", 0, _set("params.tombstone_fraction", 0),
     r"field 'params.tombstone_fraction' must be a finite number in \(0.0, 1.0\]"),
    ("tombstone fraction string", "Flat", 0, _set("params.tombstone_fraction", "0.2"),
     r"field 'params.tombstone_fraction' must be a finite number"),
    ("bad checksum text", "Flat", 0, _set("files.index.sha256", "xyz"),
     r"field 'files.index.sha256' must be a 64-digit hex SHA-256"),
    ("negative byte count", "Flat", 0, _set("files.index.bytes", -5),
     r"field 'files.index.bytes' must be an integer"),
    ("index file changed", "Flat", 0,
     _index_file(lambda raw: raw[:-4] + b"\x00\x00\x00\x01", resign=False),
     r"index.faiss fails its sha256 checksum"),
    ("index file truncated", "Flat", 0, _index_file(lambda raw: raw[:100], resign=False),
     r"index.faiss is 100 bytes but was saved as"),
    ("index file garbage, re-signed", "Flat", 0, _index_file(lambda raw: b"garbage!", resign=True),
     r"index.faiss cannot be read by FAISS"),
    ("items list short", "Flat", 0, _set("items.ids", [f"p{i}" for i in range(59)]),
     r"field 'items.ids' has 59 entries but field 'count' is 60"),
    ("items changed, not re-signed", "Flat", 0, _set("items.price.0", 5.0, resign=False),
     r"the item list fails its checksum"),
    ("negative price", "Flat", 0, _set("items.price.3", -1.0),
     r"field 'items.price' entry 3 must be a finite number >= 0, got -1.0"),
    ("price as string", "Flat", 0, _set("items.price.3", "12"),
     r"field 'items.price' entry 3 must be a finite number >= 0, got '12'"),
    ("price overflows", "Flat", 0, _replace('"price": [\n   0.0,\n   1.0', '"price": [0.0, 1e999'),
     r"field 'items.price' entry 1 must be a finite number >= 0, got inf"),
    ("price too large for a float", "Flat", 0, _set("items.price.7", 10**400),
     r"field 'items.price' entry 7 must be a finite number >= 0, got an integer of 1329 bits"),
    ("slot too large for int64", "Flat", 0, _set("items.slots.7", 2**70),
     r"field 'items.slots' entry 7 must be an integer in \[0, 60\), got an integer of 71 bits"),
    ("duplicate id", "Flat", 0, _set("items.ids.1", "p0"), r"field 'items.ids' lists 'p0' twice"),
    ("empty id", "Flat", 0, _set("items.ids.2", ""),
     r"field 'items.ids' entry 2 must be a non-empty string"),
    ("numeric id", "Flat", 0, _set("items.ids.2", 7),
     r"field 'items.ids' entry 2 must be a non-empty string, got 7"),
    ("id with lone surrogate", "Flat", 0, _set("items.ids.5", "p\ud800"),
     r"field 'items.ids' entry 5 holds a lone surrogate"),
    ("slot out of range", "Flat", 0, _set("items.slots.4", 60),
     r"field 'items.slots' entry 4 must be an integer in \[0, 60\), got 60"),
    ("slot as bool", "Flat", 0, _set("items.slots.4", True),
     r"field 'items.slots' entry 4 must be an integer"),
    ("slot repeated", "Flat", 0, _set("items.slots.4", 5), r"field 'items.slots' repeats a slot"),
    ("slot not in faiss", "Flat", 10, _set("items.slots.0", 0),
     r"index.faiss lacks slot 0 that meta.json lists"),
    ("category not a string", "Flat", 0, _set("items.category.1", 5),
     r"field 'items.category' entry 1 must be a string, got 5"),
    ("stock not a bool", "Flat", 0, _set("items.in_stock.1", "yes"),
     r"field 'items.in_stock' entry 1 must be true or false, got 'yes'"),
    ("vectors with NaN", "Flat", 0, _vectors_file(_nan_vectors()),
     r"file 'vectors.npy' holds 1 NaN or infinite value"),
    ("vectors of wrong shape", "Flat", 0, _vectors_file(_vectors(10)),
     r"vectors.npy has shape \(10, 8\) float32, expected \(60, 8\) float32"),
    ("vectors as objects", "Flat", 0, _vectors_file(np.zeros((60, 8), dtype=np.float64)),
     r"vectors.npy has shape \(60, 8\) float64, expected \(60, 8\) float32"),
]


@pytest.mark.parametrize(("spec", "remove", "damage", "match"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_damaged_index_is_refused(tmp_path, spec, remove, damage, match):
    folder = _saved(tmp_path, spec, remove)
    VectorIndex.load(folder)  # intact: loads
    damage(folder)
    with pytest.raises(IndexError_, match=match):
        VectorIndex.load(folder)


def test_meta_size_limit(tmp_path, monkeypatch):
    folder = _saved(tmp_path)
    monkeypatch.setattr(vi, "MAX_META_BYTES", 1000)
    with pytest.raises(IndexError_, match=r"meta.json is \d+ bytes, more than the 1000 bytes"):
        VectorIndex.load(folder)


@pytest.mark.parametrize("spec", ["auto", "Flat", "HNSW16", "IVF4,Flat", "SQ8", "PCA4,Flat"])
def test_valid_indexes_still_load_after_removals(tmp_path, spec):
    folder = _saved(tmp_path, spec, remove=7)
    index = VectorIndex.load(folder)
    assert len(index) == N - 7
    got, _ = index.search(_vectors()[:5], k=3)
    assert all(pid is not None and pid not in {f"p{i}" for i in range(7)}
               for row in got for pid in row)


def test_tombstones_survive_a_reload(tmp_path):
    """An IVF index whose removals became tombstones keeps filtering them after load
    (they came back as ``None`` results before)."""
    index = VectorIndex(D, "IVF4,Flat")
    x = _vectors(300)
    index.add([f"p{i}" for i in range(300)], x)
    index.remove([f"p{i}" for i in range(0, 300, 7)])
    before, _ = index.search(x[:5], k=3)
    loaded = VectorIndex.load(index.save(tmp_path / "ivf"))
    after, _ = loaded.search(x[:5], k=3)
    assert after.tolist() == before.tolist()
    assert None not in after.ravel().tolist()
