"""``autobuild keygen --output PREFIX``: a signing key pair, ``PREFIX.key`` and ``PREFIX.pub``.

The private key is an unencrypted PKCS#8 PEM ECDSA P-256 key (mode 0600): point
``AUTOBUILD_SIGNING_KEY`` at it on the workers. The public key is what ``autobuild verify --key``
and ``cosign verify --key`` take.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.cosign import CosignKeyError, generate_key_pair


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "keygen",
        help="create a key pair for signing images",
        description="Write PREFIX.key (ECDSA P-256 private key, PEM, mode 0600; the workers' "
        "AUTOBUILD_SIGNING_KEY) and PREFIX.pub (for autobuild verify and cosign verify).",
    )
    parser.add_argument("--output", "-o", required=True, type=Path, metavar="PREFIX")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        private, public = generate_key_pair(args.output)
    except (CosignKeyError, OSError) as exc:
        print(f"keygen: {exc}", file=sys.stderr)
        return 1
    print(f"Private key: {private} (set AUTOBUILD_SIGNING_KEY={private} on the workers)")
    print(f"Public key:  {public} (autobuild verify IMAGE@DIGEST --key {public})")
    return 0
