"""Actor-critic slate policy: a Plackett-Luce actor and a learned state-value critic.

Actor. As :class:`~agent.policy.reinforce.ReinforcePolicy`: ``score(s, i) = f(x(s, i)) + prior
* cos(s, i)`` with ``f`` an MLP on :func:`~agent.policy.base.interaction_features`; slates are
drawn Plackett-Luce from ``softmax(score / temperature)`` with exact propensities (so they
can be logged and evaluated off-policy). Exploration is the public ``temperature`` plus the
``entropy`` bonus.

Critic. A state value ``V(s)``: an MLP on the user state alone (the candidates are a function
of the state in a recommender; a state-value critic needs no choice model and works with any
slate). It estimates the discounted return of the *current* actor from ``s``.

Learning (``Learning("episode", off_policy=True)``). ``update`` takes whole episodes
concatenated in time order (each ends with a ``done`` record; a batch whose last record is
not done is refused). With ``R_t`` the record's summed item rewards:

- TD error ``delta_t = R_t + gamma V(s_{t+1}) - V(s_t)``, where ``V(s_{t+1})`` is the
  critic at ``next_state`` (or, when absent on a non-final record, at the next record's
  state), and 0 on a terminal record (``done`` and not ``truncated``). A truncated record
  bootstraps from its ``next_state``, which must be given.
- Advantage ``A_t = delta_t + gamma lambda A_{t+1}`` inside an episode (generalised
  advantage estimation; ``gae_lambda = 0`` is the one-step ``delta_t``, 1 the Monte Carlo
  return minus ``V(s_t)``), computed once per ``update`` with the critic before the step.
- Critic target ``y_t = A_t + V(s_t)`` (the lambda-return); loss ``rho_t (V(s_t) - y_t)^2``.
- Actor loss ``- rho_t A_t log pi(slate_t | s_t)`` with the Plackett-Luce log-probability of
  the whole logged slate (all draws), advantages divided by their batch standard deviation
  when ``normalize``, minus ``entropy`` times the summed entropies of the conditional draw
  distributions along the slate (so later slots keep exploring too).
- Off-policy correction: ``rho_t = min(pi(slate_t | s_t) / beta(slate_t), weight_cap)``,
  ``beta`` the product of the logged ``slate.propensities`` (truncated importance sampling,
  as in Off-PAC / ACER): 1 on-policy, a capped correction on the event log of another
  policy. The weights are constants (no gradient).

Losses are means over the batch's records; actor and critic have their own Adam optimizers
(``lr``, ``critic_lr``) and take ``grad_steps`` steps per ``update``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.policy._pg import (
    NumpyMLP,
    RequestBatch,
    SoftmaxActor,
    check_episodes,
    discounted_returns,
)
from agent.policy._torch import (
    MAX_HIDDEN,
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
    _positive_int,
    cosine,
    feature_dim,
)
from agent.policy.reinforce import _check_gamma
from encoders.errors import ConfigError, PolicyError

__all__ = ["ActorCriticConfig", "ActorCriticPolicy", "td_advantages"]


@dataclass
class ActorCriticConfig(NeuralPolicyConfig):
    """Hyperparameters of :class:`ActorCriticPolicy` (``hidden``, ``lr`` are the actor's).

    Defaults are the ones measured in the shopper simulator (reward 1 per click, sessions of
    about 9 slates); advantages are normalised per batch, so they do not depend on the reward
    scale, but the critic regresses raw returns (use the trainer's reward normalisation for
    rewards far from 1).
    """

    lr: float = 3e-3
    """Adam learning rate of the actor."""
    temperature: float = 1.0
    """Softmax temperature of the actor (exploration: higher = closer to uniform)."""
    gamma: float = 0.9
    """Discount, in ``[0, 1]``."""
    gae_lambda: float = 0.9
    """``lambda`` of generalised advantage estimation, in ``[0, 1]`` (0 = one-step TD)."""
    critic_hidden: int = 64
    """Hidden units of the critic MLP."""
    critic_lr: float = 3e-3
    """Adam learning rate of the critic."""
    entropy: float = 0.05
    """Entropy bonus weight: the summed entropies of the Plackett-Luce draws along each
    logged slate (every slot keeps exploring, not only the first)."""
    normalize: bool = True
    """Divide the actor's advantages by their batch standard deviation (reward-scale free)."""
    prior: float = 0.0
    """Weight of ``cos(state, item)`` added to the actor's score (needs one space)."""
    weight_cap: float = 10.0
    """Cap of the slate importance weight ``pi(slate) / beta(slate)``."""

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _positive(self, "temperature", "critic_lr", "weight_cap")
        _positive_int(self, "critic_hidden", hi=MAX_HIDDEN)
        _non_negative(self, "entropy", "prior")
        _check_gamma(self.gamma)
        lam = self.gae_lambda
        if isinstance(lam, bool) or not isinstance(lam, int | float) or not 0 <= lam <= 1:
            raise ConfigError(f"gae_lambda must be a number in [0, 1], got {lam!r}")
        if not isinstance(self.normalize, bool):
            raise ConfigError(f"normalize must be true or false, got {self.normalize!r}")
        if self.prior > 0 and self.feature_space != "shared":
            raise ConfigError(f"prior={self.prior} needs feature_space='shared' (a cosine "
                              "between state and items); set prior=0")


def td_advantages(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray,
                  dones: np.ndarray, terminal: np.ndarray, gamma: float,
                  lam: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and critic targets of episodes concatenated in time order.

    Args:
        rewards: float ``(T,)`` summed reward of each record.
        values: float ``(T,)`` ``V(s_t)``.
        next_values: float ``(T,)`` ``V(s_{t+1})`` (ignored where ``terminal``).
        dones: bool ``(T,)`` the episode ended after the record (terminated or truncated).
        terminal: bool ``(T,)`` ended by the environment (no bootstrap); a truncated record is
            ``done`` but not ``terminal``.
        gamma: discount in ``[0, 1]``.
        lam: GAE ``lambda`` in ``[0, 1]``.

    Returns:
        ``(advantages (T,), targets (T,))``: ``A_t = delta_t + gamma lam A_{t+1}`` within an
        episode with ``delta_t = r_t + gamma (1 - terminal_t) V(s_{t+1}) - V(s_t)``, and
        ``targets = A + values``.

    Raises:
        ConfigError: the last record is not done, or the lengths differ.

    """
    r = np.asarray(rewards, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    nv = np.where(np.asarray(terminal, dtype=bool), 0.0, np.asarray(next_values, np.float64))
    delta = r + gamma * nv - v
    adv = discounted_returns(delta, dones, gamma * lam)
    return adv, adv + v


def _plackett_luce_log_prob(torch: Any, logits: Any, rb: RequestBatch) -> tuple[Any, Any]:
    """Log-probability and entropy of each record's logged slate, ``((B,), (B,))`` tensors.

    ``log pi(slate | s)`` is the sum of the logged draws' log-probabilities; the entropy is
    the sum of the draws' conditional entropies along the logged slate.
    """
    b, k = rb.ids.shape
    alive = rb.cand_mask.copy()
    log_prob = torch.zeros(b, dtype=torch.float64)
    entropy = torch.zeros(b, dtype=torch.float64)
    ids = torch.from_numpy(rb.ids)
    rows = np.arange(b)
    for j in range(k):
        mask = torch.from_numpy(alive)
        shown = torch.from_numpy(rb.item_mask[:, j])
        logp = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=1)
        lj = logp.gather(1, ids[:, j:j + 1]).squeeze(1)
        log_prob = log_prob + torch.where(shown, lj, 0.0)
        # fill before multiplying: 0 * -inf would be NaN in the backward pass of a where
        hj = -(logp.exp() * logp.masked_fill(~mask, 0.0)).sum(dim=1)
        entropy = entropy + torch.where(shown, hj, 0.0)
        alive = alive.copy()
        alive[rows[rb.item_mask[:, j]], rb.ids[rb.item_mask[:, j], j]] = False
    return log_prob, entropy


class ActorCriticPolicy(SoftmaxActor):
    """Plackett-Luce actor with a state-value critic, TD/GAE advantages, capped IS."""

    name = "actor_critic"
    learning = Learning("episode", off_policy=True)
    config_cls = ActorCriticConfig

    def _init_params(self) -> None:
        assert self.state_dim is not None and self.cand_dim is not None  # set by _ensure_dims
        torch = torch_module()
        cfg: ActorCriticConfig = self.config  # type: ignore[assignment]
        p = feature_dim(self.state_dim, self.cand_dim, cfg.feature_space)
        self.net = make_mlp(p, cfg.hidden, self.seed)
        self.critic = make_mlp(self.state_dim, cfg.critic_hidden, self.seed + 1)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
        self._fast = NumpyMLP(self.net)
        self._fast_critic = NumpyMLP(self.critic)

    def _get_params(self) -> dict[str, np.ndarray]:
        return {**state_to_numpy(self.net, "actor."), **state_to_numpy(self.critic, "critic.")}

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        load_numpy_state(self.net, params, "actor.")
        load_numpy_state(self.critic, params, "critic.")

    def _param_shapes(self, d_u: int, d_c: int) -> dict[str, tuple[int, ...]]:
        cfg: ActorCriticConfig = self.config  # type: ignore[assignment]
        return {**mlp_param_shapes("actor.", feature_dim(d_u, d_c, cfg.feature_space),
                                   cfg.hidden),
                **mlp_param_shapes("critic.", d_u, cfg.critic_hidden)}

    def _nonfinite_state(self) -> str | None:
        return (super()._nonfinite_state() or nonfinite_optimizer_state(self.optimizer)
                or nonfinite_optimizer_state(self.critic_optimizer))

    def _snapshot(self) -> object:
        if self.state_dim is None:
            return None
        return snapshot_modules(self.net, self.critic, self.optimizer, self.critic_optimizer)

    def _restore(self, snapshot: object) -> None:
        if snapshot is not None:
            restore_modules((self.net, self.critic, self.optimizer, self.critic_optimizer),
                            snapshot)  # type: ignore[arg-type]

    def value(self, state: np.ndarray) -> float:
        """The critic's ``V(s)`` for one state ``(d_u,)``.

        Raises:
            ConfigError: bad shape or NaN.
            PolicyError: the policy has no dimensions yet, or they differ.

        """
        s = np.asarray(state, dtype=np.float64)
        if s.ndim != 1 or not np.all(np.isfinite(s)):
            raise ConfigError(f"state must be a finite 1-D vector, got shape {s.shape}")
        if self.state_dim is None:
            raise PolicyError(f"{self.name}: no critic yet (the policy has not seen data)")
        if s.shape[0] != self.state_dim:
            raise PolicyError(f"{self.name}: state has dimension {s.shape[0]}, the policy "
                              f"was built for {self.state_dim}")
        return float(self._fast_critic(s))

    def _advantages(self, batch: list[Feedback], rb: RequestBatch
                    ) -> tuple[np.ndarray, np.ndarray]:
        cfg: ActorCriticConfig = self.config  # type: ignore[assignment]
        nxt = np.zeros_like(rb.states)
        terminal = np.zeros(len(batch), dtype=bool)
        for i, fb in enumerate(batch):
            if fb.next_state is not None:
                nxt[i] = np.asarray(fb.next_state, dtype=np.float64).reshape(-1)
            elif fb.done and not fb.truncated:
                terminal[i] = True
            elif fb.truncated:
                raise ConfigError(f"{self.name}: batch[{i}] is truncated but has no "
                                  "next_state to bootstrap from")
            else:
                nxt[i] = rb.states[i + 1]  # not done: the next record is the next step
            if fb.done and not fb.truncated:
                terminal[i] = True
            if nxt[i].shape[0] != self.state_dim:
                raise ConfigError(f"batch[{i}].next_state has dimension {nxt[i].shape[0]}, "
                                  f"the policy was built for {self.state_dim}")
        step = (rb.rewards * rb.item_mask).sum(axis=1)
        return td_advantages(step, self._fast_critic(rb.states), self._fast_critic(nxt),
                             np.array([fb.done for fb in batch]), terminal, cfg.gamma,
                             cfg.gae_lambda)

    def _update(self, batch: list[Feedback]) -> None:
        torch = torch_module()
        cfg: ActorCriticConfig = self.config  # type: ignore[assignment]
        check_episodes(batch, self.name)
        rb = RequestBatch.of(batch, self.features)
        adv, targets = self._advantages(batch, rb)
        scaled = adv
        if cfg.normalize and adv.size > 1 and float(adv.std()) > 1e-8:
            scaled = adv / float(adv.std())
        a_t = torch.from_numpy(scaled)
        y_t = torch.from_numpy(targets)
        log_beta = torch.from_numpy(np.where(rb.item_mask, np.log(rb.props), 0.0).sum(axis=1))
        x = torch.from_numpy(rb.x)
        s_t = torch.from_numpy(rb.states)
        cand_mask = torch.from_numpy(rb.cand_mask)
        prior = (torch.from_numpy(cfg.prior * cosine(rb.states, rb.cands))
                 if cfg.prior > 0 else None)
        n = len(batch)
        for _ in range(cfg.grad_steps):
            scores = self.net(x).squeeze(-1)
            if prior is not None:
                scores = scores + prior
            logits = (scores / cfg.temperature).masked_fill(~cand_mask, float("-inf"))
            log_pi, entropy = _plackett_luce_log_prob(torch, logits, rb)
            with torch.no_grad():
                rho = torch.clamp(torch.exp(log_pi - log_beta), max=cfg.weight_cap)
            loss = -(rho * a_t * log_pi).sum() / n
            if cfg.entropy > 0:
                loss = loss - cfg.entropy * entropy.sum() / n
            v = self.critic(s_t).squeeze(-1)
            critic_loss = (rho * (v - y_t) ** 2).sum() / n
            self.optimizer.zero_grad()
            self.critic_optimizer.zero_grad()
            (loss + critic_loss).backward()
            check_step(self.name, loss, self.net)
            check_step(self.name, critic_loss, self.critic)
            self.optimizer.step()
            self.critic_optimizer.step()
