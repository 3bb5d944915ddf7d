"""Batch slate generation for many shoppers at once, on Ray Data.

A merchandising or data team hands in a table of shoppers (``user_id``, optionally ``query``,
``history`` and per-row constraints) and gets back one ranked slate per shopper, as a folder of
Parquet part files. Both ends go through Ray Data's Parquet reader and writer
(``ray.data.read_parquet`` / ``read_csv``, ``Dataset.write_parquet``):

* the input is cut into deterministic slices of ``partition_size`` rows (partition ``i`` holds
  input rows ``[i * size, (i + 1) * size)``); each becomes one part file ``part-00000.parquet``;
* each Ray worker actor opens the :class:`~shelfwise.engine.Engine` (catalog, encoders, index)
  and the policy **once**, then serves whole partitions;
* Ray Data writes the slates into a staging folder of the job (``_staging-<job id>``, one
  Hive directory per partition, streamed as partitions finish); each complete staged file is
  then renamed to its part file, so a part file is either complete or absent; a re-run adopts
  the complete staged files of a killed run, skips partitions whose part file exists
  (``_manifest.json`` records the settings and a re-run with other settings is refused) and
  computes the rest;
* each shopper's random generator is derived from ``(seed, user_id)`` and each query is encoded
  on its own, so the same seed gives the same slates whatever the partitioning or the number
  of workers.

Batch slates are not impressions: nothing is written to the event log (a slate becomes an
impression only when a shop shows it). A shopper whose ``history`` is empty or absent gets
the history the event log holds (imported past interactions and reactions to served slates,
:func:`shelfwise.interactions.history.attach_history`), read once on the driver.

What a slate may hold, per row (all filters apply to every candidate source):

* not the shopper's own history, by default: the products of the row's ``history`` and every
  product the event log holds for the shopper (organic and served interactions, up to
  :data:`EXCLUDE_HISTORY_LIMIT`); ``include_history`` (``--include-history``) lets them back;
* the constraints of the ``query`` text, parsed as the chat parses a message ("waterproof
  jacket under 150": a price bound, a category, wanted or refused colours and materials);
  the rest of the text is what the state encodes;
* the row's constraint columns, all optional: ``min_price``, ``max_price`` (numbers; with a
  query's bound the tighter one applies), ``category`` (a name, comma-separated names or a
  list; it replaces a category the query names), ``in_stock`` (true: in-stock products only)
  and ``exclude`` (product ids never to show, a list or space-separated).

Candidates come from the engine's named sources (:meth:`~shelfwise.engine.Engine.candidate_set`:
content, behaviour, item-to-item, popular) with the sources' prior on the policy's logits, as
:meth:`shelfwise.recommender.Recommender.recommend` does.

Output columns: ``user_id, rank (1..k), product_id, score (policy score), propensity
(Plackett-Luce probability of the item at that rank), reason (nullable), policy,
policy_version``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError, IndexError_, PolicyError, ShelfwiseError
from shelfwise.workspace import Workspace

__all__ = [
    "MANIFEST_NAME",
    "OUTPUT_COLUMNS",
    "REASONS",
    "BatchConfig",
    "BatchResult",
    "SlateGenerator",
    "partition_bounds",
    "read_users",
    "resolve_policy",
    "run_batch",
    "user_rng",
]

REASONS = ("none", "template", "llm")
"""Values of ``BatchConfig.reasons``."""
OUTPUT_COLUMNS = ("user_id", "rank", "product_id", "score", "propensity", "reason", "policy",
                  "policy_version")
"""Columns of every part file, in this order."""
MANIFEST_NAME = "_manifest.json"
"""The job manifest inside the output folder."""
MANIFEST_FORMAT = "shelfwise.batch"
MANIFEST_VERSION = 1
_PART = "part-{:05d}.parquet"
_INPUT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
_QUERY_CACHE = 100_000
EXCLUDE_HISTORY_LIMIT = 10_000
"""Most products of a shopper's logged history that a slate leaves out."""
CONSTRAINT_COLUMNS = ("min_price", "max_price", "category", "in_stock", "exclude")
"""Optional per-row constraint columns of the shoppers table."""
_STAGING = "_staging-{}"


