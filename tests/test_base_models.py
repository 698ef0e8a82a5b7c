"""Base models (no chat template) everywhere: the ``prompt_template`` key (thrifty.prompt_templates), R1-Zero's
``<answer>`` extraction and format reward, the R1-Zero recipes at smoke size, and the one-line refusal.

The real-model tests run on a real pretrained checkpoint whose tokenizer has NO chat template: the test suite's
SmolLM2-135M (Llama architecture, imported from GGUF by ``thrifty models import-gguf``: conftest's
``real_model_dir``) copied with its chat template removed (the weights are linked, not copied). Every run is kept
tiny (2 CPU cores): a couple of rows, a few tokens, LoRA, one step.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from thrifty.formats import OPEN_R1_FORMAT, extract_answer, extract_answer_tag, is_r1_format
from thrifty.prompt_templates import (
    CHAT,
    PLAIN,
    R1_ZERO,
    R1_ZERO_TEXT,
    PromptTemplateError,
    messages_to_pair,
    render_chat,
    resolve_prompt_template,
    trl_prompt,
)

REPO = Path(__file__).resolve().parents[1]
LORA = ["--use_peft", "true", "--lora_r", "8", "--lora_alpha", "16", "--lora_dropout", "0.0",
        "--lora_target_modules", "q_proj", "v_proj"]
BOTH_WAYS = ("prompt_template", "chat_template_path")


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class _ChatTokenizer:
    """The two tokenizer attributes prompt rendering reads: a chat template and apply_chat_template."""

    chat_template = "chatml"
    name_or_path = "fake-chat"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        body = "".join(f"<|{m['role']}|>{m['content']}" for m in messages)
        return body + ("<|assistant|>" if add_generation_prompt else "")


class _BaseTokenizer(_ChatTokenizer):
    chat_template = None
    name_or_path = "fake-base"


# ---------------------------------------------------------------------------------------------------------------
# The template key, rendering and extraction (no model)
# ---------------------------------------------------------------------------------------------------------------
def test_r1_zero_is_the_papers_table_1_template():
    template = resolve_prompt_template(R1_ZERO)
    text = template.fill("What is 2 + 3?")
    assert text.startswith("A conversation between User and Assistant. The user asks a question, and the Assistant "
                           "solves it. The assistant first thinks about the reasoning process in the mind and then "
                           "provides the user with the answer. The reasoning process and answer are enclosed within "
                           "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
                           "process here </think> <answer> answer here </answer>. User: ")
    assert text.endswith("User: What is 2 + 3?. Assistant:")
    assert template.completion and template.extraction == "answer_tag" and template.stop == ("</answer>",)
    assert resolve_prompt_template(PLAIN).fill("2 + 3 =") == "2 + 3 ="
    assert resolve_prompt_template(None).name == resolve_prompt_template("chat").name == CHAT


def test_prompt_template_values_and_mistakes(tmp_path):
    custom = resolve_prompt_template("Question: {problem}\nAnswer:")
    assert custom.name == "custom" and custom.completion is None and custom.fill("1+1") == "Question: 1+1\nAnswer:"
    path = tmp_path / "orz.txt"
    path.write_text("User: {problem}\nAssistant: <think>")
    from_file = resolve_prompt_template(str(path))
    assert from_file.fill("x") == "User: x\nAssistant: <think>" and from_file.label == str(path)
    (tmp_path / "empty.txt").write_text("no placeholder")
    for bad, names in (("r1-zero", ("r1-zero", "r1_zero", "{problem}")), (str(tmp_path / "empty.txt"), ("empty.txt",))):
        with pytest.raises(PromptTemplateError) as err:
            resolve_prompt_template(bad)
        assert all(n in str(err.value) for n in names) and "\n" not in str(err.value)


def test_render_chat_through_each_kind_of_template():
    chat, base = _ChatTokenizer(), _BaseTokenizer()
    msgs = [{"role": "user", "content": "2+3?"}]
    r1 = resolve_prompt_template(R1_ZERO)
    # a named plain-text template never goes through a chat template, even where the tokenizer has one
    assert render_chat(chat, msgs, r1) == render_chat(base, msgs, r1) == R1_ZERO_TEXT.replace("{problem}", "2+3?")
    # unset: the chat template; on a base model: one line naming both ways out
    assert render_chat(chat, msgs) == "<|user|>2+3?<|assistant|>"
    with pytest.raises(PromptTemplateError) as err:
        render_chat(base, msgs)
    assert all(k in str(err.value) for k in (*BOTH_WAYS, "r1_zero", "plain")) and "\n" not in str(err.value)
    # a custom template: the user message of a chat model, the whole prompt of a base model
    custom = resolve_prompt_template("{problem}\nPut the answer in \\boxed{}.")
    assert render_chat(chat, msgs, custom) == "<|user|>2+3?\nPut the answer in \\boxed{}.<|assistant|>"
    assert render_chat(base, msgs, custom) == "2+3?\nPut the answer in \\boxed{}."
    # a builder's chat: system and user joined into {problem}; assistant turns need a chat template
    plain = resolve_prompt_template(PLAIN)
    assert render_chat(base, msgs, plain, prefill="<think>", system="Be brief.") == "Be brief.\n\n2+3?<think>"
    with pytest.raises(PromptTemplateError, match="chat_template_path"):
        render_chat(base, [*msgs, {"role": "assistant", "content": "5"}, *msgs], plain)


def test_trl_prompts_and_sft_pairs():
    r1 = resolve_prompt_template(R1_ZERO)
    assert trl_prompt("2+3?", r1, _ChatTokenizer()) == R1_ZERO_TEXT.replace("{problem}", "2+3?")  # TRL: plain text
    assert trl_prompt("2+3?", resolve_prompt_template(None), None, "sys") == [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "2+3?"}]
    pair = messages_to_pair([{"role": "user", "content": "2+3?"}, {"role": "assistant", "content": "<think>..."}],
                            r1, "row 0")
    assert pair["prompt"].endswith("User: 2+3?. Assistant:") and pair["completion"] == " <think>..."  # as generated
    pair = messages_to_pair([{"role": "user", "content": "2+3?"}, {"role": "assistant", "content": "5"}],
                            resolve_prompt_template(PLAIN), "row 0")
    assert pair == {"prompt": "2+3?", "completion": "\n5"}
    with pytest.raises(PromptTemplateError, match="row 3"):
        messages_to_pair([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                          {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}], r1, "row 3")


@pytest.mark.parametrize(("completion", "answer", "r1_layout", "open_r1"), [
    (" <think> 2 + 3 = 5 </think> <answer> 5 </answer>", "5", True, False),       # R1-Zero's spaces
    ("<think>\n2 + 3 = 5\n</think>\n<answer>\n5\n</answer>", "5", True, True),    # open-r1's newlines
    (" <think> half </think> <answer> \\boxed{\\frac{1}{2}} </answer>", "\\frac{1}{2}", True, False),
    (" <think> x </think> The answer is 5.", None, False, False),                # no tags: no answer
    (" <think> x </think> <answer> </answer>", None, False, False),              # empty answer
    (" <think> x </think> <answer> 3 </answer> <answer> 4 </answer>", "4", False, False),  # the last block counts
    (" <think> x <think> y </think> <answer> 4 </answer>", "4", False, False),   # two thinking blocks
    ("Sure. <think> x </think> <answer> 4 </answer>", "4", False, False),        # text before <think>
    (" <think> x </think> <answer> 4 </answer> and more", "4", False, False),    # text after </answer>
    (" <think> x </think> <answer> 4", None, False, False),                      # cut off before </answer>
    ("<ANSWER>\n4\n</ANSWER>", None, False, False),                               # ARM's tag is another format
])
def test_answer_tag_extraction_and_format_on_worked_cases(completion, answer, r1_layout, open_r1):
    from thrifty.rewards import get_reward

    assert extract_answer_tag(completion) == answer == extract_answer(completion, "answer_tag")
    assert is_r1_format(completion) is r1_layout
    assert is_r1_format(completion, open_r1_newlines=True) is open_r1
    fmt = get_reward("r1_zero_format")
    assert fmt(prompts=["p"], completions=[completion]) == [float(r1_layout)]
    assert get_reward("r1_zero_format", open_r1_newlines=True)(prompts=["p"], completions=[completion]) == [
        float(open_r1)]
    assert OPEN_R1_FORMAT == r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$"  # open-r1's, verbatim


def test_accuracy_reward_and_eval_read_the_same_answer():
    """With R1-Zero's template the reward and eval both read the <answer> block; strict (boxed) reads none."""
    from thrifty.answer_check import AnswerChecker
    from thrifty.benchmarks import Problem
    from thrifty.eval.scoring import resolve_extraction, score_completions
    from thrifty.rewards import get_reward
    from thrifty.trainers.grpo import reward_kwargs_for_template

    completions = [" <think> 2 + 3 = 5 </think> <answer> 5 </answer>", " <think> 5? </think> <answer> 6 </answer>",
                   " I think \\boxed{5}", " <think> x </think> <answer> \\boxed{5} </answer>"]
    expected = [1.0, 0.0, 0.0, 1.0]
    r1 = resolve_prompt_template(R1_ZERO)
    kwargs = reward_kwargs_for_template({"accuracy": {"kind": "number"}}, ["accuracy"], r1)
    assert kwargs == {"accuracy": {"kind": "number", "extraction": "answer_tag"}}
    assert reward_kwargs_for_template(None, ["arm_accuracy"], r1) is None  # only the accuracy reward is told
    reward = get_reward("accuracy", **kwargs["accuracy"])
    assert reward(prompts=["p"] * 4, completions=completions, answer=["5"] * 4) == expected
    assert resolve_extraction("auto", "math500", "adaptive", r1.extraction) == "answer_tag"
    assert resolve_extraction("auto", "math500", "adaptive", None) == "math_verify"
    problems = [Problem(id=str(i), problem="2+3?", answer="5", kind="number") for i in range(4)]
    with AnswerChecker(num_workers=1) as checker:
        scores = score_completions(completions, problems, checker, extraction="answer_tag")
    assert [float(s["correct"]) for s in scores] == expected
    assert [s["format"] for s in scores] == ["r1_zero", "r1_zero", "unknown", "r1_zero"]


