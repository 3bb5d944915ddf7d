"""``shelfwise events export``: the whole event log to Parquet, streamed.

Rows have :data:`shelfwise.events.EXPORT_COLUMNS`; ``source`` says ``organic`` (imported
interactions) or ``served`` (impressions, one row per shown item, and the clicks and purchases
of served slates); ``time`` is a UTC timestamp (millisecond precision). Written batch by batch
with ``pyarrow.parquet.ParquetWriter`` to a temporary file that is renamed at the end, so the
output is complete or absent and memory holds one batch.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelfwise.errors import ConfigError
from shelfwise.events import EXPORT_COLUMNS, EventStore

__all__ = ["ExportSummary", "export_events", "export_schema"]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    output: str
    rows: int
    by_source: dict[str, int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary of ``shelfwise events export --json``."""
        return {"output": self.output, "rows": self.rows, "by_source": self.by_source,
                "seconds": round(self.seconds, 3)}


def export_schema() -> Any:
    """The pyarrow schema of the export."""
    import pyarrow as pa

    types = {"time": pa.timestamp("ms", tz="UTC"), "value": pa.float64(),
             "quantity": pa.int64(), "position": pa.int32(), "propensity": pa.float64(),
             "score": pa.float64(), "margin": pa.float64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in EXPORT_COLUMNS])


def export_events(store: EventStore, output: str | Path, *, batch_size: int = 65536,
                  overwrite: bool = False) -> ExportSummary:
    """Write the event log to ``output`` (Parquet), streamed.

    Args:
        store: the event log.
        output: the Parquet file to write.
        batch_size: rows per record batch (and row group), >= 1.
        overwrite: replace an existing ``output``.

    Raises:
        ConfigError: ``output`` exists (without ``overwrite``) or cannot be written.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    output = Path(output).expanduser()
    if output.is_dir():
        raise ConfigError(f"output {output} is a folder; give a .parquet file name")
    if output.exists() and not overwrite:
        raise ConfigError(f"output {output} exists; pass --overwrite to replace it")
    schema = export_schema()
    tmp = output.with_name(f".{output.name}.{uuid.uuid4().hex}.tmp")
    rows = 0
    by_source: dict[str, int] = {}
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(tmp, schema) as writer:
            for batch in store.export_batches(batch_size):
                arrays = []
                for col in schema:
                    values = batch[col.name]
                    if col.name == "time":
                        ms = np.rint(np.asarray(values, dtype=np.float64) * 1000.0)
                        arrays.append(pa.array(ms.astype(np.int64), type=pa.int64())
                                      .cast(col.type))
                    else:
                        arrays.append(pa.array(values, type=col.type))
                writer.write_batch(pa.record_batch(arrays, schema=schema))
                n = len(batch["source"])
                rows += n
                for s in set(batch["source"]):
                    by_source[s] = by_source.get(s, 0) + batch["source"].count(s)
        os.replace(tmp, output)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return ExportSummary(str(output), rows, by_source, time.perf_counter() - t0)
