r"""Prompt templates: how a problem (or a builder's chat) becomes the text a model is prompted with.

Chat models are prompted through their tokenizer's chat template. Much of reasoning RL starts from *base* models
instead (DeepSeek-R1-Zero, SimpleRL-Zoo, Open-Reasoner-Zero, Dr. GRPO, DAPO), prompted with a plain-text template
and scored the same way; their tokenizers often have no chat template at all. One recipe key, ``prompt_template``,
accepted by every stage that renders prompts (``thrifty eval``, ``grpo``, ``sft``, the builders' local LLM backend,
``select-style``), says which:

- unset (or ``chat``): the model's chat template, the problem as the user message. A tokenizer with no chat
  template is refused in one line that names both ways out (:func:`no_template_message`).
- ``r1_zero``: DeepSeek-R1-Zero's template, word for word from the DeepSeek-R1 paper (DeepSeek-AI 2025,
  arXiv 2501.12948, Table 1), ``{problem}`` standing for the paper's "prompt". Plain text, never wrapped in a
  chat template, even where the tokenizer has one (R1-Zero, Open-Reasoner-Zero and Dr. GRPO's ``r1`` template
  prompt base models this way). Its answers are read from the last ``<answer>...</answer>`` block
  (extraction ``answer_tag``, :func:`thrifty.formats.extract_answer_tag`), in eval and in the ``accuracy`` reward
  alike; ``r1_zero_format`` is its format reward. Eval stops a completion at ``</answer>`` (kept), as Dr. GRPO's
  actor does for this template (sail-sg/understand-r1-zero ``train_zero_math.py``), so a base model that runs on
  after its answer is not charged for the tokens.
- ``plain``: ``{problem}`` as it is, plain text (Dr. GRPO's ``no`` template): the base model continues the
  problem; answers are read as the stage always reads them (eval: math-verify; rewards: ``\boxed{}``).
- any other text containing ``{problem}``, inline or in a file (``prompt_template: my_template.txt``): on a
  model whose tokenizer has a chat template (its own or ``chat_template_path``'s) the filled text is the user
  message (``"{problem}\nPlease reason step by step, and put your final answer within \\boxed{}."``); on a
  model without one it is the whole prompt (``"Question: {problem}\nAnswer:"``).

``chat_template_path: FILE`` (TRL's SFT key, accepted by every stage) gives a model a Jinja chat template.

With a plain-text template a chat's system and user messages are joined with a blank line into ``{problem}``
(:func:`render_chat`); a chat with assistant turns needs a chat template. SFT pairs a templated prompt with its
completion after the template's separator (``" "`` after R1-Zero's ``Assistant:``, a newline after ``plain``,
nothing after a custom template: its own whitespace decides), so the completion starts as the model generates it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from thrifty.recipes import RecipeError

CHAT, R1_ZERO, PLAIN, CUSTOM = "chat", "r1_zero", "plain", "custom"
PLACEHOLDER = "{problem}"
#: The answer extraction of the R1-Zero template (thrifty.formats.extract_answer_tag).
ANSWER_TAG = "answer_tag"

#: DeepSeek-R1 paper (arXiv 2501.12948), Table 1, word for word; "prompt" is ``{problem}`` here.
R1_ZERO_TEXT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: {problem}. "
    "Assistant:"
)


class PromptTemplateError(RecipeError):
    """A prompt template that cannot be used, or a model that cannot be prompted without one."""


@dataclass(frozen=True)
class PromptTemplate:
    """A resolved ``prompt_template`` value (module docstring).

    ``completion``: True for plain text, False for the user message of the chat template, None for a custom
    template (plain text exactly when the tokenizer has no chat template: :meth:`is_completion`).
    ``extraction``: the answer extraction the template implies (``answer_tag``), None for the stage's own.
    ``separator``: what goes between a templated prompt and a training completion (SFT).
    """

    name: str
    text: str = PLACEHOLDER
    completion: bool | None = False
    extraction: str | None = None
    separator: str = ""
    source: str | None = None
    #: strings that end a completion at generation (eval): R1-Zero's ``</answer>``, as Dr. GRPO's actor stops
    stop: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How reports and run records name it: the name, or a custom template's text (or file)."""
        return self.name if self.name != CUSTOM else (self.source or self.text)

    def fill(self, problem: str) -> str:
        """The text with ``{problem}`` replaced (other braces stay literal, so ``\\boxed{}`` is written as is)."""
        return self.text.replace(PLACEHOLDER, problem)

    def is_completion(self, tokenizer=None) -> bool:
        """Whether prompts are plain text (True) or go through the chat template (False) for ``tokenizer``."""
        if self.completion is not None:
            return self.completion
        return tokenizer is not None and not has_chat_template(tokenizer)


