"""The format-tag loss weight (``format_tag_loss_weight``, thrifty.trainers.format_tag_weight): which tokens it finds,
what it does to TRL's loss, the recipe that uses it, and a real run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_grpo import TINY  # the tiny GRPO settings every trainer test here shares

from thrifty.formats import OPENING_TAGS
from thrifty.recipes import RecipeError
from thrifty.trainers.format_tag_weight import format_tag_loss_weights, opening_tag_token_counts
from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes/toy/grpo_efficient_tag.yaml"
COMPLETIONS = ["<COT>\n1+2=3\n</COT>\n<ANSWER>\n3\n</ANSWER>", "<LONG_COT>\nfirst 1, then 2\n</LONG_COT>",
               "<ANSWER>\n7\n</ANSWER>", "the answer is <COT>", "<CODE>\nprint(1)\n</CODE>", "<CO"]


def _tokenizer(model_dir: Path):
    from thrifty.models import load_tokenizer

    return load_tokenizer(str(model_dir))


def _counts(tokenizer, texts: list[str]) -> tuple[list[list[int]], list[int]]:
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    return ids, opening_tag_token_counts(ids, lambda x: tokenizer.decode(x, skip_special_tokens=False))


def test_the_toy_tokenizers_tags_are_one_token(tiny_model_dir):
    _, counts = _counts(_tokenizer(tiny_model_dir), COMPLETIONS)
    assert counts == [1, 1, 1, 0, 1, 0]  # no tag: a sentence that mentions one later, a cut-off tag


def test_a_split_tag_weighs_all_its_tokens(real_model_dir):
    """SmolLM2's own tokenizer has no format tags: each is several tokens, and all of them (no more) are found."""
    tokenizer = _tokenizer(real_model_dir)
    ids, counts = _counts(tokenizer, COMPLETIONS)
    assert counts[3] == 0 and counts[5] == 0
    for row, count in zip(ids[:3] + ids[4:5], counts[:3] + counts[4:5], strict=True):
        assert count > 1
        assert any(tokenizer.decode(row[:count]).startswith(t) for t in OPENING_TAGS.values())
        assert not any(tokenizer.decode(row[:count - 1]).startswith(t) for t in OPENING_TAGS.values())


def test_the_weights_sit_on_the_tag_tokens():
    weights = format_tag_loss_weights([1, 0, 3], (3, 5), 4.0)
    assert weights.tolist() == [[4, 1, 1, 1, 1], [1, 1, 1, 1, 1], [4, 4, 4, 1, 1]]


