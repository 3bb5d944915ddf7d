"""Behaviour models: item and shopper vectors learned from the event log.

Content encoders (text, image) and behaviour models sit side by side in ``encoders``;
nothing here imports ``index``, ``agent`` or ``shelfwise``. Importing this package is cheap:
torch (SASRec), implicit (ALS), scipy and pandas load only when used.

Registered models (:data:`BEHAVIOUR_MODELS`): ``ease`` (closed form, Steck 2019),
``als`` (implicit's ALS), ``itemknn`` (cosine item-kNN baseline), ``sasrec`` (causal
self-attention over recent items). :func:`choose_item_model` picks EASE or ALS by catalog
size; :func:`with_content` gives items without interactions a vector through their content.

Typical use::

    data = Interactions.from_frame(events_df, item_ids=catalog_ids)   # user_id, product_id,
    model = make_behaviour_model(choose_item_model(data.n_items))     # time, weight
    model = with_content(model, product_vectors)    # optional: cold start, (n_items, d_c)
    model.fit(data, progress=True)
    scores = model.score([history_item_indices])     # (1, n_items); mask the history yourself
    model.save(folder); model = load_behaviour_model(folder)

``item_vectors()`` (``(n_items, d)``, inner product with ``user_vectors(histories)``) go into
a FAISS index for behaviour retrieval; SASRec's ``user_vectors`` is the sequence part of the
RL state. EASE and item-kNN have no vectors (None): use ``score`` for item-to-item.
"""

from encoders.behaviour.als import ALSConfig, ALSModel
from encoders.behaviour.base import (
    BEHAVIOUR_MODELS,
    EASE_MAX_ITEMS,
    BaseBehaviourModel,
    BehaviourConfig,
    BehaviourModel,
    Interactions,
    behaviour_model_class,
    choose_item_model,
    load_behaviour_model,
    make_behaviour_model,
)
from encoders.behaviour.content import ContentBackedModel, ContentConfig, with_content
from encoders.behaviour.ease import EASEConfig, EASEModel
from encoders.behaviour.itemknn import ItemKNNConfig, ItemKNNModel
from encoders.behaviour.sasrec import SASRecConfig, SASRecModel

__all__ = [
    "ALSConfig",
    "ALSModel",
    "BEHAVIOUR_MODELS",
    "EASE_MAX_ITEMS",
    "BaseBehaviourModel",
    "BehaviourConfig",
    "BehaviourModel",
    "ContentBackedModel",
    "ContentConfig",
    "EASEConfig",
    "EASEModel",
    "Interactions",
    "ItemKNNConfig",
    "ItemKNNModel",
    "SASRecConfig",
    "SASRecModel",
    "behaviour_model_class",
    "choose_item_model",
    "load_behaviour_model",
    "make_behaviour_model",
    "with_content",
]