@dataclass(frozen=True)
class BatchConfig:
    """Settings of one batch job (the CLI's options)."""

    k: int = 10
    """Products per slate."""
    policy: str = "greedy"
    """Registry name (``random, greedy, linucb, lints, slateq, reinforce``), a checkpoint path,
    or a checkpoint name in the workspace's ``policies`` folder."""
    seed: int = 0
    """Seed of a fresh policy's parameters and of every shopper's generator."""
    reasons: str = "none"
    """``none`` (null reasons), ``template`` (from product facts) or ``llm`` (local model,
    checked for grounding, template fallback)."""
    n_candidates: int = 100
    """Products retrieved from the index per shopper before the policy picks ``k``."""
    partition_size: int = 2000
    """Input rows per partition (= per part file); the unit of resumption."""
    workers: int = 1
    """Ray worker actors (each loads the engine and the policy once)."""
    address: str | None = None
    """Ray cluster address; None: ``$RAY_ADDRESS`` if set, else a local Ray."""
    object_store_mb: int = 300
    """Object store of a local Ray (MB)."""
    include_history: bool = False
    """Let slates hold products the shopper already interacted with (default: never)."""
    llm: dict[str, Any] | None = None
    """The ``[llm]`` settings behind ``llm`` reasons (``LLMConfig.model_dump()``, e.g. from
    the ``--llm-*`` options); None: the workspace's ``[llm]`` section."""

    def __post_init__(self) -> None:
        for name in ("k", "n_candidates", "partition_size", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = name.replace("_", "-")
                raise ConfigError(f"--{flag} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if self.reasons not in REASONS:
            raise ConfigError(f"--reasons: unknown value {self.reasons!r}; choose one of: "
                              f"{', '.join(REASONS)}")
        if not isinstance(self.policy, str) or not self.policy.strip():
            raise ConfigError("--policy must be a policy name or a checkpoint path")
        if not isinstance(self.include_history, bool):
            raise ConfigError(f"include_history must be true or false, got "
                              f"{self.include_history!r}")
        if self.object_store_mb < 80:
            raise ConfigError(f"object_store_mb must be >= 80, got {self.object_store_mb}")


@dataclass
class BatchResult:
    """What one :func:`run_batch` call did."""

    output: Path
    """The output folder."""
    users: int
    """Shoppers in the input."""
    partitions: int
    """Partitions of the input."""
    computed: list[int] = field(default_factory=list)
    """Partitions computed by this call."""
    skipped: list[int] = field(default_factory=list)
    """Partitions whose part file already existed."""
    rows_written: int = 0
    """Output rows written by this call."""
    users_computed: int = 0
    """Shoppers whose slates this call computed."""
    seconds: float = 0.0
    """Wall time of this call."""
    policy: str = ""
    """Policy name."""
    policy_version: str = ""
    """Policy version."""

    @property
    def users_per_second(self) -> float:
        return self.users_computed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        d = asdict(self)
        d["output"] = str(self.output)
        d["users_per_second"] = round(self.users_per_second, 1)
        d["seconds"] = round(self.seconds, 3)
        return d


# ---- input ------------------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA (a scalar cell with no value)."""
    if value is None:
        return True
    if isinstance(value, str | bytes | list | tuple | np.ndarray | dict):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _ids(value: Any) -> list[Any]:
    """A list cell as a list (missing: empty)."""
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return []


def _parse_ids(value: Any, row: int, path: Path, column: str) -> list[str]:
    if _missing(value):
        return []
    if isinstance(value, str):
        return [t for t in value.replace(",", " ").split() if t]
    if isinstance(value, list | tuple | np.ndarray):
        out = []
        for v in value:
            if v is None or not isinstance(v, str | int | np.integer):
                raise ConfigError(f"input {path} row {row}: {column} holds {v!r}; "
                                  "expected product ids")
            out.append(str(v))
        return out
    raise ConfigError(f"input {path} row {row}: {column} must be a list of product ids or a "
                      f"space-separated string, got {type(value).__name__}")


def _parse_history(value: Any, row: int, path: Path) -> list[str]:
    return _parse_ids(value, row, path, "history")


def _parse_price(value: Any, row: int, path: Path, column: str) -> float | None:
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"input {path} row {row}: {column} must be a number, got "
                          f"{value!r}") from None
    if not np.isfinite(price) or price < 0:
        raise ConfigError(f"input {path} row {row}: {column} must be a finite number >= 0, "
                          f"got {value!r}")
    return price


def _parse_categories(value: Any, row: int, path: Path) -> tuple[str, ...] | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        names = [t.strip() for t in value.split(",")]
    elif isinstance(value, list | tuple | np.ndarray):
        names = [str(t).strip() for t in value]
    else:
        raise ConfigError(f"input {path} row {row}: category must be a name, comma-separated "
                          f"names or a list, got {type(value).__name__}")
    names = [n for n in names if n]
    return tuple(names) or None


_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


def _parse_flag(value: Any, row: int, path: Path, column: str) -> bool | None:
    if _missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"input {path} row {row}: {column} must be true or false, got {value!r}")


