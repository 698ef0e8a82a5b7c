"""The shipped toy base model, loaded fresh, meets the toy world's tier bars on a fixed test split (issue 17).

Greedy, instruction-guided (the format tag pre-filled), pooled over each tier's levels
(:data:`thrifty.eval.toy.TIER_BARS`): easy (1-2 digits) direct >= 0.9; medium (3-6 digits) direct <= 0.3 and short
CoT >= 0.9; hard (2-4 digit pairs) short CoT <= 0.6 and long CoT >= 0.9.
"""

from thrifty.eval.generation import SamplingParams, TransformersGenerator
from thrifty.eval.toy import generate_toy, summarize_toy, tier_bar
from thrifty.toy_world import ToyWorld


def test_shipped_toy_base_meets_the_tier_bars(toy_base_dir):
    problems = ToyWorld(seed=0).test_set(30)  # fixed: seed 0, distinct test problems, 30 per difficulty at most
    generator = TransformersGenerator.from_pretrained(str(toy_base_dir), batch_size=128)
    rows = generate_toy(generator, problems, ["direct", "short_cot", "long_cot"], SamplingParams(max_new_tokens=384))
    bar = tier_bar(summarize_toy(rows))
    assert bar["pass"], bar
