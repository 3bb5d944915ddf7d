"""The vector index: FAISS behind one small class, keyed by string product ids.

``VectorIndex`` adds, upserts and removes items by product id, searches with
``SearchFilter`` (category, price range, stock, excluded ids), picks its FAISS index type by
catalog size (or takes any FAISS factory string) and saves/loads with checksums. See
``index.vector_index`` for the details.
"""

from index.records import ItemMeta, SearchFilter
from index.vector_index import VectorIndex

__all__ = ["ItemMeta", "SearchFilter", "VectorIndex"]
