"""``python -m core.hub COMMAND``: the embedded weights and the Hugging Face Hub, from the command line.

One parser, one subcommand per task (add a task: one ``commands.add_parser`` line and one branch in `main`):

  * ``list``             the model cards in ``weights/``: architecture, size, ``repo@revision``
  * ``verify``           every embedded file against its card's sha256 (exit status 1 on a mismatch)
  * ``upload REPO_ID``   upload ``weights/`` to a Hub model repo and pin every card to the new commit
  * ``deploy-space OWNER/NAME``  create or update a Hugging Face Space with the lab, in one commit (weights and
                         pictures stored as the Hub's large files); ``--dry-run`` lists the files, offline

The functions behind them live in `core.weights.hub` (cards, resolving, loading, saving, uploading, deploying).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from core.weights import hub


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.hub", description="Embedded weights and the Hub.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the model cards and their files")
    commands.add_parser("verify", help="check every embedded file against its card's sha256")
    upload = commands.add_parser("upload", help="upload weights/ to a Hub repo and pin the cards to the commit")
    upload.add_argument("repo_id")
    upload.add_argument("--token", default=None, help="write token (default: HF_TOKEN or `hf auth login`)")
    upload.add_argument("--names", nargs="*", default=None, help="only these weights (default: all cards)")
    deploy = commands.add_parser(
        "deploy-space", help="create or update the Hugging Face Space OWNER/NAME with the lab (one commit)"
    )
    deploy.add_argument("repo_id", metavar="OWNER/NAME")
    deploy.add_argument("--token", default=None, help="write token (default: HF_TOKEN or `hf auth login`)")
    deploy.add_argument("--private", action="store_true", help="make a new Space private")
    deploy.add_argument("--dry-run", action="store_true", help="list the files and sizes only; no network")
    return parser


def list_cards() -> int:
    for name in hub.available():
        spec = hub.load_spec(name)
        local = hub.WEIGHTS_DIR / spec.filename
        size = f"{local.stat().st_size / 2**20:.2f} MiB" if local.is_file() else "not embedded"
        print(f"{name:16s} {spec.architecture:24s} {size:>14s}  {spec.repo_id}@{spec.revision}")
    return 0


def verify() -> int:
    status = 0
    for name in hub.available():
        spec = hub.load_spec(name)
        local = hub.WEIGHTS_DIR / spec.filename
        if not local.is_file():
            print(f"{name}: not embedded ({spec.repo_id}@{spec.revision})")
            continue
        try:
            hub.resolve_weights(spec, allow_download=False)
            print(f"{name}: ok")
        except hub.WeightsError as error:
            print(error)
            status = 1
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "deploy-space":
        try:
            hub.deploy_space(args.repo_id, token=args.token, private=args.private, dry_run=args.dry_run)
        except hub.DeployError as error:
            print(f"deploy-space: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "upload":
        commit = hub.upload_weights(args.repo_id, token=args.token, names=args.names)
        print(f"uploaded to {args.repo_id}@{commit}; commit the updated weights/*.json to pin it")
        return 0
    if args.command == "list":
        return list_cards()
    return verify()


if __name__ == "__main__":
    sys.exit(main())
