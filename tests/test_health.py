import pandas as pd
import pytest

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


def test_data_state_names_the_loaded_contract_tables_and_their_content(tmp_path):
    ws = Workspace(tmp_path / "w.duckdb")
    empty = health.data_state(ws)
    assert empty.present == frozenset() and empty.key == ""
    sales = pd.DataFrame({"date": pd.to_datetime(["2026-01-03"]), "sku": ["A"], "quantity": [1.0]})
    ws.replace_table("sales", sales, Provenance("s.csv", "abc"))
    ws.execute("CREATE TABLE products AS SELECT 'A' AS sku")  # present without a logged load
    ws.execute("CREATE TABLE scratch AS SELECT 1 AS x")  # not a contract table
    state = health.data_state(ws)
    sha = ws.latest_loads().set_index("table_name").loc["sales", "content_sha256"]
    assert state.present == frozenset({"sales", "products"})
    assert state.key == f"products:-|sales:{sha}"
    ws.replace_table("sales", sales.assign(quantity=[2.0]), Provenance("s2.csv", "def"))
    assert health.data_state(ws).key != state.key  # new content, new key
    ws.execute("DROP TABLE sales")  # dropped outside a load: the log still names it, the catalog does not
    assert health.data_state(ws).present == frozenset({"products"})


def test_table_preview_limits_rows_and_quotes_the_name(tmp_path):
    ws = Workspace(tmp_path / "w.duckdb")
    sales = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=5), "sku": list("ABCDE"), "quantity": 1.0})
    ws.replace_table("sales", sales, Provenance("s.csv", "abc"))
    assert len(health.table_preview(ws, "sales")) == 5
    preview = health.table_preview(ws, "sales", limit=2)
    assert len(preview) == 2 and list(preview.columns) == list(ws.table("sales").columns)
    assert health.table_preview(ws, "sales", limit=0).empty


def test_table_preview_of_a_hostile_name_cannot_inject_sql(tmp_path):
    import duckdb

    ws = Workspace(tmp_path / "w.duckdb")
    sales = pd.DataFrame({"date": pd.to_datetime(["2026-01-03"]), "sku": ["A"], "quantity": [1.0]})
    ws.replace_table("sales", sales, Provenance("s.csv", "abc"))
    for hostile in ['sales" LIMIT 0; DROP TABLE sales; --', 'sales"; DELETE FROM sales; SELECT * FROM "sales',
                    "sales WHERE 1=0", 'x" UNION SELECT * FROM loads --']:
        with pytest.raises(duckdb.Error):  # no such table: the whole text is one name
            health.table_preview(ws, hostile)
    assert ws.has_table("sales") and len(health.table_preview(ws, "sales")) == 1
    odd = 'odd" name; DROP TABLE sales; --'
    ws.execute('CREATE TABLE "odd"" name; DROP TABLE sales; --" AS SELECT 7 AS x')
    assert health.table_preview(ws, odd)["x"].tolist() == [7]  # the name is read as written, nothing else runs
    assert ws.has_table("sales")
