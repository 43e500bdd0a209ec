"""The bad-inputs catalogue map (tests/catalogue.md): a row per case 1-61, real test ids, enough coverage.

Section G holds the cases found later by the attack test of issue 13: case 61 + n is item n of the
issue, listed once it has a fix and its test (items fixed elsewhere are added by their fix).

Reads the table and the test modules' source only: no test is imported or run.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CATALOGUE = TESTS / "catalogue.md"
SECTIONS = {"A": range(1, 11), "B": range(11, 21), "C": range(21, 33), "D": range(33, 38), "E": range(38, 53),
            "F": range(53, 62),  # the brief's numbering, bad-inputs-and-faults.md
            "G": range(62, 79),  # issue 13 ("Hardening"): case 61 + n is the issue's item n
            "H": range(79, 200)}  # found later (benchmarks, other issues), numbered on
CASES = range(1, 62)  # every case of the brief has a row; section G lists the issue's items as they are fixed
ISSUE_13 = SECTIONS["G"]
LATER = SECTIONS["H"]
STATUSES = ("covered", "partly", "not covered")
MIN_COVERED = 40
NODE_ID = re.compile(r"^tests/(?P<file>test_\w+\.py)::(?P<name>test_\w+)(?:\[(?P<param>[^\]]+)\])?$")


@dataclass(frozen=True)
class Row:
    """One case of the table: number, section, title, status, the node ids listed and the note."""

    number: int
    section: str
    title: str
    status: str
    tests: tuple[str, ...]
    note: str


def parse(text: str) -> list[Row]:
    """The table rows of catalogue.md (lines `| n | section | case | status | tests | note |`)."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or not cells[0].isdigit():
            continue
        assert len(cells) == 6, f"row {cells[0]} has {len(cells)} cells, expected 6: {line}"
        number, section, title, status, tests, note = cells
        rows.append(Row(int(number), section, title, status, tuple(re.findall(r"`([^`]+)`", tests)), note))
    return rows


@cache
def rows() -> list[Row]:
    """The rows of tests/catalogue.md."""
    return parse(CATALOGUE.read_text(encoding="utf-8"))


@cache
def module(file: str) -> tuple[frozenset[str], frozenset[str]]:
    """Top-level test function names and all string constants of tests/<file> (from its source, not imported)."""
    tree = ast.parse((TESTS / file).read_text(encoding="utf-8"))
    functions = frozenset(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    strings = frozenset(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return functions, strings


def missing_test(node_id: str) -> str | None:
    """Why `node_id` names no test (None when it does): bad form, no such file, function or parameter id."""
    m = NODE_ID.match(node_id)
    if not m:
        return "not a node id of the form tests/test_x.py::test_y or tests/test_x.py::test_y[id]"
    if not (TESTS / m["file"]).is_file():
        return f"no file tests/{m['file']}"
    functions, strings = module(m["file"])
    if m["name"] not in functions:
        return f"no top-level function {m['name']} in tests/{m['file']}"
    if m["param"] is not None and m["param"] not in strings:
        return f"parameter id {m['param']!r} is not a string in tests/{m['file']}"
    return None


def test_every_case_has_exactly_one_row_in_its_section() -> None:
    numbers = [r.number for r in rows()]
    brief = [n for n in numbers if n in CASES]
    assert sorted(brief) == list(CASES), f"missing {sorted(set(CASES) - set(numbers))}"
    assert len(numbers) == len(set(numbers)), f"repeated {sorted({n for n in numbers if numbers.count(n) > 1})}"
    assert all(n in CASES or n in ISSUE_13 or n in LATER for n in numbers), sorted(
        set(numbers) - set(CASES) - set(ISSUE_13) - set(LATER))
    for r in rows():
        assert r.section in SECTIONS and r.number in SECTIONS[r.section], (r.number, r.section)
        assert r.title, r.number


def test_issue_13_rows_name_their_item_and_are_tested() -> None:
    """A section G row says which item of issue 13 it is, and a fixed item is covered by a test."""
    for r in rows():
        if r.section == "G":
            assert r.title.startswith(f"Issue 13 item {r.number - 61}: "), (r.number, r.title)
            assert r.status == "covered", f"case {r.number}: an issue-13 item is listed once fixed and tested"
        if r.section == "H":
            assert r.status == "covered", f"case {r.number}: a later finding is listed once fixed and tested"


def test_every_row_has_a_known_status_tests_and_a_reason() -> None:
    for r in rows():
        assert r.status in STATUSES, (r.number, r.status)
        if r.status != "not covered":
            assert r.tests, f"case {r.number} is {r.status} but lists no test"
        if r.status != "covered":
            assert r.note, f"case {r.number} is {r.status}: the note must say what is missing"


def test_every_listed_test_exists() -> None:
    problems = [f"case {r.number}: {t}: {why}" for r in rows() for t in r.tests if (why := missing_test(t))]
    assert not problems, "\n".join(problems)


def test_at_least_forty_cases_covered_and_every_section_has_one() -> None:
    covered = [r for r in rows() if r.status == "covered"]
    assert len(covered) >= MIN_COVERED, f"only {len(covered)} cases covered"
    for section in SECTIONS:
        assert any(r.section == section for r in covered), f"section {section} has no covered case"


def test_the_summary_line_matches_the_table() -> None:
    counts = {s: sum(r.status == s for r in rows()) for s in STATUSES}
    summary = (f"Covered: {counts['covered']} of {len(rows())} · partly: {counts['partly']} · "
               f"not covered: {counts['not covered']}")
    assert summary in CATALOGUE.read_text(encoding="utf-8"), f"update the summary line to: {summary}"


@pytest.mark.parametrize("node_id, problem", [
    ("tests/test_intake.py::test_no_such_test", "no top-level function test_no_such_test"),
    ("tests/test_no_such_module.py::test_x", "no file tests/test_no_such_module.py"),
    ("tests/test_intake.py::test_bad_file_is_rejected_and_nothing_changes[no such file case]", "parameter id"),
    ("tests/test_intake.py::snapshot", "not a node id"),
    ("tests/test_intake.py::test_bad_file_is_rejected_and_nothing_changes[empty file]", None),
])
def test_the_checker_tells_real_tests_from_made_up_ones(node_id: str, problem: str | None) -> None:
    why = missing_test(node_id)
    assert (why is None) if problem is None else (why is not None and problem in why), why


def test_the_parser_reads_rows_and_skips_the_rest() -> None:
    text = ("# title\n| # | section | case | status | tests | note |\n|---|---|---|---|---|---|\n"
            "| 7 | A | Long line | partly | `tests/a.py::test_b`<br>`tests/c.py::test_d[x y]` | why |\n"
            "| 8 | A | Next | covered | `tests/e.py::test_f` | |\n")
    assert parse(text) == [Row(7, "A", "Long line", "partly", ("tests/a.py::test_b", "tests/c.py::test_d[x y]"), "why"),
                           Row(8, "A", "Next", "covered", ("tests/e.py::test_f",), "")]
