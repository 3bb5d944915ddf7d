"""The offline default image encoder: a small CNN aligned to frozen text embeddings.

No pretrained vision weights ship with shelfwise, so the default image encoder is trained on
the shop's own catalog: each product image is pulled towards the (fixed) text embedding of the
same product's title and description with a symmetric InfoNCE loss, the text tower locked
("LiT"-style). Its outputs therefore live in the text space and can be fused with text vectors
or compared with a text query directly.

The network sees a 64x64 RGB image through four conv blocks, plus cheap colour statistics
(per-channel mean/std, a coarse joint RGB histogram and a saturation-weighted hue histogram),
because colour is the attribute shoppers name most and a tiny CNN learns it slowly.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from encoders.artefacts import MAX_DIM, Fields, read_json_object, safe_repr
from encoders.errors import ConfigError, EncoderError
from encoders.image import check_images_arg, load_image

if TYPE_CHECKING:
    import torch
    from PIL import Image

FORMAT = "shelfwise-aligned-cnn"
FORMAT_VERSION = 1
IMAGE_SIZE = 64
DEFAULT_CHANNELS = (16, 32, 64, 128)
RGB_BINS = 4  # per channel -> 4**3 joint bins
HUE_BINS = 12
N_COLOUR_FEATURES = 6 + RGB_BINS**3 + HUE_BINS + 4
WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = "config.json"
MAX_BLOCKS = 8
"""Most conv blocks a saved config may declare (64x64 images halve 7 times at most)."""
MAX_CHANNELS = 1024
"""Widest conv block a saved config may declare."""
MAX_CONFIG_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 1 << 30


@dataclass(frozen=True)
class AlignReport:
    """What :func:`train_image_aligner` measured.

    Attributes:
        recall_at_10: share of held-out products whose own text vector ranks in the top 10
            among the held-out text vectors, retrieving with the image embedding (ties with
            an identical text count in the product's favour); ``nan`` when ``holdout`` was 0.
        n_train: products used for training.
        n_holdout: products held out for the recall measurement.
        epochs: passes over the training products.
        seconds: wall-clock training time (preloading included).
        final_loss: mean symmetric InfoNCE loss over the last epoch.

    """

    recall_at_10: float
    n_train: int
    n_holdout: int
    epochs: int
    seconds: float
    final_loss: float

    def to_dict(self) -> dict[str, float | int]:
        """Return the report as a plain JSON-ready dict."""
        return asdict(self)


def _build_network(out_dim: int, channels: Sequence[int]) -> torch.nn.Module:
    import torch
    from torch import nn

    class _AlignNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks: list[nn.Module] = []
            c_in = 3
            for i, c_out in enumerate(channels):
                blocks += [
                    nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                ]
                if i < len(channels) - 1:
                    blocks.append(nn.MaxPool2d(2))
                c_in = c_out
            self.features = nn.Sequential(*blocks)
            self.colour = nn.Sequential(
                nn.LayerNorm(N_COLOUR_FEATURES), nn.Linear(N_COLOUR_FEATURES, 128), nn.GELU()
            )
            self.head = nn.Sequential(
                nn.Linear(2 * c_in + 128, 512), nn.GELU(), nn.Linear(512, out_dim)
            )

        def forward(self, pixels: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
            h = self.features(pixels)
            pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
            z = self.head(torch.cat([pooled, self.colour(colour)], dim=1))
            return nn.functional.normalize(z, dim=1)

    return _AlignNet()


def _to_uint8_array(images: Sequence[Any], show_progress: bool = False) -> np.ndarray:
    """Load and resize images to uint8 (n, 64, 64, 3)."""
    from PIL import Image

    out = np.empty((len(images), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    it: Any = images
    if show_progress:
        from tqdm.auto import tqdm

        it = tqdm(images, desc="loading images", unit="img")
    for i, x in enumerate(it):
        img = load_image(x)
        if img.size != (IMAGE_SIZE, IMAGE_SIZE):
            img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        out[i] = np.asarray(img, dtype=np.uint8)
    return out


def _colour_features(pixels_u8: torch.Tensor) -> torch.Tensor:
    """Colour statistics of uint8 images (n, 3, H, W) -> float32 (n, N_COLOUR_FEATURES)."""
    import torch

    n = pixels_u8.shape[0]
    x = pixels_u8.float().div_(255.0).flatten(2)  # (n, 3, P)
    mean, std = x.mean(dim=2), x.std(dim=2, unbiased=False)
    q = (pixels_u8.flatten(2).long() * RGB_BINS) // 256  # (n, 3, P) in [0, RGB_BINS)
    idx = q[:, 0] * RGB_BINS * RGB_BINS + q[:, 1] * RGB_BINS + q[:, 2]
    n_pix = idx.shape[1]
    rgb_hist = torch.zeros(n, RGB_BINS**3).scatter_add_(1, idx, torch.ones(n, n_pix)) / n_pix
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    cmax, _ = x.max(dim=1)
    cmin, _ = x.min(dim=1)
    delta = cmax - cmin
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(
        cmax == r,
        ((g - b) / safe) % 6,
        torch.where(cmax == g, (b - r) / safe + 2, (r - g) / safe + 4),
    ) / 6.0  # in [0, 1)
    sat = torch.where(cmax > 0, delta / torch.where(cmax > 0, cmax, torch.ones_like(cmax)), 0)
    weight = sat * cmax  # greys and blacks carry no hue
    hbin = (hue * HUE_BINS).long().clamp_(0, HUE_BINS - 1)
    hue_hist = torch.zeros(n, HUE_BINS).scatter_add_(1, hbin, weight)
    hue_hist = hue_hist / hue_hist.sum(dim=1, keepdim=True).clamp_min(1e-6)
    sv = torch.stack(
        [sat.mean(1), sat.std(1, unbiased=False), cmax.mean(1), cmax.std(1, unbiased=False)], 1
    )
    return torch.cat([mean, std, rgb_hist.sqrt(), hue_hist.sqrt(), sv], dim=1).float()


_MEAN = (0.5, 0.5, 0.5)
_STD = (0.25, 0.25, 0.25)


def _pixels_to_input(pixels_u8: torch.Tensor) -> torch.Tensor:
    import torch

    mean = torch.tensor(_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_STD).view(1, 3, 1, 1)
    return (pixels_u8.float() / 255.0 - mean) / std


class AlignedImageEncoder:
    """Small CNN whose unit-norm outputs live in a text encoder's embedding space.

    Build one with :func:`train_image_aligner` or :meth:`load`; the constructor makes an
    untrained network.

    Args:
        out_dim: width of the text space (384 for the default text encoder).
        channels: output channels of the four conv blocks.
        text_model: name of the text encoder whose space this model targets (kept in the
            saved config so that a mismatch can be detected).

    """

    def __init__(
        self,
        out_dim: int = 384,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        text_model: str | None = None,
    ) -> None:
        if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim < 1:
            raise ConfigError(f"out_dim must be a positive integer, got {out_dim!r}")
        channels = tuple(int(c) for c in channels)
        if not channels or any(c < 1 for c in channels):
            raise ConfigError(f"channels must be positive integers, got {channels!r}")
        self._out_dim = out_dim
        self._channels = channels
        self.text_model = text_model
        self.net = _build_network(out_dim, channels)
        self.net.eval()
        self._name: str | None = None

    @property
    def dim(self) -> int:
        """Width of the embeddings (that of the text space)."""
        return self._out_dim

    @property
    def name(self) -> str:
        """``"aligned-cnn-<12 hex digits of the weights' sha256>"``: changes when weights do."""
        if self._name is None:
            h = hashlib.sha256()
            for key, value in sorted(self.net.state_dict().items()):
                h.update(key.encode())
                h.update(value.detach().cpu().contiguous().numpy().tobytes())
            self._name = f"aligned-cnn-{h.hexdigest()[:12]}"
        return self._name

    def __repr__(self) -> str:
        return f"AlignedImageEncoder(name={self.name!r}, dim={self._out_dim})"

    def _forward_u8(self, pixels_u8: torch.Tensor) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            return self.net(_pixels_to_input(pixels_u8), _colour_features(pixels_u8))

    def encode(
        self,
        images: Sequence[str | Path | Image.Image],
        batch_size: int = 32,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Embed images into the text space.

        Args:
            images: n file paths or PIL images (resized to 64x64 RGB).
            batch_size: images per forward pass.
            show_progress: show a progress bar.

        Returns:
            float32 array of shape (n, dim), rows L2-normalised; (0, dim) for no images.

        Raises:
            EncoderError: an image file is missing or unreadable (named in the message).

        """
        import torch

        items = check_images_arg(images, batch_size)
        out = np.zeros((len(items), self._out_dim), dtype=np.float32)
        self.net.eval()
        starts: Any = range(0, len(items), batch_size)
        if show_progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="encoding images", unit="batch")
        for start in starts:
            chunk = _to_uint8_array(items[start : start + batch_size])
            pixels = torch.from_numpy(chunk).permute(0, 3, 1, 2).contiguous()
            out[start : start + len(chunk)] = self._forward_u8(pixels).numpy()
        return out

    def save(self, folder: str | Path) -> Path:
        """Write ``weights.pt`` (a torch state_dict) and ``config.json`` into ``folder``.

        Args:
            folder: target folder (created if missing).

        Returns:
            The folder.

        """
        import torch

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), folder / WEIGHTS_FILE)
        config = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "out_dim": self._out_dim,
            "channels": list(self._channels),
            "image_size": IMAGE_SIZE,
            "text_model": self.text_model,
            "name": self.name,
        }
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> AlignedImageEncoder:
        """Load a model written by :meth:`save`.

        Args:
            folder: folder holding ``weights.pt`` and ``config.json``.

        Returns:
            The encoder, in eval mode.

        Raises:
            EncoderError: a file is missing, corrupt, or does not match the config.

        """
        import torch

        folder = Path(folder)
        cfg_path, w_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        for p in (cfg_path, w_path):
            if not p.is_file():
                raise EncoderError(
                    f"aligned image model file {str(p)!r} not found; train one with "
                    "train_image_aligner(...) and save it with .save(folder)"
                )
        try:
            cfg = read_json_object(cfg_path, EncoderError, max_bytes=MAX_CONFIG_BYTES)
        except EncoderError as exc:
            raise EncoderError(
                f"aligned image model config {str(cfg_path)!r} is corrupt: {exc}"
            ) from exc
        if cfg.get("format") != FORMAT:
            raise EncoderError(
                f"{str(cfg_path)!r} is not an aligned image model config "
                f"(format {safe_repr(cfg.get('format'))}, expected {FORMAT!r})"
            )
        version = cfg.get("version")
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise EncoderError(
                f"{str(cfg_path)!r} has format version {safe_repr(version)}; "
                f"this shelfwise reads version {FORMAT_VERSION}: retrain the image aligner"
            )
        f = Fields(cfg, str(cfg_path), EncoderError)
        f.only("format", "version", "out_dim", "channels", "image_size", "text_model", "name")
        out_dim = f.get_int("out_dim", 1, MAX_DIM)
        channels = f.get_list("channels", max_len=MAX_BLOCKS, default=list(DEFAULT_CHANNELS))
        if not channels:
            f.fail("channels", "must list at least one conv block")
        for i, c in enumerate(channels):
            if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= MAX_CHANNELS:
                f.fail("channels", f"entry {i} must be an integer in [1, {MAX_CHANNELS}], got "
                                   f"{safe_repr(c)}")
        f.get_int("image_size", IMAGE_SIZE, IMAGE_SIZE, default=IMAGE_SIZE)
        text_model = f.get_str("text_model", nullable=True, default=None)
        expected = f.get_str("name", max_len=200, default=None)
        try:
            w_size = w_path.stat().st_size
        except OSError as exc:
            raise EncoderError(f"cannot read {str(w_path)!r}: {exc}") from exc
        if w_size > MAX_WEIGHTS_BYTES:
            raise EncoderError(
                f"aligned image model weights {str(w_path)!r} are {w_size} bytes, more than "
                f"the {MAX_WEIGHTS_BYTES} such a model may have (corrupt or not this model)"
            )
        try:
            enc = cls(out_dim=out_dim, channels=channels, text_model=text_model)
        except (TypeError, ValueError, ConfigError) as exc:
            raise EncoderError(
                f"aligned image model config {str(cfg_path)!r} is invalid: {exc}"
            ) from exc
        try:
            state = torch.load(w_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged file
            raise EncoderError(
                f"aligned image model weights {str(w_path)!r} are corrupt or unreadable "
                f"({type(exc).__name__}); retrain and save the model again"
            ) from exc
        if not isinstance(state, dict):
            raise EncoderError(f"aligned image model weights {str(w_path)!r} are not a state_dict")
        try:
            enc.net.load_state_dict(state, strict=True)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise EncoderError(
                f"aligned image model weights {str(w_path)!r} do not match {str(cfg_path)!r}: {exc}"
            ) from exc
        bad = [
            key
            for key, value in enc.net.state_dict().items()
            if value.is_floating_point() and not bool(torch.isfinite(value).all())
        ]
        if bad:
            raise EncoderError(
                f"aligned image model weights {str(w_path)!r}: tensor {bad[0]!r} holds NaN or "
                "infinite values; retrain the image aligner"
            )
        enc.net.eval()
        enc._name = None
        if expected is not None and expected != enc.name:
            raise EncoderError(
                f"aligned image model weights {str(w_path)!r} do not match the recorded name "
                f"{expected!r} (got {enc.name!r}): the file was changed or damaged"
            )
        return enc


def _check_training_args(
    n_images: int, text_vectors: Any, epochs: int, batch_size: int, lr: float,
    temperature: float, holdout: float,
) -> np.ndarray:
    tv = np.asarray(text_vectors, dtype=np.float32)
    if tv.ndim != 2 or tv.shape[1] < 1:
        raise ConfigError(f"text_vectors must have shape (n, d), got {tv.shape}")
    if tv.shape[0] != n_images:
        raise ConfigError(
            f"text_vectors has {tv.shape[0]} rows but images has {n_images} items; "
            "they must be one per product, in the same order"
        )
    if n_images < 2:
        raise ConfigError(f"images must hold at least 2 products to train, got {n_images}")
    if not np.isfinite(tv).all():
        raise ConfigError("text_vectors contains NaN or infinite values")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 2:
        raise ConfigError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr must be a positive number, got {lr!r}")
    if not (
        isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0
    ):
        raise ConfigError(f"temperature must be a positive number, got {temperature!r}")
    if not (isinstance(holdout, int | float) and 0.0 <= holdout < 1.0):
        raise ConfigError(f"holdout must be in [0, 1), got {holdout!r}")
    norms = np.linalg.norm(tv, axis=1, keepdims=True)
    return tv / np.maximum(norms, 1e-12)


def recall_at_k(image_vecs: np.ndarray, text_vecs: np.ndarray, k: int = 10) -> float:
    """Image-to-text retrieval recall@k where row i of both arrays is the same product.

    A product counts as found when fewer than ``k`` texts score strictly higher than its own
    text, so products that share an identical text do not push each other out.

    Args:
        image_vecs: float32 (n, d), unit rows.
        text_vecs: float32 (n, d), unit rows.
        k: cut-off.

    Returns:
        Share of the n products found, in [0, 1]; ``nan`` when n is 0.

    """
    if image_vecs.shape != text_vecs.shape or image_vecs.ndim != 2:
        raise ConfigError(
            f"image_vecs {image_vecs.shape} and text_vecs {text_vecs.shape} must both be (n, d)"
        )
    if len(image_vecs) == 0:
        return float("nan")
    sims = image_vecs @ text_vecs.T
    own = np.diag(sims)[:, None]
    rank = (sims > own + 1e-6).sum(axis=1)
    return float((rank < k).mean())


def train_image_aligner(
    images: Sequence[str | Path | Image.Image],
    text_vectors: np.ndarray,
    *,
    epochs: int = 15,
    batch_size: int = 128,
    lr: float = 2e-3,
    temperature: float = 0.07,
    holdout: float = 0.1,
    seed: int = 0,
    show_progress: bool = False,
    channels: Sequence[int] = DEFAULT_CHANNELS,
    text_model: str | None = None,
    num_threads: int | None = None,
) -> tuple[AlignedImageEncoder, AlignReport]:
    """Train an :class:`AlignedImageEncoder` towards fixed text embeddings.

    Loss: symmetric InfoNCE between the batch's image embeddings and the same products'
    text vectors (which never change). Products whose text vectors are identical are treated
    as positives of each other rather than as negatives.

    Args:
        images: n product images (paths or PIL images), loaded once and resized to 64x64.
        text_vectors: float (n, d) text embeddings of each product's title + description,
            same order as ``images``; rows are L2-normalised here.
        epochs: passes over the training products.
        batch_size: products per step (>= 2; InfoNCE needs negatives).
        lr: AdamW learning rate (cosine-decayed to zero).
        temperature: softmax temperature of the InfoNCE logits.
        holdout: share of products held out to measure recall@10 (0 trains on all and
            reports ``nan``).
        seed: seeds the split, the batch order, augmentation and the initial weights.
        show_progress: show progress bars.
        channels: conv block widths.
        text_model: name of the text encoder that made ``text_vectors`` (saved with the model).
        num_threads: torch intra-op threads while training (restored afterwards); None keeps
            torch's setting. On a machine whose cores are busy with other work, 1 can be many
            times faster than the default, because torch's threads wait on each other.

    Returns:
        ``(encoder, report)``; the encoder is trained on the non-held-out products only.

    Raises:
        ConfigError: shapes or hyper-parameters are invalid (the message names the argument).
        EncoderError: an image cannot be read (the message names the file).

    """
    import torch

    if num_threads is not None and (
        not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 1
    ):
        raise ConfigError(f"num_threads must be a positive integer or None, got {num_threads!r}")
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _train(
            images, text_vectors, epochs=epochs, batch_size=batch_size, lr=lr,
            temperature=temperature, holdout=holdout, seed=seed, show_progress=show_progress,
            channels=channels, text_model=text_model,
        )
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    images: Sequence[Any],
    text_vectors: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    temperature: float,
    holdout: float,
    seed: int,
    show_progress: bool,
    channels: Sequence[int],
    text_model: str | None,
) -> tuple[AlignedImageEncoder, AlignReport]:
    import torch

    start_time = time.perf_counter()
    items = check_images_arg(images, 1)
    tv = _check_training_args(
        len(items), text_vectors, epochs, batch_size, lr, temperature, holdout
    )
    n, d = tv.shape
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_holdout = int(round(holdout * n)) if holdout > 0 else 0
    n_holdout = min(max(n_holdout, 2 if holdout > 0 else 0), n - 2)
    hold_idx, train_idx = order[:n_holdout], order[n_holdout:]

    pixels = torch.from_numpy(_to_uint8_array(items, show_progress))
    pixels = pixels.permute(0, 3, 1, 2).contiguous()
    colour = _colour_features(pixels)
    texts = torch.from_numpy(tv)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = AlignedImageEncoder(out_dim=d, channels=channels, text_model=text_model)
        net = encoder.net
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        steps_per_epoch = max(1, math.ceil(len(train_idx) / batch_size))
        total = epochs * steps_per_epoch

        def lr_factor(step: int) -> float:
            # one epoch of linear warm-up, then cosine decay to zero
            warm = min(1.0, (step + 1) / steps_per_epoch)
            return warm * 0.5 * (1.0 + math.cos(math.pi * step / total))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
        epoch_iter: Any = range(epochs)
        if show_progress:
            from tqdm.auto import tqdm

            epoch_iter = tqdm(epoch_iter, desc="aligning images", unit="epoch")
        final_loss = float("nan")
        net.train()
        for _ in epoch_iter:
            perm = train_idx[rng.permutation(len(train_idx))]
            losses: list[float] = []
            for s in range(0, len(perm), batch_size):
                idx = torch.from_numpy(perm[s : s + batch_size])
                if len(idx) < 2:
                    continue
                px = pixels[idx]
                flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
                px = torch.where(flip.view(-1, 1, 1, 1), px.flip(3), px)
                z = net(_pixels_to_input(px), colour[idx])
                t = texts[idx]
                logits = z @ t.T / temperature
                same = (t @ t.T > 1 - 1e-6).float()
                target = same / same.sum(dim=1, keepdim=True)
                loss = 0.5 * (
                    torch.nn.functional.cross_entropy(logits, target)
                    + torch.nn.functional.cross_entropy(logits.T, target)
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
            if losses:
                final_loss = float(np.mean(losses))
        net.eval()
    encoder._name = None

    recall = float("nan")
    if n_holdout > 0:
        hidx = torch.from_numpy(hold_idx)
        img_vecs = torch.cat(
            [encoder._forward_u8(pixels[hidx[s : s + 256]]) for s in range(0, n_holdout, 256)]
        ).numpy()
        recall = recall_at_k(img_vecs, tv[hold_idx], k=10)
    report = AlignReport(
        recall_at_10=recall,
        n_train=int(len(train_idx)),
        n_holdout=int(n_holdout),
        epochs=epochs,
        seconds=time.perf_counter() - start_time,
        final_loss=final_loss,
    )
    return encoder, report
