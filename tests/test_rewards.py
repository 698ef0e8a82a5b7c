"""Reward registry, plug-ins, format/accuracy/MinD rewards, Ada-GRPO alpha against hand-computed values."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from thrifty.rewards import (
    RewardError,
    ada_grpo_alpha,
    ada_grpo_alpha_batch,
    arm2_length_alpha,
    arm_format_reward,
    available_rewards,
    build_reward_funcs,
    get_reward,
    mind_format_reward,
    think_format_reward,
)

REPO = Path(__file__).resolve().parents[1]

# alpha for a completion whose format has F of G=8 completions: G/F at t=0, (1+G/F)/2 at t=T/2, 1 at t=T
HAND_ALPHA = {
    1: (8.0, 4.5, 1.0),
    2: (4.0, 2.5, 1.0),
    3: (8 / 3, 11 / 6, 1.0),
    4: (2.0, 1.5, 1.0),
    5: (1.6, 1.3, 1.0),
    6: (4 / 3, 7 / 6, 1.0),
    7: (8 / 7, 15 / 14, 1.0),
    8: (1.0, 1.0, 1.0),
}


@pytest.mark.parametrize("count", range(1, 9))
def test_ada_grpo_alpha_hand_computed(count):
    total = 100
    group = ["direct"] * count + ["long_cot"] * (8 - count)
    for step, expected in zip((0, total // 2, total), HAND_ALPHA[count], strict=True):
        alpha = ada_grpo_alpha(group, step, total)
        assert len(alpha) == 8
        assert math.isclose(alpha[0], expected, rel_tol=1e-12), (count, step, alpha[0], expected)
        if count < 8:
            assert math.isclose(alpha[-1], HAND_ALPHA[8 - count][(0, total // 2, total).index(step)], rel_tol=1e-12)


def test_ada_grpo_alpha_unknown_is_a_format_and_batches_split_in_groups():
    alpha = ada_grpo_alpha(["unknown", "direct", "direct", "direct"], 0, 10)
    assert alpha == [4.0, 4 / 3, 4 / 3, 4 / 3]
    batch = ada_grpo_alpha_batch(["a", "b", "a", "a"], 2, 0, 10)
    assert batch == [2.0, 2.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="groups of 3"):
        ada_grpo_alpha_batch(["a"] * 4, 3, 0, 10)
    with pytest.raises(ValueError):
        ada_grpo_alpha(["a"], 0, 0)


def test_arm2_length_alpha_hand_computed():
    """ARM2's length-aware multiplier (TEAM-ARM/arm2 ``compute_ada_grpo_w_length_penalty_outcome_advantage``),
    worked by hand: a group of 4 with two long CoTs (100 and 60 tokens), a short CoT (20) and a direct answer (4).
    L_min = 4, L_max = 100, so beta = exp(-0.5 (L - 4) / (96 + 1e-4)); alpha = 4 / F; the product is annealed by
    1 + cos(0.9 pi t / T)."""
    formats, lengths = ["long_cot", "long_cot", "short_cot", "direct"], [100, 60, 20, 4]
    for step, total in ((1, 80), (40, 80), (80, 80)):
        c = 1 + math.cos(0.9 * math.pi * step / total)
        expected = [1 + 0.5 * (a * math.exp(-0.5 * (n - 4) / (96 + 1e-4)) - 1) * c
                    for a, n in zip((2, 2, 4, 4), lengths, strict=True)]
        assert arm2_length_alpha(formats, lengths, step, total) == pytest.approx(expected, rel=1e-12)
    at_end = arm2_length_alpha(formats, lengths, 80, 80)
    assert at_end[3] == pytest.approx(1 + 0.5 * 3 * (1 + math.cos(0.9 * math.pi)))  # not annealed to 1: the 0.9
    assert at_end[3] > 1.07
    # shortest keeps its whole boost; the longest's is multiplied by exp(-lambda), as close as the epsilon allows
    start = arm2_length_alpha(formats, lengths, 0, 80)
    assert start[3] == pytest.approx(4.0) and start[0] == pytest.approx(2 * math.exp(-0.5), rel=1e-5)
    # equal lengths: beta = 1, ARM's alpha with ARM2's phase
    same = arm2_length_alpha(["direct", "direct", "code", "code"], [7, 7, 7, 7], 0, 10)
    assert same == pytest.approx([2.0] * 4)
    assert arm2_length_alpha(formats, lengths, 0, 80, length_lambda=0.0) == pytest.approx([2, 2, 4, 4])
    batch = ada_grpo_alpha_batch(formats * 2, 4, 40, 80, lengths=lengths + [5, 5, 5, 5])
    assert batch[:4] == pytest.approx(arm2_length_alpha(formats, lengths, 40, 80))
    assert batch[4:] == pytest.approx(arm2_length_alpha(formats, [5] * 4, 40, 80))
    with pytest.raises(ValueError, match="lengths"):
        arm2_length_alpha(formats, lengths[:3], 0, 80)


def test_arm2_length_penalty_prefers_the_shorter_right_format_where_arm_does_not():
    """Where every completion is right, ARM's alpha gives a direct answer and a short CoT held by as many
    completions the same advantage; ARM2's length factor gives the shorter one the larger advantage (the point of
    the extension), at every step of the run."""
    formats = ["long_cot"] * 4 + ["short_cot"] * 2 + ["direct"] * 2
    lengths = [160, 150, 170, 165, 16, 18, 4, 5]
    for step in (1, 40, 79):
        arm = _group_advantages(ada_grpo_alpha(formats, step, 80))
        arm2 = _group_advantages(arm2_length_alpha(formats, lengths, step, 80))
        assert arm[4] == pytest.approx(arm[6])
        assert arm2[6] > arm2[4] > 0 > arm2[0]


def _group_advantages(rewards: list[float]) -> list[float]:
    """GRPO's group normalisation as TRL computes it (``scale_rewards: group``): (r - mean) / (std + 1e-4)."""
    r = torch.tensor(rewards, dtype=torch.float64)
    return ((r - r.mean()) / (r.std() + 1e-4)).tolist()


