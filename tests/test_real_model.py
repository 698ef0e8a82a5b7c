"""Every stage on a real pretrained chat model: SmolLM2-135M-Instruct (Llama architecture, ChatML template with a
default system message and no ``{% generation %}`` markers), imported from GGUF by ``thrifty models import-gguf``
(the session fixture ``real_model_dir`` in conftest.py, cached between runs).

Kept cheap on purpose (2 CPU cores): LoRA, 1-2 steps, batch 1-2, 2 generations of 8 tokens, 2 problems. The
model is weak (FIELD-NOTES: GSM8K accuracy ~0), so these tests check that each stage runs on a real architecture,
tokenizer and template and that its outputs are right (masks, prompts, adapters), not that it learns.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

MIND_TWO_TURNS = [
    {"role": "user", "content": "Tom has 3 apples and buys 4 more. How many apples does he have?"},
    {"role": "assistant", "content": "<think>\n3 + 4 = 7.\n</think>\n\\boxed{7}\n"
                                     "<think>\nWait, let me verify: 7 - 4 = 3. Yes.\n</think>\n\\boxed{7}"},
]
TWO_ASSISTANT_MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": "\\boxed{4}"},
    {"role": "user", "content": "And 3 + 3?"},
    {"role": "assistant", "content": "\\boxed{6}"},
]
COMMON = ["--per_device_train_batch_size", "2", "--logging_steps", "1", "--save_strategy", "no",
          "--report_to", "none", "--disable_tqdm", "true", "--seed", "0"]
LORA = ["--use_peft", "true", "--lora_r", "8", "--lora_alpha", "16", "--lora_dropout", "0.0",
        "--lora_target_modules", "q_proj", "v_proj"]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _greedy(model, tokenizer, messages, n: int = 8) -> tuple[list[int], torch.Tensor]:
    """Greedy continuation of ``messages`` (the model's template, one BOS) and the logits of the prompt."""
    from thrifty.generation import prompt_token_ids, render_prompt

    ids = torch.tensor([prompt_token_ids(tokenizer, render_prompt(tokenizer, messages))])
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -4:].float()
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    return out[0, ids.shape[1]:].tolist(), logits


