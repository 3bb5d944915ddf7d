"""The ``[llm]`` section, the ``--llm-*`` options and their errors (message + exit code 2)."""

from __future__ import annotations

import tomllib

import pytest

from shelfwise.cli import main
from shelfwise.config import LLMConfig, load_config
from shelfwise.errors import ConfigError
from shelfwise.llm_setup import make_reranker, needs_scores, resolve_llm_config, write_rerank_weight


def test_defaults_are_the_bundled_model_at_weight_zero():
    cfg = load_config(None).llm
    assert (cfg.backend, cfg.model_path, cfg.rerank_weight, cfg.capable) == (
        "llama-cpp", "smollm2", 0.0, False)


def test_file_section_is_read(tmp_path):
    f = tmp_path / "shelfwise.toml"
    f.write_text('[llm]\nbackend = "openai"\nmodel = "qwen2.5"\nbase_url = '
                 '"http://127.0.0.1:8080/v1"\ntimeout_s = 3\nretries = 2\nrerank_weight = 0.25\n'
                 'capable = true\n')
    cfg = resolve_llm_config(f)
    assert (cfg.backend, cfg.model, cfg.base_url, cfg.timeout_s, cfg.retries,
            cfg.rerank_weight, cfg.capable) == ("openai", "qwen2.5", "http://127.0.0.1:8080/v1",
                                                3.0, 2, 0.25, True)


