"""REINFORCE with the top-K off-policy correction (Chen et al., 2019).

Policy. ``score(s, i) = f(x(s, i)) + prior * cos(s, i)``, ``f`` a small MLP on
:func:`~agent.policy.base.interaction_features`; ``pi(. | s) = softmax(score / temperature)``
over the candidates; slates are drawn Plackett-Luce from it, with exact propensities.
Exploration is the public ``temperature`` (higher = flatter; the trainer may add its own
uniform slates, which the correction below accounts for through their propensities).

Learning (``Learning("episode", off_policy=True)``). ``update(batch)`` takes *whole episodes*
concatenated in time order, each ending with a record whose ``done`` is true, and computes
the returns itself (:func:`~agent.policy._pg.discounted_returns`, discount ``gamma``):

- ``G_t = R_t + gamma G_{t+1}`` with ``R_t`` the record's summed item rewards; a batch whose
  last record is not ``done`` is refused (:class:`ConfigError`: its return is unknown).
- Truncated episodes (``truncated=True``): the return is cut at the time limit (REINFORCE
  keeps no value estimate to bootstrap with; :mod:`agent.policy.actor_critic` does).
- Credit per shown item (``credit``): ``"clicked"`` (default) gives item ``j`` its own
  reward plus, if it was clicked, ``gamma G_{t+1}`` split equally among the step's clicked
  items (the click is what the future followed from; a slate without clicks passes its
  future on to nobody); ``"slate"`` gives every shown item ``G_t`` (the plain score-function
  estimator of the slate).
- ``normalize`` divides the credits by their batch standard deviation, so the step size does
  not depend on the reward scale. ``baseline="mean"`` also subtracts their batch mean; it is
  off by default because the top-K multiplier makes it biased: the corrected objective
  ``sum_a (1 - (1 - pi(a))^K) (r(a) - b)`` rewards putting all mass on one item when most
  ``r(a) - b`` are negative, and in tests the softmax then collapsed onto a single item
  (the second slot left to chance). Variance is cut instead by the critic of
  :mod:`agent.policy.actor_critic`.

For each shown item ``a`` at draw ``j`` with advantage ``A``, the loss is

    - min(pi(a|s) / beta_j, weight_cap) * lambda_K(a) * A * log pi(a|s),
    lambda_K(a) = K (1 - pi(a|s))^(K - 1)

(:func:`~agent.policy._pg.top_k_correction`) with ``beta_j = slate.propensities[j]`` (the
logged conditional draw probability; for the first draw the behaviour policy's softmax
probability, as in the paper) and ``K`` the configured ``top_k`` or, when ``None``, the
length of the logged slate. The weights are constants (no gradient); the loss is averaged
over the batch's records, minus ``entropy`` times the mean entropy of ``pi``. So the same
``update`` trains from the event log (logged propensities of another policy) and on-policy in
simulation (the policy's own propensities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.policy._pg import (
    NumpyMLP,
    RequestBatch,
    SoftmaxActor,
    check_episodes,
    discounted_returns,
)
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
    _non_negative,
    _positive,
    cosine,
    feature_dim,
)
from encoders.errors import ConfigError

__all__ = ["CREDITS", "ReinforceConfig", "ReinforcePolicy", "discounted_returns"]

CREDITS = ("clicked", "slate")
"""Values of ``ReinforceConfig.credit``."""
BASELINES = ("none", "mean")
"""Values of ``ReinforceConfig.baseline``."""


@dataclass
class ReinforceConfig(NeuralPolicyConfig):
    """Hyperparameters of :class:`ReinforcePolicy` (and ``hidden``, ``lr``, ``grad_steps``)."""

    temperature: float = 1.0
    """Softmax temperature of the policy (exploration: higher = closer to uniform)."""
    gamma: float = 0.9
    """Discount of the reward-to-go, in ``[0, 1]`` (0 = myopic)."""
    credit: str = "clicked"
    """How a step's return is shared among its shown items: ``clicked`` or ``slate``."""
    baseline: str = "none"
    """``none`` (default) or ``mean``: subtract the batch's mean credit per shown item. The
    mean baseline biases the top-K objective (see the module docstring)."""
    normalize: bool = True
    """Divide the advantages by their batch standard deviation (reward-scale free)."""
    prior: float = 0.0
    """Weight of ``cos(state, item)`` added to the score (a greedy start; needs state and
    candidates in one space). 0 = the network alone."""
    weight_cap: float = 10.0
    """Cap ``c`` of the importance weight ``min(pi / beta, c)``."""
    top_k: int | None = None
    """``K`` of the top-K correction; ``None`` = the logged slate's length; 1 = plain IPS."""
    entropy: float = 0.0
    """Entropy bonus weight (keeps the softmax from collapsing)."""

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _positive(self, "temperature", "weight_cap")
        _non_negative(self, "entropy", "prior")
        _check_gamma(self.gamma)
        _check_choice("credit", self.credit, CREDITS)
        _check_choice("baseline", self.baseline, BASELINES)
        if not isinstance(self.normalize, bool):
            raise ConfigError(f"normalize must be true or false, got {self.normalize!r}")
        if self.prior > 0 and self.feature_space != "shared":
            raise ConfigError(f"prior={self.prior} needs feature_space='shared' (a cosine "
                              "between state and items); set prior=0")
        if self.top_k is not None and (isinstance(self.top_k, bool)
                                       or not isinstance(self.top_k, int) or self.top_k < 1):
            raise ConfigError(f"top_k must be a positive int or None, got {self.top_k!r}")


