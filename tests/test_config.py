"""Environment variables: one declared list, read only through sop_core.config, documented in the README."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sop_core import config

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_settings_table_is_the_declared_list():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- settings table: .*? -->\n(.*?)\n<!-- end of settings table -->", readme, re.S)
    assert block is not None, "README.md has no settings table"
    assert block.group(1) == config.markdown_table()


def test_no_engine_or_page_module_reads_the_environment_itself():
    readers = re.compile(r"os\.environ\.get\(|os\.getenv\(|(?<!del )os\.environ\[[^\]]+\](?!\s*=)|environ\.pop\(")
    found = [f"{p.relative_to(ROOT)}:{n}" for folder in ("sop_core", "pages") for p in sorted((ROOT / folder).rglob("*.py"))
             if p.name != "config.py"
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if readers.search(line)]
    assert found == []


def test_values_are_read_at_each_call_and_blank_is_unset(monkeypatch, tmp_path):
    monkeypatch.setenv(config.WORKSPACE, str(tmp_path / "w.duckdb"))
    assert config.workspace_path() == tmp_path / "w.duckdb"
    monkeypatch.setenv(config.WORKSPACE, "  ")
    assert config.workspace_path() == config.PROJECT_ROOT / "data" / "workspace.duckdb"
    monkeypatch.setenv(config.QUERY_TIMEOUT, "not a number")
    assert config.query_timeout_s() == config.DEFAULT_QUERY_TIMEOUT_S
    monkeypatch.setenv(config.QUERY_TIMEOUT, "0")
    assert config.query_timeout_s() == 0.0
    monkeypatch.setenv(config.WORKERS, "3")
    assert config.forecast_workers() == 3
    monkeypatch.setenv(config.PARSE_WORKERS, "0")
    assert config.parse_workers() == 1


def test_an_undeclared_variable_cannot_be_read():
    with pytest.raises(KeyError, match="not declared"):
        config.value("SOP_SOMETHING_NEW")


def test_take_removes_the_variable_so_children_do_not_inherit_it(monkeypatch):
    monkeypatch.setenv(config.LOCK_FD, "7:/tmp/x.lock")
    assert config.take(config.LOCK_FD) == "7:/tmp/x.lock"
    assert config.value(config.LOCK_FD) is None