def _read_table(path: Path, kind: str, ray: Any) -> Any:
    """The raw table, through Ray Data's readers when ``ray`` is given, else pandas."""
    import pandas as pd

    if ray is not None:
        if kind == "csv":
            import pyarrow.csv as pacsv

            # ids and free text stay text whatever they look like; empty cells are null
            opts = pacsv.ConvertOptions(
                column_types={c: "string" for c in ("user_id", "query", "history",
                                                    "category", "exclude")},
                strings_can_be_null=True)
            ds = ray.data.read_csv(str(path), convert_options=opts)
        else:
            ds = ray.data.read_parquet(str(path))
        return ds.to_pandas()
    if kind == "csv":
        return pd.read_csv(path, dtype={c: str for c in ("user_id", "query", "history",
                                                          "category", "exclude")},
                           keep_default_na=False, na_values=[""])
    return pd.read_parquet(path)


def read_users(path: str | Path, *, ray: Any = None) -> Any:
    """Read and check the shoppers table.

    Args:
        path: a Parquet file, a folder of Parquet files, or a CSV file, with a ``user_id``
            column and optional ``query`` (text), ``history`` (list of product ids, oldest
            first, or a space-separated string) and constraint columns
            (:data:`CONSTRAINT_COLUMNS`, see the module docstring). Other columns are ignored.
        ray: the ``ray`` module of a running Ray: read with Ray Data (``read_parquet`` /
            ``read_csv``); None reads with pandas on this process.

    Returns:
        A pandas DataFrame in input order with columns ``user_id`` (str), ``query`` (str or
        None), ``history`` (list[str]), ``min_price`` / ``max_price`` (float or None),
        ``category`` (tuple[str] or None), ``in_stock`` (bool or None), ``exclude``
        (list[str]).

    Raises:
        ConfigError: missing, unreadable or empty input, no ``user_id`` column, an empty
            ``user_id``, or a malformed ``history`` or constraint (the message names the
            file, row and column).

    """
    import pandas as pd

    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"input file not found: {path}")
    kind = _input_kind(path)
    try:
        df = _read_table(path, kind, ray)
    except Exception as exc:  # pyarrow, pandas, Ray and OS errors all mean "cannot read"
        cause = getattr(exc, "cause", None) or exc
        raise ConfigError(f"cannot read input {path}: {type(cause).__name__}: {cause}"
                          ) from exc
    if "user_id" not in df.columns:
        cols = ", ".join(map(str, df.columns)) or "(none)"
        raise ConfigError(f"input {path} has no 'user_id' column (columns: {cols})")
    if len(df) == 0:
        raise ConfigError(f"input {path} has no rows")
    users = []
    for i, u in enumerate(df["user_id"].tolist()):
        if _missing(u) or not str(u).strip():
            raise ConfigError(f"input {path} row {i}: user_id is empty")
        users.append(str(u).strip())
    n = len(df)

    def column(name: str) -> list[Any]:
        return df[name].tolist() if name in df.columns else [None] * n

    queries = [q.strip() if isinstance(q, str) and q.strip() else None for q in column("query")]
    histories = [_parse_history(h, i, path) for i, h in enumerate(column("history"))]
    lo = [_parse_price(v, i, path, "min_price") for i, v in enumerate(column("min_price"))]
    hi = [_parse_price(v, i, path, "max_price") for i, v in enumerate(column("max_price"))]
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if a is not None and b is not None and a > b:
            raise ConfigError(f"input {path} row {i}: min_price {a:g} is above max_price {b:g}")
    cats = [_parse_categories(v, i, path) for i, v in enumerate(column("category"))]
    stock = [_parse_flag(v, i, path, "in_stock") for i, v in enumerate(column("in_stock"))]
    excl = [_parse_ids(v, i, path, "exclude") for i, v in enumerate(column("exclude"))]
    return pd.DataFrame({"user_id": pd.Series(users, dtype=object),
                         "query": pd.Series(queries, dtype=object),
                         "history": pd.Series(histories, dtype=object),
                         "min_price": pd.Series(lo, dtype=object),
                         "max_price": pd.Series(hi, dtype=object),
                         "category": pd.Series(cats, dtype=object),
                         "in_stock": pd.Series(stock, dtype=object),
                         "exclude": pd.Series(excl, dtype=object)})


def _input_kind(path: Path) -> str:
    if path.is_dir():
        return "parquet"
    kind = _INPUT_SUFFIXES.get(path.suffix.lower(), "")
    if not kind:
        raise ConfigError(f"input {path}: unsupported format {path.suffix or '(none)'!r}; "
                          "use a .parquet or .csv file")
    return kind


def _fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def partition_bounds(n_rows: int, partition_size: int) -> list[tuple[int, int]]:
    """Row ranges ``[start, end)`` of the partitions of an ``n_rows`` input."""
    return [(s, min(s + partition_size, n_rows)) for s in range(0, n_rows, partition_size)]


# ---- policy and randomness --------------------------------------------------------------------

def user_rng(seed: int, user_id: str) -> np.random.Generator:
    """The generator of one shopper: a function of ``(seed, user_id)`` only."""
    digest = hashlib.blake2b(user_id.encode("utf-8"), digest_size=8).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest, "little")])


