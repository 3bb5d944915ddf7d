"""A sentence-transformers text model run through ONNX Runtime, without torch at query time.

Importing torch, transformers and sentence-transformers costs 5-12 s per process, which every
``shelfwise search`` would pay for one 10 ms forward pass. A BERT-style model whose
sentence-transformers pipeline is ``Transformer -> mean Pooling -> Normalize`` (the default
all-MiniLM-L6-v2 is one) is therefore exported once to ONNX with ``torch.onnx.export`` and
afterwards run with ``onnxruntime`` and the ``tokenizers`` library, which load in about 0.3 s.
Vectors match the torch path to about 1e-6.

The export is cached under :func:`onnx_cache_dir` in a folder named by :func:`model_key`, a
hash of the model folder's files, so a changed model is exported again and two models never
share an export.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoders.errors import EncoderError

CACHE_ENV = "SHELFWISE_ONNX_CACHE"
"""Environment variable naming the folder of ONNX exports (default ``~/.cache/shelfwise/onnx``)."""

EXPORT_FORMAT = "shelfwise-onnx-text-1"
"""Changes whenever the exported graph or its inputs change, so old exports are not reused."""

ONNX_FILE = "model.onnx"
OPSET = 17
_FULL_HASH_BYTES = 4 << 20
"""Files up to this size are hashed by content; bigger ones (the weights) by size and mtime."""

_ONE_THREAD_TEXTS = 16
"""Calls with more texts than this run on every core (index builds), fewer on one thread."""

_INSTALL_HINT = "pip install 'onnxruntime>=1.17' 'onnx>=1.16' tokenizers"


def onnx_cache_dir() -> Path:
    """Folder of cached exports: ``$SHELFWISE_ONNX_CACHE``, else ``$XDG_CACHE_HOME/shelfwise/onnx``.

    ``XDG_CACHE_HOME`` defaults to ``~/.cache``.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "shelfwise" / "onnx"


def supports_onnx(model_dir: Path) -> bool:
    """Whether ``model_dir`` is a sentence-transformers BERT-style model this module can run.

    True for a local folder with ``tokenizer.json``, a BERT/MiniLM/MPNet-like ``config.json``
    and a ``modules.json`` of exactly Transformer, mean Pooling and (optionally) Normalize.
    """
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False
    if not (model_dir / "tokenizer.json").is_file():
        return False
    if config.get("model_type") not in ("bert", "mpnet", "roberta", "xlm-roberta", "distilbert"):
        return False
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        return False
    pooling = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
    try:
        pool_cfg = json.loads((model_dir / pooling.get("path", "") / "config.json").read_text())
    except (OSError, ValueError):
        return False
    modes = {k for k, v in pool_cfg.items() if k.startswith("pooling_mode_") and v is True}
    return modes == {"pooling_mode_mean_tokens"}


def model_key(model_dir: Path) -> str:
    """A hash naming one model folder's files (and the export format).

    Small files (configs, tokenizer) are hashed by content; large ones (weights) by relative
    path, size and modification time, so that a cold start does not read 90 MB to find its
    cached export.
    """
    h = hashlib.sha256(EXPORT_FORMAT.encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        if rel.startswith(".") or "/." in rel or rel.endswith(".md"):
            continue
        st = path.stat()
        h.update(rel.encode() + b"\0" + str(st.st_size).encode() + b"\0")
        if st.st_size <= _FULL_HASH_BYTES:
            h.update(hashlib.sha256(path.read_bytes()).digest())
        else:
            h.update(str(st.st_mtime_ns).encode())
    return h.hexdigest()[:32]


def _max_seq_length(model_dir: Path) -> int:
    try:
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(cfg["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        config = json.loads((model_dir / "config.json").read_text())
        return int(config.get("max_position_embeddings", 512))


def export_onnx(model_dir: Path, target: Path) -> None:
    """Export the transformer of ``model_dir`` to ``target`` (needs torch, transformers, onnx).

    The graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64,
    ``(batch, seq)``) and returns the last hidden state, float32 ``(batch, seq, hidden)``.
    The file is written to a temporary name and renamed, so concurrent processes never read
    half an export.

    Raises:
        EncoderError: a package the export needs is missing, or the export failed.
    """
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it to write the file)
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise EncoderError(
            f"exporting the text model to ONNX needs torch, transformers and onnx; run: "
            f"{_INSTALL_HINT}") from exc

    class _LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    try:
        model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
        dummy = torch.ones((2, 8), dtype=torch.long)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
        os.close(fd)
        axes = {0: "batch", 1: "seq"}
        try:
            # the tracer warns about shape-dependent Python branches of the attention mask;
            # they are constant for an unpadded self-attention model (checked by the parity
            # tests), and filterwarnings=error would turn the notes into failures
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _LastHidden(model), (dummy, dummy, torch.zeros_like(dummy)), tmp_name,
                    dynamo=False, opset_version=OPSET,
                    input_names=["input_ids", "attention_mask", "token_type_ids"],
                    output_names=["last_hidden_state"],
                    dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                  "token_type_ids": axes, "last_hidden_state": axes})
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
    except EncoderError:
        raise
    except Exception as exc:  # any exporter failure becomes one clear error
        raise EncoderError(
            f"cannot export text model {str(model_dir)!r} to ONNX "
            f"({type(exc).__name__}: {exc})") from exc


