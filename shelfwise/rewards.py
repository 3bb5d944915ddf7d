"""Rewards derived from logged events, aimed at the shop's own business goal.

A :class:`RewardFunction` is a weighted sum of terms, computed per slate position:

- ``click``: 1 where the item at that position was clicked (at least once);
- ``purchase``: number of purchases of the item at that position;
- ``purchase_value``: revenue of those purchases;
- ``margin``: their margin: ``Purchase.margin`` when logged, else ``value * rate`` with the rate
  from ``margins[product_id]``, else ``margin_rate``;
- ``ad_revenue``: the bid (cost per click) of the item at that position when it was clicked
  as an ad: as logged with the impression (``Impression.ads`` / ``ad_bids``, written by the
  recommender for slates with ad slots), else when the product has a bid in ``bids`` and
  (when ``ad_positions`` is given) sits at one of those slots;
- ``retention``: 1 when the session continues after this slate (the shopper was shown another
  slate later in the same session). It is a slate-level term, spread evenly over the positions,
  so that the slate's total reward (the sum over positions) counts it once.

Multi-objective weighting. :class:`RewardWeights` is the typed form of the weights (one field
per term, defaults = today's reward, ``click`` alone); :class:`RewardComponents` holds the
per-step components of ``b`` simulated sessions (:func:`step_components` builds them from a
simulator step), and :meth:`RewardWeights.combine` turns them into the scalar reward.

Build one from a spec string, ``RewardFunction.parse("click+0.01*purchase_value")``, or from a
small config mapping, ``RewardFunction.from_config({"click": 1, "margin": 0.1,
"margin_rate": 0.3})``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError
from shelfwise.events import EventStore, Impression, SlateFeedback

TERMS: tuple[str, ...] = ("click", "purchase", "purchase_value", "margin", "ad_revenue",
                          "retention")
"""The reward terms a :class:`RewardFunction` can combine."""

__all__ = ["TERMS", "RewardComponents", "RewardFunction", "RewardWeights", "iter_rewards",
           "rewards_for", "step_components"]

_NUM = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_TOKEN_RE = re.compile(
    rf"\s*(?P<sign>[+-])?\s*(?:(?P<pre>{_NUM})\s*\*\s*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    rf"(?:\s*\*\s*(?P<post>{_NUM}))?\s*"
)


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown reward term {name!r}; choose from: {', '.join(TERMS)}")


@dataclass(frozen=True)
class RewardFunction:
    """A weighted sum of reward terms (see the module docstring for the terms).

    Args:
        weights: term name -> weight; at least one term.
        margin_rate: default margin as a fraction of purchase value (for ``margin``).
        margins: per-product margin rate, product id -> fraction of value (for ``margin``).
        bids: product id -> cost per click of sponsored products (for ``ad_revenue``; e.g.
            ``{p.id: p.bid for p in catalog.all() if p.sponsored}``).
        ad_positions: the slots that show ads (``[sponsored] positions``); ``None`` counts a
            click on a product of ``bids`` as an ad click at any slot.

    """

    weights: Mapping[str, float] = field(default_factory=lambda: {"click": 1.0})
    margin_rate: float | None = None
    margins: Mapping[str, float] | None = None
    bids: Mapping[str, float] | None = None
    ad_positions: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if not self.weights:
            raise ConfigError(f"a reward function needs at least one term; choose from: "
                              f"{', '.join(TERMS)}")
        clean: dict[str, float] = {}
        for name, w in self.weights.items():
            if name not in TERMS:
                raise _unknown(name)
            try:
                w = float(w)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"reward weight of {name!r} must be a number, got {w!r}") from exc
            if not math.isfinite(w):
                raise ConfigError(f"reward weight of {name!r} must be finite, got {w}")
            clean[name] = clean.get(name, 0.0) + w
        object.__setattr__(self, "weights", MappingProxyType(clean))
        if self.margin_rate is not None and not 0.0 <= float(self.margin_rate) <= 1.0:
            raise ConfigError(f"margin_rate must be in [0, 1], got {self.margin_rate}")
        if "margin" in clean and self.margin_rate is None and self.margins is None:
            raise ConfigError(
                "the 'margin' reward term needs margin_rate (a fraction of purchase value) or "
                "margins (product id -> rate); purchases that carry their own margin use that"
            )
        if self.bids is not None:
            bids: dict[str, float] = {}
            for pid, bid in dict(self.bids).items():
                try:
                    b = float(bid)
                except (TypeError, ValueError):
                    raise ConfigError(f"bids[{pid!r}] must be a number, got {bid!r}") from None
                if not math.isfinite(b) or b < 0:
                    raise ConfigError(f"bids[{pid!r}] must be finite and >= 0, got {bid!r}")
                bids[str(pid)] = b
            object.__setattr__(self, "bids", MappingProxyType(bids))

        if self.ad_positions is not None:
            try:
                pos = frozenset(int(p) for p in self.ad_positions)
            except (TypeError, ValueError):
                raise ConfigError(f"ad_positions must be slot numbers, got "
                                  f"{self.ad_positions!r}") from None
            object.__setattr__(self, "ad_positions", pos)

    @classmethod
    def parse(cls, spec: str, *, margin_rate: float | None = None,
              margins: Mapping[str, float] | None = None,
              bids: Mapping[str, float] | None = None,
              ad_positions: frozenset[int] | None = None) -> RewardFunction:
        """Parse ``"click+0.01*purchase_value"`` (terms joined by ``+``/``-``, ``w*term``).

        Raises:
            ConfigError: empty or malformed spec, or an unknown term (the message lists them).

        """
        text = (spec or "").strip()
        if not text:
            raise ConfigError(f"empty reward spec; use terms like 'click+0.01*purchase_value' "
                              f"from: {', '.join(TERMS)}")
        weights: dict[str, float] = {}
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None or m.end() == pos or (pos > 0 and not m.group("sign")):
                raise ConfigError(f"cannot parse reward spec {spec!r} at {text[pos:]!r}; write "
                                  f"terms as 'weight*name' joined by '+', with name one of: "
                                  f"{', '.join(TERMS)}")
            name = m.group("name")
            if name not in TERMS:
                raise _unknown(name)
            w = float(m.group("pre") or 1.0) * float(m.group("post") or 1.0)
            weights[name] = weights.get(name, 0.0) + (-w if m.group("sign") == "-" else w)
            pos = m.end()
        return cls(weights, margin_rate=margin_rate, margins=margins, bids=bids,
                   ad_positions=ad_positions)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str) -> RewardFunction:
        """Build from a spec string or a mapping of term weights plus ``margin_rate``/``margins``.

        ``{"spec": "click+0.01*purchase_value"}`` is accepted too.

        Raises:
            ConfigError: unknown keys (the message lists the valid ones) or bad values.

        """
        if isinstance(config, str):
            return cls.parse(config)
        cfg = dict(config)
        margin_rate = cfg.pop("margin_rate", None)
        margins = cfg.pop("margins", None)
        bids = cfg.pop("bids", None)
        ad_positions = cfg.pop("ad_positions", None)
        extra = {"margin_rate": margin_rate, "margins": margins, "bids": bids,
                 "ad_positions": None if ad_positions is None else frozenset(ad_positions)}
        spec = cfg.pop("spec", None)
        if spec is not None:
            if cfg:
                raise ConfigError(f"reward config: give either 'spec' or term weights, not both "
                                  f"(got {sorted(cfg)})")
            return cls.parse(spec, **extra)
        bad = [k for k in cfg if k not in TERMS]
        if bad:
            valid = (*TERMS, "margin_rate", "margins", "bids", "ad_positions", "spec")
            raise ConfigError(f"unknown reward config key(s) {bad}; valid keys: "
                              f"{', '.join(valid)}")
        return cls(cfg, **extra)

    @property
    def spec(self) -> str:
        """The function as a spec string (round-trips through :meth:`parse`)."""
        out = []
        for name, w in self.weights.items():
            term = name if w == 1.0 else f"{abs(w):g}*{name}" if w != -1.0 else name
            out.append(("-" if w < 0 else "+") + term)
        text = "".join(out)
        return text[1:] if text.startswith("+") else text

    def __str__(self) -> str:
        return self.spec

    @property
    def needs_retention(self) -> bool:
        """Whether the function has a retention term (it then needs the session's next slate)."""
        return self.weights.get("retention", 0.0) != 0.0

    def per_position(self, feedback: SlateFeedback, *, continued: bool = False) -> np.ndarray:
        """Rewards of one slate, ``(k,)`` float64 in the order of the impression's items.

        Args:
            feedback: the impression with its clicks and purchases.
            continued: whether the session went on after this slate (``retention`` term).

        Raises:
            ConfigError: the feedback has no impression (the slate's size is unknown).

        """
        imp = feedback.impression
        if imp is None:
            raise ConfigError("cannot compute rewards for feedback without its impression")
        k = imp.k
        slot = {p: j for j, p in enumerate(imp.positions)}
        clicked = np.zeros(k)
        n_buy = np.zeros(k)
        value = np.zeros(k)
        margin = np.zeros(k)
        ad = np.zeros(k)
        for c in feedback.clicks:
            j = self._slot(imp, slot, c.position, c.product_id)
            if j is not None:
                clicked[j] = 1.0
                logged = getattr(imp, "ads", None)
                if logged is not None:  # the slot flags and bids logged at serve time
                    ad[j] = float(imp.ad_bids[j]) if logged[j] else 0.0
                elif self.bids is not None and imp.item_ids[j] in self.bids and (
                        self.ad_positions is None or imp.positions[j] in self.ad_positions):
                    ad[j] = self.bids[imp.item_ids[j]]
        for p in feedback.purchases:
            j = self._slot(imp, slot, p.position, p.product_id)
            if j is None:
                continue
            n_buy[j] += 1.0
            value[j] += p.value
            if p.margin is not None:
                margin[j] += p.margin
            else:
                rate = None
                if self.margins is not None:
                    rate = self.margins.get(p.product_id)
                if rate is None:
                    rate = self.margin_rate
                margin[j] += p.value * float(rate or 0.0)
        w = self.weights
        out = (w.get("click", 0.0) * clicked + w.get("purchase", 0.0) * n_buy
               + w.get("purchase_value", 0.0) * value + w.get("margin", 0.0) * margin)
        if w.get("ad_revenue", 0.0):
            out = out + w["ad_revenue"] * ad
        if continued:
            out = out + w.get("retention", 0.0) / k
        return out

    @staticmethod
    def _slot(imp: Impression, slot: dict[int, int], position: int,
              product_id: str) -> int | None:
        j = slot.get(position)
        if j is not None and imp.item_ids[j] == product_id:
            return j
        # the position may be missing or stale; fall back to the product id
        for j, item in enumerate(imp.item_ids):
            if item == product_id:
                return j
        return None


def _continued(store: EventStore, imp: Impression) -> bool:
    for other in store.impressions(since=imp.time):
        if other.session == imp.session and other.event_id != imp.event_id and (
                other.time > imp.time):
            return True
    return False


def rewards_for(store: EventStore, slate_id: str,
                reward: RewardFunction | str | None = None) -> np.ndarray:
    """Per-position rewards of one logged slate, ``(k,)`` float64.

    Args:
        store: the event log.
        slate_id: the slate.
        reward: a RewardFunction or spec string; default ``click``.

    Raises:
        EventLogError: nothing is logged for ``slate_id``.
        ConfigError: the slate's impression is missing, or the reward spec is invalid.

    """
    fn = _as_reward(reward)
    fb = store.feedback_for(slate_id)
    if fb.impression is None:
        raise ConfigError(f"slate {slate_id!r} has feedback but no logged impression")
    continued = _continued(store, fb.impression) if fn.needs_retention else False
    return fn.per_position(fb, continued=continued)


def iter_rewards(store: EventStore, reward: RewardFunction | str | None = None, *,
                 policy: str | None = None) -> Iterator[tuple[Impression, np.ndarray]]:
    """Every impression (of ``policy``, if given) with its per-position rewards, session by session.

    One pass over the log; the retention term uses the session's next impression.
    """
    fn = _as_reward(reward)
    for session in store.sessions():
        imps = session.impressions
        for i, imp in enumerate(imps):
            if policy is not None and imp.policy != policy:
                continue
            continued = any(o.time > imp.time for o in imps[i + 1:])
            fb = store.feedback_for(imp.slate_id)
            yield imp, fn.per_position(fb, continued=continued)


def _as_reward(reward: RewardFunction | str | None) -> RewardFunction:
    if reward is None:
        return RewardFunction()
    if isinstance(reward, RewardFunction):
        return reward
    return RewardFunction.parse(reward)


# ------------------------------------------------------------------ multi-objective weighting


@dataclass(frozen=True)
class RewardComponents:
    """The reward components of one step of ``b`` sessions (all float64 ``(b,)``).

    Sessions that were already over before the step hold zeros.

    Attributes:
        click: 1 where the shopper clicked an item.
        purchase: 1 where the click became a purchase.
        purchase_value: the price paid (0 without a purchase).
        ad_revenue: the bid of the clicked item when it was shown as an ad, else 0.
        retention: 1 where the session goes on after this step (summed over a session:
            its length minus one).
        annoyance: irrelevant ads shown at this step (a diagnostic; not a reward term).

    """

    click: np.ndarray
    purchase: np.ndarray
    purchase_value: np.ndarray
    ad_revenue: np.ndarray
    retention: np.ndarray
    annoyance: np.ndarray

    def as_dict(self, i: int | None = None) -> dict[str, Any]:
        """The components as a dict of arrays, or of floats for session ``i`` (for ``info``)."""
        names = ("click", "purchase", "purchase_value", "ad_revenue", "retention", "annoyance")
        if i is None:
            return {n: getattr(self, n) for n in names}
        return {n: float(getattr(self, n)[i]) for n in names}


@dataclass(frozen=True)
class RewardWeights:
    """Typed weights of the multi-objective reward; the default is today's reward (clicks).

    Every weight is a finite number (negative weights penalise). ``margin`` needs a margin
    rate and is only meaningful on logged purchases (:class:`RewardFunction`); the simulator
    has no margins, so :meth:`combine` refuses it.

    Raises:
        ConfigError: a weight that is not a finite number, or all weights zero; the message
            names the field.

    """

    click: float = 1.0
    """Weight of a click (1 per clicked item)."""
    purchase: float = 0.0
    """Weight of a purchase (1 per purchase)."""
    purchase_value: float = 0.0
    """Weight of the money paid for purchases."""
    margin: float = 0.0
    """Weight of the purchases' margin (logged events only)."""
    ad_revenue: float = 0.0
    """Weight of ad revenue: the bid of an ad that was clicked."""
    retention: float = 0.0
    """Weight of the session going on after a slate (longer sessions, shoppers who stay)."""

    def __post_init__(self) -> None:
        for name in TERMS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
                raise ConfigError(f"reward weight {name!r} must be a number, got {v!r}")
            if not math.isfinite(float(v)):
                raise ConfigError(f"reward weight {name!r} must be finite, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not any(getattr(self, n) for n in TERMS):
            raise ConfigError(f"reward weights are all zero; give at least one of: "
                              f"{', '.join(TERMS)}")

    @classmethod
    def from_mapping(cls, weights: Mapping[str, Any]) -> RewardWeights:
        """Build from ``{"click": 1, "ad_revenue": 0.5}``; missing terms weigh 0.

        Raises:
            ConfigError: unknown keys (the message lists the valid ones) or bad values.

        """
        bad = sorted(k for k in weights if k not in TERMS)
        if bad:
            raise ConfigError(f"unknown reward weight(s) {bad}; valid: {', '.join(TERMS)}")
        return cls(**{n: weights.get(n, 0.0) for n in TERMS})

    @classmethod
    def for_sim(cls, reward: str = "clicks") -> RewardWeights:
        """The weights of the simulator's own ``SimConfig.reward`` (today's simulator reward).

        ``clicks`` -> ``click = 1``; ``purchase_value`` -> ``purchase_value = 1``.
        """
        if reward == "clicks":
            return cls()
        if reward == "purchase_value":
            return cls(click=0.0, purchase_value=1.0)
        raise ConfigError(f"unknown simulator reward {reward!r}; choose from: clicks, "
                          "purchase_value")

    def as_dict(self) -> dict[str, float]:
        """Non-zero weights, term -> weight."""
        return {n: getattr(self, n) for n in TERMS if getattr(self, n)}

    def function(self, *, margin_rate: float | None = None,
                 margins: Mapping[str, float] | None = None,
                 bids: Mapping[str, float] | None = None,
                 ad_positions: frozenset[int] | None = None) -> RewardFunction:
        """The same weighting as a :class:`RewardFunction` over logged events."""
        return RewardFunction(self.as_dict(), margin_rate=margin_rate, margins=margins,
                              bids=bids, ad_positions=ad_positions)

    def combine(self, components: RewardComponents) -> np.ndarray:
        """The scalar reward of each session, float64 ``(b,)``.

        Raises:
            ConfigError: a ``margin`` weight (simulated steps carry no margins).

        """
        if self.margin:
            raise ConfigError("the 'margin' reward weight needs logged purchases with margins; "
                              "simulated steps have none")
        return (self.click * components.click + self.purchase * components.purchase
                + self.purchase_value * components.purchase_value
                + self.ad_revenue * components.ad_revenue
                + self.retention * components.retention)


def step_components(step: Any, *, active: np.ndarray | None = None,
                    bids: np.ndarray | None = None, ads: np.ndarray | None = None,
                    annoyance: np.ndarray | None = None) -> RewardComponents:
    """The reward components of one simulator step.

    Args:
        step: a :class:`shelfwise.sim.StepResult` (``clicked_rank``, ``clicked_row``,
            ``purchased``, ``price``, ``terminated``, ``truncated``, each ``(b,)``).
        active: bool ``(b,)`` sessions that were running before the step (default all).
        bids: float ``(P,)`` cost per click of every simulator product (0 for organic ones).
        ads: bool ``(b, k)`` which slate ranks showed an ad at this step (default none).
        annoyance: float ``(b,)`` irrelevant ads shown (default zeros).

    Returns:
        The components; a session's ``ad_revenue`` is ``bids[clicked_row]`` when its clicked
        rank showed an ad.

    """
    rank = np.asarray(step.clicked_rank, dtype=np.int64)
    row = np.asarray(step.clicked_row, dtype=np.int64)
    b = rank.shape[0]
    live = np.ones(b, bool) if active is None else np.asarray(active, bool)
    clicked = (rank >= 0) & live
    bought = np.asarray(step.purchased, bool) & clicked
    price = np.asarray(step.price, dtype=np.float64)
    ad_rev = np.zeros(b)
    if bids is not None and ads is not None:
        ad_mask = np.asarray(ads, bool)
        hit = clicked.copy()
        hit[clicked] = ad_mask[np.flatnonzero(clicked), rank[clicked]]
        ad_rev[hit] = np.asarray(bids, dtype=np.float64)[row[hit]]
    done = np.asarray(step.terminated, bool) | np.asarray(step.truncated, bool)
    return RewardComponents(
        click=clicked.astype(np.float64),
        purchase=bought.astype(np.float64),
        purchase_value=np.where(bought, price, 0.0),
        ad_revenue=ad_rev,
        retention=(live & ~done).astype(np.float64),
        annoyance=np.zeros(b) if annoyance is None else np.asarray(annoyance, np.float64),
    )
