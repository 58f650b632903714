"""``autobuild prune [--dry-run] [--repository R]``: apply the repositories' ``keep:`` policies.

Runs where the workers run (it reads the configuration, Redis and the registry credentials): for
each repository with ``keep:``, it prints what it keeps and deletes (``--dry-run``: what it would
delete) through the registry API. See :mod:`core.retention` and docs/trust.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from buildrules.loader import ConfigError, load
from core.redis_url import connect
from core.registry_api import RegistryAPI, RegistryAPIError, configured_credentials, split_image
from core.retention import apply_plan, plan_repository
from core.settings import Settings


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "prune",
        help="delete images that the keep: policies let go",
        description="For every repository with a keep: policy, delete (through the registry "
        "API) the manifests Autobuild pushed that no kept tag points at; never anything pushed "
        "from elsewhere. Run the registry's garbage collection afterwards to free the space.",
    )
    parser.add_argument("--dry-run", "-n", action="store_true", help="only show what would go")
    parser.add_argument(
        "--repository", "-r", metavar="R", help="only this repository: PROVIDER/NAME or NAME"
    )
    parser.set_defaults(func=run)


def _selected(name: str, provider: str, wanted: str | None) -> bool:
    if not wanted:
        return True
    wanted = wanted.lower()
    return wanted in (name.lower(), f"{provider}/{name}".lower())


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        config = load(settings.config_path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    connection = connect(settings.redis_url)

    def api_for(host: str) -> RegistryAPI:
        return RegistryAPI(
            host,
            configured_credentials(config, settings, host),
            insecure_registries=settings.insecure_registries,
        )

    repositories = [
        r for r in config.repositories if _selected(r.name, r.provider, args.repository)
    ]
    if not any(r.keep for r in repositories):
        print("No repository has a keep: policy; nothing to prune.")
        return 0
    total = 0
    try:
        for repository in repositories:
            for plan in plan_repository(api_for, connection, repository):
                print(f"{plan.image}: keeping {', '.join(plan.kept_tags) or 'no tags'}")
                for tag in plan.foreign_tags:
                    print(f"  {tag}: pushed from elsewhere, never deleted")
                if args.dry_run:
                    for deletion in plan.deletions:
                        tags = ", ".join(deletion.tags) or "untagged"
                        print(f"  would delete {deletion.digest} ({tags})")
                    total += len(plan.deletions)
                    continue
                with api_for(split_image(plan.image)[0]) as api:
                    total += apply_plan(api, connection, plan, lambda line: print("  " + line))
    except RegistryAPIError as exc:
        print(f"prune: {exc}", file=sys.stderr)
        return 1
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {total} manifest(s)")
    return 0