NAMED: dict[str, PromptTemplate] = {
    CHAT: PromptTemplate(CHAT),
    R1_ZERO: PromptTemplate(R1_ZERO, R1_ZERO_TEXT, completion=True, extraction=ANSWER_TAG, separator=" ",
                            source="DeepSeek-R1 paper (arXiv 2501.12948), Table 1", stop=("</answer>",)),
    PLAIN: PromptTemplate(PLAIN, PLACEHOLDER, completion=True, separator="\n"),
}
NAMES = tuple(NAMED)


def resolve_prompt_template(value: str | None, key: str = "prompt_template") -> PromptTemplate:
    """The :class:`PromptTemplate` a recipe value names (module docstring); a :class:`PromptTemplateError` when it
    is neither a name, nor a text with ``{problem}``, nor a readable file holding one."""
    if value is None or not str(value).strip():
        return NAMED[CHAT]
    value = str(value)
    if value in NAMED:
        return NAMED[value]
    if PLACEHOLDER in value:
        return PromptTemplate(CUSTOM, value, completion=None)
    path = Path(value).expanduser()
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PromptTemplateError(f"{key}: cannot read {value}: {err}") from None
        if PLACEHOLDER not in text:
            raise PromptTemplateError(f"{key}: {value} has no {PLACEHOLDER} placeholder; write {PLACEHOLDER} "
                                      "where the problem goes")
        return PromptTemplate(CUSTOM, text, completion=None, source=value)
    raise PromptTemplateError(f"{key} {value!r}: not one of {', '.join(NAMES)}, not a text with a {PLACEHOLDER} "
                              "placeholder and not a file")


def has_chat_template(tokenizer) -> bool:
    """Whether ``tokenizer`` has a chat template to render chats with."""
    return bool(getattr(tokenizer, "chat_template", None))


def read_chat_template(path: str, key: str = "chat_template_path") -> str:
    """The Jinja text of a chat template file; a :class:`PromptTemplateError` when it is missing or empty."""
    file = Path(path).expanduser()
    if file.is_dir():
        for name in ("chat_template.jinja", "chat_template.j2"):
            if (file / name).is_file():
                file = file / name
                break
        else:
            raise PromptTemplateError(f"{key}: {path} is a folder with no chat_template.jinja; give the template "
                                      "file (.jinja)")
    if not file.is_file():
        raise PromptTemplateError(f"{key}: no such file {path}")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PromptTemplateError(f"{key}: cannot read {path}: {err}") from None
    if not text.strip():
        raise PromptTemplateError(f"{key}: {path} is empty")
    return text


def apply_chat_template_path(tokenizer, path: str | None, key: str = "chat_template_path"):
    """Give ``tokenizer`` the chat template in ``path`` (no-op for None); returns the tokenizer."""
    if path:
        tokenizer.chat_template = read_chat_template(path, key)
    return tokenizer


def no_template_message(model: str | None) -> str:
    """The one line a model with no chat template and no prompt template gets: both ways out, by key."""
    who = f"{model}: " if model else ""
    return (f"{who}the tokenizer has no chat template, so prompts cannot be rendered (a base model?); set "
            f"prompt_template: {R1_ZERO} (DeepSeek-R1-Zero's <think>/<answer> prompt), prompt_template: {PLAIN} "
            f"(the problem as it is) or your own text with {PLACEHOLDER}, or give a chat template with "
            "chat_template_path: FILE.jinja")