def resolve_policy(spec: str, workspace: Workspace | None, *, dim: int, seed: int = 0) -> Any:
    """The policy named by ``spec``.

    Args:
        spec: a registry name, a checkpoint path, or a checkpoint name in the workspace's
            ``policies`` folder.
        workspace: where to look for checkpoint names (None: paths and names only).
        dim: the index dimension (state and candidate features).
        seed: seed of a fresh policy's parameters.

    Raises:
        PolicyError: unknown name (valid ones listed), unreadable checkpoint, or a checkpoint
            built for another dimension.

    """
    from agent.policy import load_policy, make_policy

    path = Path(spec).expanduser()
    found = path if path.exists() else None
    if found is None and workspace is not None and (workspace.policies_dir / spec).exists():
        found = workspace.policies_dir / spec
    if found is None and (any(s in spec for s in "/\\") or path.suffix):
        raise PolicyError(f"--policy: policy checkpoint not found: {spec}")
    if found is None:
        return make_policy(spec, dim=dim, seed=seed)
    policy = load_policy(found)
    state_dim = getattr(policy, "state_dim", None)
    if state_dim is not None and state_dim != dim:
        raise PolicyError(f"--policy: checkpoint {found} was trained on {state_dim}-d states; "
                          f"this workspace's index is {dim}-d")
    return policy


# ---- the per-worker slate generator -----------------------------------------------------------

