"""Usage errors from the CLI parser print a one-line reason and exit 2, never a traceback."""

import pytest

from shelfwise import __version__
from shelfwise.cli import main

CASES = [
    (["search", "x", "-k", "0"], "Invalid value for '-k'"),
    (["search", "x", "-k", "abc"], "valid integer"),
    (["nosuch"], "No such command 'nosuch'"),
    (["ingest"], "Missing argument 'path'"),
    (["search", "--no-such-flag"], "No such option: --no-such-flag"),
]


@pytest.mark.parametrize(("argv", "message"), CASES)
def test_usage_error_exits_2_with_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == __version__
