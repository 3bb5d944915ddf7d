"""Hostile JSON in a saved behaviour model or the workspace manifest is a named error."""

import pytest

from encoders.behaviour.base import ARRAYS_FILE, CONFIG_FILE, read_model_files
from encoders.errors import EncoderError
from shelfwise.behaviour import MANIFEST, BehaviourModelError, read_manifest

HOSTILE = [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"model": NaN}', "not valid JSON"),
    ('{"x": 1e400}', "not valid JSON"),
    ('{"x": ' + "9" * 5000 + "}", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_model_config(tmp_path, text, message):
    (tmp_path / CONFIG_FILE).write_text(text)
    (tmp_path / ARRAYS_FILE).write_bytes(b"")
    with pytest.raises(EncoderError, match=message):
        read_model_files(tmp_path)


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_manifest(tmp_path, text, message):
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(BehaviourModelError, match=message):
        read_manifest(tmp_path)