class SlateGenerator:
    """Slates for a table of shoppers, with everything loaded once.

    Args:
        engine: an open :class:`~shelfwise.engine.Engine`.
        policy: a :class:`agent.policy.SlatePolicy`.
        k: products per slate.
        seed: seed of the shoppers' generators.
        n_candidates: products retrieved per shopper.
        reasons: ``none``, ``template`` or ``llm``.
        chat_model: the model behind ``llm`` reasons (default: the one ``llm`` names).
        llm: ``[llm]`` settings (``LLMConfig.model_dump()``) for ``llm`` reasons; None: the
            defaults (the bundled local model, one llama.cpp thread per worker).

    """

    def __init__(self, engine: Any, policy: Any, *, k: int = 10, seed: int = 0,
                 n_candidates: int = 100, reasons: str = "none", chat_model: Any = None,
                 include_history: bool = False, llm: dict[str, Any] | None = None) -> None:
        if reasons not in REASONS:
            raise ConfigError(f"--reasons: unknown value {reasons!r}; choose one of: "
                              f"{', '.join(REASONS)}")
        self.engine = engine
        self.policy = policy
        self.k = int(k)
        self.seed = int(seed)
        self.n_candidates = max(int(n_candidates), self.k)
        self.reasons = reasons
        self.include_history = bool(include_history)
        self._queries: dict[str, np.ndarray] = {}
        self._intents: dict[str, Any] = {}
        self._tools: Any = None
        self.explainer = None
        if reasons != "none":
            from agent.explain import Explainer
            from shelfwise.config import LLMConfig

            cfg = LLMConfig.model_validate(llm or {})
            if reasons == "llm" and chat_model is None:
                from shelfwise.llm_setup import open_chat_model

                if cfg.n_threads is None:  # workers already share the CPUs
                    cfg = cfg.model_copy(update={"n_threads": 1})
                chat_model = open_chat_model(cfg)
            # [llm] capable: the model may write free-form (claim-checked) reasons
            self.explainer = Explainer(chat_model if reasons == "llm" else None,
                                       capable=cfg.capable)

    def _query_vector(self, text: str) -> np.ndarray:
        # One query per encoder call: a batch would pad it with its neighbours and move the
        # vector in the last bits, so the slate would depend on the partitioning.
        vec = self._queries.get(text)
        if vec is None:
            vec = self.engine.encode_query(text)
            if len(self._queries) >= _QUERY_CACHE:
                self._queries.clear()
            self._queries[text] = vec
        return vec

    def _state(self, history: Sequence[str], query: str | None) -> np.ndarray:
        index = self.engine.index
        known = [i for i in history if i in index]
        hist = index.vectors(known) if known else np.zeros((0, self.engine.dim), np.float32)
        q = self._query_vector(query) if query else None
        return self.engine.state_builder.build(hist, q)

    def _intent(self, query: str) -> Any:
        """The chat's reading of ``query`` (constraints + remaining words), cached."""
        intent = self._intents.get(query)
        if intent is None:
            from agent.intent import parse_intent
            from shelfwise.shop import intent_vocab

            intent = parse_intent(query, vocab=intent_vocab(self.engine))
            if len(self._intents) >= _QUERY_CACHE:
                self._intents.clear()
            self._intents[query] = intent
        return intent

    def _shop_tools(self) -> Any:
        if self._tools is None:
            from shelfwise.shop import WorkspaceShopTools

            # only its intent -> filters part is used (no recommender, nothing logged)
            self._tools = WorkspaceShopTools(self.engine, None, in_stock_only=False)  # type: ignore[arg-type]
        return self._tools

    def request(self, row: Any) -> tuple[str | None, Any]:
        """The text the state encodes and the :class:`index.SearchFilter` of one shopper row.

        Args:
            row: a mapping with the columns :func:`read_users` returns (missing ones: none).

        Returns:
            ``(query text or None, filters)``: the query's constraints, the row's constraint
            columns and the exclusions (history unless ``include_history``, ``exclude``).
        """
        from dataclasses import replace

        from index import SearchFilter

        query = row.get("query")
        query = query if isinstance(query, str) and query else None
        flt = SearchFilter()
        text = query
        if query is not None:
            intent = self._intent(query)
            tools = self._shop_tools()
            flt = tools.filters(intent, self.k)
            text = tools._query(intent)  # the words left once the constraints are read
        lo, hi = row.get("min_price"), row.get("max_price")
        lo = None if _missing(lo) else float(lo)
        hi = None if _missing(hi) else float(hi)
        if lo is not None:
            flt = replace(flt, min_price=lo if flt.min_price is None else max(lo, flt.min_price))
        if hi is not None:
            flt = replace(flt, max_price=hi if flt.max_price is None else min(hi, flt.max_price))
        cats = row.get("category")
        if cats is not None and not _missing(cats) and len(cats):
            flt = replace(flt, categories=frozenset(str(c) for c in cats))
        if row.get("in_stock") is True:
            flt = replace(flt, in_stock_only=True)
        excluded = [str(i) for i in (row.get("exclude") or [])]
        if not self.include_history:
            excluded += [str(i) for i in (row.get("history") or [])]
        if excluded:
            flt = replace(flt, exclude_ids=frozenset(flt.exclude_ids) | frozenset(excluded))
        return text, flt

    def _choose(self, uid: str, state: np.ndarray, history: list[str], text: str | None,
                flt: Any) -> tuple[list[str], Any]:
        """Candidates from the named sources, then the policy's slate (as the recommender)."""
        rng = user_rng(self.seed, uid)
        engine = self.engine
        if hasattr(engine, "candidate_set"):
            cset = engine.candidate_set(state, history, self.n_candidates, flt,
                                        query=text is not None,
                                        exclude_history=not self.include_history)
            cand_ids = [c for c in cset.ids if c is not None]
            if not cand_ids:
                return [], None
            from shelfwise.candidates import select_with_prior

            sources = engine.candidate_sources
            extra = {"policy_scale": sources.policy_scale} if hasattr(
                sources, "policy_scale") else {}
            slate = select_with_prior(self.policy, state, np.asarray(cset.vectors, np.float32)
                                      [: len(cand_ids)], cset.prior,
                                      min(self.k, len(cand_ids)), rng,
                                      temperature=sources.config.temperature, **extra)
        else:
            cand_ids, feats = engine.candidates(state, self.n_candidates, flt)
            if not cand_ids:
                return [], None
            slate = self.policy.select(state, feats, min(self.k, len(cand_ids)), rng)
        return [cand_ids[int(i)] for i in np.asarray(slate.item_ids)], slate

    def _history_summary(self, history: Sequence[str]) -> str | None:
        recent = self.engine.products(list(history)[-5:])
        return "; ".join(p.title for p in recent) or None

    def slates(self, users: Any) -> Any:
        """Slates for a DataFrame of shoppers (columns as :func:`read_users` returns them).

        ``user_id`` is required; ``query``, ``history`` and the constraint columns are
        optional.

        Returns:
            A DataFrame with :data:`OUTPUT_COLUMNS`, ``k`` rows per shopper (fewer only when
            the catalog has fewer than ``k`` products), in input order then rank.

        """
        import pandas as pd

        from agent.products import ProductView

        cols: dict[str, list[Any]] = {c: [] for c in OUTPUT_COLUMNS}
        name = str(self.policy.name)
        for row in users.to_dict("records"):
            uid = str(row["user_id"])
            history = [str(h) for h in _ids(row.get("history"))]
            row["history"] = history
            row["exclude"] = _ids(row.get("exclude"))
            text, flt = self.request(row)
            query = row.get("query") if isinstance(row.get("query"), str) else None
            state = self._state(history, text)
            chosen, slate = self._choose(uid, state, history, text, flt)
            if not chosen:
                continue
            reasons: list[str | None] = [None] * len(chosen)
            if self.explainer is not None:
                products = self.engine.products(chosen)
                views = [ProductView.from_any(p) for p in products]
                summary = self._history_summary(history) if history else None
                from agent.facts import ShopperContext

                # the row's real history and price cap; nothing is said about what is absent
                shopper = ShopperContext.of(
                    query, budget=getattr(flt, "max_price", None),
                    history=[ProductView.from_any(p)
                             for p in self.engine.products(history[-5:])] if history else (),
                    key=uid)
                reasons = [e.text for e in self.explainer.explain_many(query, views, summary,
                                                                       shopper=shopper)]
            n = len(chosen)
            cols["user_id"].extend([str(uid)] * n)
            cols["rank"].extend(range(1, n + 1))
            cols["product_id"].extend(chosen)
            cols["score"].extend(np.asarray(slate.scores, dtype=np.float64).tolist())
            cols["propensity"].extend(np.asarray(slate.propensities, dtype=np.float64).tolist())
            cols["reason"].extend(reasons)
            cols["policy"].extend([str(slate.policy or name)] * n)
            cols["policy_version"].extend([str(slate.version)] * n)
        out = pd.DataFrame(cols)
        out["rank"] = out["rank"].astype("int32")
        out["score"] = out["score"].astype("float64")
        out["propensity"] = out["propensity"].astype("float64")
        out["reason"] = out["reason"].astype(object)
        return out


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([("user_id", pa.string()), ("rank", pa.int32()),
                      ("product_id", pa.string()), ("score", pa.float64()),
                      ("propensity", pa.float64()), ("reason", pa.string()),
                      ("policy", pa.string()), ("policy_version", pa.string())])