def test_ada_grpo_decay_cancels_on_groups_where_every_completion_is_right():
    """On an all-right group r_i = alpha_i = 1 + c(t) (G/F_i - 1): the normalisation divides c(t) out, so the
    boost keeps its full strength until c(t) std(G/F) nears the 1e-4 epsilon (the last steps); on a group with
    wrong completions the 1 does not cancel and the boost fades towards plain GRPO's advantages."""
    total = 80
    formats = ["long_cot"] * 4 + ["short_cot"] * 2 + ["direct", "code"]
    early, middle, late = (ada_grpo_alpha(formats, t, total) for t in (1, total // 2, total - 1))
    assert early != middle != late  # the rewards themselves decay
    full = _group_advantages(early)
    assert full[6] > 1.0 > 0.0 > full[0]  # the lone direct answer is pushed up, the four long CoTs down
    for alphas, tolerance in ((middle, 1e-3), (late, 0.15)):
        assert _group_advantages(alphas) == pytest.approx(full, rel=tolerance)
    assert _group_advantages(ada_grpo_alpha(formats, total, total)) == [0.0] * 8  # only t = T is plain GRPO

    right = [1, 0, 1, 0, 1, 1, 0, 1]  # mixed: the decay matters and ends at plain GRPO's advantages
    mixed = [[a * c for a, c in zip(ada_grpo_alpha(formats, t, total), right, strict=True)] for t in (1, total - 1)]
    plain = _group_advantages([float(c) for c in right])
    assert _group_advantages(mixed[0]) != pytest.approx(plain, abs=0.05)
    assert _group_advantages(mixed[1]) == pytest.approx(plain, abs=0.01)


def test_ada_grpo_pushes_an_all_right_group_towards_equal_format_shares():
    """docs/methods/arm.md, "Why", point 6: on a group where every completion is right, format f's summed advantage
    n_f (G/n_f - K) / std = (G - K n_f) / std (K formats present) is positive below 1/K of the group, negative above
    it and 0 at equal shares, whatever the format: ARM's alpha makes equal shares the fixed point, so a leading
    direct answer is pushed down like any leading format, and ARM2's length factor is what favours the shorter."""
    def summed(formats: list[str], alphas: list[float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for fmt, adv in zip(formats, _group_advantages(alphas), strict=True):
            out[fmt] = out.get(fmt, 0.0) + adv
        return out

    leading_direct = ["direct"] * 4 + ["short_cot"] * 2 + ["long_cot"] * 2
    for t in (1, 40, 79):
        push = summed(leading_direct, ada_grpo_alpha(leading_direct, t, 80))
        assert push["direct"] < 0 < push["short_cot"] == pytest.approx(push["long_cot"])
    equal = ["direct", "short_cot", "code", "long_cot"] * 2
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in summed(equal, ada_grpo_alpha(equal, 1, 80)).values())
    # ARM2's length factor breaks the tie: with equal shares the shortest format gains (direct 4 tokens, long 100)
    lengths = {"direct": 4, "short_cot": 16, "code": 38, "long_cot": 100}
    arm2 = summed(equal, arm2_length_alpha(equal, [lengths[f] for f in equal], 1, 80))
    assert arm2["direct"] > arm2["short_cot"] > arm2["code"] > arm2["long_cot"]


def test_arm_format_reward():
    completions = [
        "<ANSWER>\n5\n</ANSWER>",
        "<COT>\n1 2\n</COT>\n<ANSWER>\n3\n</ANSWER>",
        "<LONG_COT>\nx\n</LONG_COT>\n<ANSWER>\n3\n</ANSWER>",
        "<COT>\nx\n</COT>\n<CODE>\ny\n</CODE>\n<ANSWER>\n3\n</ANSWER>",  # mixed tags
        "the answer is 3",  # no tag
        "<COT>\nx\n</COT>\n",  # no answer
    ]
    assert arm_format_reward(None, completions) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_mind_and_think_format_rewards():
    good = "<think>\nstart 3 .\n</think>\n\\boxed{3}\n<think>\nwait , check .\n</think>\n\\boxed{3}"
    no_box = "<think>\nstart 3 .\n</think>\n3"
    unclosed = "<think>\nstart 3 ."
    preamble = "hi <think>\nx\n</think>\n\\boxed{1}"
    assert mind_format_reward(None, [good, no_box, unclosed, preamble]) == [1.0, 0.0, 0.0, 0.0]
    conversational = [[{"role": "assistant", "content": "<think>\nr\n</think>\nok"}], [{"role": "assistant", "content": "ok"}]]
    assert think_format_reward(None, conversational) == [1.0, 0.0]


def test_accuracy_reward_extracts_answers_and_logs_counters():
    reward = get_reward("accuracy", kind="auto", timeout_s=2.0, num_workers=1)
    metrics: dict[str, float] = {}
    completions = [
        "<COT>\n1 2\n</COT>\n<ANSWER>\n\\frac{1}{2}\n</ANSWER>",
        [{"role": "assistant", "content": "<think>\na\n</think>\n\\boxed{2}\n<think>\nb\n</think>\n\\boxed{0.5}"}],
        "I think \\boxed{0.5}",
        "no answer 0.5",
        "<ANSWER>\n9^{9^{9^{9^{9}}}}\n</ANSWER>",
    ]
    out = reward(None, completions, None, answer=["0.5"] * 5, log_metric=lambda k, v: metrics.__setitem__(k, v))
    assert out == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert set(metrics) == {"accuracy/timeouts", "accuracy/errors"}


def test_accuracy_reward_missing_column_is_clear():
    reward = get_reward("accuracy", num_workers=1)
    with pytest.raises(KeyError, match="needs the dataset column 'answer'.*columns: solution"):
        reward(None, ["<ANSWER>\n1\n</ANSWER>"], None, solution=["1"])


def test_mind_rewards_constants():
    fewer = get_reward("fewer_turns", weight=2.0, max_turns=5)
    one = "<think>\na\n</think>\n\\boxed{3}"
    three = one + "\n<think>\nb\n</think>\n\\boxed{3}\n<think>\nc\n</think>\n\\boxed{3}"
    wrong = "<think>\na\n</think>\n\\boxed{4}"
    assert fewer(None, [one, three, wrong], None, answer=["3"] * 3) == [2.0, 1.0, 0.0]
    compact = get_reward("unit_compactness", penalty=0.5, max_explorations=1)
    crammed = "<think>\nWait , no . Alternatively , yes . Hmm .\n</think>\n\\boxed{3}\n<think>\nok\n</think>\n\\boxed{3}"
    assert compact(None, [one, crammed]) == [0.0, -0.25]


def test_unit_compactness_counts_explorations_case_insensitively():
    """Markers match in any case; a run like "Wait, let me verify" opens one exploration; the text before the
    first marker is an exploration of its own only when it states an answer."""
    compact = get_reward("unit_compactness", penalty=0.5, max_explorations=1)
    assert compact.explorations("wait , let me verify . 4 + 5 = 9 so 9 . yes , the answer is 9 .") == 1
    assert compact.explorations("Wait, let me verify: 4 + 5 = 9. Yes.") == 1
    assert compact.explorations("HMM, WAIT. 4 + 5 = 9.") == 1
    assert compact.explorations("start 3 . 3 + 8 = 12 . wait , 3 + 8 = 11 so 1 . so the answer is 1 .") == 1
    assert compact.explorations("so the answer is 1 . wait , let me verify . yes .") == 2
    assert compact.explorations("Wait, 8 + 4 = 12. Alternatively, 4 + 8 = 12. Hmm, yes.") == 3
    assert compact.explorations("just arithmetic, no marker") == 0


def test_unit_compactness_on_real_toy_traces():
    """Every multi-turn toy row (lowercase "wait ," / "alternatively ," units) is compact; the same units crammed
    into one turn are penalised, by penalty * crammed turns / turns."""
    from thrifty.formats import split_turns
    from thrifty.toy_world import MULTITURN, ToyWorld

    world = ToyWorld(seed=0)
    rows = [world.render(p, MULTITURN) for p in world.problems("train", 200)]
    compact = get_reward("unit_compactness", penalty=0.5, max_explorations=1)
    assert compact(None, rows) == [0.0] * len(rows)
    crammed = []
    for row in rows:
        turns = split_turns(row)
        assert len(turns) >= 2 and turns[1].unit.startswith("wait , let me verify")
        one_turn = " ".join(t.unit for t in turns)
        crammed.append(f"<think>\n{one_turn}\n</think>\n{turns[-1].answer_text}")
        crammed.append(row + f"\n<think>\n{turns[1].unit} {turns[1].unit}\n</think>\n{turns[-1].answer_text}")
    scores = compact(None, crammed)
    assert scores[0::2] == [-0.5] * len(rows)  # 1 crammed turn of 1
    assert scores[1::2] == [-0.5 * 1 / (len(split_turns(r)) + 1) for r in rows]  # 1 crammed turn of n + 1


# ARM's reward, cases worked from the official code (TEAM-ARM/ARM, commit cee2053,
# verl/verl/utils/reward_score/my_data/my_gsm8k.py and my_MATH.py compute_score, run on "Human: q\nAssistant:" +
# the completion): (completion, gold, ARM's score).
ARM_CASES = [
    ("<COT>\n2 + 3 = 5\n</COT>\n<ANSWER>\n5\n</ANSWER>", "5", 1.0),
    ("<ANSWER>\n5\n</ANSWER>", "5", 1.0),  # direct
    ("<CODE>\ndef f():\n    return 2 + 3\n>>> f()\n5\n</CODE>\n<ANSWER>\n5\n</ANSWER>", "5", 1.0),
    (" <ANSWER>\n5\n</ANSWER>", "5", 0.0),  # "Assistant:<ANSWER>" absent: something before the tag
    ("The answer is <ANSWER>\n5\n</ANSWER>", "5", 0.0),  # opens with no format tag
    ("\\boxed{5}", "5", 0.0),  # correct, but no tag and no <ANSWER>: thrifty's `accuracy` gives 1
    ("<COT>\nlet me use <CODE>\n</COT>\n<ANSWER>\n5\n</ANSWER>", "5", 0.0),  # another format's tag
    ("<ANSWER>\n5\n</ANSWER>\n</COT>", "5", 0.0),  # direct with a reasoning tag
    ("<LONG_COT>\na\n</LONG_COT>\n<LONG_COT>\nb\n</LONG_COT>\n<ANSWER>\n5\n</ANSWER>", "5", 1.0),  # own tag twice
    ("<COT>\na\n</COT>\n<ANSWER>\n4\n</ANSWER>", "5", 0.0),  # wrong
    ("<COT>\na\n</COT>\n<ANSWER>\n5", "5", 0.0),  # <ANSWER> never closed
    ("<COT>\nx\n</COT>\n<ANSWER>\n$5$\n</ANSWER>", "5", 1.0),  # GSM8K scorer strips "$"
    ("<COT>\nx\n</COT>\n<ANSWER>\n1,000\n</ANSWER>", "1000", 1.0),  # and ","
    ("<ANSWER>\n4\n</ANSWER>\n<ANSWER>\n5\n</ANSWER>", "5", 1.0),  # greedy span; math-verify takes the last
    ("<ANSWER>\n5\n</ANSWER>\n<ANSWER>\n4\n</ANSWER>", "5", 0.0),
    ("<ANSWER>\n0.5\n</ANSWER>", "\\frac{1}{2}", 1.0),  # my_MATH.py, gold "$\\boxed{\\frac{1}{2}}$"
    ("<COT>\nx\n</COT>\n<ANSWER>\nB\n</ANSWER>", "B", 1.0),  # my_csqa.py: the letter
]


def test_arm_accuracy_matches_the_official_reward():
    reward = get_reward("arm_accuracy", num_workers=1)
    metrics: dict[str, float] = {}
    completions = [c for c, _, _ in ARM_CASES]
    out = reward(None, completions, None, answer=[g for _, g, _ in ARM_CASES],
                 log_metric=lambda k, v: metrics.__setitem__(k, v))
    assert out == [score for _, _, score in ARM_CASES]
    assert metrics["arm/invalid_format"] == 5 / len(ARM_CASES)  # rows 4 to 8
    # the same completions as conversational messages
    assert reward(None, [[{"role": "assistant", "content": c}] for c in completions[:4]], None,
                  answer=["5"] * 4) == [1.0, 1.0, 1.0, 0.0]


def test_opening_format_counts_as_arm_ada_grpo_does():
    """core_algos.py get_reasoning_format: the tag the response starts with; mixed tags still count as that format."""
    from thrifty.formats import detect_format, opening_format

    assert opening_format("<COT>\na\n</COT>\n<ANSWER>\n1\n</ANSWER>") == "short_cot"
    assert opening_format("<COT>\n<CODE>\n</COT>") == "short_cot" and detect_format("<COT>\n<CODE>\n</COT>") == "unknown"
    assert opening_format("<LONG_COT>\nx") == "long_cot" and opening_format("<ANSWER>\n1") == "direct"
    assert opening_format("<CODE>\nx") == "code"
    assert opening_format(" <COT>\nx") == "unknown" and opening_format("\\boxed{1}") == "unknown"


def test_registry_errors_name_what_is_available():
    with pytest.raises(RewardError, match="unknown reward 'acuracy'.*did you mean 'accuracy'.*available: .*arm_format"):
        get_reward("acuracy")
    with pytest.raises(RewardError, match="unknown argument 'max_turn'.*did you mean 'max_turns'"):
        get_reward("fewer_turns", max_turn=3)
    with pytest.raises(RewardError, match="cannot import module 'no_such_module'"):
        get_reward("no_such_module:f")
    with pytest.raises(RewardError, match="not in reward_funcs"):
        build_reward_funcs(["accuracy"], {"arm_format": {}})


def test_trl_rewards_registered_by_name():
    names = available_rewards()
    for name in ("trl_accuracy", "trl_think_format", "cosine_scaled", "soft_overlong_punishment", "repetition_penalty"):
        assert name in names
    overlong = get_reward("soft_overlong_punishment", max_completion_len=10, soft_punish_cache=4)
    assert overlong.__name__ == "soft_overlong_punishment"
    assert overlong(completion_ids=[[1] * 5, [1] * 8, [1] * 10]) == [0.0, -0.5, -1.0]
    think = get_reward("trl_think_format")
    assert think(prompts=None, completions=[[{"content": "<think>\nr\n</think>\nok"}]], completion_ids=None) == [1.0]


def test_plugin_reward_by_import_path_with_kwargs(tmp_path, monkeypatch):
    (tmp_path / "my_plugin_rewards.py").write_text(
        "def bonus(prompts, completions, completion_ids=None, value=1.0, **kw):\n"
        "    return [value for _ in completions]\n"
        "class Scaled:\n"
        "    def __init__(self, scale=2.0):\n"
        "        self.scale = scale\n"
        "    def __call__(self, prompts, completions, completion_ids=None, **kw):\n"
        "        return [self.scale] * len(completions)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    funcs = build_reward_funcs(
        ["my_plugin_rewards:bonus", "my_plugin_rewards:Scaled"],
        {"my_plugin_rewards:bonus": {"value": 0.25}, "my_plugin_rewards:Scaled": {"scale": 3.0}},
    )
    assert [f.__name__ for f in funcs] == ["bonus", "Scaled"]
    assert funcs[0](prompts=None, completions=["a", "b"], completion_ids=None) == [0.25, 0.25]
    assert funcs[1](prompts=None, completions=["a"], completion_ids=None) == [3.0]
    with pytest.raises(RewardError, match="has no attribute 'bonsu'.*did you mean 'bonus'"):
        get_reward("my_plugin_rewards:bonsu")


def test_readme_write_your_own_reward_example(monkeypatch):
    """The docs example (docs/guides/reward-plugins.md: recipes/examples/my_reward.py) resolves from a recipe and
    scores as documented."""
    monkeypatch.syspath_prepend(str(REPO / "recipes" / "examples"))
    sys.modules.pop("my_reward", None)
    from thrifty.trainers.grpo import parse_grpo_args

    _, training_args, _ = parse_grpo_args(
        ["--config", str(REPO / "recipes/examples/grpo_my_reward.yaml"), "--output_dir", "/tmp/unused", "--model_name_or_path", "x"]
    )
    funcs = build_reward_funcs(training_args.reward_funcs, training_args.reward_kwargs)
    mine = funcs[-1]
    assert mine.__name__ == "concise_answer"
    completions = ["<ANSWER>\n3\n</ANSWER>", "<ANSWER>\n3\n</ANSWER>", "no answer", "<ANSWER>\n3\n</ANSWER>"]
    ids = [[0] * 10, [0] * 36, [0] * 5, [0] * 5]
    assert mine(prompts=None, completions=completions, completion_ids=ids, answer=["3", "3", "3", ""]) == [
        1.0,
        0.5,
        0.0,
        None,
    ]
    # the guide shows this very code: its lines appear in the file, in order (the file adds docstrings)
    readme = (REPO / "docs" / "guides" / "reward-plugins.md").read_text()
    block = readme.split("# recipes/examples/my_reward.py\n", 1)[1].split("```", 1)[0]
    file_lines = iter((REPO / "recipes/examples/my_reward.py").read_text().splitlines())
    missing = [line for line in block.splitlines() if line.strip() and line not in file_lines]
    assert not missing, f"reward-plugins.md example lines not in recipes/examples/my_reward.py (in order): {missing}"


def test_kimi_length_reward_pays_shorter_correct_completions_within_a_prompt():
    """Kimi k1.5 section 2.3.3, worked by hand: lambda = 0.5 - (len - min)/(max - min) per prompt group; correct
    completions get lambda, wrong ones min(0, lambda); ARM's format gate decides correctness."""
    from thrifty.rewards.length import kimi_length_lambdas

    assert kimi_length_lambdas([10, 20, 30, 7, 7], ["a", "a", "a", "b", "b"]) == [0.5, 0.0, -0.5, 0.0, 0.0]
    reward = get_reward("kimi_length", kind="number")
    right_long = "<LONG_COT>\nstart 3 . 3 + 4 = 7 so 7 .\n</LONG_COT>\n<ANSWER>\n7\n</ANSWER>"
    right_short = "<COT>\n3 7\n</COT>\n<ANSWER>\n7\n</ANSWER>"
    wrong_short = "<ANSWER>\n5\n</ANSWER>"
    untagged = "7"
    prompts = [[{"role": "user", "content": "3 4 _ _ _ _"}]] * 4 + [[{"role": "user", "content": "1 _ _ _ _ _"}]] * 2
    completions = [right_long, right_short, wrong_short, untagged, wrong_short, wrong_short]
    ids = [[0] * 30, [0] * 10, [0] * 5, [0] * 1, [0] * 5, [0] * 5]
    scores = reward(prompts, completions, completion_ids=ids, answer=["7"] * 4 + ["1"] * 2)
    lam = [0.5 - (n - 1) / 29 for n in (30, 10, 5, 1)]
    assert scores[0] == pytest.approx(lam[0]) and scores[1] == pytest.approx(lam[1])  # correct: lambda
    assert scores[2] == 0.0 and scores[3] == 0.0  # wrong (an untagged answer is wrong for ARM): min(0, lambda)
    assert scores[4:] == [0.0, 0.0]  # equal lengths
    assert scores[1] > 0 > scores[0]


def _official_efficient_reward(lengths: list[int], correct: list[bool], alpha: float) -> list[float]:
    """Zanette-Labs/efficient-reasoning ``reward_server/math_server.py`` (``reward_type == 'sigmoid'``) for ONE
    prompt's completions, transcribed: numpy mean and population std of the correct lengths, eps 1e-7."""
    import numpy as np

    lens = [n for n, ok in zip(lengths, correct, strict=True) if ok]
    out = []
    for n, ok in zip(lengths, correct, strict=True):
        if ok:
            relative_length = (n - np.mean(lens)) / (np.std(lens) + 1e-7)
            out.append(1.0 * (1 - alpha * (1 / (1 + np.exp(-relative_length)))))
        else:
            out.append(0.0)
    return out


def test_arm_efficient_length_plus_arm_accuracy_is_the_official_reward():
    """Arora & Zanette's reward, correct * (1 - alpha * sigmoid(z)) with z over the prompt's CORRECT lengths, is
    arm_accuracy + arm_efficient_length at weights 1 and 1, on a group mixing right, wrong and format-gated answers;
    the other prompt's only right answer gets z = 0, i.e. 1 - alpha / 2."""
    right_long = "<LONG_COT>\nstart 3 . 3 + 4 = 7 so 7 .\n</LONG_COT>\n<ANSWER>\n7\n</ANSWER>"
    right_code = "<CODE>\nprint(3 + 4)\n</CODE>\n<ANSWER>\n7\n</ANSWER>"
    right_short = "<COT>\n3 7\n</COT>\n<ANSWER>\n7\n</ANSWER>"
    wrong_direct = "<ANSWER>\n5\n</ANSWER>"
    mixed_tags = "<COT>\n3 7\n</COT>\n<CODE>\n</CODE>\n<ANSWER>\n7\n</ANSWER>"  # right answer, invalid format
    prompts = [[{"role": "user", "content": "3 4 _ _ _ _"}]] * 5 + [[{"role": "user", "content": "1 _ _ _ _ _"}]] * 2
    completions = [right_long, right_code, right_short, wrong_direct, mixed_tags, "<ANSWER>\n1\n</ANSWER>",
                   wrong_direct]
    lengths = [120, 40, 12, 5, 20, 5, 5]
    ids = [[0] * n for n in lengths]
    golds = ["7"] * 5 + ["1"] * 2
    alpha = 0.2
    accuracy = get_reward("arm_accuracy", kind="number")(prompts, completions, answer=golds)
    term = get_reward("arm_efficient_length", alpha=alpha, kind="number")(prompts, completions, completion_ids=ids,
                                                                           answer=golds)
    want = (_official_efficient_reward(lengths[:5], [True, True, True, False, False], alpha)
            + _official_efficient_reward(lengths[5:], [True, False], alpha))
    assert [a + t for a, t in zip(accuracy, term, strict=True)] == pytest.approx(want)
    assert want[5] == pytest.approx(1 - alpha / 2) and want[2] > want[1] > want[0] > want[3] == want[4] == 0.0
    assert get_reward("arm_efficient_length", alpha=0.0, kind="number")(
        prompts, completions, completion_ids=ids, answer=golds) == [0.0] * 7
    with pytest.raises(RewardError, match="alpha must be >= 0"):
        get_reward("arm_efficient_length", alpha=-0.1)


def test_efficient_length_reads_the_accuracy_rewards_answer():
    """The generic form pairs with ``accuracy``: a boxed answer counts (ARM's gate does not apply), with the
    official default alpha 0.1."""
    from thrifty.rewards.length import EFFICIENT_ALPHA

    prompts = [[{"role": "user", "content": "2+2"}]] * 3
    completions = ["so \\boxed{4}", "think think think, so \\boxed{4}", "\\boxed{5}"]
    lengths = [4, 12, 3]
    term = get_reward("efficient_length", kind="math")(prompts, completions, completion_ids=[[0] * n for n in lengths],
                                                       answer=["4"] * 3)
    want = _official_efficient_reward(lengths, [True, True, False], EFFICIENT_ALPHA)
    assert EFFICIENT_ALPHA == 0.1
    assert [1 + term[0], 1 + term[1], term[2]] == pytest.approx(want)


def test_checked_reward_wraps_async_rewards_as_coroutines():
    """TRL awaits async reward functions: the checked wrapper of one stays a coroutine function, keeps the
    reward's name, checks its output and reports its errors as the reward's, as for a plain function."""
    import asyncio
    import inspect

    from thrifty.rewards.registry import checked_reward

    async def halves(prompts, completions, completion_ids=None, **columns):
        return [0.5] * len(completions)

    async def broken(prompts, completions, completion_ids=None, **columns):
        raise KeyError("answer")

    async def wrong_count(prompts, completions, completion_ids=None, **columns):
        return [1.0]

    wrapped = checked_reward(halves)
    assert inspect.iscoroutinefunction(wrapped) and wrapped.__name__ == "halves" and wrapped.__wrapped__ is halves
    assert asyncio.run(wrapped(prompts=["p", "q"], completions=["a", "b"])) == [0.5, 0.5]
    with pytest.raises(RewardError, match=r"reward 'broken' raised KeyError at .*test_rewards.py:\d+: 'answer'"):
        asyncio.run(checked_reward(broken)(prompts=["p"], completions=["a"]))
    with pytest.raises(RewardError, match="reward 'wrong_count' returned 1 values for 2 completions"):
        asyncio.run(checked_reward(wrong_count)(prompts=["p", "q"], completions=["a", "b"]))