def _check_gamma(gamma: object) -> None:
    if isinstance(gamma, bool) or not isinstance(gamma, int | float) \
            or not 0.0 <= float(gamma) <= 1.0:
        raise ConfigError(f"gamma must be a number in [0, 1], got {gamma!r}")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def item_advantages(rb: RequestBatch, returns: np.ndarray, gamma: float, *, credit: str,
                    baseline: str, normalize: bool) -> np.ndarray:
    """Per shown item credit minus baseline, ``(B, k_max)`` (0 where padded).

    Args:
        rb: the padded batch.
        returns: float ``(B,)`` the discounted returns ``G_t`` of the records.
        gamma: the discount (``G_t - R_t = gamma G_{t+1}``).
        credit: ``clicked`` or ``slate`` (see the module docstring).
        baseline: ``none`` or ``mean``.
        normalize: divide by the standard deviation over the shown items.

    """
    step = (rb.rewards * rb.item_mask).sum(axis=1)
    if credit == "clicked":
        future = returns - step  # gamma G_{t+1}, 0 after a done record
        clicked = rb.clicks & rb.item_mask
        n_clicks = clicked.sum(axis=1)
        share = np.where(n_clicks > 0, future / np.maximum(n_clicks, 1), 0.0)
        adv = rb.rewards + clicked * share[:, None]
    else:
        adv = np.broadcast_to(returns[:, None], rb.rewards.shape).copy()
    shown = adv[rb.item_mask]
    if baseline == "mean":
        adv = adv - shown.mean()
        shown = adv[rb.item_mask]
    if normalize and shown.size > 1:
        sd = float(shown.std())
        if sd > 1e-8:
            adv = adv / sd
    return np.where(rb.item_mask, adv, 0.0)


class ReinforcePolicy(SoftmaxActor):
    """Softmax policy trained with off-policy-corrected top-K REINFORCE on whole episodes."""

    name = "reinforce"
    learning = Learning("episode", off_policy=True)
    config_cls = ReinforceConfig

    def _init_params(self) -> None:
        assert self.state_dim is not None and self.cand_dim is not None  # set by _ensure_dims
        torch = torch_module()
        cfg: ReinforceConfig = self.config  # type: ignore[assignment]
        p = feature_dim(self.state_dim, self.cand_dim, cfg.feature_space)
        self.net = make_mlp(p, cfg.hidden, self.seed)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self._fast = NumpyMLP(self.net)

    def _get_params(self) -> dict[str, np.ndarray]:
        return state_to_numpy(self.net, "net.")

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        load_numpy_state(self.net, params, "net.")

    def _param_shapes(self, d_u: int, d_c: int) -> dict[str, tuple[int, ...]]:
        cfg: ReinforceConfig = self.config  # type: ignore[assignment]
        return mlp_param_shapes("net.", feature_dim(d_u, d_c, cfg.feature_space), cfg.hidden)

    def _nonfinite_state(self) -> str | None:
        return super()._nonfinite_state() or nonfinite_optimizer_state(self.optimizer)

    def _snapshot(self) -> object:
        return None if self.state_dim is None else snapshot_modules(self.net, self.optimizer)

    def _restore(self, snapshot: object) -> None:
        if snapshot is not None:
            restore_modules((self.net, self.optimizer), snapshot)  # type: ignore[arg-type]

    # -- learning

    def _update(self, batch: list[Feedback]) -> None:
        torch = torch_module()
        cfg: ReinforceConfig = self.config  # type: ignore[assignment]
        check_episodes(batch, self.name)
        rb = RequestBatch.of(batch, self.features)
        step = (rb.rewards * rb.item_mask).sum(axis=1)
        returns = discounted_returns(step, [fb.done for fb in batch], cfg.gamma)
        adv = torch.from_numpy(item_advantages(rb, returns, cfg.gamma, credit=cfg.credit,
                                               baseline=cfg.baseline,
                                               normalize=cfg.normalize))
        x = torch.from_numpy(rb.x)
        cand_mask = torch.from_numpy(rb.cand_mask)
        item_mask = torch.from_numpy(rb.item_mask)
        ids = torch.from_numpy(rb.ids)
        beta = torch.from_numpy(rb.props)
        ks = rb.item_mask.sum(axis=1) if cfg.top_k is None else np.full(len(batch), cfg.top_k)
        k_col = torch.from_numpy(ks.astype(np.float64))[:, None]
        prior = None
        if cfg.prior > 0:
            prior = torch.from_numpy(cfg.prior * cosine(rb.states, rb.cands))
        for _ in range(cfg.grad_steps):
            scores = self.net(x).squeeze(-1)
            if prior is not None:
                scores = scores + prior
            logits = (scores / cfg.temperature).masked_fill(~cand_mask, float("-inf"))
            logp = torch.log_softmax(logits, dim=1)
            lp = logp.gather(1, ids)
            with torch.no_grad():
                pi = lp.exp()
                w = torch.clamp(pi / beta, max=cfg.weight_cap)
                lam = k_col * (1.0 - pi) ** (k_col - 1.0)
            loss = -(torch.where(item_mask, w * lam * adv * lp, 0.0)).sum() / len(batch)
            if cfg.entropy > 0:
                plogp = logp.exp() * logp.masked_fill(~cand_mask, 0.0)  # no 0 * -inf
                loss = loss + cfg.entropy * plogp.sum() / len(batch)
            self.optimizer.zero_grad()
            loss.backward()
            check_step(self.name, loss, self.net)
            self.optimizer.step()
