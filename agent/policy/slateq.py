"""SlateQ (Ie et al., 2019): item-wise long-term values and a pluggable user-choice model.

- ``Q(s, i)``: a small MLP on :func:`interaction_features` (float64; trained with torch,
  evaluated in numpy from cached weights when acting).
- User choice model (:mod:`agent.policy.choice`, ``choice_model``): ``cosine`` (default,
  ``v = exp(choice_beta * cos(s, i))``), ``uniform``, or ``learned`` (a conditional logit
  fitted from the clicks in the feedback, a few gradient steps per ``update``); the no-click
  alternative has weight ``v_0``. The slate value is ``sum_i v_i Q_i / (v_0 + sum_j v_j)``.
- Slates: Plackett-Luce over ``v(s, i) Q(s, i) / temperature`` (Boltzmann exploration; the
  greedy limit is the paper's top-k-by-``vQ`` approximation), with exact propensities.
- Learning (``update``, replay mode: any minibatch of transitions in any order): for every
  clicked item ``i`` of a transition the TD(0) target is ``r_i / scale + gamma V'(s')``, where
  ``V'`` is the slate value, under the target network, of the top-``k`` slate by ``v Q'``
  among ``next_candidates`` (``candidates`` when absent), and ``scale`` the reward scale
  (``reward_scale``). ``V'`` is 0 when the transition is terminal: ``done`` and not
  ``truncated`` (the shopper left). A truncated transition (time limit) bootstraps from its
  ``next_state``, which it must give; a transition that is not done needs ``next_state``
  too. Unclicked items are not regressed (SlateQ learns ``Q`` of the chosen item only).
  The target network is copied every ``target_update_every`` gradient steps.
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
    RewardScale,
    SlatePolicy,
    _non_negative,
    _positive,
    _positive_int,
    check_reward_scale,
    feature_dim,
    interaction_features,
    similarity_feature_dim,
)
from agent.policy.choice import (
    CHOICE_MODELS,
    MAX_POSITIONS,
    ChoiceModel,
    CosineChoice,
    LearnedChoice,
    UniformChoice,
)
from encoders.errors import ConfigError, PolicyError

__all__ = ["SlateQConfig", "SlateQPolicy"]


@dataclass
class SlateQConfig(NeuralPolicyConfig):
    """Hyperparameters of :class:`SlateQPolicy` (and ``hidden``, ``lr``, ``grad_steps``)."""

    gamma: float = 0.9
    """Discount of the next slate's value."""
    choice_model: str = "cosine"
    """User-choice model: ``cosine``, ``uniform`` or ``learned`` (:mod:`agent.policy.choice`)."""
    choice_beta: float = 2.0
    """Sharpness of the ``cosine`` choice model ``v = exp(beta cos)``."""
    no_click_weight: float = 1.0
    """Weight ``v_0`` of the no-click alternative (``cosine`` and ``uniform``; the learned
    model's is 1, its utilities are relative to not clicking)."""
    choice_l2: float = 1e-3
    """L2 penalty of the ``learned`` choice model."""
    choice_lr: float = 0.5
    """Gradient step of the ``learned`` choice model per update."""
    choice_steps: int = 5
    """Gradient steps of the ``learned`` choice model per update (0: keep it fixed, e.g. after
    ``policy.choice.fit(logged_feedback)``)."""
    choice_position_bias: bool = False
    """Fit a utility offset per slate position in the ``learned`` model."""
    temperature: float = 0.05
    """Boltzmann temperature on ``v Q`` (exploration), in units of the reward scale times
    the choice weights. The ``learned`` model's weights are relative to not clicking (often
    well below 1 when shoppers mostly do not click), so it needs a smaller temperature than
    ``cosine``: in the shopper simulator (600 sessions) ``learned`` with 0.02 returned 5.64
    [5.02, 6.25] vs 4.20 [3.71, 4.68] with 0.5 (cosine with 0.5: 5.38 [4.80, 5.96])."""
    target_update_every: int = 50
    """Gradient steps between copies of the Q network into the target network."""
    reward_scale: str | float = "auto"
    """Rewards are divided by this before the TD targets (see
    :class:`~agent.policy.base.RewardScale`): ``"auto"`` (running mean of the non-zero
    per-item rewards, saved with the parameters; 1 for click rewards) or a fixed number."""

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _positive_int(self, "target_update_every")
        _positive(self, "temperature", "no_click_weight", "choice_lr")
        _non_negative(self, "choice_beta", "choice_l2")
        _non_negative(self, "gamma")
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"gamma must be in [0, 1], got {self.gamma!r}")
        if not isinstance(self.choice_model, str) or self.choice_model not in CHOICE_MODELS:
            raise ConfigError(f"choice_model must be one of {', '.join(CHOICE_MODELS)}, got "
                              f"{self.choice_model!r}")
        if self.choice_model == "cosine" and self.feature_space != "shared":
            raise ConfigError("choice_model='cosine' needs feature_space='shared' (a cosine "
                              "across two spaces means nothing); use choice_model='uniform' "
                              "or 'learned'")
        v = self.choice_steps
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10_000:
            raise ConfigError(f"choice_steps must be an int in [0, 10000], got {v!r}")
        if not isinstance(self.choice_position_bias, bool):
            raise ConfigError(f"choice_position_bias must be a bool, got "
                              f"{self.choice_position_bias!r}")
        check_reward_scale(self.reward_scale)


