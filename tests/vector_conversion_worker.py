"""The child process of tests/test_prefetch.py's concurrent GloVe conversion.

A module of its own so that a spawned child imports only ``pie_utils.models.vectors``, not the
test module and everything it imports.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pie_utils.models import vectors


def convert(path: str, root: str, marker: str, start, results) -> None:
    """Wait for ``start``, convert ``path`` into ``root`` and load it; put ``(folder, rows)`` on
    ``results``. Each parse appends this process's id to ``marker``, so the test counts them."""
    real = vectors._parse_into

    def counted(source: Path, folder: Path) -> None:
        with open(marker, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # still parsing when the other process asks for the same file
        real(source, folder)

    vectors._parse_into = counted
    start.wait()
    folder = vectors.convert_vector_text(Path(path), cache_root=Path(root))
    results.put((str(folder), len(vectors._load_converted(folder, source=path))))
