"""Stand-in for DECNET's `decnet.ttp.attack_catalog` (not in the seed): technique id →
display name, from the ATT&CK catalog in shared/attack (DECNET_ATTACK_DIR overrides the
folder), read on the first call as DECNET loads its catalog lazily. A sub-technique's name
is "Parent: Child", as DECNET shows it; unknown ids give None."""

import csv
import functools
import os
from pathlib import Path

_DEFAULT_DIR = Path(__file__).resolve().parents[5].parent / "shared" / "attack"


@functools.lru_cache(maxsize=None)
def _catalog() -> tuple[dict[str, str], dict[str, str]]:
    """(names, urls) by technique id, every row of enterprise-techniques.csv (revoked and
    deprecated ones too: old tags still name them)."""
    path = Path(os.environ.get("DECNET_ATTACK_DIR") or _DEFAULT_DIR) / "enterprise-techniques.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    own = {r["id"]: r["name"] for r in rows}
    names = {i: f"{own[i.split('.')[0]]}: {n}" if "." in i and i.split(".")[0] in own else n
             for i, n in own.items()}
    return names, {r["id"]: r["url"] for r in rows if r["url"]}


def technique_name(technique_id):
    if not technique_id:
        return None
    return _catalog()[0].get(technique_id)
