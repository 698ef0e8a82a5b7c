"""Hub repository folders: replace a written folder atomically, and push one to the Hugging Face Hub.

Shared by model publishing (:mod:`thrifty.trainers.publish`, :mod:`thrifty.trainers.eval_card`) and dataset
publishing (:mod:`thrifty.data_builders.publish_dataset`). The token is read by huggingface_hub from ``HF_TOKEN``
or the login cache and is never logged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from thrifty.errors import UserInputError


class HubTokenError(UserInputError):
    """No Hugging Face token is configured; the message says how to set one (or to use ``--dry-run``)."""


def replace_dir(tmp: Path, dest: Path) -> None:
    """Move the finished folder ``tmp`` to ``dest``, replacing an earlier one only once ``tmp`` is complete."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(dest)


def push_folder(folder: Path, repo_id: str, *, repo_type: str = "model", private: bool = False,
                commit_message: str = "Upload with thrifty") -> str:
    """Create the repository (if needed) and upload ``folder`` (files are added or replaced, never deleted);
    returns the commit URL."""
    from huggingface_hub import create_repo, get_token, upload_folder

    token = get_token()
    if not token:
        raise HubTokenError("no Hugging Face token: set HF_TOKEN in the environment (a write token from "
                            "https://huggingface.co/settings/tokens) or run `huggingface-cli login`; "
                            "or use --dry-run OUT to only write the folder")
    from thrifty.network import hub_access

    with hub_access(f"{repo_type} repository {repo_id}", "use --dry-run OUT to write the folder locally and push it "
                    "later", cache=False):
        create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type, token=token)
        info = upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type,
                             commit_message=commit_message, token=token)
    return str(getattr(info, "commit_url", info))