def test_prompt_keys_are_checked_when_the_recipe_is_parsed(tmp_path):
    from thrifty.recipes import RecipeError
    from thrifty.trainers.grpo import parse_grpo_args

    with pytest.raises(RecipeError, match="prompt_template 'r1'"):
        parse_grpo_args(["--prompt_template", "r1"])
    with pytest.raises(RecipeError, match="system_prompt"):
        parse_grpo_args(["--prompt_template", "r1_zero", "--system_prompt", "Be brief."])
    with pytest.raises(RecipeError, match="chat_template_path"):
        parse_grpo_args(["--chat_template_path", str(tmp_path / "none.jinja")])


def test_dpo_refuses_conversational_pairs_on_a_model_without_a_chat_template():
    import datasets

    from thrifty.trainers.dpo import _check_chat_template

    pairs = datasets.Dataset.from_list([{"prompt": [{"role": "user", "content": "Hi"}],
                                         "chosen": [{"role": "assistant", "content": "Hello."}],
                                         "rejected": [{"role": "assistant", "content": "Go away."}]}])
    with pytest.raises(PromptTemplateError, match="pairs.jsonl cannot be rendered"):
        _check_chat_template(pairs, _BaseTokenizer(), "base", "pairs.jsonl")
    _check_chat_template(pairs, _ChatTokenizer(), "chat", "pairs.jsonl")
    plain = datasets.Dataset.from_list([{"prompt": "Hi", "chosen": "Hello.", "rejected": "Go away."}])
    _check_chat_template(plain, _BaseTokenizer(), "base", "pairs.jsonl")  # plain-text pairs need no template


