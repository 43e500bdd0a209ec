"""Validation helpers of sop_core.validate that are not exercised through a file load (see test_intake.py for those)."""
from __future__ import annotations

import numpy as np
import pytest

from sop_core.validate import text_field


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