# ---------------------------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------------------------
def test_imported_checkpoint_equals_the_gguf_model(real_model_dir, real_model_gguf, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from thrifty.cli import main

    imported = AutoModelForCausalLM.from_pretrained(real_model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(real_model_dir)
    gguf_tok = AutoTokenizer.from_pretrained(real_model_gguf.parent, gguf_file=real_model_gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(real_model_gguf.parent, gguf_file=real_model_gguf.name,
                                                      dtype=torch.float32)
    assert type(imported).__name__ == "LlamaForCausalLM" and imported.config.tie_word_embeddings
    import os
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    weights = real_model_dir / "model.safetensors"
    assert stat.S_IMODE(weights.stat().st_mode) == 0o666 & ~mask  # readable per umask (transformers writes 0600)
    assert sum(p.numel() for p in imported.parameters()) == sum(p.numel() for p in gguf_model.parameters())
    text = gguf_tok.apply_chat_template(MIND_TWO_TURNS, tokenize=False)
    assert tokenizer.apply_chat_template(MIND_TWO_TURNS, tokenize=False) == text
    ids = gguf_tok(text, add_special_tokens=False)["input_ids"]
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == ids
    with torch.no_grad():
        x = torch.tensor([ids])
        assert torch.equal(imported(input_ids=x).logits, gguf_model(input_ids=x).logits)
    # a user error is one line and exit status 2, nothing written
    assert main(["models", "import-gguf", str(tmp_path / "missing.gguf"), str(tmp_path / "out")]) == 2
    assert main(["models", "import-gguf", str(real_model_gguf), str(real_model_dir)]) == 2  # exists: no overwrite
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------
# SFT
# ---------------------------------------------------------------------------------------------------------------
def _expected_labels(tokenizer, messages: list[dict]) -> list[int]:
    """Labels built independently of thrifty's masker: the rendered template cut at every assistant turn."""
    labels: list[int] = []
    done = ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        prefix_ids = tokenizer(before[len(done):], add_special_tokens=False)["input_ids"]
        answer = message["content"] + tokenizer.eos_token  # ChatML: the turn ends with <|im_end|> (= eos)
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        labels += [-100] * len(prefix_ids) + answer_ids
        done = before + answer
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    tail = tokenizer(full[len(done):], add_special_tokens=False)["input_ids"]
    return labels + [-100] * len(tail)


@pytest.fixture(scope="module")
def lora_sft(real_model_dir, tmp_path_factory):
    """LoRA SFT (2 steps, lr 5e-3) on MinD rows with assistant_only_loss: the trainer, its data and outputs."""
    from trl import ModelConfig

    from thrifty.recipes import parse_recipe
    from thrifty.trainers.common import train_and_save
    from thrifty.trainers.sft import DataArguments, ThriftySFTConfig, build_sft_trainer

    tmp = tmp_path_factory.mktemp("real_sft")
    data = _write_jsonl(tmp / "mind.jsonl", [{"messages": MIND_TWO_TURNS}, {"messages": TWO_ASSISTANT_MESSAGES}])
    out = tmp / "lora"
    argv = ["--config", "recipes/toy/sft.yaml", "--model_name_or_path", str(real_model_dir), "--dataset_name",
            str(data), "--output_dir", str(out), "--max_steps", "2", "--learning_rate", "5e-3",
            "--warmup_steps", "0", "--resume_from_checkpoint", "false", *COMMON, *LORA]
    trainer = build_sft_trainer(*parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), argv))
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    train_and_save(trainer)
    tokens, logits = _greedy(trainer.model, trainer.processing_class, MIND_TWO_TURNS[:1])
    return {"trainer": trainer, "rows": rows, "out": out, "tokens": tokens, "logits": logits, "data": data}


def test_sft_assistant_mask_is_exactly_the_assistant_tokens(lora_sft, real_model_dir):
    from transformers import AutoTokenizer

    from thrifty.assistant_mask import THRIFTY, assistant_masking_plan
    from thrifty.generation import prompt_token_ids

    tokenizer = AutoTokenizer.from_pretrained(real_model_dir)
    assert assistant_masking_plan(tokenizer) == THRIFTY  # neither markers nor a template TRL can patch
    by_length = {len(r["input_ids"]): r for r in lora_sft["rows"]}
    for messages in (MIND_TWO_TURNS, TWO_ASSISTANT_MESSAGES):
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        ids = prompt_token_ids(tokenizer, full)
        row = by_length[len(ids)]
        assert row["input_ids"] == ids
        expected = _expected_labels(tokenizer, messages)
        assert row["labels"] == expected, "\n".join(
            f"{tokenizer.decode([t])!r}: got {g}, want {w}" for t, g, w in zip(ids, row["labels"], expected, strict=True)
            if g != w)
        trained = tokenizer.decode([t for t in row["labels"] if t != -100])
        want = "".join(m["content"] + "<|im_end|>" for m in messages if m["role"] == "assistant")
        assert trained == want
    assert ids.count(tokenizer.bos_token_id) == 5 and ids[0] == tokenizer.bos_token_id != ids[1]


def test_sft_mask_error_names_the_row_for_a_template_that_rewrites_earlier_turns(real_model_dir):
    """A template that renders earlier assistant turns differently once later ones follow (as reasoning templates
    that drop earlier thinking do) cannot be masked from its rendering: one clear error, not a traceback."""
    import datasets
    from transformers import AutoTokenizer

    from thrifty.assistant_mask import AssistantMaskError, add_assistant_masks

    tokenizer = AutoTokenizer.from_pretrained(real_model_dir)
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' and not loop.last %}(earlier)"
        "{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    rows = datasets.Dataset.from_list([{"messages": MIND_TWO_TURNS}, {"messages": TWO_ASSISTANT_MESSAGES}])
    with pytest.raises(AssistantMaskError, match=r"data.jsonl row 1: .*not prefix-preserving.*chat_template_path"):
        add_assistant_masks(rows, tokenizer, "data.jsonl")


def test_sft_lora_trains_and_saves_an_adapter(lora_sft, real_model_dir):
    trainer, out = lora_sft["trainer"], lora_sft["out"]
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(0 < x < 20 for x in losses)
    config = json.loads((out / "adapter_config.json").read_text())
    assert Path(config["base_model_name_or_path"]) == Path(real_model_dir)
    assert (out / "adapter_model.safetensors").is_file() and (out / "chat_template.jinja").is_file()


def test_sft_full_fine_tune_on_messages(real_model_dir, tmp_path):
    from safetensors.torch import load_file

    from thrifty.cli import main

    data = _write_jsonl(tmp_path / "mind.jsonl", [{"messages": MIND_TWO_TURNS}])
    out = tmp_path / "full"
    rc = main(["sft", "--config", "recipes/toy/sft.yaml", "--model_name_or_path", str(real_model_dir),
               "--dataset_name", str(data), "--output_dir", str(out), "--max_steps", "1", "--learning_rate", "1e-4",
               "--warmup_steps", "0", "--resume_from_checkpoint", "false", *COMMON])
    assert rc == 0
    before = load_file(real_model_dir / "model.safetensors")["model.layers.0.self_attn.q_proj.weight"]
    after = load_file(out / "model.safetensors")["model.layers.0.self_attn.q_proj.weight"]
    assert before.shape == after.shape and not torch.equal(before, after)


# ---------------------------------------------------------------------------------------------------------------
# GRPO (plain, Ada-GRPO, MinD, L1-Exact, AdaptThink, Efficient RL) with LoRA on GSM8K prompts
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["plain", "ada", "mind", "l1_exact", "adaptthink", "efficient"])
def test_grpo_lora_every_variant(variant, real_model_dir, shared_data, tmp_path):
    from thrifty.trainers.common import train_and_save
    from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args

    argv = ["--config", f"recipes/toy/grpo_{variant}.yaml", "--model_name_or_path", str(real_model_dir),
            "--dataset_name", str(shared_data / "gsm8k" / "train.jsonl"), "--prompt_column", "question",
            "--answer_column", "answer", "--answer_pattern", "#### (.+)$", "--max_train_samples", "2",
            "--output_dir", str(tmp_path / variant), "--max_steps", "1", "--num_generations", "2",
            "--max_completion_length", "8", "--resume_from_checkpoint", "false", *COMMON, *LORA]
    if variant == "plain":
        argv += ["--attn_implementation", "eager"]
    if variant == "adaptthink":  # the reference accuracy pre-sampled from the model itself, 2 samples per prompt
        argv += ["--adaptthink_ref_samples", "2"]
    if variant == "efficient":  # the paper's pair (recipes/efficient): the boxed-answer accuracy and its length term
        argv += ["--reward_funcs", "accuracy", "efficient_length", "--reward_kwargs",
                 '{"accuracy": {"kind": "number"}, "efficient_length": {"kind": "number", "alpha": 0.1}}']
    trainer = build_grpo_trainer(*parse_grpo_args(argv))
    if variant == "plain":  # every ModelConfig setting reaches the policy, not only dtype
        assert trainer.model.config._attn_implementation == "eager"
        assert trainer.args.model_init_kwargs["attn_implementation"] == "eager"
    train_and_save(trainer)
    logs = {k for h in trainer.state.log_history for k in h}
    assert any(k.startswith("format/") for k in logs)
    assert {"plain": "rewards/arm_accuracy/mean", "ada": "ada/alpha_mean", "mind": "turns/mean",
            "l1_exact": "rewards/l1_length/mean", "adaptthink": "adaptthink/ref_accuracy",
            "efficient": "rewards/efficient_length/mean"}[variant] in logs
    assert (tmp_path / variant / "adapter_model.safetensors").is_file()