def test_zero_recipes_parse_with_the_references_settings():
    from thrifty.eval.runner import EvalConfig
    from thrifty.recipes import parse_recipe
    from thrifty.trainers.grpo import parse_grpo_args

    data, train, _ = parse_grpo_args(["--config", str(REPO / "recipes/zero/grpo_qwen2.5_math_1.5b.yaml")])
    assert data.prompt_template == "r1_zero" and data.system_prompt is None
    assert (train.loss_type, train.scale_rewards, train.beta) == ("dr_grpo", "none", 0.0)  # Dr. GRPO, explicit
    assert (train.learning_rate, train.num_generations, train.temperature, train.max_completion_length) == (
        1e-6, 8, 1.0, 3000)
    assert list(train.reward_funcs) == ["accuracy", "r1_zero_format"] and list(train.reward_weights) == [1.0, 0.25]
    (cfg,) = parse_recipe((EvalConfig,), ["--config", str(REPO / "recipes/zero/eval_math500.yaml")])
    assert cfg.prompt_template == "r1_zero" and cfg.temperature == 0 and cfg.max_new_tokens == 3000
    assert cfg.template.stop == ("</answer>",)


# ---------------------------------------------------------------------------------------------------------------
# A real pretrained checkpoint with no chat template
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_model_dir(real_model_dir, tmp_path_factory) -> Path:
    """SmolLM2-135M with its chat template removed: a base checkpoint as a new user imports one (weights linked)."""
    out = tmp_path_factory.mktemp("base_model") / "SmolLM2-135M-base"
    out.mkdir()
    for item in Path(real_model_dir).iterdir():
        if item.name == "chat_template.jinja":
            continue
        if item.name == "model.safetensors":
            (out / item.name).symlink_to(item.resolve())
        elif item.name == "tokenizer_config.json":
            config = json.loads(item.read_text())
            config.pop("chat_template", None)
            (out / item.name).write_text(json.dumps(config))
        elif item.is_file():
            shutil.copy(item, out / item.name)
    from thrifty.models import load_tokenizer

    assert not load_tokenizer(str(out)).chat_template
    return out


