"""Request and response bodies of the HTTP API (pydantic; unknown fields are rejected)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_ID = dict(min_length=1, max_length=128)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Filters(_Strict):
    """Which products a slate may contain. Every condition given must hold."""

    categories: list[str] | None = Field(None, max_length=50)
    """Allowed categories (exact names, e.g. ``["shoes", "bags"]``); omit for all."""
    min_price: float | None = Field(None, ge=0)
    """Lowest price, inclusive."""
    max_price: float | None = Field(None, ge=0)
    """Highest price, inclusive."""
    in_stock_only: bool = False
    """Only products that can be bought now."""
    exclude_ids: list[str] = Field(default_factory=list, max_length=1000)
    """Product ids never to show."""

    @model_validator(mode="after")
    def _price_range(self) -> Filters:
        if self.min_price is not None and self.max_price is not None and (
                self.min_price > self.max_price):
            raise ValueError(f"min_price ({self.min_price}) is above max_price ({self.max_price})")
        return self


class RecommendRequest(_Strict):
    """Ask for a slate for one shopper."""

    user_id: str = Field(**_ID)
    """The shopper; their clicks and purchases shape the slate."""
    query: str | None = Field(None, max_length=500)
    """What the shopper is looking for, in their words."""
    filters: Filters | None = None
    """Hard constraints on the products."""
    k: int = Field(10, ge=1, le=50)
    """Slate size."""
    session_id: str | None = Field(None, **_ID)
    """The shopping session, logged with the impression."""


class ProductOut(BaseModel):
    """A product as the API shows it."""

    id: str
    title: str
    description: str
    category: str
    price: float
    currency: str
    attributes: dict[str, str]
    in_stock: bool
    image_url: str | None
    """Relative URL of the product image (``/products/{id}/image``), or None without one."""
    url: str | None = None
    """The product's page in the shop (``http(s)://``), or None; the web page's "Open" link."""
    sponsored: bool = False
    """The catalog's flag: the product is an ad candidate (it may fill sponsored slots)."""
    bid: float = 0.0
    """Cost per click the shop earns when the product is clicked as an ad."""


class SlateItemOut(BaseModel):
    """One product of a slate, with the scores behind its place."""

    product: ProductOut
    position: int
    """0-based slot."""
    reason: str
    """Why this product, grounded in its own facts."""
    score: float
    """Score the served order came from (blend of policy and language model when reranked)."""
    policy_score: float
    """The slate policy's score."""
    llm_score: float | None
    """The language model's score, or null when no model reranked the slate."""
    propensity: float
    """Probability of serving this product at this position (logged for evaluation)."""
    sponsored: bool = False
    """True when this slot shows the product as an ad (label it "Sponsored")."""


class SlateOut(BaseModel):
    """A slate of products; ``slate_id`` is what feedback refers to."""

    slate_id: str | None
    """Null only when no product passed the filters (``items`` is then empty)."""
    user_id: str
    policy: str
    policy_version: str
    query: str | None
    reranked: bool
    """True when a language model reordered the slate."""
    llm_fallback: bool
    """True when the language model failed and the policy's order was served."""
    items: list[SlateItemOut]


class ChatRequest(_Strict):
    """One message of a shopper in a conversation."""

    conversation_id: str = Field(**_ID)
    """Chosen by the client; keeps the conversation's state between messages."""
    message: str = Field(min_length=1, max_length=2000)
    """What the shopper wrote."""
    user_id: str | None = Field(None, **_ID)
    """The shopper whose history personalises the slate; remembered for the conversation once
    given (default: the conversation id stands for the shopper)."""


class ChatAnchor(BaseModel):
    """The product "more like …" anchored on."""

    id: str
    title: str
    """The title as data (one line, role labels neutralised)."""
    price: float


class ChatIntent(BaseModel):
    """What the assistant understood and served (after follow-ups were resolved)."""

    query: str
    """Free-text part of the request."""
    categories: list[str]
    """Catalog categories wanted."""
    colours: list[str]
    materials: list[str]
    exclude_colours: list[str]
    """Refused colours ("not red")."""
    exclude_materials: list[str]
    min_price: float | None
    max_price: float | None
    """Upper bound; after "cheaper", just below the product it was compared with."""
    cheaper: bool
    others: bool
    """The shopper asked for others than those shown ("show me others")."""
    anchor: ChatAnchor | None
    """The product of "more like the second one" (never shown itself), or null."""
    dropped: list[str]
    """Earlier filters dropped because the anchor breaks them."""
    excluded_ids: list[str]
    """Products left out because they were shown already."""
    kind: str
    """``shopping`` or what else the message was (``greeting``, ``other_shopper``, ``secret``,
    ``orders``, ``store_policy``, ``about``, ``thanks``)."""
    source: Literal["rule", "model"]
    """``rule``: the rule parser; ``model``: the chat model's structured answer added to it."""


class ChatResponse(BaseModel):
    """The assistant's answer and the slate it shows (if any)."""

    conversation_id: str
    reply: str
    """The full answer as text: the summary line, then one line per product."""
    summary: str = ""
    """One line for a chat bubble ("Found 8 rain jackets up to $150."); the slate's cards
    carry the products."""
    slate: SlateOut | None
    events_logged: int = 0
    """Clicks or purchases that this message recorded ("add #2 to cart")."""
    intent: ChatIntent | None = None
    """The parsed intent (null when the server's chat parses none)."""
    why: list[str] = Field(default_factory=list)
    """Per product of the slate, in words: which source found it, what the slate policy and
    the language model thought."""


class FeedbackRequest(_Strict):
    """A shopper's reaction to a shown product."""

    event_id: str = Field(**_ID)
    """Client-chosen id; sending the same event again is harmless (idempotent)."""
    slate_id: str = Field(**_ID)
    """The slate the product was shown in."""
    product_id: str = Field(**_ID)
    """The product."""
    kind: Literal["click", "purchase"]
    """``click`` (opened or liked) or ``purchase`` (bought)."""
    quantity: int = Field(1, ge=1, le=1000)
    """Items bought (purchases only)."""


class FeedbackResponse(BaseModel):
    """What was recorded."""

    event_id: str
    slate_id: str
    product_id: str
    kind: str
    position: int
    value: float
    """1 for a click; price times quantity for a purchase."""
    duplicate: bool
    """True when this event id was already recorded (nothing changed)."""
    policy_updated: bool
    """True when the policy learned from this event online."""


class Health(BaseModel):
    """Liveness and what is loaded."""

    status: Literal["ok"]
    version: str
    products: int
    policy: str
    policy_version: str
    reranker: bool
    auth: bool


class ErrorOut(BaseModel):
    """An error; ``detail`` says what was wrong and with which field."""

    detail: Any
    message: str | None = None
