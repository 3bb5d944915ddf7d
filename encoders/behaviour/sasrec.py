"""SASRec-class sequential model: causal self-attention over a shopper's last items (torch, CPU).

Architecture (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018): item
embeddings plus learned positional embeddings, ``n_blocks`` pre-norm Transformer blocks with
a causal mask, dropout; the output at the last position is the *sequence vector* ``h`` of a
history and an item scores ``h . e_item`` (embeddings shared between input and output).

Loss: the original SASRec trains with binary cross-entropy and one sampled negative per
positive. Petrov & Macdonald ("gSASRec", RecSys 2023) show that this makes the model
overconfident and that more negatives fix it; Klenitskiy & Vasilev ("Turning Dross Into
Gold Loss: is BERT4Rec really better than SASRec?", RecSys 2023) show that SASRec trained
with cross-entropy over all items beats BERT4Rec. So this model trains with the full softmax
cross-entropy over the catalog while it has at most ``full_softmax_max_items`` items, and
with a sampled softmax (``n_negatives`` uniform negatives shared by the batch, the positive
always in the candidate set) above that.

Sequences are left-aligned and right-padded, so with the causal mask a real position never
attends to padding (no key-padding mask is needed and no row is fully masked). Users whose
history is longer than ``max_len`` are cut into windows of ``max_len`` (all of their events
train the model, not only the last ``max_len``).

Early stopping: a random ``val_fraction`` of users (with >= 3 events) hold out their last
item; after each epoch their NDCG@10 (full ranking, history excluded) is measured and the
weights of the best epoch are kept; ``patience`` epochs without gain stop training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.behaviour.base import (
    BaseBehaviourModel,
    BehaviourConfig,
    Interactions,
    check_number,
    progress_steps,
)
from encoders.errors import ConfigError, EncoderError


@dataclass
class SASRecConfig(BehaviourConfig):
    """Hyperparameters of :class:`SASRecModel`."""

    max_len: int = 50
    """Most recent items the model looks at (L); longer histories are cut to the last L when
    scoring and into windows of L when training."""
    dim: int = 64
    """Width of item embeddings and of the sequence vector."""
    n_blocks: int = 2
    """Self-attention blocks."""
    n_heads: int = 1
    """Attention heads per block (must divide ``dim``)."""
    dropout: float = 0.2
    """Dropout on embeddings, attention and feed-forward layers while training."""
    lr: float = 2e-3
    """Adam learning rate (MovieLens-100k: 2e-3 reaches the best validation NDCG in ~15
    epochs with batch 128)."""
    weight_decay: float = 0.0
    """Adam L2 weight decay."""
    batch_size: int = 128
    """Sequences (windows) per training step."""
    max_epochs: int = 200
    """Upper bound on epochs; early stopping usually ends training sooner."""
    patience: int = 5
    """Epochs without a better validation NDCG@10 before stopping."""
    val_fraction: float = 0.5
    """Share of users (with >= 3 events) whose last item is held out for early stopping;
    0 disables early stopping (all ``max_epochs`` run, the last weights are kept). Each
    held-out user loses one training target (ML-100k: 471 of ~99k), and more validation
    users make the stopping epoch less noisy (0.2 stopped ML-100k at epoch 8 with test
    NDCG@10 0.058; 0.5 at epoch 20, 0.089)."""
    max_val_users: int = 1000
    """Cap on validation users (keeps each validation pass cheap on large logs)."""
    full_softmax_max_items: int = 20_000
    """Train with the full softmax over the catalog up to this many items; sampled softmax
    above."""
    n_negatives: int = 256
    """Uniform negatives shared by one batch in the sampled softmax."""
    max_seconds: float | None = None
    """Optional wall-clock budget for training; the best weights so far are kept when it
    runs out (makes the result depend on machine speed; off by default)."""
    threads: int = 1
    """torch intra-op threads while fitting and scoring (restored afterwards). 1 by default:
    on a busy 2-core machine a training step took 0.17 s with 1 thread and 0.9-1.7 s with 2
    (oversubscription); raise it on a dedicated multi-core machine."""
    seed: int = 0
    """Seed of weight initialisation, dropout, shuffling, validation users and negatives."""
    score_batch_size: int = 512
    """Histories per forward pass in ``score`` / ``user_vectors``."""

    def validate(self) -> None:  # noqa: D102
        for name in ("max_len", "dim", "n_blocks", "n_heads", "batch_size", "max_epochs",
                     "patience", "max_val_users", "full_softmax_max_items", "n_negatives",
                     "threads", "score_batch_size"):
            check_number(self, name, low=1, integer=True)
        check_number(self, "seed", low=0, integer=True)
        check_number(self, "dropout", low=0.0, high=0.9)
        check_number(self, "lr", low=0.0, low_open=True)
        check_number(self, "weight_decay", low=0.0)
        check_number(self, "val_fraction", low=0.0, high=1.0)
        if self.max_seconds is not None:
            check_number(self, "max_seconds", low=0.0, low_open=True)
        if self.dim % self.n_heads:
            raise ConfigError(f"n_heads ({self.n_heads}) must divide dim ({self.dim})")


def _build_net(n_items: int, cfg: SASRecConfig) -> Any:
    import torch
    from torch import nn

    class SASRecNet(nn.Module):
        """Item index ``i`` is token ``i + 1``; token 0 is padding."""

        def __init__(self) -> None:
            super().__init__()
            self.item_emb = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
            self.pos_emb = nn.Embedding(cfg.max_len, cfg.dim)
            self.drop = nn.Dropout(cfg.dropout)
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(cfg.dim, cfg.n_heads, dim_feedforward=cfg.dim,
                                           dropout=cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
                for _ in range(cfg.n_blocks))
            self.norm = nn.LayerNorm(cfg.dim)
            nn.init.normal_(self.item_emb.weight, std=cfg.dim ** -0.5)
            with torch.no_grad():
                self.item_emb.weight[0].zero_()
            nn.init.normal_(self.pos_emb.weight, std=0.02)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            """``tokens`` (B, T) int64 -> hidden states (B, T, dim)."""
            t = tokens.shape[1]
            pos = torch.arange(t, device=tokens.device)
            x = self.item_emb(tokens) * (cfg.dim ** 0.5) + self.pos_emb(pos)[None]
            x = self.drop(x) * (tokens > 0).unsqueeze(-1)
            mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
            for block in self.blocks:
                x = block(x, src_mask=mask, is_causal=True)
            return self.norm(x)  # type: ignore[no-any-return]

    return SASRecNet()


class SASRecModel(BaseBehaviourModel):
    """SASRec with cross-entropy over many negatives; see the module docstring.

    ``item_vectors`` are the output item embeddings ``(n_items, dim)``; ``user_vectors`` the
    sequence vector ``h`` ``(n, dim)`` of each history (zeros for an empty history), and
    ``score = h . item_vectors'``. Training statistics (epochs, best validation NDCG@10,
    seconds) are in :attr:`train_stats` and saved with the model.
    """

    name = "sasrec"
    config_cls = SASRecConfig

    def __init__(self, config: SASRecConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.net: Any = None
        self.train_stats: dict[str, Any] = {}

    # -- training -------------------------------------------------------------------------

    def _fit(self, data: Interactions, *, progress: bool) -> None:
        import torch

        cfg: SASRecConfig = self.config  # type: ignore[assignment]
        start, cpu_start = time.perf_counter(), time.process_time()
        with _torch_threads(cfg.threads):
            torch.manual_seed(cfg.seed)
            rng = np.random.default_rng(cfg.seed)
            n = data.n_items
            seqs = [_collapse_repeats(s) for s in data.sequences()]
            train_seqs, val_hist, val_target = _split_validation(seqs, cfg, rng)
            windows = _windows(train_seqs, cfg.max_len)
            if windows.shape[0] == 0:
                raise ConfigError("sasrec needs at least one user with 2 or more events")
            net = _build_net(n, cfg)
            opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            full = n <= cfg.full_softmax_max_items
            best: tuple[float, int, dict[str, Any]] = (-1.0, 0, {})
            epochs_run, stale = 0, 0
            bar = progress_steps(progress, cfg.max_epochs, f"SASRec on {n} items", "epoch")
            for epoch in range(1, cfg.max_epochs + 1):
                net.train()
                order = rng.permutation(windows.shape[0])
                total = 0.0
                for s in range(0, order.size, cfg.batch_size):
                    batch = torch.from_numpy(windows[order[s:s + cfg.batch_size]])
                    loss = _loss(net, batch, n, full, cfg, rng)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * batch.shape[0]
                epochs_run = epoch
                if not np.isfinite(total):
                    raise EncoderError(f"sasrec: training loss is not finite at epoch {epoch}; "
                                       f"lower lr (now {cfg.lr})")
                if val_target.size:
                    self.net = net
                    ndcg = _ndcg10(self._hidden_scores(val_hist), val_hist, val_target)
                    if ndcg > best[0]:
                        best = (ndcg, epoch, {k: v.detach().clone() for k, v in
                                              net.state_dict().items()})
                        stale = 0
                    else:
                        stale += 1
                    bar.set_postfix_str(f"loss {total / windows.shape[0]:.3f} "
                                        f"val ndcg@10 {ndcg:.4f}")
                else:
                    bar.set_postfix_str(f"loss {total / windows.shape[0]:.3f}")
                bar.update(1)
                out_of_time = (cfg.max_seconds is not None
                               and time.perf_counter() - start > cfg.max_seconds)
                if stale >= cfg.patience or out_of_time:
                    break
            bar.close()
            if best[2]:
                net.load_state_dict(best[2])
            net.eval()
            self.net = net
        self.train_stats = {
            "epochs": epochs_run,
            "best_epoch": best[1] if best[2] else epochs_run,
            "val_ndcg10": round(best[0], 6) if best[2] else None,
            "val_users": int(val_target.size),
            "train_windows": int(windows.shape[0]),
            "loss": "full_softmax" if full else f"sampled_softmax({cfg.n_negatives})",
            "seconds": round(time.perf_counter() - start, 3),
            # CPU time of this process: what the wall time would be on an idle core when
            # threads == 1 (wall time grows when other processes share the cores)
            "cpu_seconds": round(time.process_time() - cpu_start, 3),
        }

    # -- inference ------------------------------------------------------------------------

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        cfg: SASRecConfig = self.config  # type: ignore[assignment]
        with _torch_threads(cfg.threads):
            return self._hidden_scores(histories)

    def item_vectors(self) -> np.ndarray:
        """Item embeddings ``(n_items, dim)`` float32 (inner product with ``user_vectors``)."""
        self._require_fitted()
        return self.net.item_emb.weight[1:].detach().numpy().astype(np.float32)

    def user_vectors(self, histories: Any) -> np.ndarray:
        """Sequence vectors ``(len(histories), dim)`` float32; zeros for an empty history."""
        hs = self.check_histories(histories)
        cfg: SASRecConfig = self.config  # type: ignore[assignment]
        with _torch_threads(cfg.threads):
            return self._hidden(hs)

    def _hidden(self, histories: list[np.ndarray]) -> np.ndarray:
        import torch

        cfg: SASRecConfig = self.config  # type: ignore[assignment]
        out = np.zeros((len(histories), cfg.dim), np.float32)
        if self.net.training:  # eval() walks every submodule: skip it per request
            self.net.eval()
        with torch.inference_mode():
            for s in range(0, len(histories), cfg.score_batch_size):
                chunk = histories[s:s + cfg.score_batch_size]
                tokens, last = _pack(chunk, cfg.max_len)
                h = self.net(torch.from_numpy(tokens))
                rows = np.flatnonzero(last >= 0)
                if rows.size:
                    out[s + rows] = h[torch.from_numpy(rows), torch.from_numpy(last[rows])].numpy()
        return out

    def _hidden_scores(self, histories: list[np.ndarray]) -> np.ndarray:
        was_training = self.net.training
        h = self._hidden(histories)
        if was_training:
            self.net.train()
        return h @ self.net.item_emb.weight[1:].detach().numpy().T

    # -- persistence ----------------------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        return {f"net.{k}": v.detach().numpy().copy() for k, v in self.net.state_dict().items()}

    def _meta(self) -> dict[str, Any]:
        return {"train_stats": self.train_stats}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], folder: Path) -> None:
        import torch

        net = _build_net(self.n_items, self.config)  # type: ignore[arg-type]
        expected = net.state_dict()
        state = {}
        for key, ref in expected.items():
            arr = arrays.get(f"net.{key}")
            if arr is None or tuple(arr.shape) != tuple(ref.shape):
                raise EncoderError(f"{folder}: sasrec weight {key!r} is missing or has shape "
                                   f"{None if arr is None else arr.shape}, expected "
                                   f"{tuple(ref.shape)}")
            state[key] = torch.from_numpy(arr.astype(np.float32, copy=False)).to(ref.dtype)
        net.load_state_dict(state)
        net.eval()
        self.net = net
        stats = meta.get("train_stats", {})
        self.train_stats = stats if isinstance(stats, dict) else {}


# ------------------------------------------------------------------------------- helpers


class _torch_threads:  # noqa: N801 - used like a function
    """Context manager: at most ``n`` torch threads inside, the previous number restored."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        import torch

        self.prev = torch.get_num_threads()
        torch.set_num_threads(min(self.n, self.prev))

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self.prev)