def _run(argv: list[str], capsys) -> tuple[int, str]:
    from thrifty.cli import main

    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.slow
def test_a_base_model_given_no_template_is_refused_in_one_line_everywhere(base_model_dir, tmp_path, capsys,
                                                                           shared_data):
    """eval, grpo and sft on ``messages``: exit 2, one line naming prompt_template and chat_template_path, nothing
    written; the builders' local backend and select-style refuse the same way, before loading the weights."""
    from thrifty.backends import TransformersBackend
    from thrifty.data_builders.style_select import TargetModel

    data = _jsonl(tmp_path / "rows.jsonl", [{"problem": "What is 2 + 3?", "answer": "5"}])
    msgs = _jsonl(tmp_path / "msgs.jsonl", [{"messages": [{"role": "user", "content": "2 + 3?"},
                                                          {"role": "assistant", "content": "5"}]}])
    model = str(base_model_dir)
    for argv in (["eval", "--model_name_or_path", model, "--benchmarks", "gsm8k", "--limit", "1",
                  "--data_dir", str(shared_data), "--output_dir", str(tmp_path / "eval")],
                 ["grpo", "--model_name_or_path", model, "--dataset_name", str(data), "--output_dir",
                  str(tmp_path / "grpo"), "--max_steps", "1"],
                 ["sft", "--model_name_or_path", model, "--dataset_name", str(msgs), "--output_dir",
                  str(tmp_path / "sft"), "--max_steps", "1"]):
        code, err = _run(argv, capsys)
        lines = [line for line in err.splitlines() if line.startswith("thrifty: error:")]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (argv[0], err[-2000:])
        assert all(k in lines[0] for k in (*BOTH_WAYS, model)), lines[0]
        assert not (tmp_path / argv[0]).exists()
    for make in (lambda: TransformersBackend(model), lambda: TargetModel.from_pretrained(model)):
        with pytest.raises(PromptTemplateError) as err:
            make()
        assert all(k in str(err.value) for k in BOTH_WAYS)


@pytest.mark.slow
def test_eval_on_a_base_model_with_r1_zero(base_model_dir, tmp_path, shared_data):
    """GSM8K, 2 problems: plain-text prompts (no chat tokens), the <answer> extraction named in the summary."""
    from thrifty.eval.runner import EvalConfig, run_eval

    out = run_eval(EvalConfig(model_name_or_path=str(base_model_dir), output_dir=str(tmp_path / "eval"),
                              benchmarks=["gsm8k"], data_dir=str(shared_data), limit=2, max_new_tokens=6,
                              prompt_template="r1_zero", plots=False))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["extraction"]["used"] == {"gsm8k/adaptive": "answer_tag"}
    assert summary["config"]["prompt_template"] == "r1_zero"
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["extraction"] == "answer_tag" and r["num_tokens"] <= 6 for r in rows)


@pytest.mark.slow
def test_generation_stops_at_the_templates_stop_string(base_model_dir):
    """R1-Zero's eval stops at ``</answer>``; here a stop string the base model does write ends its completion,
    kept in the text, its tokens counted up to it."""
    from thrifty.generation import SamplingParams, TransformersGenerator
    from thrifty.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(str(base_model_dir), dtype="float32")
    generator = TransformersGenerator(model, tokenizer, batch_size=2)
    prompts = ["The capital of France is", "1, 2, 3, 4,"]
    free = generator.generate(prompts, SamplingParams(max_new_tokens=12))
    words = [g[0].text.split() for g in free]
    stops = tuple(w[1] for w in words)  # the second word each prompt continues with
    cut = generator.generate(prompts, SamplingParams(max_new_tokens=12, stop=stops))
    for (whole,), (short,), stop in zip(free, cut, stops, strict=True):
        assert short.finish_reason == "stop" and short.text.endswith(stop) and whole.text.startswith(short.text)
        assert short.num_tokens == len(tokenizer(short.text, add_special_tokens=False)["input_ids"]) < 12


