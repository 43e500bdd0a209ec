"""Units of measure at intake: unit codes, and the case -> base unit conversions that products give.

A quantity file (sales, inventory, supply, orders) may carry a unit column, an intake-only column
of the contract (`unit`). Codes are compared trimmed and upper case, with common spellings folded
together (`each`, `PCS`, `ST` -> EA; `case`, `CTN` -> CS). The conversions come from the products
table: `base_unit` (EA when empty) and `units_per_case` (base units in one case). The rules a file
is held to are in `validate.check_units`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

EACH = "EA"
CASE = "CS"
ALIASES: dict[str, str] = {
    **{a: EACH for a in ("EA", "EACH", "PC", "PCE", "PCS", "PIECE", "PIECES", "ST", "UNIT", "UNITS")},
    **{a: CASE for a in ("CS", "CASE", "CASES", "CV", "CT", "CTN", "CAR", "CARTON", "CARTONS")},
}
EMPTY = ""  # an empty unit cell

# sku -> (base unit code, base units per case or None)
Conversions = dict[str, tuple[str, float | None]]


def normalise_units(values: pd.Series) -> pd.Series:
    """Unit codes as compared: trimmed, upper case, inner spaces removed, aliases folded ('' when empty)."""
    positions, uniques = pd.factorize(values, sort=False)  # missing -> -1
    text = pd.Series(uniques, dtype="str").str.upper().str.replace(r"\s+", "", regex=True)
    folded = np.array([ALIASES.get(u, u) for u in text] + [EMPTY], dtype=object)  # the last one for -1
    return pd.Series(folded[positions], index=values.index, dtype=object)


def conversions_from_products(products: pd.DataFrame) -> Conversions:
    """The skus of a products frame that give a base_unit or units_per_case, as Conversions."""
    if "sku" not in products.columns or not {"base_unit", "units_per_case"} & set(products.columns):
        return {}
    base = products["base_unit"] if "base_unit" in products.columns else pd.Series(None, index=products.index)
    per_case = (pd.to_numeric(products["units_per_case"], errors="coerce") if "units_per_case" in products.columns
                else pd.Series(float("nan"), index=products.index))
    codes = normalise_units(base).replace(EMPTY, EACH)
    given = (base.notna() & base.astype("str").str.strip().ne("")) | per_case.notna()
    return {str(sku): (code, None if pd.isna(n) else float(n))
            for sku, code, n in zip(products["sku"][given], codes[given], per_case[given]) if pd.notna(sku)}


def workspace_conversions(ws: Any) -> Conversions:
    """Conversions from the products stored in a Workspace `ws` ({} for None or without products)."""
    if ws is None:
        return {}
    try:
        if not ws.has_table("products"):
            return {}
        return conversions_from_products(ws.query('SELECT * FROM "products"'))
    except Exception:  # noqa: BLE001 - an unreadable products table gives no conversions (the file is checked without)
        return {}


def describe_counts(codes: pd.Series) -> str:
    """'EA: 120 rows, CS: 8 rows' — the units of a column, most rows first ('(empty)' for blank cells)."""
    counts = sorted(codes.value_counts().items(), key=lambda kv: (-kv[1], kv[0] == EMPTY, kv[0]))
    return ", ".join(f"{u or '(empty)'}: {n:,} {'row' if n == 1 else 'rows'}" for u, n in counts)
