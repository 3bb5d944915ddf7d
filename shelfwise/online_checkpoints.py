"""Checkpoints of online policy updates: saved periodically and on shutdown, reloaded on start.

A long-lived :class:`~shelfwise.recommender.Recommender` (the HTTP server, the chat) updates
its policy on every click and purchase. Without checkpoints a restart forgets all of it.

Layout: one file per *base policy*, ``<folder>/<base version>.npz`` (a single-file policy
checkpoint, :func:`agent.policy.save_policy`), where the base version is the version of the
policy the recommender started from (a fresh ``linucb``, or a checkpoint ``shelfwise train``
wrote). A recommender that starts from the same base policy reloads its online updates; one
that starts from a newly trained policy starts afresh from it (the old file stays, unused),
so a retrained policy is never shadowed by the online updates of its predecessor.

When: after ``every`` unsaved updates, ``seconds`` after an unsaved update at the latest (a
background thread waits for either), and on :meth:`OnlineCheckpoints.close`. Each write goes
to a temporary file in the same folder, then is renamed over the old one, so a crash leaves
the previous complete checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shelfwise.errors import ConfigError, PolicyError

__all__ = ["ONLINE_FOLDER", "OnlineCheckpoints", "checkpoint_path", "enable_for_workspace"]

ONLINE_FOLDER = "online"
"""Sub-folder of the workspace's ``policies`` folder that holds online checkpoints."""

logger = logging.getLogger(__name__)


def checkpoint_path(folder: str | Path, base_version: str) -> Path:
    """The file that holds the online updates of the policy whose version was ``base_version``.

    Raises:
        ConfigError: ``base_version`` cannot be a file name.
    """
    name = str(base_version)
    if not name or any(ch in name for ch in "/\\\0") or name in (".", ".."):
        raise ConfigError(f"policy version {base_version!r} cannot name a checkpoint file")
    return Path(folder).expanduser() / f"{name}.npz"


