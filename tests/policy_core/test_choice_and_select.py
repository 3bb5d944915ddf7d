"""SlateQ's choice models, Plackett-Luce propensities and the one-pass select."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from agent.policy import Feedback, Slate, load_policy, make_policy
from agent.policy.base import check_inputs, plackett_luce_propensities
from agent.policy.choice import ChoiceModel, LearnedChoice
from encoders.errors import ConfigError

D, K = 6, 4
TRUE_BETA, TRUE_BIAS = 4.0, -1.0  # v = exp(4 cos - 1), v_0 = 1
OFFSETS = np.array([0.0, -0.7, -1.4, -2.1])  # position bias of the second test


def _unit(rng, *shape):
    x = rng.normal(size=shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _clicks_log(n: int, seed: int, offsets: np.ndarray | None = None) -> list[Feedback]:
    """Slates clicked by the known conditional logit (at most one click per slate)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s, c = _unit(rng, D), _unit(rng, 8, D)
        ids = rng.permutation(8)[:K]
        u = TRUE_BETA * (c[ids] @ s) + TRUE_BIAS + (0 if offsets is None else offsets)
        p = np.concatenate([[1.0], np.exp(u)])
        pick = rng.choice(K + 1, p=p / p.sum()) - 1
        clicks = np.arange(K) == pick
        slate = Slate(item_ids=ids, scores=np.zeros(K), propensities=np.full(K, 0.5),
                      policy="logger", version="v")
        out.append(Feedback(state=s, candidates=c, slate=slate, clicks=clicks,
                            rewards=clicks.astype(float)))
    return out


def _true_probs(s, shown):
    v = np.exp(TRUE_BETA * (shown @ s) + TRUE_BIAS)
    return v / (1.0 + v.sum())


def test_learned_choice_recovers_a_known_model():
    model = LearnedChoice(D, "shared", l2=1e-4)
    model.fit(_clicks_log(3000, seed=0))
    # unit vectors: cos = sum(s * c), so only the sum of those weights is identified;
    # the intercept (utility relative to not clicking) is
    assert model.w[-1] == pytest.approx(TRUE_BIAS, abs=0.4)
    rng = np.random.default_rng(1)
    learned_err, default_err = [], []
    for _ in range(200):
        s, shown = _unit(rng, D), _unit(rng, K, D)
        truth = _true_probs(s, shown)
        learned_err.append(np.abs(model.choice_probs(s, shown) - truth).max())
        v = np.exp(2.0 * (shown @ s))  # SlateQ's default cosine model
        default_err.append(np.abs(v / (1.0 + v.sum()) - truth).max())
    assert np.mean(learned_err) < 0.03
    assert np.mean(default_err) > 3 * np.mean(learned_err)


def test_learned_choice_separates_position_bias():
    biased = _clicks_log(4000, seed=2, offsets=OFFSETS)
    model = LearnedChoice(D, "shared", l2=1e-4, position_bias=True)
    model.fit(biased)
    np.testing.assert_allclose(model.offsets[:K], OFFSETS, atol=0.35)
    assert model.w[-1] == pytest.approx(TRUE_BIAS, abs=0.5)
    naive = LearnedChoice(D, "shared", l2=1e-4)
    naive.fit(biased)  # blames the items for the low clicks below the top
    assert naive.w[-1] < model.w[-1] - 0.5


def test_slateq_learns_its_choice_model_from_updates_and_saves_it(tmp_path):
    policy = make_policy("slateq", dim=D, seed=0, choice_model="learned", choice_steps=20,
                         choice_lr=1.0)
    log = _clicks_log(1500, seed=3)
    for i in range(0, len(log), 100):
        policy.update(log[i:i + 100])
    assert isinstance(policy.choice, ChoiceModel)
    rng = np.random.default_rng(6)
    errs = []
    for _ in range(100):
        st, shown = _unit(rng, D), _unit(rng, K, D)
        errs.append(np.abs(policy.choice.choice_probs(st, shown) - _true_probs(st, shown)).max())
    assert np.mean(errs) < 0.06  # from w = 0 (every item as likely as no click) to the truth
    loaded = load_policy(policy.save(tmp_path / "sq"))
    np.testing.assert_allclose(loaded.choice.w, policy.choice.w)
    s, c = _unit(np.random.default_rng(4), D), _unit(np.random.default_rng(5), 8, D)
    np.testing.assert_allclose(loaded.score(s, c), policy.score(s, c))


