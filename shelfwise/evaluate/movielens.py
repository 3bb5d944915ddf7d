"""MovieLens-100k read straight out of the ``recbole==1.2.1`` wheel (downloaded, never installed).

The wheel carries RecBole's atomic files under ``recbole/dataset_example/ml-100k/``:
``ml-100k.inter`` (``user_id, item_id, rating, timestamp``; 100,000 ratings of 943 users on
1,682 movies) and ``ml-100k.item`` (``item_id, movie_title, release_year, class`` where
``class`` is the space-separated genres). They are read with :mod:`zipfile` and pandas;
recbole itself is never imported.

Where the wheel is looked for, in order: the ``wheel`` argument, ``$SHELFWISE_RECBOLE_WHEEL``,
then ``~/.cache/shelfwise/wheels/recbole/recbole-1.2.1-py3-none-any.whl`` (where
``make install`` downloads it). Missing, it raises :class:`DatasetMissingError` with the
command to run.

Every rating counts as an interaction (implicit feedback, weight 1), as in the usual
leave-last-out protocol on ML-100k; ``min_rating`` keeps only ratings at or above a value.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from encoders.behaviour.base import Interactions
from shelfwise.errors import ShelfwiseError

if TYPE_CHECKING:
    import pandas as pd

    from shelfwise.catalog import Product

RECBOLE_VERSION = "1.2.1"
WHEEL_NAME = f"recbole-{RECBOLE_VERSION}-py3-none-any.whl"
WHEEL_DIR = Path("~/.cache/shelfwise/wheels/recbole")
DOWNLOAD_COMMAND = (f"pip download --no-deps recbole=={RECBOLE_VERSION} -d "
                    "~/.cache/shelfwise/wheels/recbole")
_PREFIX = "recbole/dataset_example/ml-100k/"

__all__ = ["DOWNLOAD_COMMAND", "DatasetMissingError", "MovieLens100k", "load_ml100k",
           "recbole_wheel"]


class DatasetMissingError(ShelfwiseError):
    """A data set file that shelfwise reads locally is not on this machine."""


def recbole_wheel(wheel: str | Path | None = None) -> Path:
    """Locate the recbole 1.2.1 wheel.

    Raises:
        DatasetMissingError: not found (the message has the download command).

    """
    candidates = [Path(wheel).expanduser()] if wheel is not None else []
    env = os.environ.get("SHELFWISE_RECBOLE_WHEEL")
    if wheel is None and env:
        candidates.append(Path(env).expanduser())
    if wheel is None:
        candidates.append(WHEEL_DIR.expanduser() / WHEEL_NAME)
    for c in candidates:
        if c.is_file():
            return c
    raise DatasetMissingError(
        f"MovieLens-100k comes from the recbole {RECBOLE_VERSION} wheel, not found at "
        f"{', '.join(str(c) for c in candidates)}; download it with: {DOWNLOAD_COMMAND} "
        "(or set SHELFWISE_RECBOLE_WHEEL to the .whl file)")


def _read_atomic(z: zipfile.ZipFile, name: str, wheel: Path) -> pd.DataFrame:
    """A RecBole atomic file (tab-separated, header ``name:type``) as a string DataFrame."""
    import pandas as pd

    try:
        raw = z.read(_PREFIX + name)
    except KeyError as exc:
        raise DatasetMissingError(f"{wheel} has no {_PREFIX + name}; is it recbole "
                                  f"{RECBOLE_VERSION}? ({DOWNLOAD_COMMAND})") from exc
    df = pd.read_csv(io.BytesIO(raw), sep="\t", dtype=str, keep_default_na=False,
                     quoting=3, encoding="utf-8")
    df.columns = [c.split(":", 1)[0] for c in df.columns]
    return df


@dataclass(frozen=True)
class MovieLens100k:
    """The ratings and movies of ML-100k.

    Attributes:
        ratings: ``user_id`` (str), ``item_id`` (str), ``rating`` (int 1-5), ``timestamp``
            (float unix seconds); 100,000 rows in file order.
        movies: ``item_id`` (str), ``title``, ``year`` (str, may be empty), ``genres`` (list of
            str); 1,682 rows sorted by numeric id.

    """

    ratings: pd.DataFrame
    movies: pd.DataFrame

    @property
    def item_ids(self) -> tuple[str, ...]:
        """All 1,682 movie ids, in numeric order (the item index order)."""
        return tuple(self.movies["item_id"])

    def interactions(self, min_rating: int | None = None) -> Interactions:
        """The ratings as implicit interactions over the full catalog (weight 1).

        Args:
            min_rating: keep only ratings >= this value (default: every rating).

        Returns:
            ``Interactions`` with ``n_items`` = 1,682 and users in numeric-id order; ties in
            time keep the file order.

        """
        df = self.ratings
        if min_rating is not None:
            df = df[df["rating"] >= min_rating]
        users = sorted(df["user_id"].unique(), key=int)
        frame = df.rename(columns={"item_id": "product_id", "timestamp": "time"})
        return Interactions.from_frame(frame[["user_id", "product_id", "time"]],
                                       item_ids=self.item_ids, user_ids=users)

    def products(self, price: float = 10.0, currency: str = "USD") -> list[Product]:
        """The movies as catalog products: title, genres and year as text, a constant price.

        ``category`` is the first genre; ``attributes`` hold ``genres`` and ``year``.
        """
        from shelfwise.catalog import Product

        out = []
        for row in self.movies.itertuples(index=False):
            genres = list(row.genres)
            year = f" ({row.year})" if row.year else ""
            desc = f"{row.title}{year}. Genres: {', '.join(genres) or 'unknown'}."
            out.append(Product(id=row.item_id, title=f"{row.title}{year}", description=desc,
                               category=(genres[0] if genres else "unknown").lower(),
                               price=price, currency=currency,
                               attributes={"genres": " ".join(genres), "year": row.year}))
        return out


def load_ml100k(wheel: str | Path | None = None) -> MovieLens100k:
    """Read MovieLens-100k from the recbole wheel (see the module docstring for where).

    Raises:
        DatasetMissingError: the wheel or a file in it is missing.

    """
    import pandas as pd

    path = recbole_wheel(wheel)
    try:
        with zipfile.ZipFile(path) as z:
            inter = _read_atomic(z, "ml-100k.inter", path)
            items = _read_atomic(z, "ml-100k.item", path)
    except zipfile.BadZipFile as exc:
        raise DatasetMissingError(f"{path} is not a readable wheel ({exc}); download it again "
                                  f"with: {DOWNLOAD_COMMAND}") from exc
    ratings = pd.DataFrame({
        "user_id": inter["user_id"].astype(str),
        "item_id": inter["item_id"].astype(str),
        "rating": inter["rating"].astype(float).astype(np.int64),
        "timestamp": inter["timestamp"].astype(np.float64),
    })
    movies = pd.DataFrame({
        "item_id": items["item_id"].astype(str),
        "title": items["movie_title"].astype(str),
        "year": items["release_year"].astype(str),
        "genres": [g.split() for g in items["class"].astype(str)],
    })
    movies = movies.iloc[np.argsort(movies["item_id"].astype(int).to_numpy(), kind="stable")]
    return MovieLens100k(ratings.reset_index(drop=True), movies.reset_index(drop=True))
