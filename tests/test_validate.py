"""Validation helpers of sop_core.intake.validate that are not exercised through a file load (see test_intake.py for those)."""
from __future__ import annotations

import numpy as np
import pytest

from sop_core.intake.validate import text_field


def test_text_field_strips_and_checks_blank_and_length() -> None:
    assert text_field("  Plan of record \n", "a version name", 20) == "Plan of record"
    assert text_field("x" * 5, "the note", 5) == "xxxxx"  # exactly at the limit
    for blank in (None, float("nan"), np.nan, "   ", ""):
        assert text_field(blank, "the note", 5, required=False) == ""
        with pytest.raises(ValueError, match="^a title \\(what was decided\\) is required$"):
            text_field(blank, "a title (what was decided)", 5)
    with pytest.raises(ValueError, match=r"^the note is too long \(6 characters, at most 5\)$"):
        text_field(" xxxxxx ", "the note", 5, required=False)
    assert text_field(42, "event_id", 5) == "42"  # not text: written as text


def test_formula_like_check_never_writes_into_a_read_only_array() -> None:
    """Issue 13 item 1: pandas hands out read-only arrays; the formula-like flag is built in a new one."""
    import pandas as pd

    from sop_core.intake.checks import formula_like, parse_text
    from sop_core.intake.errors import Source

    text = pd.Series(["-", "-100-BLK", "+44-A", "=A1", "@home", "-cmd", "+", "plain", ""], dtype="str")
    assert formula_like(text).tolist() == [False, False, False, True, True, True, False, False, False]
    assert formula_like(pd.Series([], dtype="str")).tolist() == []
    src = Source("f.csv", np.arange(2, 2 + len(text)))
    errors: list = []
    warnings: list[str] = []
    out = parse_text(text, "sku", src, errors, warnings)
    assert out.iloc[:8].tolist() == text.iloc[:8].tolist() and pd.isna(out.iloc[8]) and not errors
    assert warnings == ["column 'sku': 3 values start like a spreadsheet formula (rows 5, 6, 7), e.g. '=A1'; "
                        "stored as plain text"]
