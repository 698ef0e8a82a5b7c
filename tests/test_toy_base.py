"""The shipped toy base model, loaded fresh, clears the toy world's learning bar on a fixed test split.

The bar (ISSUE "a toy world that learns"): direct answers reach at least 80% on the easiest difficulty; on the
hardest, short CoT beats direct answers by at least 30 points and long CoT is at least as accurate as short CoT.
"""

from thrifty.data_builders.toy_world import ToyWorld
from thrifty.eval.generation import SamplingParams, TransformersGenerator
from thrifty.eval.toy import bar_metrics, generate_toy, summarize_toy


def test_shipped_toy_base_clears_the_bar(toy_base_dir):
    problems = ToyWorld(seed=0).test_set(40)  # fixed: seed 0, distinct test problems, 40 per difficulty at most
    generator = TransformersGenerator.from_pretrained(str(toy_base_dir), batch_size=128)
    rows = generate_toy(generator, problems, ["direct", "short_cot", "long_cot"], SamplingParams(max_new_tokens=160))
    bar = bar_metrics(summarize_toy(rows))
    assert bar["easiest_direct"] >= 0.8, bar
    assert bar["hardest_short_cot"] - bar["hardest_direct"] >= 0.3, bar
    assert bar["hardest_long_cot"] >= bar["hardest_short_cot"], bar