class OnlineCheckpoints:
    """Periodic and final saves of one policy's online updates.

    Args:
        folder: where checkpoints live (``policies/online`` of the workspace).
        base_version: version of the policy before any online update (names the file).
        save: writes the current policy to a path (called with the policy lock held by the
            caller's own function); returns nothing.
        every: save after this many unsaved updates, >= 1.
        seconds: save this long after an unsaved update at the latest, > 0.

    Raises:
        ConfigError: ``every`` < 1 or ``seconds`` <= 0.
    """

    def __init__(self, folder: str | Path, base_version: str, save: Callable[[Path], None], *,
                 every: int = 100, seconds: float = 60.0) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"checkpoint_every must be a positive integer, got {every!r}")
        if not seconds > 0:
            raise ConfigError(f"checkpoint_seconds must be > 0, got {seconds!r}")
        self.path = checkpoint_path(folder, base_version)
        self.every = int(every)
        self.seconds = float(seconds)
        self._save = save
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending = 0
        self._first_pending: float | None = None
        self._retry_at = 0.0
        self._closed = False
        self._thread: threading.Thread | None = None
        self.saves = 0
        """Checkpoints written so far."""
        self.last_error: str | None = None
        """The last failed save, if any (the server keeps serving)."""

    def load(self) -> Any:
        """The saved policy of this base, or None when there is none yet.

        Raises:
            PolicyError: the file exists but is not a valid policy checkpoint (named).
        """
        if not self.path.is_file():
            return None
        from agent.policy import load_policy

        return load_policy(self.path)

    def start(self) -> None:
        """Accept updates (again after :meth:`close`); the saver thread starts with the first."""
        with self._lock:
            self._closed = False

    def updated(self, n: int = 1) -> None:
        """Count ``n`` online updates; wakes the saver when ``every`` are unsaved."""
        with self._lock:
            self._pending += n
            if self._first_pending is None:
                self._first_pending = time.monotonic()
            if not self._closed and (self._thread is None or not self._thread.is_alive()):
                # the thread holds only a weak reference: a dropped recommender is not kept
                self._thread = threading.Thread(
                    target=_saver, args=(weakref.ref(self), self._wake),
                    name="shelfwise-checkpoints", daemon=True)
                self._thread.start()
            if self._pending >= self.every:
                self._wake.notify_all()

    @property
    def pending(self) -> int:
        """Online updates not yet written."""
        with self._lock:
            return self._pending

    def save_now(self) -> Path | None:
        """Write the checkpoint if updates are unsaved; returns the path written, else None."""
        with self._lock:
            pending = self._pending
            self._pending = 0
            self._first_pending = None
        if not pending:
            return None
        try:
            self._save(self.path)
        except (PolicyError, OSError) as exc:
            with self._lock:  # try again in `seconds`: the updates are still unsaved
                self._pending += pending
                self._first_pending = self._first_pending or time.monotonic()
                self._retry_at = time.monotonic() + self.seconds
                self.last_error = str(exc)
            logger.warning("online policy checkpoint failed: %s", exc)
            return None
        with self._lock:
            self.saves += 1
            self.last_error = None
        return self.path

    def close(self) -> Path | None:
        """Stop the saver and write what is unsaved; returns the path written, else None."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            thread = self._thread
            self._thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        return self.save_now()

    def _due(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        if self._pending >= self.every:
            return True
        return (self._first_pending is not None
                and time.monotonic() - self._first_pending >= self.seconds)

    def _wait_time(self) -> float | None:
        """Seconds to wait before the next save is due; 0 when due; None when closed."""
        if self._closed:
            return None
        if self._due():
            return 0.0
        if time.monotonic() < self._retry_at:
            return self._retry_at - time.monotonic()
        if self._first_pending is None:
            return self.seconds
        return max(self._first_pending + self.seconds - time.monotonic(), 0.0)


def _saver(ref: weakref.ref[OnlineCheckpoints], wake: threading.Condition) -> None:
    """The saver thread: writes a checkpoint whenever one is due, until closed or dropped."""
    while True:
        with wake:
            ckpt = ref()
            if ckpt is None:
                return
            wait = ckpt._wait_time()
            if wait is None:
                return
            if wait > 0:
                del ckpt  # no strong reference while asleep
                wake.wait(timeout=min(wait, _MAX_SLEEP))
                continue
        ckpt.save_now()
        del ckpt


_MAX_SLEEP = 5.0
"""Longest sleep of the saver thread, so that it notices a dropped recommender."""


def enable_for_workspace(recommender: Any, workspace: Any, *, enabled: bool | None = None,
                         every: int | None = None, seconds: float | None = None) -> bool:
    """Turn on a recommender's checkpoints as the workspace's ``[online]`` config says.

    Files go to ``<workspace>/policies/online``. Arguments that are not None override the
    config (``enabled`` = ``checkpoints``, ``every`` = ``checkpoint_every``, ``seconds`` =
    ``checkpoint_seconds``).

    Args:
        recommender: a :class:`shelfwise.recommender.Recommender`.
        workspace: its :class:`shelfwise.workspace.Workspace`.
        enabled: save and reload online updates.
        every: save after this many unsaved updates.
        seconds: save this long after an unsaved update at the latest.

    Returns:
        True when saved online updates were loaded into the recommender's policy.

    Raises:
        ConfigError: an invalid ``[online]`` section or override.
        PolicyError: the saved checkpoint of this base policy is invalid (named).
    """
    from shelfwise.config import load_config

    cfg = load_config(workspace.config_file).online
    if not (cfg.checkpoints if enabled is None else enabled):
        return False
    return bool(recommender.enable_checkpoints(
        Path(workspace.policies_dir) / ONLINE_FOLDER,
        every=cfg.checkpoint_every if every is None else every,
        seconds=cfg.checkpoint_seconds if seconds is None else seconds))