@pytest.mark.parametrize(("toml", "match"), [
    ('backend = "gpt4"', r"llm\.backend: Input should be 'llama-cpp', 'transformers', 'openai'"),
    ('backend = "openai"', "backend 'openai' needs model"),
    ("rerank_weight = 1.5", r"llm\.rerank_weight: Input should be less than or equal to 1"),
    ("timeout_s = 0", r"llm\.timeout_s: Input should be greater than 0"),
    ("retries = -1", r"llm\.retries: Input should be greater than or equal to 0"),
    ('base_url = "localhost:8080"', r"llm\.base_url: String should match pattern"),
    ('api_key_env = "my key"', r"llm\.api_key_env: String should match pattern"),
    ('modle = "x"', r"llm\.modle: Extra inputs are not permitted"),
])
def test_bad_file_values_name_the_file_and_key(tmp_path, toml, match):
    f = tmp_path / "shelfwise.toml"
    f.write_text(f"[llm]\n{toml}\n")
    with pytest.raises(ConfigError, match=match) as info:
        resolve_llm_config(f)
    assert str(f) in str(info.value)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"backend": "gpt"}, "--llm-backend: Input should be"),
    ({"backend": "ollama"}, "--llm-model / llm.model: backend 'ollama' needs model"),
    ({"weight": -0.1}, "--llm-weight: Input should be greater than or equal to 0"),
    ({"url": "ftp://x"}, "--llm-url: String should match pattern"),
    ({"timeout": 0.0}, "--llm-timeout: Input should be greater than 0"),
    ({"threads": 0}, "--llm-threads: Input should be greater than or equal to 1"),
    ({"retries": 11}, "--llm-retries: Input should be less than or equal to 10"),
])
def test_bad_options_name_the_option(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        resolve_llm_config(None, **kwargs)


@pytest.mark.parametrize(("backend", "field"), [
    ("llama-cpp", "model_path"), ("transformers", "checkpoint"), ("openai", "model"),
    ("ollama", "model"),
])
def test_llm_model_sets_the_backends_own_field(backend, field):
    cfg = resolve_llm_config(None, backend=backend, model="some-model")
    assert getattr(cfg, field) == "some-model"


def test_options_override_the_file(tmp_path):
    f = tmp_path / "shelfwise.toml"
    f.write_text('[llm]\nbackend = "none"\nrerank_weight = 0.5\n')
    cfg = resolve_llm_config(f, backend="openai", model="m", weight=0.0)
    assert (cfg.backend, cfg.model, cfg.rerank_weight) == ("openai", "m", 0.0)


@pytest.mark.parametrize(("weight", "always", "backend", "asked"), [
    (0.0, False, "llama-cpp", False), (0.0, True, "llama-cpp", True),
    (0.3, False, "llama-cpp", True), (0.3, False, "none", False),
])
def test_score_call_only_when_someone_uses_the_scores(weight, always, backend, asked):
    cfg = LLMConfig(backend=backend, rerank_weight=weight, always_score=always)
    assert needs_scores(cfg) is asked
    sentinel = object()  # never called: make_reranker only decides and wires
    rr = make_reranker(cfg, sentinel)
    assert (rr is not None) is asked
    if rr is not None:
        assert rr.blend_weight == weight


# -- writing the chosen weight -----------------------------------------------------------------

def test_write_weight_creates_the_section(tmp_path):
    f = tmp_path / "shelfwise.toml"
    write_rerank_weight(f, 0.25)
    assert tomllib.loads(f.read_text())["llm"]["rerank_weight"] == 0.25


def test_write_weight_keeps_other_lines_and_comments(tmp_path):
    f = tmp_path / "shelfwise.toml"
    text = ('# the shop\n[vocabulary.synonyms]\nbags = ["purse"]\n\n[llm]  # our model\n'
            'backend = "none"\nrerank_weight = 0.5 # old\n\n[online]\ncheckpoint_every = 7\n')
    f.write_text(text)
    write_rerank_weight(f, 0.0)
    new = f.read_text()
    assert new == text.replace("rerank_weight = 0.5 # old", "rerank_weight = 0.0")
    cfg = load_config(f)
    assert cfg.llm.rerank_weight == 0.0 and cfg.online.checkpoint_every == 7
    assert cfg.vocabulary.synonyms == {"bags": ["purse"]}


def test_write_weight_adds_the_key_to_an_existing_section(tmp_path):
    f = tmp_path / "shelfwise.toml"
    f.write_text('[llm]\nbackend = "none"\n[index]\nspec = "auto"\n')
    write_rerank_weight(f, 1.0)
    data = tomllib.loads(f.read_text())
    assert data["llm"] == {"backend": "none", "rerank_weight": 1.0}
    assert data["index"] == {"spec": "auto"}


@pytest.mark.parametrize(("text", "weight", "match"), [
    ("llm = { backend = 'none' }\n", 0.5, "not an \\[llm\\] table"),
    ("[llm\n", 0.5, "not valid TOML"),
    ("", 1.5, r"rerank_weight must be in \[0, 1\]"),
])
def test_write_weight_refuses_what_it_cannot_edit_safely(tmp_path, text, weight, match):
    f = tmp_path / "shelfwise.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        write_rerank_weight(f, weight)
    assert f.read_text() == text  # untouched


# -- the commands: error: ... and exit code 2 ------------------------------------------------

@pytest.mark.parametrize("command", [
    ["chat", "--once", "a bag"],
    ["serve"],
    ["batch", "users.csv", "out"],
])
@pytest.mark.parametrize(("options", "message"), [
    (["--llm-backend", "gpt"], "error: invalid language-model setting: --llm-backend: "
                               "Input should be 'llama-cpp', 'transformers', 'openai', 'ollama' "
                               "or 'none'"),
    (["--llm-backend", "openai"], "error: invalid language-model setting: --llm-model / "
                                  "llm.model: backend 'openai' needs model"),
    (["--llm-timeout", "-1"], "error: invalid language-model setting: --llm-timeout: Input "
                              "should be greater than 0"),
    (["--llm-url", "127.0.0.1:8080"], "error: invalid language-model setting: --llm-url: "
                                      "String should match pattern"),
])
def test_commands_refuse_bad_llm_options(tmp_path, capsys, monkeypatch, command, options,
                                         message):
    monkeypatch.delenv("SHELFWISE_API_KEY", raising=False)
    code = main([*command, "--workspace", str(tmp_path / "ws"), *options])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["chat", "--once", "a bag"], ["serve"],
                                     ["batch", "users.csv", "out"]])
def test_commands_refuse_a_bad_llm_section(tmp_path, capsys, monkeypatch, command):
    monkeypatch.delenv("SHELFWISE_API_KEY", raising=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "shelfwise.toml").write_text("[llm]\nrerank_weight = 2\n")
    code = main([*command, "--workspace", str(ws)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "llm.rerank_weight: Input should be less than or equal to 1" in err
    assert str(ws / "shelfwise.toml") in err and "Traceback" not in err


@pytest.mark.parametrize(("options", "message"), [
    (["--rerank-weights", "0,1.5"], "error: --rerank-weights: weight 1.5 is outside [0, 1]"),
    (["--rerank-weights", "0,high"], "error: --rerank-weights: 'high' is not a number"),
    (["--rerank-weights", "0"], "error: --rerank-weights: give at least one weight above 0"),
    (["--write-config"], "error: --write-config stores the weight chosen by --rerank-weights"),
])
def test_evaluate_refuses_bad_weight_grids(tmp_path, capsys, options, message):
    code = main(["evaluate", "--workspace", str(tmp_path / "ws"), *options])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
