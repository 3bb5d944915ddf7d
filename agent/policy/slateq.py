"""SlateQ (Ie et al., 2019): item-wise long-term values and a conditional-logit user choice.

- ``Q(s, i)``: a small MLP on :func:`interaction_features` (float64 torch).
- User choice model (assumed, not learned): ``v(s, i) = exp(choice_beta * cos(s, i))`` when
  state and candidates share a dimension, else ``v = 1``; the no-click alternative has weight
  ``no_click_weight``. The slate value is ``sum_i v_i Q_i / (v_0 + sum_j v_j)``.
- Slates: Plackett-Luce over ``v(s, i) Q(s, i) / temperature`` (Boltzmann exploration; the
  greedy limit is the paper's top-k-by-``vQ`` approximation), with exact propensities.
- Learning: for every clicked item ``i`` of a transition, the TD(0) target is
  ``r_i + gamma (1 - done) V'(s')`` where ``V'`` is the slate value, under the target network,
  of the top-``k`` slate by ``v Q'`` among ``next_candidates`` (``candidates`` when absent).
  A transition without ``next_state`` is terminal. Unclicked items are not regressed (SlateQ
  learns ``Q`` of the chosen item only). The target network is copied every
  ``target_update_every`` gradient steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

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
    _positive_int,
    feature_dim,
    interaction_features,
)
from encoders.errors import ConfigError, PolicyError

__all__ = ["SlateQPolicy"]


@dataclass
class SlateQConfig(NeuralPolicyConfig):
    """Hyperparameters of :class:`SlateQPolicy` (and ``hidden``, ``lr``, ``grad_steps``)."""

    gamma: float = 0.9
    """Discount of the next slate's value."""
    choice_beta: float = 2.0
    """Sharpness of the conditional-logit choice model ``v = exp(beta cos)``."""
    no_click_weight: float = 1.0
    """Weight ``v_0`` of the no-click alternative."""
    temperature: float = 0.05
    """Boltzmann temperature on ``v Q`` (exploration)."""
    target_update_every: int = 50
    """Gradient steps between copies of the Q network into the target network."""

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _positive_int(self, "target_update_every")
        _positive(self, "temperature", "no_click_weight")
        _non_negative(self, "choice_beta")
        _non_negative(self, "gamma")
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"gamma must be in [0, 1], got {self.gamma!r}")


