"""OnlineCheckpoints on its own (time and count triggers, failed writes) and through the chat."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shelfwise.errors import ConfigError, PolicyError
from shelfwise.online_checkpoints import OnlineCheckpoints, checkpoint_path


class _Writer:
    def __init__(self, fail: int = 0) -> None:
        self.paths: list[Path] = []
        self.fail = fail
        self.done = threading.Event()

    def __call__(self, path: Path) -> None:
        if self.fail:
            self.fail -= 1
            raise PolicyError(f"cannot write policy checkpoint {path}: disk full")
        self.paths.append(path)
        self.done.set()


def _wait(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(cond())


def test_saved_seconds_after_an_unsaved_update(tmp_path):
    writer = _Writer()
    ckpt = OnlineCheckpoints(tmp_path, "linucb-abc", writer, every=100, seconds=0.2)
    ckpt.start()
    assert not writer.done.wait(0.4)  # nothing to save: nothing written
    ckpt.updated()
    assert writer.done.wait(5.0)
    assert writer.paths == [tmp_path / "linucb-abc.npz"] and ckpt.pending == 0
    assert ckpt.close() is None  # nothing unsaved at shutdown


def test_saved_after_every_n_updates_and_at_close(tmp_path):
    writer = _Writer()
    ckpt = OnlineCheckpoints(tmp_path, "v1", writer, every=3, seconds=3600)
    ckpt.updated(2)
    time.sleep(0.2)
    assert writer.paths == []
    ckpt.updated()
    assert _wait(lambda: len(writer.paths) == 1)
    ckpt.updated()
    assert ckpt.close() == tmp_path / "v1.npz" and len(writer.paths) == 2


def test_a_failed_write_keeps_the_updates_for_the_next_try(tmp_path):
    writer = _Writer(fail=1)
    ckpt = OnlineCheckpoints(tmp_path, "v1", writer, every=1, seconds=3600)
    ckpt.start()
    ckpt.updated()
    assert _wait(lambda: ckpt.last_error is not None)
    assert "disk full" in ckpt.last_error and ckpt.pending == 1 and writer.paths == []
    assert ckpt.close() == tmp_path / "v1.npz" and ckpt.pending == 0


@pytest.mark.parametrize("bad, message", [
    ({"every": 0}, "checkpoint_every must be a positive integer"),
    ({"seconds": 0.0}, "checkpoint_seconds must be > 0"),
])
def test_bad_settings_are_named(tmp_path, bad, message):
    with pytest.raises(ConfigError, match=message):
        OnlineCheckpoints(tmp_path, "v1", _Writer(), **bad)


def test_a_version_that_cannot_be_a_file_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot name a checkpoint file"):
        checkpoint_path(tmp_path, "../escape")


def test_chat_reactions_are_reloaded_by_the_next_chat(demo_copy):
    from shelfwise.shop import open_assistant

    assistant = open_assistant(demo_copy, llm=False)
    reply = assistant.respond("c1", "a black jacket")
    assert reply.slate_id
    assert assistant.respond("c1", "buy 2").reactions_recorded
    rec = assistant.tools.recommender
    assert rec.policy.n_updates == 1
    path = rec.close_checkpoints()
    assert path is not None and path.parent == demo_copy.policies_dir / "online"
    again = open_assistant(demo_copy, llm=False)
    assert again.tools.recommender.policy.n_updates == 1
    assert again.tools.recommender.policy.version == rec.policy.version
