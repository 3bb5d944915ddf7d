"""Rewards derived from logged events, aimed at the shop's own business goal.

A :class:`RewardFunction` is a weighted sum of terms, computed per slate position:

- ``click``: 1 where the item at that position was clicked (at least once);
- ``purchase``: number of purchases of the item at that position;
- ``purchase_value``: revenue of those purchases;
- ``margin``: their margin: ``Purchase.margin`` when logged, else ``value * rate`` with the rate
  from ``margins[product_id]``, else ``margin_rate``;
- ``retention``: 1 when the session continues after this slate (the shopper was shown another
  slate later in the same session). It is a slate-level term, spread evenly over the positions,
  so that the slate's total reward (the sum over positions) counts it once.

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

TERMS: tuple[str, ...] = ("click", "purchase", "purchase_value", "margin", "retention")
"""The reward terms a :class:`RewardFunction` can combine."""

__all__ = ["TERMS", "RewardFunction", "iter_rewards", "rewards_for"]

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

    """

    weights: Mapping[str, float] = field(default_factory=lambda: {"click": 1.0})
    margin_rate: float | None = None
    margins: Mapping[str, float] | None = None

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

    @classmethod
    def parse(cls, spec: str, *, margin_rate: float | None = None,
              margins: Mapping[str, float] | None = None) -> RewardFunction:
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
        return cls(weights, margin_rate=margin_rate, margins=margins)

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
        spec = cfg.pop("spec", None)
        if spec is not None:
            if cfg:
                raise ConfigError(f"reward config: give either 'spec' or term weights, not both "
                                  f"(got {sorted(cfg)})")
            return cls.parse(spec, margin_rate=margin_rate, margins=margins)
        bad = [k for k in cfg if k not in TERMS]
        if bad:
            raise ConfigError(f"unknown reward config key(s) {bad}; valid keys: "
                              f"{', '.join((*TERMS, 'margin_rate', 'margins', 'spec'))}")
        return cls(cfg, margin_rate=margin_rate, margins=margins)

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
        for c in feedback.clicks:
            j = self._slot(imp, slot, c.position, c.product_id)
            if j is not None:
                clicked[j] = 1.0
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
