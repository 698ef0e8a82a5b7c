"""The ``thrifty publish`` calls that do not publish a trained run: ``--eval-only EVAL_RUN`` (attach an eval report
to an already published model, :mod:`thrifty.trainers.eval_card`) and a dataset folder written by ``thrifty build``
(:mod:`thrifty.data_builders.publish_dataset`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .eval_card import publish_eval_only
from .publish_common import PublishError

logger = logging.getLogger(__name__)


def route(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int | None:
    """The exit status when ``args`` ask for one of these, else None (publish the trained run as usual)."""
    from thrifty.data_builders.publish_dataset import is_dataset_folder, publish_dataset

    is_dataset = args.run_dir is not None and is_dataset_folder(Path(args.run_dir))
    if not (args.eval_only or args.run_dir is None or is_dataset):
        return None
    if bool(args.eval_only) == (args.run_dir is not None):
        parser.error("give either RUN_DIR or --eval-only EVAL_RUN (not both, not neither)")
    if "/" not in args.repo_id:
        raise PublishError(f"--repo-id {args.repo_id!r}: use the form OWNER/NAME")
    dry_run = Path(args.dry_run) if args.dry_run else None
    # user errors (PublishError, DataError) propagate: thrifty.cli prints one line and exits 2
    if args.eval_only:
        result = publish_eval_only(Path(args.eval_only), args.repo_id, dry_run, args.eval_label)
    else:
        result = publish_dataset(Path(args.run_dir), args.repo_id, dry_run, private=args.private,
                                 license_id=args.license, commit_message=args.commit_message)
    logger.info("published: %s", result)
    return 0
