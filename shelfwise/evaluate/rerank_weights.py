"""Choose the language model's blend weight per shop from its own logs (off-policy).

The served order of a slate is ``argsort((1 - w) * z(policy) + w * z(model))``. For a grid of
weights ``w``, each logged impression that has a text query is re-ordered with the model's
scores of its shown products (one score call per slate, same prompt as serving) and its
logged clicks are re-weighted to the new positions under the **position-based click model**
(a click needs the slot to be examined, with probability ``theta(position)``, and the item to
attract, independently of the slot):

    V(w) = mean over slates of  sum_j  r_j * theta(new_pos_j(w)) / theta(logged_pos_j)

which is the unbiased IPS estimate of the clicks the re-ordered slate would get when the
click model holds and ``theta`` is right (Joachims, Swaminathan & Schnabel 2017, "Unbiased
learning-to-rank with biased feedback"). The blend only re-orders the products the policy
chose, so the set of products, and the policy's part in it, is the same for every weight.
``theta(p) = 1 / log2(p + 2)`` (the DCG discount) unless another curve is given.

``w = 0`` orders by the logged served scores (the policy's scores when the log was served
without the model). The chosen weight is the one with the largest paired gain over ``w = 0``
whose 95% bootstrap interval lies above 0; when none does, 0 (no score call at all).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError
from shelfwise.events import EventStore
from shelfwise.rewards import RewardFunction, iter_rewards

__all__ = ["RerankWeightEvaluation", "WeightEstimate", "dcg_examination",
           "evaluate_rerank_weights", "parse_weights", "reorder_value"]

ScoreFn = Callable[[str, Sequence[Any], np.ndarray], "np.ndarray | None"]
"""``(query, products (k,), logged scores (k,)) -> model scores (k,)`` or None on fallback."""


def parse_weights(text: str, option: str = "--rerank-weights") -> list[float]:
    """Parse ``"0,0.25,0.5,1"`` into sorted distinct weights in ``[0, 1]`` (0 always included).

    Raises:
        ConfigError: an entry is not a number in ``[0, 1]`` (names ``option``).
    """
    out: set[float] = {0.0}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            w = float(part)
        except ValueError:
            raise ConfigError(f"{option}: {part!r} is not a number; give weights in [0, 1] "
                              "separated by commas, e.g. 0,0.25,0.5,1") from None
        if not 0.0 <= w <= 1.0:
            raise ConfigError(f"{option}: weight {w:g} is outside [0, 1]")
        out.add(w)
    if len(out) < 2:
        raise ConfigError(f"{option}: give at least one weight above 0, e.g. 0,0.25,0.5,1")
    return sorted(out)


def dcg_examination(k: int) -> np.ndarray:
    """``theta(p) = 1 / log2(p + 2)`` for ``p = 0..k-1``: (k,) float64."""
    return 1.0 / np.log2(np.arange(k, dtype=np.float64) + 2.0)


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return np.zeros_like(x) if sd < 1e-12 else (x - x.mean()) / sd


def reorder_value(rewards: np.ndarray, logged_pos: np.ndarray, logged_scores: np.ndarray,
                  model_scores: np.ndarray, weight: float, theta: np.ndarray) -> float:
    """Position-based IPS value of one slate re-ordered by the blend at ``weight``.

    Args:
        rewards: (k,) logged reward of each shown item.
        logged_pos: (k,) slot each item was shown in.
        logged_scores: (k,) the served scores (the policy's, at weight 0).
        model_scores: (k,) the model's scores of the same items.
        weight: model weight ``w``.
        theta: (>= max slot + 1,) examination probability per slot.

    Returns:
        ``sum_j r_j * theta(new_pos_j) / theta(logged_pos_j)``.

    """
    blend = (1.0 - weight) * _z(logged_scores) + weight * _z(model_scores)
    # ties keep the logged order (stable on the logged positions)
    order = np.lexsort((logged_pos, -blend))
    new_pos = np.empty_like(order)
    new_pos[order] = np.sort(logged_pos)
    return float((rewards * theta[new_pos] / theta[logged_pos]).sum())


@dataclass(frozen=True)
class WeightEstimate:
    """The estimated value of one blend weight."""

    weight: float
    """Model weight ``w``."""
    value: float
    """Estimated reward per slate (clicks by default)."""
    ci_low: float
    """95% bootstrap interval, low end."""
    ci_high: float
    """95% bootstrap interval, high end."""
    delta: float
    """Paired difference to ``w = 0`` (same slates)."""
    delta_low: float
    """95% bootstrap interval of ``delta``, low end."""
    delta_high: float
    """95% bootstrap interval of ``delta``, high end."""


@dataclass
class RerankWeightEvaluation:
    """Every weight's estimate and the chosen weight."""

    estimates: list[WeightEstimate]
    """One row per weight, ascending."""
    chosen: float
    """Largest paired gain over 0 with its interval above 0; else 0."""
    n: int
    """Slates evaluated."""
    skipped_no_query: int
    """Impressions without a text query (the model has nothing to read)."""
    fallbacks: int
    """Slates where the model gave no usable scores (kept, in the logged order)."""
    reward: str
    """The reward spec."""
    notes: list[str] = field(default_factory=list)
    """Assumptions of the estimate (printed with the table)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"chosen": self.chosen, "n": self.n, "skipped_no_query": self.skipped_no_query,
                "fallbacks": self.fallbacks, "reward": self.reward, "notes": self.notes,
                "estimates": [vars(e) for e in self.estimates]}


def evaluate_rerank_weights(store: EventStore, products_of: Callable[[Sequence[str]], list[Any]],
                            score: ScoreFn, weights: Sequence[float], *,
                            reward: RewardFunction | str | None = None,
                            max_slates: int = 200, n_bootstrap: int = 1000,
                            theta: Callable[[int], np.ndarray] = dcg_examination,
                            seed: int = 0) -> RerankWeightEvaluation:
    """Estimate each weight's value on the logged slates that have a query (most recent first).

    Args:
        store: the event log.
        products_of: product ids -> products (what the model is shown).
        score: the model's scores of a slate (:data:`ScoreFn`); None counts a fallback.
        weights: the grid (0 is added when missing).
        reward: reward function or spec (default clicks).
        max_slates: most recent slates with a query to evaluate (one score call each).
        n_bootstrap: bootstrap resamples over slates.
        theta: examination curve, ``k -> (k,)``.
        seed: bootstrap seed.

    Returns:
        The :class:`RerankWeightEvaluation`.

    Raises:
        ConfigError: no logged impression has a query, or ``max_slates < 1``.

    """
    if max_slates < 1:
        raise ConfigError(f"--max-slates must be >= 1, got {max_slates}")
    grid = sorted({0.0, *(float(w) for w in weights)})
    fn = reward if isinstance(reward, RewardFunction) else (
        RewardFunction.parse(reward) if reward else RewardFunction())
    logged: list[tuple[Any, np.ndarray]] = []
    no_query = 0
    for imp, r in iter_rewards(store, fn):
        if not (imp.query or "").strip():
            no_query += 1
        elif len(imp.item_ids) >= 2 and len(imp.scores) == len(imp.item_ids):
            logged.append((imp, np.asarray(r, dtype=np.float64)))
    if not logged:
        raise ConfigError("no logged slate has a text query and scores to re-order; serve chat "
                          "or /recommend requests with a query first"
                          + (f" ({no_query} impressions without a query)" if no_query else ""))
    logged.sort(key=lambda t: t[0].time, reverse=True)
    logged = logged[:max_slates]
    values = np.zeros((len(logged), len(grid)))
    fallbacks = 0
    for i, (imp, r) in enumerate(logged):
        pos = np.asarray(imp.positions, dtype=np.int64)
        s = np.asarray(imp.scores, dtype=np.float64)
        th = theta(int(pos.max()) + 1)
        model = score(str(imp.query), products_of(list(imp.item_ids)), s)
        if model is None or np.asarray(model).shape != s.shape or \
                not np.all(np.isfinite(model)):
            fallbacks += 1
            model = np.zeros_like(s)  # no model: every weight keeps the policy's order
        for j, w in enumerate(grid):
            values[i, j] = reorder_value(r, pos, s, np.asarray(model, np.float64), w, th)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(logged), size=(n_bootstrap, len(logged)))
    rows = []
    for j, w in enumerate(grid):
        v, d = values[:, j], values[:, j] - values[:, 0]
        bv, bd = v[idx].mean(axis=1), d[idx].mean(axis=1)
        rows.append(WeightEstimate(w, float(v.mean()), float(np.percentile(bv, 2.5)),
                                   float(np.percentile(bv, 97.5)), float(d.mean()),
                                   float(np.percentile(bd, 2.5)), float(np.percentile(bd, 97.5))))
    helpful = [e for e in rows if e.weight > 0 and e.delta_low > 0]
    chosen = max(helpful, key=lambda e: e.delta).weight if helpful else 0.0
    notes = ["position-based click model, examination 1/log2(slot+2); the blend re-orders the "
             "products the policy chose",
             "weight 0 = the logged served scores' order; chosen = largest paired gain whose "
             "95% interval is above 0, else 0"]
    return RerankWeightEvaluation(rows, chosen, len(logged), no_query, fallbacks, fn.spec, notes)
