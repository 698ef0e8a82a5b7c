"""thrifty.run_record: a finished output folder is reused only for the run that made it."""

from __future__ import annotations

import pytest

from thrifty.errors import UserInputError
from thrifty.run_record import RUN_RECORD, record_finished_run, reuse_finished_run


def test_a_folder_is_reused_only_for_the_recorded_inputs(tmp_path):
    run = tmp_path / "sft"
    spec = {"base": "abc123", "overrides": ("--max_steps", "2"), "n_train": 64}
    assert reuse_finished_run(run, spec) is False  # nothing there: run it
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"weights")
    record_finished_run(run, spec)
    assert reuse_finished_run(run, spec) is True  # tuples and lists compare as the record file holds them
    assert reuse_finished_run(run, {**spec, "overrides": ["--max_steps", "2"]}) is True

    with pytest.raises(UserInputError, match=r'sft holds a run of other inputs .*"n_train": \{"recorded": 64, "now": 4000\}'):
        reuse_finished_run(run, {**spec, "n_train": 4000})
    with pytest.raises(UserInputError, match=r'"extra": \{"recorded": null, "now": 1\}'):
        reuse_finished_run(run, {**spec, "extra": 1})


def test_a_finished_folder_without_a_readable_record_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sft.jsonl").write_text("{}\n")
    with pytest.raises(UserInputError, match=f"data holds a finished run but no {RUN_RECORD}"):
        reuse_finished_run(data, {"n_train": 64}, finished_file="sft.jsonl")
    (data / RUN_RECORD).write_text("{not json")
    with pytest.raises(UserInputError, match=f"{RUN_RECORD}: not valid JSON"):
        reuse_finished_run(data, {"n_train": 64}, finished_file="sft.jsonl")
    assert reuse_finished_run(data, {"n_train": 64}) is False  # another marker file: not finished
