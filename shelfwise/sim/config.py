"""Configuration of the shopper simulator (:class:`SimConfig`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shelfwise.errors import ConfigError


class SimConfig(BaseModel):
    """Every knob of the shopper simulator; validated on construction, unknown keys rejected.

    Utilities are in logit units: a difference of 1.0 multiplies the odds of a click by e.

    Raises:
        ConfigError: on any invalid value or unknown key; the message names the field.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_candidates: int = Field(50, ge=2)
    """Candidates offered to the policy each step (rows of ``obs["candidates"]``)."""
    n_random_candidates: int = Field(10, ge=0)
    """Of those, how many the default candidate generator draws uniformly at random (exploration
    headroom); the rest are the top products by dot product with the shopper state."""
    k: int = Field(5, ge=1)
    """Slate size: distinct candidate positions the policy shows per step."""
    max_steps: int = Field(20, ge=1)
    """Hard cap on steps per session (the episode is then *truncated*)."""
    budget: float = Field(10.0, gt=0.0)
    """Initial time budget of a session (RecSim-style); the session *terminates* at <= 0."""
    step_cost: float = Field(1.0, ge=0.0)
    """Budget every step consumes."""
    no_click_cost: float = Field(1.0, ge=0.0)
    """Extra budget consumed when the shopper clicks nothing on the slate."""
    click_refund: float = Field(1.0, ge=0.0)
    """Budget given back after a click, times the satisfaction ``sigmoid(utility of the clicked
    item)``: good clicks make sessions longer."""
    repetition_cost: float = Field(0.0, ge=0.0)
    """Extra budget consumed per repeated (category, colour) pair within a slate (a slate of
    ``k`` near-duplicates costs ``(k - 1) * repetition_cost`` more). Off by default: real
    shoppers tolerate similar items, and the cost made any relevance ranking lose to random."""
    quality_band: dict[str, float] = Field(
        default_factory=lambda: {"budget": -0.3, "mid": 0.0, "premium": 0.2, "luxury": 0.3})
    """Latent product quality per price band (unknown bands: 0). Quality is the RecSim-style
    long-term signal: budget items are "clickbait" (cheap, so more appealing, and lower
    quality), premium items satisfy."""
    quality_brand: float = Field(1.0, ge=0.0)
    """Half-range of a fixed per-brand quality offset (uniform in ``[-q, q]``, derived from a
    hash of the brand name, so it is the same in every run)."""
    clickbait_appeal: float = Field(0.5, ge=0.0)
    """Click utility *gained* per unit of *negative* quality (``u -= clickbait_appeal * q``):
    low-quality items look more attractive before the click."""
    quality_budget: float = Field(1.5, ge=0.0)
    """Budget given back after a click, times the clicked item's quality ``q`` (negative
    ``q`` drains budget): satisfying items extend the session, clickbait shortens it."""
    seed_history: int = Field(3, ge=0)
    """Products the shopper liked before the session (drawn from ``softmax(utility)`` over the
    catalogue); they seed the click history, so the state reveals tastes from step 1."""
    taste_scale: float = Field(0.7, gt=0.0)
    """Standard deviation of the shopper's affinity per attribute value (category, colour,
    style, material); each item's taste utility sums the four affinities."""
    price_sensitivity: tuple[float, float] = (0.2, 1.0)
    """Range ``(low, high)`` of the per-shopper uniform price sensitivity; utility loses
    ``sensitivity * log(price / median catalogue price)``."""
    intent_share: float = Field(0.3, ge=0.0, le=1.0)
    """Share of sessions that start with an explicit intent (target category, maybe colour,
    material or a price cap) expressed as a text query."""
    intent_bonus: float = Field(2.0, ge=0.0)
    """Utility bonus of items in the intent's category."""
    intent_attribute_bonus: float = Field(1.0, ge=0.0)
    """Utility bonus per matching intent colour / material."""
    intent_price_penalty: float = Field(2.0, ge=0.0)
    """Utility penalty of items above the intent's price cap ("jackets under 150")."""
    drift_rate: float = Field(0.1, ge=0.0, le=1.0)
    """After a click, each attribute-affinity vector moves this fraction toward a one-hot target
    (height ``2 * taste_scale``) at the clicked item's value: tastes follow consumption."""
    boredom_shown: float = Field(0.05, ge=0.0)
    """Boredom added to an item's (category, colour) pair per showing."""
    boredom_click: float = Field(0.3, ge=0.0)
    """Boredom added to the clicked item's (category, colour) pair."""
    boredom_decay: float = Field(0.85, ge=0.0, le=1.0)
    """Per-step multiplicative decay of accumulated boredom."""
    boredom_weight: float = Field(0.5, ge=0.0)
    """Utility penalty per unit of boredom on an item's (category, colour) pair."""
    position_bias: float = Field(1.0, ge=0.0)
    """Exponent ``p`` of the attention multiplier ``(1 / log2(rank + 2)) ** p`` on ``exp(utility)``
    (rank 0 = top); 0 disables position bias."""
    no_click_utility: float = 3.5
    """Utility of the outside option (clicking nothing)."""
    purchase_bias: float = -1.0
    """A click becomes a purchase with probability ``sigmoid(purchase_bias + utility -
    price_sensitivity * log(price / median price))`` (price counts twice: at click and at pay)."""
    reward: Literal["clicks", "purchase_value"] = "clicks"
    """``clicks``: 1 per click; ``purchase_value``: the price of a purchased item."""
    history_half_life: float = Field(3.0, gt=0.0)
    """Half-life, in clicks, of the recency weights of the clicked-item mean in the state."""
    query_weight: float = Field(0.5, ge=0.0, le=1.0)
    """Weight of the intent query vector against the click history in the state."""
    sponsored_share: float = Field(0.0, ge=0.0, le=1.0)
    """Share of the catalogue marked sponsored (ad candidates), drawn with ``sponsored_seed``
    (:func:`~shelfwise.sim.shoppers.sponsored_catalog`); 0 = no ads. A latent table with its own
    ``sponsored`` and ``bid`` columns overrides the draw. Read by
    :class:`~shelfwise.sim.ads.SponsoredSimBatch`; the plain ``SimBatch`` has no ads."""
    bid_range: tuple[float, float] = (0.1, 1.0)
    """Range ``(low, high)`` of the uniform bids (cost per click) of sponsored products."""
    sponsored_seed: int = Field(0, ge=0)
    """Seed of which products are sponsored and of their bids (the same in every run)."""
    sponsored_positions: tuple[int, ...] = ()
    """Slate ranks (0-based) that show ads: a sponsored product at one of these ranks is an
    ad (it pays its bid when clicked and annoys when irrelevant); elsewhere it is organic."""
    sponsored_annoyance: float = Field(1.0, ge=0.0)
    """Budget drained per *irrelevant* ad shown (core utility below ``sponsored_relevance``):
    shoppers shown ads they do not care for end their sessions sooner."""
    sponsored_relevance: float = 0.0
    """Core utility (taste, price and intent, no clickbait) below which an ad is irrelevant."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'SimConfig'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"invalid SimConfig: {problems}") from None

    @model_validator(mode="after")
    def _check_relations(self) -> SimConfig:
        if self.k > self.n_candidates:
            raise ValueError(f"k ({self.k}) must be <= n_candidates ({self.n_candidates})")
        if self.n_random_candidates >= self.n_candidates:
            raise ValueError(
                f"n_random_candidates ({self.n_random_candidates}) must be < n_candidates "
                f"({self.n_candidates})"
            )
        low, high = self.price_sensitivity
        if not 0.0 <= low <= high:
            raise ValueError(f"price_sensitivity {self.price_sensitivity} must be 0 <= low <= high")
        low, high = self.bid_range
        if not 0.0 <= low <= high or high == float("inf"):
            raise ValueError(f"bid_range {self.bid_range} must be finite with 0 <= low <= high")
        ranks = self.sponsored_positions
        if any(r < 0 or r >= self.k for r in ranks) or len(set(ranks)) != len(ranks):
            raise ValueError(f"sponsored_positions {ranks} must be distinct ranks in "
                             f"[0, k={self.k})")
        return self