def _collapse_repeats(seq: np.ndarray) -> np.ndarray:
    """Consecutive events on one item become one step (view, add to cart, buy the same product).

    Without this, a shop's typical view -> purchase pairs teach the model to predict the item
    just seen, and early stopping measures exactly that.
    """
    seq = np.asarray(seq)
    if seq.size < 2:
        return seq
    keep = np.ones(seq.size, dtype=bool)
    keep[1:] = seq[1:] != seq[:-1]
    return seq[keep]


def _split_validation(seqs: list[np.ndarray], cfg: SASRecConfig, rng: np.random.Generator,
                      ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Hold out the last item of a random share of users; returns (train, val_hist, target).

    Only users whose last item is new to them are eligible, so validation measures predicting
    the next product, not repeating one already in the history.
    """
    eligible = np.flatnonzero([len(s) >= 3 and s[-1] not in s[:-1] for s in seqs])
    n_val = min(int(round(cfg.val_fraction * eligible.size)), cfg.max_val_users)
    val_users = set(rng.choice(eligible, size=n_val, replace=False).tolist()) if n_val else set()
    train, hist, target = [], [], []
    for u, s in enumerate(seqs):
        if u in val_users:
            train.append(s[:-1])
            hist.append(s[:-1])
            target.append(int(s[-1]))
        else:
            train.append(s)
    return train, hist, np.asarray(target, np.int64)


def _windows(seqs: list[np.ndarray], max_len: int) -> np.ndarray:
    """Token windows ``(m, max_len + 1)`` int64: item index + 1, left-aligned, 0 = padding.

    A sequence of n >= 2 items gives windows ending at n, n - max_len, ... (each holds up to
    ``max_len + 1`` items: ``max_len`` inputs and their next items as targets).
    """
    rows = []
    for s in seqs:
        end = len(s)
        while end >= 2:
            w = s[max(0, end - max_len - 1):end] + 1
            row = np.zeros(max_len + 1, np.int64)
            row[:w.size] = w
            rows.append(row)
            end -= max_len
    return np.stack(rows) if rows else np.zeros((0, max_len + 1), np.int64)


def _pack(histories: list[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Left-aligned tokens ``(b, t)`` of the last ``max_len`` items, and last positions.

    The second array holds the last real position of each row (-1 for an empty history).
    """
    t = max(1, min(max_len, max((len(h) for h in histories), default=1)))
    tokens = np.zeros((len(histories), t), np.int64)
    last = np.full(len(histories), -1, np.int64)
    for i, h in enumerate(histories):
        h = h[-max_len:]
        tokens[i, :h.size] = h + 1
        last[i] = h.size - 1
    return tokens, last


def _loss(net: Any, batch: Any, n_items: int, full: bool, cfg: SASRecConfig,
          rng: np.random.Generator) -> Any:
    import torch
    import torch.nn.functional as F

    inputs, targets = batch[:, :-1], batch[:, 1:]
    h = net(inputs)                                  # (B, T, d)
    valid = (inputs > 0) & (targets > 0)
    h, tgt = h[valid], targets[valid] - 1            # (N, d), (N,) item indices
    emb = net.item_emb.weight[1:]                    # (n_items, d)
    if full:
        return F.cross_entropy(h @ emb.T, tgt)
    neg = torch.from_numpy(rng.integers(0, n_items, size=cfg.n_negatives))
    pos_logit = (h * emb[tgt]).sum(-1, keepdim=True)            # (N, 1)
    neg_logit = h @ emb[neg].T                                  # (N, K)
    neg_logit = neg_logit.masked_fill(neg[None, :] == tgt[:, None], float("-inf"))
    logits = torch.cat([pos_logit, neg_logit], dim=1)
    return F.cross_entropy(logits, torch.zeros(tgt.shape[0], dtype=torch.long))


def _ndcg10(scores: np.ndarray, hist: list[np.ndarray], target: np.ndarray) -> float:
    """Mean NDCG@10 of ``target`` under full ranking with each history excluded."""
    scores = scores.copy()
    t = scores[np.arange(target.size), target]  # read before masking: repeats stay rankable
    for i, h in enumerate(hist):
        scores[i, h] = -np.inf
    rank = (scores > t[:, None]).sum(axis=1)  # 0-based; ties count in the target's favour
    return float(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0).mean())
