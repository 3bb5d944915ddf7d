"""Readers for the catalog files shops export: column maps, format detection, feed dialects.

Each module has one job: :mod:`columns` (header matching and ``--map``), :mod:`detect`
(which format a file is), :mod:`prices` (prices with currency, availability words),
:mod:`html` (HTML to plain text), :mod:`tabular` (CSV/TSV/JSON Lines/Parquet rows),
:mod:`merchant` (Google Merchant Center TSV and XML) and :mod:`shopify` (Shopify product CSV).
"""
