"""Behaviour models: item and shopper vectors learned from the event log.

Content encoders (text, image) and behaviour models sit side by side in ``encoders``;
nothing here imports ``index``, ``agent`` or ``shelfwise``. Importing this package is cheap:
torch (SASRec) and implicit (ALS) load only when their model is built.

Registered models (:data:`BEHAVIOUR_MODELS`): ``ease`` (closed form, Steck 2019),
``als`` (implicit's ALS), ``itemknn`` (cosine item-kNN baseline), ``sasrec`` (causal
self-attention over recent items). :func:`choose_item_model` picks EASE or ALS by catalog
size; :func:`with_content` gives items without interactions a vector through their content.
"""

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
from encoders.behaviour.content import ContentBackedModel, with_content

__all__ = [
    "BEHAVIOUR_MODELS",
    "EASE_MAX_ITEMS",
    "BaseBehaviourModel",
    "BehaviourConfig",
    "BehaviourModel",
    "ContentBackedModel",
    "Interactions",
    "behaviour_model_class",
    "choose_item_model",
    "load_behaviour_model",
    "make_behaviour_model",
    "with_content",
]
