"""``autobuild verify IMAGE@DIGEST --key PUB``: is this image signed, and where did it come from?

Reads only the registry (:mod:`core.verify`): the digest's cosign signature and its signed SLSA
provenance must both verify with the public key. Prints the repository, ref, commit and
Dockerfile the provenance states; exit 0 when everything checks out, 1 with the reason if not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.registry_access import open_registry
from core.cosign import CosignKeyError, load_public_key
from core.registry_api import DIGEST_RE, RegistryAPIError, split_image, split_reference
from core.verify import VerificationError, verify_image


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="check an image's signature and provenance in the registry",
        description="Check the cosign signature and the signed SLSA provenance of IMAGE@DIGEST "
        "(IMAGE:TAG is resolved to its digest first) with a public key, from the registry "
        "alone, and print the commit, ref and Dockerfile it was built from.",
    )
    parser.add_argument("image", metavar="IMAGE@DIGEST")
    parser.add_argument("--key", required=True, type=Path, metavar="PUB")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        key = load_public_key(args.key)
        image, reference = split_reference(args.image)
        if "@" in args.image and not DIGEST_RE.fullmatch(reference):
            raise ValueError(f"{reference!r} is not a digest")
        host, name = split_image(image)
        with open_registry(host) as registry:
            digest = reference
            if not DIGEST_RE.fullmatch(reference):
                found = registry.manifest_digest(name, reference)
                if found is None:
                    raise VerificationError(f"{image}:{reference} is not in the registry")
                print(f"{image}:{reference} is {found}")
                digest = found
            verified = verify_image(registry, name, digest, key)
    except (VerificationError, CosignKeyError, RegistryAPIError, ValueError) as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 1
    facts = verified.provenance
    print(f"Verified {image}@{digest}: signature and provenance signed by {args.key}")
    print(f"  repository: {facts.repository} ({facts.source})")
    print(f"  ref:        {facts.ref}")
    print(f"  commit:     {facts.commit}")
    print(f"  Dockerfile: {facts.dockerfile} (context {facts.context})")
    for base in facts.base_images:
        print(f"  base image: {base.reference} ({base.digest or 'digest unknown'})")
    print(f"  build:      {facts.build_id} by {facts.builder_id}")
    return 0