def test_efficient_rl_paper_recipe_trains_a_step(real_model_dir, tmp_path):
    """recipes/efficient/grpo_r1_distill_1.5b.yaml as shipped (the official instruction as the user message of the
    model's chat template, the gold read from a solution's last \\boxed{}, batch-scaled rewards, the per-sequence
    loss), shrunk to one LoRA step on SmolLM2 and two problems in the compression dataset's columns."""
    from thrifty.trainers.common import train_and_save
    from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args

    data = _write_jsonl(tmp_path / "compression.jsonl", [
        {"problem": "What is 2 + 2?", "solution": "Adding, 2 + 2 = 4, so the answer is $\\boxed{4}$."},
        {"problem": "What is 3 * 5?", "solution": "Multiplying gives $\\boxed{15}$."}])
    argv = ["--config", "recipes/efficient/grpo_r1_distill_1.5b.yaml", "--model_name_or_path", str(real_model_dir),
            "--dataset_name", str(data), "--output_dir", str(tmp_path / "out"), "--max_steps", "1",
            "--num_generations", "2", "--gradient_accumulation_steps", "1", "--max_completion_length", "8",
            "--use_vllm", "false", "--bf16", "false", "--dtype", "float32", "--attn_implementation", "eager",
            "--gradient_checkpointing", "false", "--resume_from_checkpoint", "false", *COMMON, *LORA]
    data_args, training_args, model_args = parse_grpo_args(argv)
    assert (training_args.scale_rewards, training_args.loss_type) == ("batch", "grpo")
    trainer = build_grpo_trainer(data_args, training_args, model_args)
    assert trainer.train_dataset[0]["prompt"] == [{"role": "user", "content": (
        "Please reason step by step, and put your final answer within \\boxed{}. Question: What is 2 + 2?")}]
    train_and_save(trainer)
    logs = {k for h in trainer.state.log_history for k in h}
    assert {"rewards/accuracy/mean", "rewards/efficient_length/mean"} <= logs
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