class SlateQPolicy(SlatePolicy):
    """SlateQ with a conditional-logit choice model, TD(0) targets and a target network."""

    name = "slateq"
    learning = Learning("replay", off_policy=True)
    config_cls = SlateQConfig

    def _init_params(self) -> None:
        assert self.state_dim is not None and self.cand_dim is not None  # set by _ensure_dims
        torch = torch_module()
        cfg: SlateQConfig = self.config  # type: ignore[assignment]
        p = feature_dim(self.state_dim, self.cand_dim, cfg.feature_space)
        self.q_net = make_mlp(p, cfg.hidden, self.seed)
        self.target_net = copy.deepcopy(self.q_net)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=cfg.lr)
        self.grad_steps_done = 0

    def _get_params(self) -> dict[str, np.ndarray]:
        out = state_to_numpy(self.q_net, "q.")
        out.update(state_to_numpy(self.target_net, "target."))
        out["grad_steps_done"] = np.array(self.grad_steps_done, dtype=np.int64)
        return out

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        load_numpy_state(self.q_net, params, "q.")
        load_numpy_state(self.target_net, params, "target.")
        self.grad_steps_done = int(params.get("grad_steps_done", 0))

    def _param_shapes(self, d_u: int, d_c: int) -> dict[str, tuple[int, ...]]:
        p, h = feature_dim(d_u, d_c, self.config.feature_space), self.config.hidden  # type: ignore[attr-defined]
        return {**mlp_param_shapes("q.", p, h), **mlp_param_shapes("target.", p, h),
                "grad_steps_done": ()}

    def _check_params(self, params: dict[str, np.ndarray], source: str,
                      n_updates: int) -> None:
        done = params["grad_steps_done"]
        if done.dtype.kind not in "iu":
            raise PolicyError(f"{source}: parameter 'grad_steps_done' must be an integer, got "
                              f"dtype {done.dtype}")
        most = n_updates * self.config.grad_steps  # type: ignore[attr-defined]
        if not 0 <= int(done) <= most:
            raise PolicyError(f"{source}: parameter 'grad_steps_done' is {int(done)}, outside "
                              f"[0, {most}] (n_updates x grad_steps): corrupt checkpoint")

    def _nonfinite_state(self) -> str | None:
        return super()._nonfinite_state() or nonfinite_optimizer_state(self.optimizer)

    def _snapshot(self) -> object:
        if self.state_dim is None:
            return None
        return (snapshot_modules(self.q_net, self.target_net, self.optimizer),
                self.grad_steps_done)

    def _restore(self, snapshot: object) -> None:
        if snapshot is not None:
            states, done = snapshot  # type: ignore[misc]
            restore_modules((self.q_net, self.target_net, self.optimizer), states)
            self.grad_steps_done = done

    # -- model pieces

    def _q(self, net: Any, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        torch = torch_module()
        with torch.no_grad():
            x = torch.from_numpy(interaction_features(state, candidates, self.config.feature_space))
            return net(x).squeeze(-1).numpy().astype(np.float64)

    def choice_weights(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Conditional-logit weights ``v(s, i)``, ``(n,)``."""
        s = np.asarray(state, dtype=np.float64)
        c = np.asarray(candidates, dtype=np.float64)
        if self.config.feature_space != "shared":
            return np.ones(c.shape[0])
        cos = (c @ s) / (np.linalg.norm(c, axis=1) * np.linalg.norm(s) + 1e-12)
        return np.exp(self.config.choice_beta * cos)  # type: ignore[attr-defined]

    def q_values(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Long-term values ``Q(s, i)`` of the online network, ``(n,)``."""
        s, c = self._prepare(state, candidates)
        return self._q(self.q_net, s, c)

    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``v(s, i) Q(s, i)``, ``(n,)`` (the greedy slate is its top-k)."""
        s, c = self._prepare(state, candidates)
        return self.choice_weights(s, c) * self._q(self.q_net, s, c)

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return self.score(state, candidates) / self.config.temperature  # type: ignore[attr-defined]

    def slate_value(self, state: np.ndarray, candidates: np.ndarray, k: int, *,
                    target: bool = False) -> float:
        """Value of the greedy top-``k`` slate by ``v Q``: ``sum v Q / (v_0 + sum v)``."""
        s, c = self._prepare(state, candidates)
        q = self._q(self.target_net if target else self.q_net, s, c)
        v = self.choice_weights(s, c)
        top = np.argsort(-(v * q), kind="stable")[: min(k, c.shape[0])]
        v0 = self.config.no_click_weight  # type: ignore[attr-defined]
        return float((v[top] * q[top]).sum() / (v0 + v[top].sum()))

    # -- learning

    def _update(self, batch: list[Feedback]) -> None:
        torch = torch_module()
        cfg: SlateQConfig = self.config  # type: ignore[assignment]
        feats, targets = [], []
        for fb in batch:
            ids = np.asarray(fb.slate.item_ids, dtype=np.int64).reshape(-1)
            clicks = np.asarray(fb.clicks, dtype=bool).reshape(-1)
            if not clicks.any():
                continue
            rewards = np.asarray(fb.rewards, dtype=np.float64).reshape(-1)
            terminal = bool(fb.done) or fb.next_state is None
            future = 0.0
            if not terminal:
                nxt_c = fb.next_candidates if fb.next_candidates is not None else fb.candidates
                future = self.slate_value(fb.next_state, nxt_c, len(ids), target=True)
            state = np.asarray(fb.state, dtype=np.float64)
            cands = np.asarray(fb.candidates, dtype=np.float64)
            clicked = ids[clicks]
            feats.append(interaction_features(state, cands[clicked], cfg.feature_space))
            targets.append(rewards[clicks] + cfg.gamma * future)
        if not feats:
            return
        x = torch.from_numpy(np.concatenate(feats))
        y = torch.from_numpy(np.concatenate(targets))
        for _ in range(cfg.grad_steps):
            self.optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(self.q_net(x).squeeze(-1), y)
            loss.backward()
            check_step(self.name, loss, self.q_net)
            self.optimizer.step()
            self.grad_steps_done += 1
            if self.grad_steps_done % cfg.target_update_every == 0:
                self.target_net.load_state_dict(self.q_net.state_dict())