def _np_mlp(weights: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    """``Linear -> ReLU -> Linear`` of :func:`make_mlp` in numpy: ``x (..., p)`` -> ``(...)``."""
    w1, b1, w2, b2 = weights
    h = x @ w1.T
    h += b1
    np.maximum(h, 0.0, out=h)
    return h @ w2[0] + b2[0]


def _np_mlp_shared(weights: tuple[np.ndarray, ...], state: np.ndarray,
                   candidates: np.ndarray) -> np.ndarray:
    """:func:`_np_mlp` of the shared-space features without building them.

    The first layer on ``[s * c, c, cos, 1]`` is ``c @ (s W_a' + W_b') + cos w_cos + w_1``,
    so the ``(n, 2d + 2)`` feature matrix is never formed (half the multiplications).

    Args:
        weights: the network's ``(W1 (h, 2d+2), b1, W2 (1, h), b2)``.
        state: ``(d,)`` or ``(m, d)``.
        candidates: ``(n, d)`` or ``(m, n, d)``.

    Returns:
        ``(n,)`` or ``(m, n)``.

    """
    w1, b1, w2, b2 = weights
    d = state.shape[-1]
    mix = state[..., :, None] * w1[:, :d].T + w1[:, d:2 * d].T  # (..., d, h)
    h = candidates @ mix  # (..., n, h)
    norms = np.linalg.norm(candidates, axis=-1) * np.linalg.norm(state, axis=-1)[..., None]
    cos = (candidates @ state[..., :, None])[..., 0] / (norms + 1e-12)
    h += cos[..., None] * w1[:, 2 * d]
    h += w1[:, 2 * d + 1] + b1
    np.maximum(h, 0.0, out=h)
    return h @ w2[0] + b2[0]


class SlateQPolicy(SlatePolicy):
    """SlateQ with a pluggable choice model, TD(0) targets and a target network."""

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
        self.rewards = RewardScale(cfg.reward_scale)
        self.choice: ChoiceModel = self._make_choice()
        self._np_weights: dict[str, tuple[np.ndarray, ...]] = {}

    def _make_choice(self) -> ChoiceModel:
        cfg: SlateQConfig = self.config  # type: ignore[assignment]
        if cfg.choice_model == "cosine":
            return CosineChoice(cfg.choice_beta, cfg.no_click_weight)
        if cfg.choice_model == "uniform":
            return UniformChoice(cfg.no_click_weight)
        model = LearnedChoice(int(self.state_dim or 0), cfg.feature_space, l2=cfg.choice_l2,
                              position_bias=cfg.choice_position_bias)
        model.w = np.zeros(self._choice_dim(int(self.state_dim or 0), int(self.cand_dim or 0)))
        return model

    def _choice_dim(self, d_u: int, d_c: int) -> int:
        if self.config.feature_space == "shared":
            return similarity_feature_dim(d_u)
        return feature_dim(d_u, d_c, "separate")

    def _learned(self) -> LearnedChoice | None:
        choice = getattr(self, "choice", None)
        return choice if isinstance(choice, LearnedChoice) else None

    # -- parameters

    def _get_params(self) -> dict[str, np.ndarray]:
        out = state_to_numpy(self.q_net, "q.")
        out.update(state_to_numpy(self.target_net, "target."))
        out["grad_steps_done"] = np.array(self.grad_steps_done, dtype=np.int64)
        out["reward_stats"] = self.rewards.stats
        learned = self._learned()
        if learned is not None and self.config.choice_model == "learned":  # type: ignore[attr-defined]
            out["choice.w"] = learned._ensure_w(self._choice_dim(self.state_dim or 0,
                                                                 self.cand_dim or 0))
            out["choice.offsets"] = learned.offsets
        return out

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        load_numpy_state(self.q_net, params, "q.")
        load_numpy_state(self.target_net, params, "target.")
        self.grad_steps_done = int(params.get("grad_steps_done", 0))
        self.rewards.stats = np.asarray(params.get("reward_stats", np.zeros(2)),
                                        dtype=np.float64).copy()
        learned = self._learned()
        if learned is not None and "choice.w" in params:
            learned.w = np.asarray(params["choice.w"], dtype=np.float64).copy()
            learned.offsets = np.asarray(params["choice.offsets"], dtype=np.float64).copy()
        self._np_weights = {}

    def _param_shapes(self, d_u: int, d_c: int) -> dict[str, tuple[int, ...]]:
        cfg: SlateQConfig = self.config  # type: ignore[assignment]
        p, h = feature_dim(d_u, d_c, cfg.feature_space), cfg.hidden
        out = {**mlp_param_shapes("q.", p, h), **mlp_param_shapes("target.", p, h),
               "grad_steps_done": (), "reward_stats": (2,)}
        if cfg.choice_model == "learned":
            out["choice.w"] = (self._choice_dim(d_u, d_c),)
            out["choice.offsets"] = (MAX_POSITIONS,)
        return out

    def _optional_params(self) -> frozenset[str]:
        return frozenset({"reward_stats"})  # checkpoints from before reward scaling

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
        if "reward_stats" in params:
            RewardScale(self.config.reward_scale).check(  # type: ignore[attr-defined]
                params["reward_stats"], source)

    def _nonfinite_state(self) -> str | None:
        return super()._nonfinite_state() or nonfinite_optimizer_state(self.optimizer)

    def _snapshot(self) -> object:
        if self.state_dim is None:
            return None
        learned = self._learned()
        choice = None if learned is None else (learned.w, learned.offsets)
        return (snapshot_modules(self.q_net, self.target_net, self.optimizer),
                self.grad_steps_done, self.rewards.stats, choice)

    def _restore(self, snapshot: object) -> None:
        if snapshot is not None:
            states, done, stats, choice = snapshot  # type: ignore[misc]
            restore_modules((self.q_net, self.target_net, self.optimizer), states)
            self.grad_steps_done = done
            self.rewards.stats = stats
            learned = self._learned()
            if learned is not None and choice is not None:
                learned.w, learned.offsets = choice
            self._np_weights = {}

    def _touch(self) -> None:
        super()._touch()
        self._np_weights = {}

    # -- model pieces

    def _weights(self, which: str) -> tuple[np.ndarray, ...]:
        """Numpy copies of a network's weights, cached until the next update."""
        w = self._np_weights.get(which)
        if w is None:
            net = self.q_net if which == "q" else self.target_net
            sd = net.state_dict()
            w = tuple(sd[k].detach().cpu().numpy().copy()
                      for k in ("0.weight", "0.bias", "2.weight", "2.bias"))
            self._np_weights[which] = w
        return w

    def _features(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return interaction_features(state, candidates,
                                    self.config.feature_space)  # type: ignore[attr-defined]

    def _q(self, which: str, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        if self.config.feature_space == "shared":  # type: ignore[attr-defined]
            return _np_mlp_shared(self._weights(which), state, candidates)
        return _np_mlp(self._weights(which), self._features(state, candidates))

    def choice_weights(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Choice-model weights ``v(s, i)``, ``(n,)`` (or ``(m, n)`` for batched inputs)."""
        return np.asarray(self.choice.weights(state, candidates), dtype=np.float64)

    def q_values(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Long-term values ``Q(s, i)`` of the online network, ``(n,)``, reward-scale units."""
        s, c = self._prepare(state, candidates)
        return self._q("q", s, c)

    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``v(s, i) Q(s, i)``, ``(n,)`` (the greedy slate is its top-k)."""
        s, c = self._prepare(state, candidates)
        return self.choice_weights(s, c) * self._q("q", s, c)

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return self._score_logits(state, candidates, None)[1]  # type: ignore[arg-type]

    def _score_logits(self, state: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        sc = self.choice_weights(state, candidates) * self._q("q", state, candidates)
        return sc, sc / self.config.temperature  # type: ignore[attr-defined]

    def _batch_logits(self, states: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
        sc = self.choice_weights(states, candidates) * self._q("q", states, candidates)
        return sc / self.config.temperature  # type: ignore[attr-defined]

    def _slate_value(self, which: str, state: np.ndarray, candidates: np.ndarray,
                     k: int) -> float:
        q = self._q(which, state, candidates)
        v = self.choice_weights(state, candidates)
        top = np.argsort(-(v * q), kind="stable")[: min(k, candidates.shape[0])]
        return float((v[top] * q[top]).sum() / (self.choice.no_click_weight + v[top].sum()))

    def slate_value(self, state: np.ndarray, candidates: np.ndarray, k: int, *,
                    target: bool = False) -> float:
        """Value of the greedy top-``k`` slate by ``v Q``: ``sum v Q / (v_0 + sum v)``.

        In units of the reward scale (multiply by ``policy.rewards.scale`` for rewards).
        """
        s, c = self._prepare(state, candidates)
        return self._slate_value("target" if target else "q", s, c, k)

    # -- learning

    def td_targets(self, batch: list[Feedback]) -> tuple[np.ndarray, np.ndarray]:
        """Features and TD(0) targets of the clicked items of ``batch`` (module docstring).

        Uses the current reward scale (call after it has seen the batch's rewards).

        Returns:
            ``(x (N, p), y (N,))`` over the clicked items of all records.

        Raises:
            ConfigError: a non-terminal record (not done, or truncated) without
                ``next_state`` (the message names its index).

        """
        cfg: SlateQConfig = self.config  # type: ignore[assignment]
        scale = self.rewards.scale
        feats, rewards, owner = [], [], []
        boot: dict[tuple[int, ...], list[tuple[int, np.ndarray, np.ndarray, int]]] = {}
        for i, fb in enumerate(batch):
            ids = np.asarray(fb.slate.item_ids, dtype=np.int64).reshape(-1)
            clicks = np.asarray(fb.clicks, dtype=bool).reshape(-1)
            if not clicks.any():
                continue
            terminal = bool(fb.done) and not bool(fb.truncated)
            if not terminal and cfg.gamma > 0:
                if fb.next_state is None:
                    why = "truncated" if fb.done else "not done"
                    raise ConfigError(f"batch[{i}] is {why} but has no next_state: SlateQ "
                                      "bootstraps from it (give it, or mark the record done)")
                nxt_c = fb.next_candidates if fb.next_candidates is not None else fb.candidates
                nc = np.asarray(nxt_c, dtype=np.float64)
                boot.setdefault(nc.shape, []).append(
                    (len(feats), np.asarray(fb.next_state, dtype=np.float64), nc, len(ids)))
            state = np.asarray(fb.state, dtype=np.float64)
            cands = np.asarray(fb.candidates, dtype=np.float64)
            feats.append(self._features(state, cands[ids[clicks]]))
            rewards.append(np.asarray(fb.rewards, dtype=np.float64).reshape(-1)[clicks])
            owner.append(i)
        if not feats:
            return np.zeros((0, 1)), np.zeros(0)
        future = np.zeros(len(feats))
        for group in boot.values():  # one vectorised pass per candidate-matrix shape
            rows = [g[0] for g in group]
            future[rows] = self._slate_values("target", np.stack([g[1] for g in group]),
                                              np.stack([g[2] for g in group]),
                                              np.array([g[3] for g in group]))
        targets = [r / scale + cfg.gamma * f for r, f in zip(rewards, future, strict=True)]
        return np.concatenate(feats), np.concatenate(targets)

    def _slate_values(self, which: str, states: np.ndarray, candidates: np.ndarray,
                      ks: np.ndarray) -> np.ndarray:
        """:meth:`_slate_value` of ``m`` requests at once: ``(m,)``."""
        q = self._q(which, states, candidates)  # (m, n)
        v = self.choice_weights(states, candidates)
        order = np.argsort(-(v * q), axis=1, kind="stable")
        ranks = np.arange(q.shape[1])[None, :] < np.minimum(ks, q.shape[1])[:, None]
        vq = np.take_along_axis(v * q, order, axis=1) * ranks
        vs = np.take_along_axis(v, order, axis=1) * ranks
        return vq.sum(axis=1) / (self.choice.no_click_weight + vs.sum(axis=1))

    def _update(self, batch: list[Feedback]) -> None:
        torch = torch_module()
        cfg: SlateQConfig = self.config  # type: ignore[assignment]
        self._np_weights = {}
        self.rewards.observe(np.concatenate([np.asarray(fb.rewards, dtype=np.float64)
                                             .reshape(-1) for fb in batch]))
        learned = self._learned()
        if learned is not None and cfg.choice_steps:
            learned.partial_fit(batch, steps=cfg.choice_steps, lr=cfg.choice_lr)
        x_np, y_np = self.td_targets(batch)
        if not y_np.shape[0]:
            return
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
        for _ in range(cfg.grad_steps):
            self.optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(self.q_net(x).squeeze(-1), y)
            loss.backward()
            check_step(self.name, loss, self.q_net)
            self.optimizer.step()
            self.grad_steps_done += 1
            if self.grad_steps_done % cfg.target_update_every == 0:
                self.target_net.load_state_dict(self.q_net.state_dict())
        self._np_weights = {}

    def __getstate__(self) -> dict[str, Any]:  # noqa: D105 - copy.deepcopy drops the cache
        state = dict(self.__dict__)
        state["_np_weights"] = {}
        return state