@pytest.mark.slow
def test_r1_zero_grpo_smoke_recipe_on_a_base_model_with_lora(base_model_dir, tmp_path, shared_data, capsys):
    """recipes/zero/smoke.yaml: TRL's plain-string prompts through the R1-Zero template, accuracy (reading the
    <answer> block) + format rewards, LoRA, one step, on MATH train rows."""
    from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args

    argv = ["--config", str(REPO / "recipes/zero/smoke.yaml"), "--model_name_or_path", str(base_model_dir),
            "--dataset_name", str(shared_data / "arm" / "MATH_train.jsonl"), "--output_dir", str(tmp_path / "grpo"),
            "--max_completion_length", "8", "--disable_tqdm", "true"]
    trainer = build_grpo_trainer(*parse_grpo_args(argv))
    prompts = trainer.train_dataset["prompt"]
    assert len(prompts) == 2 and all(isinstance(p, str) and p.startswith("A conversation between User and Assistant")
                                     and p.endswith(". Assistant:") for p in prompts)
    accuracy = trainer.reward_funcs[0].__wrapped__
    assert accuracy.extraction == "answer_tag" and trainer.reward_func_names == ["accuracy", "r1_zero_format"]
    trainer.train()
    logged = trainer.state.log_history[0]
    assert "rewards/accuracy/mean" in logged and "rewards/r1_zero_format/mean" in logged
    trainer.save_model(str(tmp_path / "grpo"))
    assert (tmp_path / "grpo" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_sft_on_prompt_completion_data_with_a_base_model(base_model_dir, tmp_path):
    """prompt/completion rows through the R1-Zero template: the completion follows `Assistant:` after a space, the
    loss is on the completion only, LoRA, one step. ``messages`` rows become the same pairs."""
    from trl import ModelConfig

    from thrifty.recipes import parse_recipe
    from thrifty.trainers.sft import DataArguments, ThriftySFTConfig, build_sft_trainer

    rows = [{"prompt": "What is 2 + 3?", "completion": "<think> 2 + 3 = 5 </think> <answer> 5 </answer>"},
            {"prompt": "What is 4 + 4?", "completion": "<think> 4 + 4 = 8 </think> <answer> 8 </answer>"}]
    for name, data in (("pc", rows), ("msgs", [{"messages": [{"role": "user", "content": r["prompt"]},
                                                             {"role": "assistant", "content": r["completion"]}]}
                                              for r in rows])):
        path = _jsonl(tmp_path / f"{name}.jsonl", data)
        args = parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), [
            "--model_name_or_path", str(base_model_dir), "--dataset_name", str(path), "--prompt_template", "r1_zero",
            "--output_dir", str(tmp_path / name), "--max_steps", "1", "--per_device_train_batch_size", "2",
            "--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true", *LORA])
        trainer = build_sft_trainer(*args)
        tok = trainer.processing_class
        row = trainer.train_dataset[0]
        ids, mask = row["input_ids"], [label != -100 for label in row["labels"]]  # TRL: -100 = no loss
        completion = tok.decode([t for t, m in zip(ids, mask, strict=True) if m])
        prompt = tok.decode([t for t, m in zip(ids, mask, strict=True) if not m])
        assert prompt.endswith("User: What is 2 + 3?. Assistant:") and "<|im_start|>user" not in prompt
        assert completion.startswith(" <think> 2 + 3 = 5 </think> <answer> 5 </answer>")
        if name == "pc":
            trainer.train()
            assert trainer.state.global_step == 1


@pytest.mark.slow
def test_builders_local_backend_and_select_style_on_a_base_model(base_model_dir, tmp_path):
    """The builders' transformers backend renders a chat through ``plain`` (cached apart from chat prompts), and
    select-style scores toy candidates against the base target prompted the same way."""
    from thrifty.backends import BackendArguments, make_backend
    from thrifty.data_builders.style_select import StyleSelectArguments, select_style

    backend = make_backend(BackendArguments(llm_backend="transformers", llm_model=str(base_model_dir),
                                            llm_max_tokens=4, prompt_template="plain"), tmp_path / "cache.jsonl")
    chat = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 2 + 3?"}]
    (text,) = backend.generate([chat])
    assert isinstance(text, str) and backend.stats["requests_ok"] == 1
    assert backend.cache_name == f"{base_model_dir}|prompt_template=plain"
    assert backend.generate([chat]) == [text] and backend.stats["cache_hits"] == 1
    backend.close()

    args = StyleSelectArguments(model_name_or_path=str(base_model_dir), candidates=["direct", "short_cot"],
                                toy_candidates=True, toy_n=4, subset_size=2, num_samples=1, max_new_tokens=4,
                                n_style_examples=1, batch_size=4, max_length=256, output_dir=str(tmp_path / "sel"),
                                prompt_template="plain", dtype="float32")
    result = select_style(args)
    assert result["chosen"] in ("direct", "short_cot")
    sample = json.loads((tmp_path / "sel" / "target_samples.jsonl").read_text().splitlines()[0])
    assert sample["signature"]["prompt_template"] == "plain"