def test_custom_choice_model_plugs_in():
    class Favourite:
        no_click_weight = 1.0

        def weights(self, state, candidates):
            w = np.full(np.shape(candidates)[:-1], 1e-6)
            w[..., 0] = 1.0
            return w

    policy = make_policy("slateq", dim=D, seed=0)
    policy.choice = Favourite()
    rng = np.random.default_rng(0)
    s, c = _unit(rng, D), _unit(rng, 8, D)
    sc = policy.score(s, c)
    assert np.all(np.abs(sc[1:]) < 1e-3 * max(abs(sc[0]), 1e-9) + 1e-6)


def test_unknown_choice_model_is_refused():
    with pytest.raises(ConfigError, match="choice_model must be one of cosine, uniform, "
                                          "learned"):
        make_policy("slateq", choice_model="mnl")


# ---------------------------------------------------------------------------- propensities


def _brute(logits: np.ndarray, order) -> np.ndarray:
    lg = np.atleast_2d(logits)
    prefix = np.ones(lg.shape[0])
    out, prev = [], 1.0
    alive = np.ones(lg.shape[1], bool)
    for a in order:
        w = np.exp(lg - lg.max(axis=1, keepdims=True))
        prefix = prefix * w[:, a] / (w * alive).sum(axis=1)
        alive[a] = False
        cur = prefix.mean()
        out.append(cur / prev)
        prev = cur
    return np.array(out)


@pytest.mark.parametrize("m", [1, 3])
def test_propensities_match_brute_force(m):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(m, 6)) * 2
    for order in itertools.permutations(range(6), 3):
        np.testing.assert_allclose(plackett_luce_propensities(logits, list(order)),
                                   _brute(logits, order), rtol=1e-10)


def test_propensities_survive_far_apart_logits():
    props = plackett_luce_propensities(np.array([0.0, -800.0, -900.0, -np.inf]), [0, 1, 2])
    np.testing.assert_allclose(props, [1.0, 1.0, 1.0])
    tail = plackett_luce_propensities(np.array([0.0, -800.0, -800.0]), [0, 1])
    np.testing.assert_allclose(tail, [1.0, 0.5])


@pytest.mark.parametrize("name", ["random", "greedy", "linucb", "slateq"])
def test_select_propensities_are_the_slate_probability(name):
    # summed over every ordered slate, the product of the logged propensities is 1
    policy = make_policy(name, dim=3, seed=0)
    rng = np.random.default_rng(0)
    s, c = _unit(rng, 3), _unit(rng, 4, 3)
    logits = np.atleast_2d(policy.logits(s, c, rng))
    total = sum(np.prod(plackett_luce_propensities(logits, list(o)))
                for o in itertools.permutations(range(4), 2))
    assert total == pytest.approx(1.0)
    slate = policy.select(s, c, 2, np.random.default_rng(3))
    np.testing.assert_allclose(slate.propensities,
                               plackett_luce_propensities(logits, slate.item_ids))


@pytest.mark.parametrize("name", ["random", "greedy", "linucb", "slateq"])
def test_batch_logits_match_per_request_logits(name):
    policy = make_policy(name, dim=3, seed=0)
    rng = np.random.default_rng(0)
    states, cands = _unit(rng, 5, 3), _unit(rng, 5, 7, 3)
    batched = policy.batch_logits(states, cands, rng)
    for i in range(5):
        np.testing.assert_allclose(batched[i], policy.logits(states[i], cands[i], rng)[0],
                                   rtol=1e-9, atol=1e-12)


def test_lints_batch_logits_draw_one_component_per_request():
    policy = make_policy("lints", dim=3, seed=0)
    rng = np.random.default_rng(0)
    out = policy.batch_logits(_unit(rng, 5, 3), _unit(rng, 5, 7, 3), rng)
    assert out.shape == (5, 7) and np.all(np.isfinite(out))


def test_batch_logits_validate_shapes():
    with pytest.raises(ConfigError, match="states \\(m, d_u\\) and candidates \\(m, n, d_c\\)"):
        make_policy("linucb").batch_logits(np.ones((2, 3)), np.ones((3, 4, 3)),
                                           np.random.default_rng(0))


def test_ready_inputs_are_not_copied_and_others_are_converted():
    s, c = np.ones(3), np.ones((4, 3))
    s2, c2 = check_inputs(s, c)
    assert s2 is s and c2 is c
    s3, c3 = check_inputs([1, 2, 3], np.asfortranarray(np.ones((4, 3), dtype=np.float32)))
    assert s3.dtype == np.float64 and c3.flags.c_contiguous and c3.dtype == np.float64
    with pytest.raises(ConfigError, match="candidates contains NaN or inf"):
        check_inputs(s, np.full((4, 3), np.nan))
