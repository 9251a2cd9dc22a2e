"""Rewrite tests/golden/run_keys.json: the run key of every study of every profile, and print which
studies' keys moved (a moved key orphans every stored run of it: do this only when a store format
or a profile changes what it trains, and say which in the commit).

    python scripts/golden_keys.py "why the keys move"
"""

import json
import sys
from pathlib import Path

from pie_utils import __version__
from pie_utils.config import profiles
from pie_utils.runs import prepare_data, study_key, study_runs
from pie_utils.store import FORMAT_VERSION
from pie_utils.studies import load_study, study_names

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "run_keys.json"


def keys_of(profile: str, name: str) -> dict[str, str]:
    """``"method sparsity seed"`` → key, or ``{"unavailable": error}`` where the data are not here."""
    study = load_study(profile, name)
    try:
        prepared = prepare_data(study, encode=False)
    except Exception as error:  # the hub data of `full`: recorded by its type, as the test expects
        return {"unavailable": type(error).__name__}
    return {f"{m} {s:g} {seed}": study_key(study, prepared, m, s, seed) for m, s, seed in study_runs(study)}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    old = json.loads(GOLDEN.read_text())["studies"]
    new = {f"{p}/{n}": keys_of(p, n) for p in profiles() for n in study_names(p)}
    for study in sorted(set(old) | set(new)):
        before, after = old.get(study), new.get(study)
        if before != after:
            kept = sum(before.get(run) == key for run, key in after.items()) if before and after else 0
            print(
                f"{study}: {'added' if before is None else 'removed' if after is None else 'changed'}, "
                f"{kept}/{len(after or {})} keys kept"
            )
    made_by = (
        f"pie_utils {__version__}, store format {FORMAT_VERSION}: run_key(run_spec(...)) for each (method, sparsity, "
        f"seed) of study_runs of every study of every profile; last moved because {sys.argv[1]}"
    )
    GOLDEN.write_text(json.dumps({"made_by": made_by, "studies": new}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
