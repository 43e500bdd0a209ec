import pandas as pd

from sop_core.intake import company, health
from sop_core.store.workspace import Provenance, Workspace


def test_health_lists_every_table_and_what_is_missing(tmp_path):
    ws = Workspace(tmp_path / "w.duckdb")
    sales = pd.DataFrame({"date": pd.to_datetime(["2026-01-03", "2026-03-09"]), "sku": ["A", "B"],
                          "quantity": [1.0, 2.0]})
    ws.replace_table("sales", sales, Provenance("s.csv", "abc", warnings=["2 rows summed"]))
    h = health.table_health(ws).set_index("table")
    assert list(h.index) == ["sales", "products", "inventory", "capacity", "supply", "plan", "orders"]
    assert h.loc["sales", "rows"] == 2 and h.loc["sales", "loaded"]
    assert h.loc["sales", "first_date"] == pd.Timestamp("2026-01-03")
    assert h.loc["sales", "warnings"] == ["2 rows summed"]
    assert h.loc["sales", "file_name"] == "s.csv"
    assert not h.loc["capacity", "loaded"] and "Supply review" in h.loc["capacity", "views_waiting"]


def test_freshness_counts_months_behind(tmp_path):
    ws = Workspace(tmp_path / "w.duckdb")
    assert health.freshness(ws)["fresh"] is False
    company.reset_to_demo(ws)
    assert health.freshness(ws, pd.Timestamp("2026-11-27"))["months_behind"] == 0
    f = health.freshness(ws, pd.Timestamp("2027-02-02"))
    assert f["months_behind"] == 3 and not f["fresh"]