def _write_part(frame: Any, path: Path, partition: int, extra: dict[str, str]) -> None:
    """Write ``frame`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, schema=_schema(), preserve_index=False)
    meta = {b"shelfwise.batch.partition": str(partition).encode(),
            **{f"shelfwise.batch.{k}".encode(): v.encode() for k, v in extra.items()}}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _staged_schema() -> Any:
    import pyarrow as pa

    return _schema().append(pa.field("_partition", pa.int32()))


class _PartitionWorker:
    """Ray actor: opens the engine and policy once, then turns whole partitions into slates."""

    def __init__(self, workspace: str, policy: Any, k: int, seed: int, n_candidates: int,
                 reasons: str, include_history: bool, llm: dict[str, Any] | None = None) -> None:
        with contextlib.suppress(Exception):  # one thread each: workers already share the CPUs
            import faiss

            faiss.omp_set_num_threads(1)
        with contextlib.suppress(Exception):
            import torch

            torch.set_num_threads(1)
        from shelfwise.engine import Engine

        self.engine = Engine.open(workspace)
        self.generator = SlateGenerator(self.engine, policy, k=k, seed=seed,
                                        n_candidates=n_candidates, reasons=reasons,
                                        include_history=include_history, llm=llm)

    def __call__(self, batch: Any) -> Any:
        """Slates of whole partitions, as an Arrow table with a ``_partition`` column."""
        import pyarrow as pa

        tables = []
        for part, frame in batch.groupby("_partition", sort=True):
            expected = int(frame["_rows"].iloc[0])
            if len(frame) != expected:
                raise ShelfwiseError(f"internal error: partition {part} arrived as {len(frame)} "
                                     f"of {expected} rows")
            out = self.generator.slates(frame).assign(_partition=np.int32(part))
            tables.append(pa.Table.from_pandas(out, schema=_staged_schema(),
                                               preserve_index=False))
        if not tables:
            return _staged_schema().empty_table()
        return pa.concat_tables(tables)


# ---- the job ----------------------------------------------------------------------------------

def _check_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output {output} exists and is a file; give a folder for the part "
                          "files")


def _read_manifest(output: Path) -> dict[str, Any] | None:
    path = output / MANIFEST_NAME
    if not path.exists():
        others = [p.name for p in output.iterdir()] if output.is_dir() else []
        if others:
            raise ConfigError(f"output folder {output} is not empty and holds no batch manifest "
                              f"({MANIFEST_NAME}); choose a new or empty folder")
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"corrupt batch manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ConfigError(f"{path} is not a shelfwise batch manifest")
    return manifest


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _part_done(path: Path) -> bool:
    import pyarrow.parquet as pq

    if not path.is_file():
        return False
    try:
        pq.read_metadata(path)
    except Exception:  # a damaged part file is recomputed
        return False
    return True


@contextlib.contextmanager
def _ray_session(address: str | None, workers: int, object_store_mb: int) -> Iterator[Any]:
    """Connect to ``address`` / ``$RAY_ADDRESS``, or start a small local Ray; reuse a running one.

    A Ray started here is shut down on exit; one that was already running is left alone.
    """
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a dependency
        raise ConfigError("batch needs Ray Data; install it with: pip install 'ray[data]'"
                          ) from exc
    started = False
    if not ray.is_initialized():
        addr = address or os.environ.get("RAY_ADDRESS") or None
        try:
            if addr:
                ray.init(address=addr, log_to_driver=False, configure_logging=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False,
                         object_store_memory=object_store_mb * 1024 * 1024,
                         log_to_driver=False, configure_logging=False)
        except Exception as exc:
            where = f"the Ray cluster at {addr}" if addr else "a local Ray"
            raise ShelfwiseError(f"cannot start {where}: {exc}") from exc
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def run_batch(input_path: str | Path, output: str | Path, workspace: Workspace | str | Path |
              None = None, config: BatchConfig | None = None, *, progress: bool = True,
              overwrite: bool = False) -> BatchResult:
    """Generate slates for every shopper of ``input_path`` into the folder ``output``.

    Args:
        input_path: shoppers table (see :func:`read_users`).
        output: folder of part files (created; resumed when it holds a manifest of the same
            job).
        workspace: the workspace with the catalog and the product index.
        config: job settings.
        progress: show Ray Data's progress bars.
        overwrite: delete this job's earlier part files and manifest instead of resuming.

    Returns:
        What was computed and skipped, with timings.

    Raises:
        ConfigError: bad input, output or settings (named in the message).
        PolicyError: unknown policy or unreadable checkpoint.
        IndexError_: the workspace has no product index.
        ShelfwiseError: Ray could not start or a worker failed.

    """
    config = config or BatchConfig()
    t0 = time.perf_counter()
    input_path = Path(input_path).expanduser()
    output = Path(output).expanduser()
    _check_output(output)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    meta_path = ws.index_dir / "meta.json"
    if not meta_path.is_file():
        raise IndexError_(f"{ws.index_dir}: no product index yet; run `shelfwise index build` "
                          "(or `shelfwise demo`)")
    from index.vector_index import read_meta

    dim = int(read_meta(ws.index_dir)["dimension"])  # validated: a bad file is a named error
    if not input_path.exists():
        raise ConfigError(f"input file not found: {input_path}")
    _input_kind(input_path)
    policy = resolve_policy(config.policy, ws, dim=dim, seed=config.seed)
    with _ray_session(config.address, config.workers, config.object_store_mb) as ray:
        return _run_job(ray, input_path, output, ws, policy, config, progress, overwrite, t0)


def _run_job(ray: Any, input_path: Path, output: Path, ws: Workspace, policy: Any,
             config: BatchConfig, progress: bool, overwrite: bool, t0: float) -> BatchResult:
    """:func:`run_batch` once Ray runs: read, plan, compute the pending partitions, adopt."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.verbose_progress = False
    users = read_users(input_path, ray=ray)
    from shelfwise.interactions.history import attach_history  # empty histories from the log

    users, _from_log = attach_history(users, ws.events_db)
    if not config.include_history:
        users = _exclude_logged_history(users, ws.events_db)
    settings = {"k": config.k, "policy": config.policy, "policy_name": str(policy.name),
                "policy_version": str(policy.version), "seed": config.seed,
                "reasons": config.reasons, "n_candidates": config.n_candidates,
                "partition_size": config.partition_size, "workspace": str(ws.root.resolve()),
                "index_sha256": _index_checksum(ws),
                "include_history": config.include_history}
    llm: dict[str, Any] | None = None
    if config.reasons == "llm":
        from shelfwise.llm_setup import resolve_llm_config

        llm = config.llm if config.llm is not None else resolve_llm_config(
            ws.config_file).model_dump()
        settings["llm"] = llm  # another model's reasons are another job
        config = replace(config, llm=llm)
    job_input = {"path": str(input_path.resolve()), "sha256": _fingerprint(input_path),
                 "rows": len(users)}

    manifest = _read_manifest(output) if output.exists() else None
    if manifest is not None and overwrite:
        for p in output.glob("part-*.parquet"):
            p.unlink()
        for d in output.glob(_STAGING.format("*")):
            shutil.rmtree(d, ignore_errors=True)
        (output / MANIFEST_NAME).unlink()
        manifest = None
    if manifest is not None:
        diffs = [f"{key}: {manifest['settings'].get(key)!r} then, {val!r} now"
                 for key, val in settings.items() if manifest["settings"].get(key) != val]
        if manifest["input"].get("sha256") != job_input["sha256"]:
            diffs.append("input: its content changed")
        if diffs:
            raise ConfigError(f"output folder {output} holds a batch job with other settings "
                              f"({'; '.join(diffs)}); use a new folder or --overwrite")
        job_id = str(manifest["job_id"])
    else:
        output.mkdir(parents=True, exist_ok=True)
        job_id = uuid.uuid4().hex
        manifest = {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION,
                    "job_id": job_id, "input": job_input, "settings": settings,
                    "columns": list(OUTPUT_COLUMNS), "partitions": {}, "complete": False}
        _write_json(output / MANIFEST_NAME, manifest)
    for stale in output.glob(".*.tmp"):  # left by a killed run
        stale.unlink(missing_ok=True)

    bounds = partition_bounds(len(users), config.partition_size)
    manifest["n_partitions"] = len(bounds)
    staging = output / _STAGING.format(job_id)
    # partitions a killed run of this job finished
    _adopt_staged(staging, output, [i for i in range(len(bounds))
                                    if not _part_done(output / _PART.format(i))])
    skipped = [i for i in range(len(bounds)) if _part_done(output / _PART.format(i))]
    pending = [i for i in range(len(bounds)) if i not in set(skipped)]
    result = BatchResult(output=output, users=len(users), partitions=len(bounds),
                         skipped=skipped, policy=str(policy.name),
                         policy_version=str(policy.version))
    if pending:
        frames = [users.iloc[s:e].assign(_partition=i, _rows=e - s)
                  for i, (s, e) in ((i, bounds[i]) for i in pending)]
        _run_on_ray(ray, frames, ws, policy, staging, config)
        adopted = _adopt_staged(staging, output, pending, empty_ok=True)
        for i in pending:
            rows = adopted[i]
            manifest["partitions"][str(i)] = {"file": _PART.format(i),
                                              "users": bounds[i][1] - bounds[i][0],
                                              "rows": rows}
            result.computed.append(i)
            result.rows_written += rows
            result.users_computed += bounds[i][1] - bounds[i][0]
    shutil.rmtree(staging, ignore_errors=True)
    manifest["complete"] = all(_part_done(output / _PART.format(i)) for i in range(len(bounds)))
    _write_json(output / MANIFEST_NAME, manifest)
    result.seconds = time.perf_counter() - t0
    return result


