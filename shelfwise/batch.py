"""Batch slate generation for many shoppers at once, on Ray Data.

A merchandising or data team hands in a table of shoppers (``user_id``, optionally ``query``
and ``history``) and gets back one ranked slate per shopper, as a folder of Parquet part files:

* the input is cut into deterministic slices of ``partition_size`` rows (partition ``i`` holds
  input rows ``[i * size, (i + 1) * size)``); each becomes one part file ``part-00000.parquet``;
* each Ray worker actor opens the :class:`~shelfwise.engine.Engine` (catalog, encoders, index)
  and the policy **once**, then serves whole partitions;
* a part file is written to a temporary name and renamed, so it is either complete or absent;
  a re-run skips partitions whose part file exists (``_manifest.json`` records the settings and
  a re-run with other settings is refused);
* each shopper's random generator is derived from ``(seed, user_id)`` and each query is encoded
  on its own, so the same seed gives the same slates whatever the partitioning or the number
  of workers.

Batch slates are not impressions: nothing is written to the event log (a slate becomes an
impression only when a shop shows it). A shopper whose ``history`` is empty or absent gets
the history the event log holds (imported past interactions and reactions to served slates,
:func:`shelfwise.interactions.history.attach_history`), read once on the driver.

Output columns: ``user_id, rank (1..k), product_id, score (policy score), propensity
(Plackett-Luce probability of the item at that rank), reason (nullable), policy,
policy_version``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
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

def _parse_history(value: Any, row: int, path: Path) -> list[str]:
    if value is None:
        return []
    if isinstance(value, float) and np.isnan(value):
        return []
    if isinstance(value, str):
        return [t for t in value.replace(",", " ").split() if t]
    if isinstance(value, list | tuple | np.ndarray):
        out = []
        for v in value:
            if v is None or not isinstance(v, str | int | np.integer):
                raise ConfigError(f"input {path} row {row}: history holds {v!r}; "
                                  "expected product ids")
            out.append(str(v))
        return out
    raise ConfigError(f"input {path} row {row}: history must be a list of product ids or a "
                      f"space-separated string, got {type(value).__name__}")


def read_users(path: str | Path) -> Any:
    """Read and check the shoppers table.

    Args:
        path: a Parquet file, a folder of Parquet files, or a CSV file, with a ``user_id``
            column and optional ``query`` (text) and ``history`` (list of product ids, oldest
            first, or a space-separated string) columns. Other columns are ignored.

    Returns:
        A pandas DataFrame with columns ``user_id`` (str), ``query`` (str or None) and
        ``history`` (list[str]), in input order.

    Raises:
        ConfigError: missing, unreadable or empty input, no ``user_id`` column, an empty
            ``user_id``, or a malformed ``history`` (the message names the file and row).

    """
    import pandas as pd

    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"input file not found: {path}")
    if path.is_dir():
        kind = "parquet"
    else:
        kind = _INPUT_SUFFIXES.get(path.suffix.lower(), "")
        if not kind:
            raise ConfigError(f"input {path}: unsupported format {path.suffix or '(none)'!r}; "
                              "use a .parquet or .csv file")
    try:
        if kind == "csv":
            df = pd.read_csv(path, dtype={"user_id": str, "query": str, "history": str},
                             keep_default_na=False, na_values=[""])
        else:
            df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow, pandas and OS errors all mean "cannot read"
        raise ConfigError(f"cannot read input {path}: {type(exc).__name__}: {exc}") from exc
    if "user_id" not in df.columns:
        cols = ", ".join(map(str, df.columns)) or "(none)"
        raise ConfigError(f"input {path} has no 'user_id' column (columns: {cols})")
    if len(df) == 0:
        raise ConfigError(f"input {path} has no rows")
    users = []
    for i, u in enumerate(df["user_id"].tolist()):
        if u is None or (isinstance(u, float) and np.isnan(u)) or not str(u).strip():
            raise ConfigError(f"input {path} row {i}: user_id is empty")
        users.append(str(u).strip())
    if "query" in df.columns:
        queries = [q.strip() if isinstance(q, str) and q.strip() else None
                   for q in df["query"].tolist()]
    else:
        queries = [None] * len(df)
    if "history" in df.columns:
        histories = [_parse_history(h, i, path) for i, h in enumerate(df["history"].tolist())]
    else:
        histories = [[] for _ in range(len(df))]
    return pd.DataFrame({"user_id": pd.Series(users, dtype=object),
                         "query": pd.Series(queries, dtype=object),
                         "history": pd.Series(histories, dtype=object)})


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
        chat_model: the model behind ``llm`` reasons (default: the bundled local model).

    """

    def __init__(self, engine: Any, policy: Any, *, k: int = 10, seed: int = 0,
                 n_candidates: int = 100, reasons: str = "none", chat_model: Any = None) -> None:
        if reasons not in REASONS:
            raise ConfigError(f"--reasons: unknown value {reasons!r}; choose one of: "
                              f"{', '.join(REASONS)}")
        self.engine = engine
        self.policy = policy
        self.k = int(k)
        self.seed = int(seed)
        self.n_candidates = max(int(n_candidates), self.k)
        self.reasons = reasons
        self._queries: dict[str, np.ndarray] = {}
        self.explainer = None
        if reasons != "none":
            from agent.explain import Explainer

            if reasons == "llm" and chat_model is None:
                from agent.llm import default_chat_model

                chat_model = default_chat_model(n_threads=1)
            self.explainer = Explainer(chat_model if reasons == "llm" else None)

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

    def _history_summary(self, history: Sequence[str]) -> str | None:
        recent = self.engine.products(list(history)[-5:])
        return "; ".join(p.title for p in recent) or None

    def slates(self, users: Any) -> Any:
        """Slates for a DataFrame with ``user_id``, ``query``, ``history`` columns.

        Returns:
            A DataFrame with :data:`OUTPUT_COLUMNS`, ``k`` rows per shopper (fewer only when
            the catalog has fewer than ``k`` products), in input order then rank.

        """
        import pandas as pd

        from agent.products import ProductView

        cols: dict[str, list[Any]] = {c: [] for c in OUTPUT_COLUMNS}
        name = str(self.policy.name)
        queries = users["query"] if "query" in users.columns else [None] * len(users)
        histories = users["history"] if "history" in users.columns else [[]] * len(users)
        for uid, query, history in zip(users["user_id"], queries, histories, strict=True):
            query = query if isinstance(query, str) and query else None
            history = [] if history is None else [str(h) for h in history]
            state = self._state(history, query)
            cand_ids, feats = self.engine.candidates(state, self.n_candidates)
            if not cand_ids:
                continue
            slate = self.policy.select(state, feats, min(self.k, len(cand_ids)),
                                       user_rng(self.seed, str(uid)))
            chosen = [cand_ids[int(i)] for i in np.asarray(slate.item_ids)]
            reasons: list[str | None] = [None] * len(chosen)
            if self.explainer is not None:
                products = self.engine.products(chosen)
                views = [ProductView.from_any(p) for p in products]
                summary = self._history_summary(history) if history else None
                reasons = [e.text for e in self.explainer.explain_many(query, views, summary)]
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


