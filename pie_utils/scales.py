"""Each claim's verdict at the scale a book was built at, beside the laptop (default) scale's.

The default scale's verdicts ship with the book (``book/data/verdicts_default.csv``), so a
reader of the published book sees what a re-run on a laptop should give without retraining it.
A book build records every chapter's primary verdict rows in ``$PIE_UTILS_VERDICTS``
(``scripts/book.py`` sets it to ``OUT/verdicts.csv``); ``python scripts/book.py ship-verdicts``
copies the default build's file over the shipped one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from pie_utils.studies import project_root

DEFAULT_SCALE = "default"
SHIPPED = Path("book") / "data" / "verdicts_default.csv"  # relative to the project root
RECORD_ENV = "PIE_UTILS_VERDICTS"
COLUMNS = ("claim", "profile", "verdict", "estimate", "low", "high", "power", "seeds", "seeds_needed")


def verdict_record(profile: str, claim_id: str, row: pd.Series) -> dict:
    """One claim's verdict row in the shipped table's columns; a correlation row (``rho``) gives
    its estimate, and a missing figure is NaN."""
    value = {name: row.get(name, np.nan) for name in ("low", "high", "power", "seeds", "seeds_needed")}
    estimate = row.get("estimate", row.get("rho", np.nan))
    return {"claim": claim_id, "profile": profile, "verdict": row["verdict"], "estimate": estimate, **value}


def record_verdict(profile: str, claim_id: str, row: pd.Series) -> None:
    """Write (or replace) the claim's row in ``$PIE_UTILS_VERDICTS`` when that is set."""
    target = os.environ.get(RECORD_ENV)
    if not target:
        return
    path = Path(target)
    table = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=list(COLUMNS))
    table = table[table.claim != claim_id]
    table = pd.concat([table, pd.DataFrame([verdict_record(profile, claim_id, row)])], ignore_index=True)
    table.sort_values("claim").to_csv(path, index=False)


def beside_default(profile: str, rows: dict[str, pd.Series]) -> pd.DataFrame:
    """Each claim's verdict at ``profile`` (``rows``: claim id → its primary verdict row) above
    the default scale's shipped one: claim, scale, verdict, estimate, interval, power, seeds and
    seeds for 80 % power. Records the rows for ``ship-verdicts``; a claim the shipped table lacks
    reads "not in the shipped table"."""
    path = project_root() / SHIPPED
    shipped = pd.read_csv(path) if path.is_file() and profile != DEFAULT_SCALE else pd.DataFrame(columns=list(COLUMNS))
    table = []
    for claim_id, row in rows.items():
        record_verdict(profile, claim_id, row)
        table.append({**verdict_record(profile, claim_id, row), "profile": f"{profile} (this book)"})
        if profile != DEFAULT_SCALE:
            found = shipped[shipped.claim == claim_id]
            default = (
                found.iloc[0].to_dict() if len(found) else {"claim": claim_id, "verdict": "not in the shipped table"}
            )
            table.append({**default, "profile": f"{DEFAULT_SCALE} (shipped)"})
    return pd.DataFrame(table, columns=list(COLUMNS)).rename(columns={"profile": "scale"})
