"""Records the vector index stores beside each vector and the filters it searches with."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from encoders.errors import ConfigError


def _as_str_set(value: object, name: str) -> frozenset[str]:
    """Coerce an iterable of strings to a frozenset, refusing a bare string (a common slip)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(
            f"{name} must be a set of strings, e.g. frozenset({{'shoes'}}); got {value!r}"
        )
    items = frozenset(value)
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{name} must contain only strings; got {bad[0]!r}")
    return items


@dataclass(frozen=True)
class ItemMeta:
    """What the index knows about one item besides its vector; used by search filters."""

    category: str
    """Category name, matched exactly by ``SearchFilter.categories``."""
    price: float
    """Price in the shop's currency; finite and not negative."""
    in_stock: bool = True
    """Whether the item can be bought now; ``SearchFilter.in_stock_only`` drops the rest."""

    def __post_init__(self) -> None:
        if not isinstance(self.category, str):
            raise ConfigError(f"ItemMeta.category must be a string; got {self.category!r}")
        if isinstance(self.price, bool) or not isinstance(self.price, int | float):
            raise ConfigError(f"ItemMeta.price must be a number; got {self.price!r}")
        if not math.isfinite(self.price) or self.price < 0:
            raise ConfigError(f"ItemMeta.price must be finite and >= 0; got {self.price!r}")
        if not isinstance(self.in_stock, bool):
            raise ConfigError(f"ItemMeta.in_stock must be True or False; got {self.in_stock!r}")
        object.__setattr__(self, "price", float(self.price))


@dataclass(frozen=True)
class SearchFilter:
    """Which items a search may return. Every condition given must hold (logical AND).

    ``None`` / ``False`` / empty leaves a condition out. An empty ``categories`` set is a
    condition no item meets (the caller asked for none of the categories).
    """

    categories: frozenset[str] | None = None
    """Allowed categories; ``None`` allows every category."""
    min_price: float | None = None
    """Lowest allowed price, inclusive."""
    max_price: float | None = None
    """Highest allowed price, inclusive."""
    in_stock_only: bool = False
    """Drop items whose ``ItemMeta.in_stock`` is False."""
    exclude_ids: frozenset[str] = field(default_factory=frozenset)
    """Product ids never to return (e.g. the query product itself, items already shown)."""

    def __post_init__(self) -> None:
        if self.categories is not None:
            object.__setattr__(
                self, "categories", _as_str_set(self.categories, "SearchFilter.categories")
            )
        object.__setattr__(
            self, "exclude_ids", _as_str_set(self.exclude_ids, "SearchFilter.exclude_ids")
        )
        for name in ("min_price", "max_price"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise ConfigError(f"SearchFilter.{name} must be a number or None; got {value!r}")
            object.__setattr__(self, name, float(value))
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ConfigError(
                f"SearchFilter.min_price ({self.min_price}) is above "
                f"SearchFilter.max_price ({self.max_price})"
            )
        if not isinstance(self.in_stock_only, bool):
            raise ConfigError(
                f"SearchFilter.in_stock_only must be True or False; got {self.in_stock_only!r}"
            )

    @property
    def is_empty(self) -> bool:
        """True when the filter lets every item through."""
        return (
            self.categories is None
            and self.min_price is None
            and self.max_price is None
            and not self.in_stock_only
            and not self.exclude_ids
        )
