"""The "Write your own reward" example of docs/guides/reward-plugins.md (exercised by tests/test_rewards.py).

Use it with ``PYTHONPATH=recipes/examples`` and, in a recipe, ``reward_funcs: [accuracy, "my_reward:concise_answer"]``.
"""

from thrifty.formats import extract_final_answer
from thrifty.rewards import completion_text


def concise_answer(prompts, completions, completion_ids=None, max_tokens: int = 32, **columns):
    """1.0 for a completion with a final answer in at most ``max_tokens`` tokens, decaying linearly to 0 at
    ``2 * max_tokens``; None (not scored) for rows whose ``answer`` column is empty."""
    rewards = []
    for completion, ids, gold in zip(completions, completion_ids, columns["answer"], strict=True):
        if not gold:
            rewards.append(None)
            continue
        has_answer = extract_final_answer(completion_text(completion)) is not None
        over = max(0, len(ids) - max_tokens) / max_tokens
        rewards.append(float(has_answer) * max(0.0, 1.0 - over))
    return rewards
