"""The HTTP API and web chat page (``shelfwise serve``).

:func:`create_app` builds the FastAPI app around a :class:`RecommendationService`;
:meth:`RecommendationService.open` loads one from a workspace.
"""

from shelfwise.serve.app import API_KEY_HEADER, DEFAULT_MAX_BODY_BYTES, create_app
from shelfwise.serve.service import ChatTurn, RecommendationService

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_MAX_BODY_BYTES",
    "ChatTurn",
    "RecommendationService",
    "create_app",
]
