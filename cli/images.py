"""``autobuild images``: every configured image's tags, from the web process's API.

One line per tag: the digest, size, platforms, when it was pushed, and the build it came from
(commit, ref, Dockerfile) or ``pushed from elsewhere``; ``signed`` when it carries a signature.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.builds import format_columns
from cli.client import ApiClient, ClientError

COLUMNS = ("IMAGE", "TAG", "DIGEST", "SIZE", "PLATFORMS", "PUSHED", "BUILT FROM", "SIGNED")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "images",
        help="list the registry's tags of the configured images",
        description="List every configured image's tags as the registry reports them, with the "
        "build that pushed each (or 'pushed from elsewhere'), from the Autobuild at "
        "$AUTOBUILD_URL.",
    )
    parser.add_argument(
        "--repository", "-r", metavar="R", help="only this repository: PROVIDER/NAME or NAME"
    )
    parser.add_argument("--json", action="store_true", help="print the images as JSON")
    parser.set_defaults(func=run)


def rows(images: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for image in images:
        if image.get("error"):
            found.append((image["image"], "-", "-", "-", "-", "-", str(image["error"]), "-"))
            continue
        for tag in image.get("tags", ()):
            build = tag.get("build")
            origin = (
                f"{build['commit'][:7]} {build['ref']} {build['dockerfile']}"
                if build
                else "pushed from elsewhere"
            )
            found.append(
                (
                    image["image"],
                    tag["tag"],
                    tag["digest"][:19],
                    f"{tag['size'] / 1e6:.1f}MB",
                    ",".join(tag.get("platforms", ())) or "-",
                    tag.get("pushed_at") or "-",
                    origin,
                    "signed" if tag.get("signed") else "no",
                )
            )
    return found


def run(args: argparse.Namespace) -> int:
    params = {"repository": args.repository} if args.repository else None
    try:
        images = ApiClient.from_env().get_json("/api/v1/images", params)["images"]
    except ClientError as error:
        print(f"autobuild images: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(images, indent=2))
        return 0
    table = rows(images)
    if not table:
        print("No images.", file=sys.stderr)
        return 0
    print(format_columns(COLUMNS, table))
    return 0