def _padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def test_the_weight_multiplies_each_tags_share_of_the_dapo_loss(tiny_model_dir, tmp_path):
    """On-policy, each token of DAPO's loss is -A_i (ratio 1), so the loss is -sum_i A_i (L_i + (w - 1) k_i) / N:
    the weight adds (w - 1) k_i tokens' worth to completion i, k_i its tag tokens, and nothing else changes."""
    data_args, training_args, model_args = parse_grpo_args(
        ["--config", str(RECIPE), "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path), *TINY])
    assert training_args.format_tag_loss_weight == 4.0 and training_args.loss_type == "dapo"
    trainer = build_grpo_trainer(data_args, training_args, model_args)
    tokenizer = trainer.processing_class
    texts = COMPLETIONS[:4]
    rows, counts = _counts(tokenizer, texts)
    completion_ids, completion_mask = _padded(rows, tokenizer.pad_token_id)
    prompt = tokenizer("What is 1+2?", add_special_tokens=False)["input_ids"]
    advantages = torch.tensor([0.9, -0.6, 0.4, -0.7])
    inputs = {"prompt_ids": torch.tensor([prompt] * 4), "prompt_mask": torch.ones(4, len(prompt), dtype=torch.long),
              "completion_ids": completion_ids, "completion_mask": completion_mask, "advantages": advantages,
              "num_items_in_batch": completion_mask.sum()}
    trainer.model.eval()
    with torch.no_grad():
        plain = float(trainer._compute_loss(trainer.model, dict(inputs)))
        trainer._weight_format_tags(inputs)
        assert inputs["tool_mask"].tolist() == format_tag_loss_weights(counts, tuple(completion_ids.shape), 4.0).tolist()
        weighted = float(trainer._compute_loss(trainer.model, inputs))
    lengths = completion_mask.sum(1).float()
    assert plain == pytest.approx(float(-(advantages * lengths).sum() / lengths.sum()), rel=1e-5)
    extra = -(advantages * torch.tensor(counts, dtype=torch.float)).sum() * 3.0 / lengths.sum()
    assert weighted - plain == pytest.approx(float(extra), rel=1e-5)
    assert trainer._metrics["train"]["format_tag/weighted_share"] == [0.75]


@pytest.mark.slow
def test_a_run_with_the_weight_trains_and_logs_what_it_weighted(tiny_model_dir, tmp_path):
    data_args, training_args, model_args = parse_grpo_args(
        ["--config", str(RECIPE), "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path), *TINY,
         "--max_steps", "2"])
    trainer = build_grpo_trainer(data_args, training_args, model_args)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logs) == 2 and all(0.0 <= h["format_tag/weighted_share"] <= 1.0 for h in logs)


def test_the_recipe_is_efficient_rl_at_alpha_02_with_the_weight_alone():
    _, tagged, _ = parse_grpo_args(["--config", str(RECIPE)])
    _, base, _ = parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_efficient_alpha02.yaml")])
    assert {k for k, v in vars(tagged).items() if v != getattr(base, k) and k != "distributed_state"} == {
        "format_tag_loss_weight"}
    assert base.format_tag_loss_weight == 1.0  # off unless a recipe asks


def test_bad_weights_are_refused(tmp_path):
    with pytest.raises(RecipeError, match="format_tag_loss_weight = 0 is out of range: it must be > 0"):
        parse_grpo_args(["--config", str(RECIPE), "--format_tag_loss_weight", "0", "--output_dir", str(tmp_path)])
    with pytest.raises(RecipeError, match="which variant mind's completions do not open with"):
        parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_mind.yaml"), "--format_tag_loss_weight", "2",
                         "--output_dir", str(tmp_path)])


def test_untagged_starts_are_weighted_only_when_asked(tiny_model_dir, tmp_path):
    """``format_tag_weight_untagged``: a completion that opens with no tag gets the weight on its first token (the
    choice not to open with a tag), so a penalised tag is not pushed down harder than an untagged start."""
    data_args, training_args, model_args = parse_grpo_args(
        ["--config", str(REPO / "recipes/toy/grpo_efficient_opening.yaml"), "--model_name_or_path",
         str(tiny_model_dir), "--output_dir", str(tmp_path), *TINY])
    assert training_args.format_tag_weight_untagged and training_args.format_tag_loss_weight == 4.0
    trainer = build_grpo_trainer(data_args, training_args, model_args)
    tokenizer = trainer.processing_class
    rows, counts = _counts(tokenizer, COMPLETIONS[:4])
    assert counts == [1, 1, 1, 0]
    completion_ids, completion_mask = _padded(rows, tokenizer.pad_token_id)
    output = {"completion_ids": completion_ids, "completion_mask": completion_mask}
    trainer._weight_format_tags(output)
    assert output["tool_mask"].tolist() == format_tag_loss_weights([1, 1, 1, 1], tuple(completion_ids.shape),
                                                                   4.0).tolist()
    assert trainer._metrics["train"]["format_tag/weighted_share"] == [1.0]
    trainer.args.format_tag_weight_untagged = False  # the tag-only weight: the untagged start counts once
    trainer._weight_format_tags(output := {"completion_ids": completion_ids, "completion_mask": completion_mask})
    assert output["tool_mask"][3].tolist() == [1.0] * completion_ids.shape[1]


def test_the_untagged_recipe_differs_from_the_tag_recipe_in_that_key_alone(tmp_path):
    _, tagged, _ = parse_grpo_args(["--config", str(RECIPE)])
    _, opening, _ = parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_efficient_opening.yaml")])
    assert {k for k, v in vars(opening).items() if v != getattr(tagged, k) and k != "distributed_state"} == {
        "format_tag_weight_untagged"}
    with pytest.raises(RecipeError, match="format_tag_weight_untagged weighs .* which is 1.0"):
        parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_efficient_alpha02.yaml"),
                         "--format_tag_weight_untagged", "true", "--output_dir", str(tmp_path)])