class OnnxTextModel:
    """Mean-pooled, L2-normalised sentence embeddings from an ONNX export.

    Args:
        model_dir: a sentence-transformers model folder for which :func:`supports_onnx` holds.
        cache_dir: where exports live (default :func:`onnx_cache_dir`).

    Raises:
        EncoderError: onnxruntime or tokenizers is missing, or the export or its loading failed.
    """

    def __init__(self, model_dir: Path, cache_dir: Path | None = None) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EncoderError(f"the ONNX text backend needs onnxruntime and tokenizers; run: "
                               f"{_INSTALL_HINT}") from exc
        self.model_dir = Path(model_dir)
        folder = (cache_dir or onnx_cache_dir()) / model_key(self.model_dir)
        self.path = folder / ONNX_FILE
        if not self.path.is_file():
            export_onnx(self.model_dir, self.path)
        self.max_length = _max_seq_length(self.model_dir)
        tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tok.enable_truncation(max_length=self.max_length)
        tok.no_padding()
        self._tokenizer = tok
        self._pad_id = tok.token_to_id("[PAD]") or 0
        self._ort = ort
        # one thread for a shopper's query (see shelfwise.threads: on a busy machine a second
        # thread only waits); a session on every core is opened for the first large batch
        try:
            self._session = self._open_session(threads=1)
        except EncoderError:  # a truncated or foreign file in the cache: export it again
            self.path.unlink(missing_ok=True)
            export_onnx(self.model_dir, self.path)
            self._session = self._open_session(threads=1)
        self._batch_session: Any = None
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def _open_session(self, threads: int) -> Any:
        opts = self._ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            return self._ort.InferenceSession(str(self.path), opts,
                                              providers=["CPUExecutionProvider"])
        except Exception as exc:  # a truncated or foreign file in the cache
            raise EncoderError(f"cannot load the ONNX export {self.path} "
                               f"({type(exc).__name__}: {exc})") from exc

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` (stripped, as sentence-transformers does).

        Args:
            texts: n strings.
            batch_size: texts per forward pass; texts are sorted by length so that a batch
                pads little.
            progress: called with the number of texts done after each batch.

        Returns:
            float32 array of shape (n, dim), rows L2-normalised.
        """
        encs = self._tokenizer.encode_batch([t.strip() for t in texts])
        order = np.argsort([-len(e.ids) for e in encs], kind="stable")
        session = self._session
        if len(encs) > _ONE_THREAD_TEXTS:
            if self._batch_session is None:
                self._batch_session = self._open_session(threads=0)  # 0: every core
            session = self._batch_session
        out = np.zeros((len(encs), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encs[i].ids) for i in rows)
            ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encs[i].ids)
                ids[r, :n] = encs[i].ids
                types[r, :n] = encs[i].type_ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = session.run(None, {k: v for k, v in feeds.items()
                                              if k in self._inputs})[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[rows] = pooled
            if progress is not None:
                progress(len(rows))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