class _PartitionWorker:
    """Ray actor: opens the engine and policy once, then turns whole partitions into part files."""

    def __init__(self, workspace: str, policy: Any, output: str, k: int, seed: int,
                 n_candidates: int, reasons: str, manifest_id: str) -> None:
        with contextlib.suppress(Exception):  # one thread each: workers already share the CPUs
            import faiss

            faiss.omp_set_num_threads(1)
        with contextlib.suppress(Exception):
            import torch

            torch.set_num_threads(1)
        from shelfwise.engine import Engine

        self.engine = Engine.open(workspace)
        self.generator = SlateGenerator(self.engine, policy, k=k, seed=seed,
                                        n_candidates=n_candidates, reasons=reasons)
        self.output = Path(output)
        self.manifest_id = manifest_id

    def __call__(self, batch: Any) -> Any:
        import pandas as pd

        rows = []
        for part, frame in batch.groupby("_partition", sort=True):
            expected = int(frame["_rows"].iloc[0])
            if len(frame) != expected:
                raise ShelfwiseError(f"internal error: partition {part} arrived as {len(frame)} "
                                     f"of {expected} rows")
            t0 = time.perf_counter()
            out = self.generator.slates(frame)
            _write_part(out, self.output / _PART.format(int(part)), int(part),
                        {"job": self.manifest_id})
            rows.append({"partition": int(part), "users": len(frame), "rows": len(out),
                         "seconds": time.perf_counter() - t0})
        return pd.DataFrame(rows, columns=["partition", "users", "rows", "seconds"])


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
    users = read_users(input_path)
    from shelfwise.interactions.history import attach_history  # empty histories from the log

    users, _from_log = attach_history(users, ws.events_db)
    policy = resolve_policy(config.policy, ws, dim=dim, seed=config.seed)
    settings = {"k": config.k, "policy": config.policy, "policy_name": str(policy.name),
                "policy_version": str(policy.version), "seed": config.seed,
                "reasons": config.reasons, "n_candidates": config.n_candidates,
                "partition_size": config.partition_size, "workspace": str(ws.root.resolve()),
                "index_sha256": _index_checksum(ws)}
    job_input = {"path": str(input_path.resolve()), "sha256": _fingerprint(input_path),
                 "rows": len(users)}

    manifest = _read_manifest(output) if output.exists() else None
    if manifest is not None and overwrite:
        for p in output.glob("part-*.parquet"):
            p.unlink()
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
    skipped = [i for i in range(len(bounds)) if _part_done(output / _PART.format(i))]
    pending = [i for i in range(len(bounds)) if i not in set(skipped)]
    result = BatchResult(output=output, users=len(users), partitions=len(bounds),
                         skipped=skipped, policy=str(policy.name),
                         policy_version=str(policy.version))
    if pending:
        frames = [users.iloc[s:e].assign(_partition=i, _rows=e - s)
                  for i, (s, e) in ((i, bounds[i]) for i in pending)]
        with _ray_session(config.address, config.workers, config.object_store_mb) as ray:
            stats = _run_on_ray(ray, frames, ws, policy, output, config, job_id, progress)
        for row in stats:
            manifest["partitions"][str(row["partition"])] = {
                "file": _PART.format(row["partition"]), "users": row["users"],
                "rows": row["rows"], "seconds": round(row["seconds"], 3)}
            result.computed.append(int(row["partition"]))
            result.rows_written += int(row["rows"])
            result.users_computed += int(row["users"])
        result.computed.sort()
    manifest["complete"] = all(_part_done(output / _PART.format(i)) for i in range(len(bounds)))
    _write_json(output / MANIFEST_NAME, manifest)
    result.seconds = time.perf_counter() - t0
    return result


def _index_checksum(ws: Workspace) -> str:
    meta = json.loads((ws.index_dir / "meta.json").read_text())
    files = meta.get("files") or {}
    return str((files.get("index") or {}).get("sha256", ""))


def _run_on_ray(ray: Any, frames: list[Any], ws: Workspace, policy: Any, output: Path,
                config: BatchConfig, job_id: str, progress: bool) -> list[dict[str, Any]]:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.verbose_progress = False
    ds = ray.data.from_pandas(frames)
    mapped = ds.map_batches(
        _PartitionWorker,
        fn_constructor_kwargs={
            "workspace": str(ws.root.resolve()), "policy": policy,
            "output": str(output.resolve()), "k": config.k, "seed": config.seed,
            "n_candidates": config.n_candidates, "reasons": config.reasons,
            "manifest_id": job_id},
        batch_size=None, batch_format="pandas", num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=min(config.workers, len(frames))))
    try:
        return [dict(r) for r in mapped.iter_rows()]
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