def test_grpo_passes_every_model_setting(real_model_dir, tmp_path):
    """revision, trust_remote_code, attn_implementation, dtype and quantization reach GRPOTrainer as they reach
    SFT and DPO (quantization needs bitsandbytes and a GPU, so the trainer class records its arguments here)."""
    from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args

    seen = {}

    class Recorder:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    argv = ["--config", "recipes/toy/grpo_plain.yaml", "--model_name_or_path", str(real_model_dir),
            "--output_dir", str(tmp_path), "--model_revision", "main", "--trust_remote_code", "true",
            "--attn_implementation", "sdpa", "--dtype", "bfloat16", "--load_in_4bit", "true"]
    data_args, training_args, model_args = parse_grpo_args(argv)
    build_grpo_trainer(data_args, training_args, model_args, trainer_cls=Recorder)
    kwargs = seen["args"].model_init_kwargs
    assert kwargs["revision"] == "main" and kwargs["trust_remote_code"] is True
    assert kwargs["attn_implementation"] == "sdpa" and kwargs["dtype"] == "bfloat16"
    assert seen["quantization_config"].load_in_4bit


# ---------------------------------------------------------------------------------------------------------------
# DPO with LoRA
# ---------------------------------------------------------------------------------------------------------------
def test_dpo_lora(real_model_dir, tmp_path):
    from thrifty.cli import main

    question = [{"role": "user", "content": "What is 3 + 4? Answer with a boxed number."}]
    pairs = [{"prompt": question, "chosen": [{"role": "assistant", "content": "\\boxed{7}"}],
              "rejected": [{"role": "assistant", "content": "\\boxed{8}"}]}] * 2
    data = _write_jsonl(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "dpo"
    rc = main(["dpo", "--config", "recipes/longwriter/dpo_toy.yaml", "--model_name_or_path", str(real_model_dir),
               "--dataset_name", str(data), "--output_dir", str(out), "--max_steps", "1",
               "--per_device_train_batch_size", "2", "--lora_target_modules", "q_proj", "v_proj"])
    assert rc == 0 and (out / "adapter_model.safetensors").is_file()


# ---------------------------------------------------------------------------------------------------------------
# Eval of the SFT adapter on GSM8K and MATH-500 rows (the model's own template, exactly one BOS), then publish
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lora_eval(lora_sft, shared_data) -> Path:
    """``thrifty eval`` of the LoRA SFT adapter (loaded onto its base) into RUN_DIR/eval, where publish finds it."""
    from thrifty.cli import main

    out = lora_sft["out"] / "eval"
    rc = main(["eval", "--config", "recipes/arm/eval_math500.yaml", "--model_name_or_path", str(lora_sft["out"]),
               "--benchmarks", "math500", "gsm8k", "--backend", "transformers", "--num_samples", "1", "--temperature",
               "0", "--data_dir", str(shared_data), "--limit", "2", "--max_new_tokens", "8", "--batch_size", "2",
               "--output_dir", str(out)])
    assert rc == 0
    return out


def test_eval_gsm8k_math500_prompts_use_the_models_template(lora_eval, lora_sft, real_model_dir, shared_data):
    from transformers import AutoTokenizer

    from thrifty.benchmarks import load_benchmark
    from thrifty.eval.modes import _prompts
    from thrifty.generation import prompt_token_ids

    rows = [json.loads(line) for line in (lora_eval / "samples.jsonl").read_text().splitlines()]
    assert sorted((r["benchmark"], 0 < r["num_tokens"] <= 8) for r in rows) == [("gsm8k", True)] * 2 + [
        ("math500", True)] * 2
    summary = json.loads((lora_eval / "summary.json").read_text())
    assert summary["model"] == str(lora_sft["out"])

    tokenizer = AutoTokenizer.from_pretrained(lora_sft["out"])

    class Gen:  # the prompt builder only reads .tokenizer
        pass

    gen = Gen()
    gen.tokenizer = tokenizer
    problems = load_benchmark("gsm8k", str(shared_data), limit=2)
    for problem, text in zip(problems, _prompts(gen, problems, "", "{problem}", None), strict=True):
        assert text == tokenizer.apply_chat_template([{"role": "user", "content": problem.problem}],
                                                     tokenize=False, add_generation_prompt=True)
        assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
        ids = prompt_token_ids(tokenizer, text)
        assert ids[0] == tokenizer.bos_token_id and ids[1] != tokenizer.bos_token_id


def test_publish_dry_run_adapter_reproduces_the_trained_model(lora_sft, lora_eval, real_model_dir, tmp_path):
    """The published adapter, loaded back onto the base, generates what the trained model generated."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from thrifty.cli import main

    card_dir = tmp_path / "publish"
    assert main(["publish", str(lora_sft["out"]), "--repo-id", "you/smollm2-mind-lora", "--dry-run",
                 str(card_dir)]) == 0
    assert (card_dir / "README.md").is_file() and (card_dir / "adapter_model.safetensors").is_file()
    tokenizer = AutoTokenizer.from_pretrained(card_dir)
    base = AutoModelForCausalLM.from_pretrained(real_model_dir, dtype=torch.float32)
    base_tokens, base_logits = _greedy(base, tokenizer, MIND_TWO_TURNS[:1])
    model = PeftModel.from_pretrained(base, card_dir)
    tokens, logits = _greedy(model, tokenizer, MIND_TWO_TURNS[:1])
    assert tokens == lora_sft["tokens"]
    torch.testing.assert_close(logits, lora_sft["logits"], rtol=1e-4, atol=1e-4)
    assert (logits - base_logits).abs().max() > 1e-2  # the adapter is really there (lr 5e-3, 2 steps)


# ---------------------------------------------------------------------------------------------------------------
# select-style and the builders with the local transformers backend
# ---------------------------------------------------------------------------------------------------------------
def test_select_style_on_the_real_model(real_model_dir, tmp_path):
    from thrifty.cli import main

    questions = [("q1", "What is 2 + 3?", "5"), ("q2", "What is 4 + 4?", "8")]
    styles = {"direct": "\\boxed{{{a}}}", "short_cot": "We add the numbers: the sum is {a}. \\boxed{{{a}}}"}
    candidates = []
    for name, template in styles.items():
        rows = [{"id": i, "answer": a, "messages": [{"role": "user", "content": q},
                                                     {"role": "assistant", "content": template.format(a=a)}]}
                for i, q, a in questions]
        candidates.append(f"{name}={_write_jsonl(tmp_path / f'{name}.jsonl', rows)}")
    out = tmp_path / "select"
    rc = main(["select-style", "--config", "recipes/toy/select_style.yaml", "--model_name_or_path", str(real_model_dir),
               "--candidates", *candidates, "--toy_candidates", "false", "--output_dir", str(out), "--subset_size", "2",
               "--num_samples", "1", "--max_new_tokens", "8", "--batch_size", "2", "--n_style_examples", "1"])
    assert rc == 0
    selection = json.loads((out / "selection.json").read_text())
    assert selection["chosen"] in styles
    assert all(set(selection["scores"][name]) >= {"alignment", "perplexity"} for name in styles)


def test_builders_with_the_transformers_backend(real_model_dir, shared_data, tmp_path):
    """ARM multi-format (code by the local model) on AQuA rows and MinD multi-turn (segmentation and prefix answers
    by the local model) on short toy traces; the 135M model's replies are mostly unusable, which the builders count
    and survive."""
    from thrifty.cli import main

    llm = ["--llm_backend", "transformers", "--llm_model", str(real_model_dir), "--llm_max_tokens", "8",
           "--llm_batch_size", "3", "--tokenizer_name_or_path", str(real_model_dir)]
    aqua = tmp_path / "aqua"
    rc = main(["build", "multiformat", "--config", "recipes/arm/aqua_openai.yaml", "--source",
               str(shared_data / "aqua" / "dev.jsonl"), "--max_samples", "2", "--balanced", "false",
               "--output_dir", str(aqua), *llm])
    assert rc == 0
    stats = json.loads((aqua / "stats.json").read_text())
    assert stats["rows_per_format"]["direct"] == 2  # from the gold letters
    assert len((aqua / "llm_cache.jsonl").read_text().splitlines()) >= 2  # the local model wrote code for each

    from thrifty.data_builders.toy_build import build_toy_dataset

    traces = build_toy_dataset(tmp_path / "toy", n_train=6, n_test_per_difficulty=1)["traces"]
    mind = tmp_path / "mind"
    rc = main(["build", "multiturn", "--config", "recipes/mind/toy.yaml", "--source", traces, "--max_samples", "3",
               "--segmenter", "llm", "--intermediate_answer", "llm", "--output_dir", str(mind), *llm])
    assert rc == 0
    stats = json.loads((mind / "stats.json").read_text())
    asked = stats["llm"].get("llm_segmentation_ok", 0) + stats["llm"].get("llm_segmentation_fallback", 0)
    assert asked == 3 and stats["tokenizer"]  # toy traces are correct and closed: one segmentation call each


# ---------------------------------------------------------------------------------------------------------------
# vLLM prompt construction (no GPU needed): token ids with exactly one BOS
# ---------------------------------------------------------------------------------------------------------------
def test_vllm_prompts_are_token_ids_with_one_bos(real_model_dir):
    from transformers import AutoTokenizer

    from thrifty.eval.generation import vllm_prompts
    from thrifty.generation import render_prompt

    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    smol = AutoTokenizer.from_pretrained(real_model_dir)
    text = render_prompt(smol, messages)
    (prompt,) = vllm_prompts(smol, [text])
    assert set(prompt) == {"prompt_token_ids"}  # vLLM's TokensPrompt: vLLM does not tokenize again
    assert prompt["prompt_token_ids"] == smol(text, add_special_tokens=False)["input_ids"]
    assert prompt["prompt_token_ids"][0] == smol.bos_token_id != prompt["prompt_token_ids"][1]

    # Llama 3's situation: the tokenizer adds a BOS and the template writes one too
    llama = AutoTokenizer.from_pretrained(real_model_dir)
    llama.bos_token = "<|endoftext|>"
    llama.add_bos_token = True
    bos = llama.bos_token_id
    llama.chat_template = "{{ bos_token }}" + smol.chat_template
    text = render_prompt(llama, messages)
    as_text = llama(text)["input_ids"]  # what vLLM makes of a text prompt
    assert as_text[:2] == [bos, bos]
    (prompt,) = vllm_prompts(llama, [text])
    assert prompt["prompt_token_ids"] == as_text[1:]
    # a template without the BOS its tokenizer adds: it gets exactly one
    llama.chat_template = smol.chat_template
    text = render_prompt(llama, messages)
    (prompt,) = vllm_prompts(llama, [text])
    assert prompt["prompt_token_ids"] == [bos, *llama(text, add_special_tokens=False)["input_ids"]]
