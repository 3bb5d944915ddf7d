"""shelfwise: a recommendation agent for online shops."""

__version__ = "0.1.0"
