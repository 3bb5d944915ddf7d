"""REINFORCE with the top-K off-policy correction (Chen et al., 2019).

The policy is ``pi(. | s) = softmax(f(x(s, i)) / temperature)`` over the candidates, ``f`` a
small MLP on :func:`interaction_features`; slates are drawn Plackett-Luce from it (exact
propensities).

``update(batch)`` learns from logged slates of *any* behaviour policy. For each shown item
``a`` at position ``j`` with reward ``r``, the loss is

    - min(pi(a|s) / beta_j, weight_cap) * lambda_K(a) * r * log pi(a|s),
    lambda_K(a) = K (1 - pi(a|s))^(K - 1)

with ``beta_j = slate.propensities[j]`` (the logged conditional draw probability; for the
first position it is the behaviour policy's softmax probability, as in the paper) and ``K``
the configured ``top_k`` or, when ``None``, the length of the logged slate. The weights are
constants (no gradient), and the loss is averaged over the batch's records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.policy._torch import (
    NeuralPolicyConfig,
    check_step,
    load_numpy_state,
    make_mlp,
    mlp_param_shapes,
    nonfinite_optimizer_state,
    restore_modules,
    snapshot_modules,
    state_to_numpy,
    torch_module,
)
from agent.policy.base import (
    Feedback,
    Learning,
    SlatePolicy,
    _non_negative,
    _positive,
    feature_dim,
    interaction_features,
)
from encoders.errors import ConfigError

__all__ = ["ReinforcePolicy"]


@dataclass
class ReinforceConfig(NeuralPolicyConfig):
    """Hyperparameters of :class:`ReinforcePolicy` (and ``hidden``, ``lr``, ``grad_steps``)."""

    temperature: float = 1.0
    """Softmax temperature of the policy."""
    weight_cap: float = 10.0
    """Cap ``c`` of the importance weight ``min(pi / beta, c)``."""
    top_k: int | None = None
    """``K`` of the top-K correction; ``None`` = the logged slate's length; 1 = plain IPS."""
    entropy: float = 0.0
    """Entropy bonus weight (keeps the softmax from collapsing)."""

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _positive(self, "temperature", "weight_cap")
        _non_negative(self, "entropy")
        if self.top_k is not None and (isinstance(self.top_k, bool)
                                       or not isinstance(self.top_k, int) or self.top_k < 1):
            raise ConfigError(f"top_k must be a positive int or None, got {self.top_k!r}")


class ReinforcePolicy(SlatePolicy):
    """Softmax policy trained with off-policy-corrected top-K REINFORCE."""

    name = "reinforce"
    learning = Learning("episode", off_policy=True)
    config_cls = ReinforceConfig

    def _init_params(self) -> None:
        assert self.state_dim is not None and self.cand_dim is not None  # set by _ensure_dims
        torch = torch_module()
        cfg: ReinforceConfig = self.config  # type: ignore[assignment]
        self.net = make_mlp(feature_dim(self.state_dim, self.cand_dim), cfg.hidden, self.seed)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)

    def _get_params(self) -> dict[str, np.ndarray]:
        return state_to_numpy(self.net, "net.")

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        load_numpy_state(self.net, params, "net.")

    def _param_shapes(self, d_u: int, d_c: int) -> dict[str, tuple[int, ...]]:
        return mlp_param_shapes("net.", feature_dim(d_u, d_c),
                                self.config.hidden)  # type: ignore[attr-defined]

    def _nonfinite_state(self) -> str | None:
        return super()._nonfinite_state() or nonfinite_optimizer_state(self.optimizer)

    def _snapshot(self) -> object:
        return None if self.state_dim is None else snapshot_modules(self.net, self.optimizer)

    def _restore(self, snapshot: object) -> None:
        if snapshot is not None:
            restore_modules((self.net, self.optimizer), snapshot)  # type: ignore[arg-type]

    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Scorer output ``f(x)``, ``(n,)``."""
        s, c = self._prepare(state, candidates)
        torch = torch_module()
        with torch.no_grad():
            x = torch.from_numpy(interaction_features(s, c))
            return self.net(x).squeeze(-1).numpy().astype(np.float64)

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return self.score(state, candidates) / self.config.temperature  # type: ignore[attr-defined]

    def probs(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``pi(. | s)`` over the candidates, ``(n,)``."""
        z = self._logits(*self._prepare(state, candidates))
        e = np.exp(z - z.max())
        return e / e.sum()

    def _update(self, batch: list[Feedback]) -> None:
        torch = torch_module()
        cfg: ReinforceConfig = self.config  # type: ignore[assignment]
        feats, sizes = [], []
        for fb in batch:
            c = np.asarray(fb.candidates, dtype=np.float64)
            feats.append(interaction_features(np.asarray(fb.state, dtype=np.float64), c))
            sizes.append(c.shape[0])
        x = torch.from_numpy(np.concatenate(feats))
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        for _ in range(cfg.grad_steps):
            logits = self.net(x).squeeze(-1) / cfg.temperature
            loss = torch.zeros((), dtype=torch.float64)
            for i, fb in enumerate(batch):
                logp = torch.log_softmax(logits[offsets[i]:offsets[i + 1]], dim=0)
                ids = torch.from_numpy(np.asarray(fb.slate.item_ids, dtype=np.int64).reshape(-1))
                r = torch.from_numpy(np.asarray(fb.rewards, dtype=np.float64).reshape(-1))
                beta = torch.from_numpy(
                    np.asarray(fb.slate.propensities, dtype=np.float64).reshape(-1))
                k = cfg.top_k if cfg.top_k is not None else len(ids)
                lp = logp[ids]
                with torch.no_grad():
                    pi = lp.exp()
                    w = torch.clamp(pi / beta, max=cfg.weight_cap)
                    lam = k * (1.0 - pi) ** (k - 1)
                loss = loss - (w * lam * r * lp).sum()
                if cfg.entropy > 0:
                    loss = loss + cfg.entropy * (logp.exp() * logp).sum()
            loss = loss / len(batch)
            self.optimizer.zero_grad()
            loss.backward()
            check_step(self.name, loss, self.net)
            self.optimizer.step()