def _index_checksum(ws: Workspace) -> str:
    meta = json.loads((ws.index_dir / "meta.json").read_text())
    files = meta.get("files") or {}
    return str((files.get("index") or {}).get("sha256", ""))


def _exclude_logged_history(users: Any, events_db: Path) -> Any:
    """Add every product of each shopper's logged history to the row's ``exclude`` list."""
    if not Path(events_db).is_file():
        return users
    from shelfwise.events import SQLiteEventStore

    excl = list(users["exclude"]) if "exclude" in users.columns else [[]] * len(users)
    with SQLiteEventStore(events_db) as store:
        out = [list(given or []) + store.user_history(str(uid), EXCLUDE_HISTORY_LIMIT)
               for uid, given in zip(users["user_id"], excl, strict=True)]
    import pandas as pd

    users = users.copy()
    users["exclude"] = pd.Series(out, dtype=object, index=users.index)
    return users


def _adopt_staged(staging: Path, output: Path, partitions: Any, *,
                  empty_ok: bool = False) -> dict[int, int]:
    """Rename the staged file of each partition to its part file; returns rows per partition.

    Ray Data's writer puts partition ``i`` under ``staging/_partition=i/``. A complete file
    (readable footer) is renamed to ``part-<i>.parquet``; several files of one partition (a
    retried task) are read and written as one. With ``empty_ok`` a partition without a
    staged file (its shoppers got no slate) gets an empty part file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: dict[int, int] = {}
    for i in partitions:
        target = output / _PART.format(i)
        folder = staging / f"_partition={i}"
        files = sorted(f for f in folder.glob("*.parquet") if _part_done(f)) \
            if folder.is_dir() else []
        if len(files) == 1:
            rows[i] = pq.read_metadata(files[0]).num_rows
            os.replace(files[0], target)
        elif files:
            table = pa.concat_tables([pq.read_table(f, schema=_schema()) for f in files])
            rows[i] = table.num_rows
            _write_part(table.to_pandas(), target, i, {})
        elif empty_ok:
            rows[i] = 0
            _write_part(_schema().empty_table().to_pandas(), target, i, {})
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
    return rows


def _run_on_ray(ray: Any, frames: list[Any], ws: Workspace, policy: Any, staging: Path,
                config: BatchConfig) -> None:
    """Compute the partitions on Ray actors and stream the slates to ``staging`` (Parquet)."""
    ds = ray.data.from_pandas(frames)
    mapped = ds.map_batches(
        _PartitionWorker,
        fn_constructor_kwargs={
            "workspace": str(ws.root.resolve()), "policy": policy, "k": config.k,
            "seed": config.seed, "n_candidates": config.n_candidates,
            "reasons": config.reasons, "include_history": config.include_history,
            "llm": config.llm},
        batch_size=None, batch_format="pandas", num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=min(config.workers, len(frames))))
    try:
        mapped.write_parquet(str(staging.resolve()), partition_cols=["_partition"],
                             schema=_staged_schema())
    except ShelfwiseError:
        raise
    except Exception as exc:
        cause = exc
        while getattr(cause, "cause", None) is not None:  # Ray wraps the worker's exception
            cause = cause.cause
        if isinstance(cause, ShelfwiseError):
            raise type(cause)(str(cause)) from exc
        raise ShelfwiseError(f"batch job failed on Ray: {type(cause).__name__}: {cause}"
                             ) from exc
