"""Past interactions a shop brings: import from files into the event log, and export it back.

``shelfwise ingest-events FILE`` reads views, clicks, add-to-carts and purchases (user, product,
time, kind, optional value, quantity and session) from CSV/TSV, JSON Lines or Parquet, streamed
in batches with constant memory, validates them vectorised, and stores them in the event log as
*organic* interactions (:class:`shelfwise.events.Interaction`: no slate, no propensity) with
ids derived from the row's content, so that a re-import adds nothing. Rows that cannot be
stored go to a rejects file with their reasons. ``shelfwise events export`` streams the whole
log (organic and served, with a ``source`` column) to Parquet.

Modules, one job each: :mod:`.fields` (which column holds which field, and the shop's kind
words), :mod:`.readers` (record batches from each file format, never crashing),
:mod:`.validate` (vectorised checks and conversion of one batch), :mod:`.ingest` (the import
loop, rejects file and summary) and :mod:`.export` (the Parquet export).
"""

from shelfwise.interactions.export import ExportSummary, export_events
from shelfwise.interactions.fields import DEFAULT_KIND_WORDS, FIELDS, parse_kind_map
from shelfwise.interactions.ingest import (
    ImportOptions,
    ImportSummary,
    InteractionImportError,
    import_interactions,
)

__all__ = [
    "DEFAULT_KIND_WORDS",
    "FIELDS",
    "ExportSummary",
    "ImportOptions",
    "ImportSummary",
    "InteractionImportError",
    "export_events",
    "import_interactions",
    "parse_kind_map",
]