def check_prompt_setup(tokenizer, template: PromptTemplate, model: str | None = None,
                       system_prompt: str | None = None) -> None:
    """Refuse, in one line naming the keys, what cannot be rendered: no chat template where the template needs
    one, or a ``system_prompt`` with a plain-text template (it has no system turn)."""
    if template.is_completion(tokenizer):
        if system_prompt:
            raise PromptTemplateError(
                f"system_prompt is a chat message, but prompt_template {template.label!r} prompts with plain text "
                "(no system turn); write the instruction into the template, or drop system_prompt")
        return
    if not has_chat_template(tokenizer):
        raise PromptTemplateError(no_template_message(model))


def check_prompt_keys(prompt_template: str | None, chat_template_path: str | None = None,
                      system_prompt: str | None = None) -> PromptTemplate:
    """Check a stage's prompt keys as a recipe is parsed (before any model is loaded): the template resolves, the
    chat template file reads, and no ``system_prompt`` goes with a named plain-text template. Returns the
    template."""
    template = resolve_prompt_template(prompt_template)
    if chat_template_path:
        read_chat_template(chat_template_path)
    if system_prompt and template.completion:
        check_prompt_setup(None, template, system_prompt=system_prompt)
    return template


def _flatten(messages: list[dict], where: str) -> str:
    if any(m.get("role") == "assistant" for m in messages):
        raise PromptTemplateError(f"{where}: a chat with assistant turns needs a chat template (chat_template_path: "
                                  "FILE.jinja); a plain-text prompt_template takes one question")
    return "\n\n".join(str(m.get("content") or "") for m in messages)


def render_chat(tokenizer, messages: list[dict], template: PromptTemplate | None = None, prefill: str = "",
                system: str | None = None, where: str = "prompt") -> str:
    """The prompt text of ``messages`` (generation prompt added), then ``prefill``.

    Plain-text template: the system and user messages joined with a blank line, filled into the template. Chat:
    the template fills the last user message, then the tokenizer's chat template renders the chat."""
    template = template or NAMED[CHAT]
    if system:
        messages = [{"role": "system", "content": system}, *messages]
    if template.is_completion(tokenizer):
        return template.fill(_flatten(messages, where)) + prefill
    if not has_chat_template(tokenizer):
        raise PromptTemplateError(no_template_message(getattr(tokenizer, "name_or_path", None)))
    if template.text != PLACEHOLDER:
        last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        if last is not None:
            messages = [*messages[:last], {**messages[last], "content": template.fill(str(messages[last]["content"]))},
                        *messages[last + 1:]]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + prefill


def trl_prompt(question: str, template: PromptTemplate, tokenizer=None,
               system: str | None = None) -> str | list[dict[str, str]]:
    """A TRL dataset ``prompt`` for ``question``: a plain string (TRL's non-conversational prompts, sent as they
    are) with a plain-text template, else chat messages (TRL applies the chat template)."""
    if template.is_completion(tokenizer):
        return template.fill(question if not system else f"{system}\n\n{question}")
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": template.fill(question)}]


def training_completion(completion: str, template: PromptTemplate) -> str:
    """A training completion as it follows a plain-text prompt: the template's separator first, unless the
    completion already starts with whitespace."""
    if not completion or completion[:1].isspace():
        return completion
    return template.separator + completion


def messages_to_pair(messages: list[dict], template: PromptTemplate, where: str) -> dict[str, str]:
    """A single-turn ``messages`` row (system/user messages, then one assistant message) as a plain-text
    ``prompt``/``completion`` pair through ``template``."""
    if not messages or messages[-1].get("role") != "assistant":
        raise PromptTemplateError(f"{where}: the conversation must end with the assistant message to train on")
    head = messages[:-1]
    if any(m.get("role") == "assistant" for m in head):
        raise PromptTemplateError(f"{where}: a conversation with several assistant turns needs a chat template "
                                  "(chat_template_path: FILE.jinja); a plain-text prompt_template trains one answer")
    return {"prompt": template.fill(_flatten(head, where)),
            "completion": training_completion(str(messages[-1].get("content") or ""), template)}


_SPACE = re.compile(r"\s+")


def describe(template: PromptTemplate) -> str:
    """One line for logs: the template's name and, for a plain-text one, the start of its text."""
    head = _SPACE.sub(" ", template.text)[:60]
    return template.label if template.name != CUSTOM else f"custom ({head}...)"
