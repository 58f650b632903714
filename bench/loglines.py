"""``python -m bench.loglines``: the cost of one hostile log line, measured (no services needed).

Times masking (with the secrets of one repository) and line assembly of 1, 4 and 16 MiB lines of
the shapes the security review used, and one line arriving in 1 KiB fragments: each should grow
linearly with the size (the review measured quadratic growth: 80,000 characters took 3.4 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from core.masking import Masker
from worker.streams import LineAssembler

MIB = 1 << 20
SHAPES: dict[str, Callable[[int], str]] = {
    "letters": lambda size: "A" * size,
    "schemes": lambda size: "a://" * (size // 4),
    "long scheme runs": lambda size: ("a" * 40 + "://b:") * (size // 45),
    "password run": lambda size: "x://y:" + "z" * size,
}


def timed(action: Callable[[], object], rounds: int = 3) -> float:
    """The best of ``rounds`` runs, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def assemble(size: int) -> None:
    assembler = LineAssembler()
    fragment = "A" * 1024
    for _ in range(size // 1024):
        assembler.feed(fragment)
    assembler.feed("\n")


def main() -> None:
    masker = Masker(["whsec-3f9a1c77e2b54d0c", "registry-password-0123456789"])
    print(f"{'what':<34}{'1 MiB':>10}{'4 MiB':>10}{'16 MiB':>10}")
    for name, make in SHAPES.items():
        texts = [make(size * MIB) for size in (1, 4, 16)]
        cells = [f"{timed(partial(masker.mask, text)) * 1000:8.1f}ms" for text in texts]
        print(f"{'mask: ' + name:<34}{''.join(cells)}")
    cells = [f"{timed(partial(assemble, size * MIB)) * 1000:8.1f}ms" for size in (1, 4, 16)]
    print(f"{'assemble: 1 KiB fragments':<34}{''.join(cells)}")


if __name__ == "__main__":
    main()
