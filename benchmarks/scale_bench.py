"""The app at a real company's size: generate one, load it, forecast, time the scorecard, the plan and every page (issue 15, Deliver 6).

Run: ``python benchmarks/scale_bench.py [--skus 2000] [--regions 5] [--channels 2] [--months 48]
[--order-lines 10000000] [--forecast-level family] [--keep DIR] [--no-pages] [--runs 3]``. Prints one table,
the generated company next to the demo.

1. Generates a company deterministically (numpy seed 15): products (40 families, 10 resources), sales one
   row per sku × region × channel × month, month-end inventory of 24 months in two locations, capacity,
   the annual plan of the current year, and `--order-lines` order lines over the last 24 months (5% open,
   3% delivered without a quantity, some over-delivered, some requested in the coming weeks), all as
   Parquet files.
2. Loads them into a new workspace with ``python -m sop_core load`` (timed; large files are streamed through
   DuckDB). When a file is over the CLI's caps (50,000,000 rows), the CLI loads its first 1,000 rows (so the load is
   recorded) and the whole file goes straight into the DuckDB table (``INSERT ... FROM read_parquet``);
   the table says "direct" next to that load.
3. Forecasts with ``python -m sop_core forecast --level family`` (timed): per family × region (200 series), split
   to the 10,000 sku series, so every page has a forecast run and a consensus of the full size; ``--forecast-level
   sku`` fits every series (about 9 minutes on 2 cores). Two scenarios are stored (a family's demand +10%, a
   resource at 80%) for the comparison and the share link.
4. Times, each in a fresh child process (a restarted server: nothing in memory, the workspace as stored),
   `--runs` times (median shown; peak memory = the process's VmHWM, imports included; ru_maxrss would carry the
   generator's peak into every child):
   - scorecard, whole tables + pandas: the scorecard inputs as they were before `kpi_sql` (orders,
     inventory read whole into pandas, `service.order_lines`, `actuals.monthly_actuals`) and `kpis.scorecard`;
   - scorecard, SQL aggregates: `kpis.inputs_from_workspace` (DuckDB) and `kpis.scorecard`;
   - the baseline plan: `plan.PlanInputs.from_workspace` with a seasonal naive consensus (HORIZON months; no
     forecast run is needed), `plan.evaluate`, `plan.build_view`, and the engine functions evaluate spends its
     time in, each timed alone (normalise_plan, constrained_plan, project, the two outlooks, budget_monthly);
   - the background baseline (`warmup.baseline` with the stored plans removed first: what the server does after a
     start, a load or a forecast, before anyone opens a plan page); the two bench scenarios' plans are then
     stored again, as their save on the Scenarios page does;
   - the first and second AppTest run of every page in a running server (the process opened another page first:
     the server's start-up, its row given once; the baseline stored by the step before, as on a server);
   - a scenario save (`scenarios.create` and its plan evaluated and stored, as the Scenarios page does): the first
     in the process (the plan inputs read from the workspace), then another (the inputs kept per data version);
   - a share link of the two-scenario comparison and one of a scenario on the Executive page, each the first run
     of a fresh process (a fresh server) with the link's query parameters.
   The same steps run on the demo company (``python -m sop_core demo``, forecast as the app does) for the second
   column. Ten concurrent sessions are `benchmarks/sessions_bench.py`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sop_core.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLI_PARQUET_ROWS = 50_000_000  # intake.raw_table.Limits.max_stream_rows: larger Parquet files are streamed
SEED = 15
PAGES = ("home", "data", "demand_review", "supply_review", "inventory", "financials", "scenarios", "pre_sop",
         "executive", "scorecard")
LINKS = ("compare", "link")  # AppTest runs of a share link (first run of a fresh process)
SCENARIOS = ("Bench: demand +10%", "Bench: a resource at 80%")


# -- generate -----------------------------------------------------------------------------------
def generate(folder: Path, skus: int, regions: int, channels: int, months: int, order_lines: int) -> dict[str, Path]:
    """Write the company's Parquet files into `folder`; returns table -> file."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sop_core import clock

    rng = np.random.default_rng(SEED)
    last = clock.last_complete_month()
    month_idx = pd.date_range(last - pd.DateOffset(months=months - 1), last, freq="MS")
    sku = np.array([f"SKU-{i:05d}" for i in range(skus)])
    family = np.array([f"Family {i % 40:02d}" for i in range(skus)])
    price = np.round(rng.uniform(5, 400, skus), 2)
    cost = np.round(price * rng.uniform(0.35, 0.7, skus), 2)
    res = np.array([f"R{i % 10:02d}" for i in range(skus)])
    products = pd.DataFrame({"sku": sku, "description": sku, "family": family, "category": family,
                             "unit_price": price, "unit_cost": cost, "resource": res,
                             "hours_per_unit": np.round(rng.uniform(0.05, 1.0, skus), 2),
                             "lead_time_weeks": rng.integers(2, 12, skus), "safety_stock_units": rng.integers(0, 500, skus)})
    files = {}

    def write(name: str, df: pd.DataFrame) -> None:
        files[name] = folder / f"{name}.parquet"
        df.to_parquet(files[name], index=False)

    write("products", products)
    reg = np.array([f"Region {r}" for r in range(regions)])
    chan = np.array(["Retail", "Online", "Wholesale", "Export"][:channels])
    s_i, r_i, c_i, m_i = (a.ravel() for a in np.meshgrid(np.arange(skus), np.arange(regions), np.arange(channels),
                                                             np.arange(months), indexing="ij"))
    base_sku = rng.gamma(1.5, 40.0, skus)
    base = base_sku[s_i]
    season = 1 + 0.3 * np.sin(2 * np.pi * (month_idx.month.to_numpy()[m_i] - 3) / 12)
    qty = np.round(base * season * rng.lognormal(0, 0.35, len(s_i)))
    revenue = np.where(rng.random(len(s_i)) < 0.1, np.nan, np.round(qty * price[s_i] * rng.uniform(0.9, 1.0, len(s_i)), 2))
    write("sales", pd.DataFrame({"date": month_idx.to_numpy()[m_i], "sku": sku[s_i], "region": reg[r_i],
                                 "channel": chan[c_i], "family": family[s_i], "quantity": qty, "revenue": revenue}))
    inv_months = month_idx[-24:]
    i_s, i_l, i_m = (a.ravel() for a in np.meshgrid(np.arange(skus), np.arange(2), np.arange(len(inv_months)),
                                                     indexing="ij"))
    write("inventory", pd.DataFrame({"date": (inv_months + pd.offsets.MonthEnd(0)).to_numpy()[i_m], "sku": sku[i_s],
                                     "location": np.array(["DC-East", "DC-West"])[i_l],
                                     "on_hand": np.round(base_sku[i_s] * rng.uniform(1.0, 4.0, len(i_s)))}))
    cap_months = pd.date_range(month_idx[0], last + pd.DateOffset(months=24), freq="MS")
    load = pd.Series(base_sku * regions * channels * products["hours_per_unit"].to_numpy()).groupby(res).sum()
    write("capacity", pd.DataFrame([(m, r, round(float(h) * 1.1, 1)) for m in cap_months for r, h in load.items()],
                                   columns=["period", "resource", "available_hours"]))
    year = clock.today().year
    fam = sorted(set(family))
    plan = pd.DataFrame([(pd.Timestamp(year, mo, 1), f, r) for mo in range(1, 13) for f in fam for r in reg],
                        columns=["period", "family", "region"])
    plan["revenue_plan"] = np.round(rng.uniform(0.5, 1.5, len(plan)) * 250_000 * skus / 2000, 0)
    write("plan", plan)
    # order lines, written in row groups of a million
    files["orders"] = folder / "orders.parquet"
    writer = None
    start = pd.Timestamp(clock.today()) - pd.DateOffset(months=24)
    span = (pd.Timestamp(clock.today()) + pd.Timedelta(days=30) - start).days
    done = 0
    while done < order_lines:
        n = min(1_000_000, order_lines - done)
        req = start.to_datetime64() + rng.integers(0, span, n).astype("timedelta64[D]")
        lag = rng.integers(-3, 10, n).astype("timedelta64[D]")
        rq = rng.integers(1, 60, n).astype(float)
        dq = np.round(rq * rng.choice([0.6, 0.9, 1.0, 1.0, 1.0, 1.2], n))
        delivered = req + lag
        today = np.datetime64(clock.today())
        is_open = (rng.random(n) < 0.05) | (delivered > today)
        dq = np.where(is_open | (rng.random(n) < 0.03), np.nan, dq)
        table = pa.table({
            "order_id": pa.array(np.char.add("SO-", (np.arange(done, done + n) // 3).astype(str))),
            "sku": pa.array(sku[rng.integers(0, skus, n)]),
            "requested_date": pa.array(req.astype("datetime64[D]")),
            "requested_qty": rq,
            "delivered_date": pa.array(np.where(is_open, np.datetime64("NaT"), delivered).astype("datetime64[D]")),
            "delivered_qty": pa.array(dq, mask=np.isnan(dq)),  # null, not NaN: intake refuses a NaN as 'not a number'
        })
        if writer is None:
            writer = pq.ParquetWriter(files["orders"], table.schema)
        writer.write_table(table)
        done += n
    if writer is not None:
        writer.close()
    return files


# -- load -------------------------------------------------------------------------------------
def cli(workspace: Path, *args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sop_core", "--workspace", str(workspace), *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def load(workspace: Path, files: dict[str, Path]) -> dict[str, str]:
    """Load each file through the CLI, or its head through the CLI and the rest straight into DuckDB; table -> 'x.x s' ('direct')."""
    import duckdb
    import pyarrow.parquet as pq

    out = {}
    for name, path in files.items():
        rows = pq.ParquetFile(path).metadata.num_rows
        if rows <= CLI_PARQUET_ROWS:
            out[name] = f"{cli(workspace, 'load', str(path), '--table', name):.1f} s"
            continue
        head = path.with_name(f"{name}-head.parquet")
        pq.write_table(pq.ParquetFile(path).read_row_group(0).slice(0, 1000), head)
        t = cli(workspace, "load", str(head), "--table", name)
        t0 = time.perf_counter()
        con = duckdb.connect(str(workspace))
        described = con.execute(f'DESCRIBE "{name}"').fetchall()
        select = ", ".join(f'CAST("{c}" AS {sql_type}) AS "{c}"' for c, sql_type, *_ in described)
        con.execute(f'DELETE FROM "{name}"')
        con.execute(f'INSERT INTO "{name}" SELECT {select} FROM read_parquet(?)', [str(path)])
        con.close()
        out[name] = f"{t + time.perf_counter() - t0:.1f} s (CLI refuses {rows:,} rows: head by CLI, rest direct)"
    return out


def prepare_plans(workspace: Path, level: str | None) -> float:
    """Forecast (CLI, timed; None: the demo's own settings) and store the bench's two scenarios; seconds of the forecast."""
    t = cli(workspace, "forecast", *(["--level", level] if level else []))
    from sop_core.demand import forecast
    from sop_core.planning import scenarios
    from sop_core.store.workspace import Workspace
    with Workspace(workspace) as ws:
        if level:  # the pages plan on the saved settings' run: this one
            forecast.save_settings(ws, forecast.ForecastSettings(level=level), "scale bench")
        fams = ws.query("SELECT DISTINCT family FROM products WHERE family IS NOT NULL ORDER BY 1 LIMIT 1")
        res = ws.query("SELECT DISTINCT resource FROM products WHERE resource IS NOT NULL ORDER BY 1 LIMIT 1")
        known = {sc.name for sc in scenarios.list_scenarios(ws)}
        changes = ({"demand": [{"family": str(fams.iloc[0, 0]), "pct": 10}]},
                   {"capacity": [{"resource": str(res.iloc[0, 0]), "pct": -20}]})
        for name, change in zip(SCENARIOS, changes, strict=True):
            if name not in known:
                scenarios.create(ws, name, change, "scale bench")
    return t


def _bench_scenarios(ws: Workspace) -> list:
    from sop_core.planning import scenarios
    by_name = {sc.name: sc for sc in scenarios.list_scenarios(ws)}
    return [by_name[n] for n in SCENARIOS]


def _baseline_consensus(ws: Workspace) -> tuple:
    """(run, consensus) of the stored forecast run, as the pages build it."""
    from sop_core.demand import consensus, forecast, overrides
    run = forecast.load_run(ws, run_id=forecast.latest_run_id(ws, forecast.saved_settings(ws)))
    return run, overrides.run_consensus(ws, run.run_key, lambda: consensus.prepare(run.forecast))


def _apptest(page: str, params: dict[str, str] | None = None) -> dict[str, float]:
    """AppTest runs of `page` (with a link's query parameters): the first in a running server (another page opened
    before it in the process: the server's start-up, `start`), and the second (a rerun). A link opens as the
    first page of a fresh server (`seconds` is then the start-up and the page)."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    out: dict[str, float] = {}
    if not params:
        at.switch_page("pages/" + ("data" if page == "home" else "home") + ".py")
        t = time.perf_counter()
        at.run()
        out["start"] = time.perf_counter() - t
    at.query_params.update(params or {})
    at.switch_page(f"pages/{page}.py")
    t = time.perf_counter()
    at.run()
    out["seconds"] = time.perf_counter() - t
    if at.exception:
        out["error"] = 1.0
        out["message"] = str(at.exception[0].message)[:300]  # type: ignore[assignment]
    t = time.perf_counter()
    at.run()
    out["second"] = time.perf_counter() - t
    return out


# -- timed steps, each in its own process -----------------------------------------------------------
PLAN_PARTS = ("normalise_plan", "constrained_plan", "project", "outlook", "budget_monthly")
HORIZON = 18  # months of the benchmark's consensus


def naive_consensus(hist: pd.DataFrame) -> pd.DataFrame:
    """A consensus without a forecast run: each series' same month of the last year, HORIZON months ahead."""
    import pandas as pd

    from sop_core.planning import plan
    last = pd.Timestamp(hist["period"].max())
    months = pd.date_range(last + pd.DateOffset(months=1), periods=HORIZON, freq="MS")
    source = [m - pd.DateOffset(months=12 * ((k // 12) + 1)) for k, m in enumerate(months)]
    keys = hist[["sku", "region", "family"]].drop_duplicates()
    grid = keys.merge(pd.DataFrame({"period": months, "source": source}), how="cross")
    grid["source"] = grid["source"].astype(hist["period"].dtype)
    y = hist.groupby(["sku", "region", "period"], as_index=False)["quantity"].sum().rename(columns={"period": "source"})
    grid = grid.merge(y, on=["sku", "region", "source"], how="left")
    return plan.as_consensus(grid.assign(units=grid["quantity"].fillna(0.0))[["sku", "region", "family", "period",
                                                                               "units"]])


def plan_step(ws: Workspace) -> dict[str, float]:
    """Seconds of the plan inputs, `plan.evaluate`, `plan.build_view` and each engine function evaluate calls (as it calls them)."""
    import pandas as pd

    from sop_core.demand.history import demand_history, last_actual_period
    from sop_core.planning import finance, inventory, plan, supply

    out: dict[str, float] = {}
    t = time.perf_counter()
    inputs = plan.PlanInputs.from_workspace(ws, naive_consensus(demand_history(ws)))
    out["inputs"] = time.perf_counter() - t
    t = time.perf_counter()
    result = plan.evaluate(inputs)
    out["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    plan.build_view(inputs)
    out["build_view"] = time.perf_counter() - t
    cons, prod, hist = inputs.consensus, inputs.products, inputs.history
    year, last = result.year, last_actual_period(hist)
    firm = supply.production_receipts(inputs.supply)
    receipts = pd.concat([result.production, supply.other_receipts(inputs.supply)], ignore_index=True)
    calls = {
        "normalise_plan": lambda: supply.normalise_plan(cons),
        "constrained_plan": lambda: supply.constrained_plan(cons, prod, inputs.capacity, inputs.prebuild_months, firm),
        "project": lambda: inventory.project(cons, result.on_hand, receipts, result.safety, products=prod),
        "outlook": lambda: (finance.outlook(hist, cons, year, last, prod),
                            finance.outlook(hist, result.constrained, year, last, prod, units="constrained_units")),
        "budget_monthly": lambda: finance.budget_monthly(inputs.budget, year, prod),
    }
    for name, call in calls.items():
        t = time.perf_counter()
        call()
        out[name] = time.perf_counter() - t
    out["seconds"] = out["build_view"]
    out["rows"] = float(len(cons))
    return out


def step(name: str, workspace: Path) -> dict[str, float]:
    """Run one step in this process; returns its seconds (and the second run's for pages) and peak MB."""
    os.environ["SOP_WORKSPACE"] = str(workspace)
    out: dict[str, float] = {}
    if name == "plan":
        from sop_core.store.workspace import Workspace
        with Workspace(workspace) as ws:
            out.update(plan_step(ws))
    elif name in ("old", "new"):
        from sop_core.planning import actuals, kpis
        from sop_core.store.workspace import Workspace
        with Workspace(workspace) as ws:
            t = time.perf_counter()
            if name == "new":
                inputs = kpis.inputs_from_workspace(ws)
            else:  # as before kpi_sql: whole tables into pandas, the rules line by line
                from sop_core.demand.history import demand_history
                from sop_core.demand.history import products as load_products
                prod, hist = load_products(ws), demand_history(ws)
                inputs = kpis.ScorecardInputs(
                    orders=ws.table("orders"), inventory=ws.table("inventory"), products=prod, history=hist,
                    capacity=ws.table("capacity"), budget=ws.table("plan"))
                inputs.actuals = actuals.monthly_actuals(hist, prod)
            out["inputs"] = time.perf_counter() - t
            cards = kpis.scorecard(inputs)
            out["seconds"] = time.perf_counter() - t
            out["otif"] = next(k.value for k in cards if k.key == "otif") or float("nan")
    elif name in ("warmup", "scenario"):
        from sop_core.planning import plan_store, warmup
        from sop_core.planning import settings as plan_settings
        from sop_core.store.workspace import Workspace, frame_sha256
        with Workspace(workspace) as ws:
            if name == "warmup":
                with ws.transaction() as cur:  # as after a load: no plan stored
                    cur.execute("DELETE FROM plan_result_frames")
                    cur.execute("DELETE FROM plan_results")
                t = time.perf_counter()
                warmup.baseline(ws)
                out["seconds"] = time.perf_counter() - t
                run, cons = _baseline_consensus(ws)  # the bench scenarios as saved on the page: evaluated, stored
                for sc in _bench_scenarios(ws):
                    plan_store.view(ws, cons, run.run_key, plan_settings.saved(ws), sc,
                                    consensus_sha=frame_sha256(cons))
            else:
                from sop_core.planning import scenarios
                run, cons = _baseline_consensus(ws)
                fam = _bench_scenarios(ws)[0].changes.demand[0].family
                for key, pct in (("cold", 5), ("seconds", 7)):  # the first save after a start, then another
                    t = time.perf_counter()
                    sc = scenarios.create(ws, f"Bench save {time.time_ns()}",
                                          {"demand": [{"family": fam, "pct": pct}]}, "scale bench")
                    plan_store.view(ws, cons, run.run_key, plan_settings.saved(ws), sc,
                                    consensus_sha=frame_sha256(cons))
                    out[key] = time.perf_counter() - t
                    scenarios.archive(ws, sc.scenario_id, "scale bench")
    elif name in LINKS:
        from sop_core.store.workspace import Workspace
        with Workspace(workspace, read_only=True) as ws:
            ids = [sc.scenario_id for sc in _bench_scenarios(ws)]
        page, params = (("scenarios", {"cmp": ",".join(ids)}) if name == "compare"
                        else ("executive", {"s": ids[1]}))
        out.update(_apptest(page, params))
    else:
        out.update(_apptest(name))
    out["peak_mb"] = peak_mb()
    return out


def peak_mb() -> float:
    """This process's peak resident memory in MB: VmHWM of /proc/self/status, else getrusage's ru_maxrss.

    On Linux ru_maxrss keeps the parent's high-water mark across fork and exec (each child would show
    at least the generator's peak), VmHWM belongs to the process's own address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(name: str, workspace: Path) -> dict[str, float]:
    r = subprocess.run([sys.executable, __file__, "--step", name, "--workspace", str(workspace)], cwd=ROOT,
                       capture_output=True, text=True, timeout=3600)
    if r.returncode:
        return {"error": 1.0, "message": r.stderr[-400:]}  # type: ignore[dict-item]
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(workspace: Path, pages: bool, runs: int) -> dict[str, dict[str, float]]:
    """Each step `runs` times in turn (fresh processes): the median of each time, the highest peak memory."""
    import statistics
    names = ["old", "new", "plan", "warmup"] + ([*PAGES, "scenario", *LINKS] if pages else [])
    got: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for _ in range(runs):
        for n in names:
            got[n].append(run_step(n, workspace))
    out = {}
    for n, rs in got.items():
        bad = [r for r in rs if "error" in r]
        if bad:
            out[n] = bad[0]
            continue
        out[n] = {k: (max(r[k] for r in rs) if k == "peak_mb" else statistics.median(r[k] for r in rs))
                  for k in rs[0] if k != "message"}
    return out


def fmt(r: dict[str, float], key: str = "seconds") -> str:
    if "error" in r:
        return "error"
    return f"{r[key]:.2f} s"


def plan_rows(big: dict[str, float], demo: dict[str, float]) -> list[tuple[str, str, str]]:
    """Table rows of the plan step: inputs, evaluate, build_view and each engine function."""
    rows = [("baseline plan: inputs from the workspace (seasonal naive consensus)", fmt(big, "inputs"), fmt(demo, "inputs")),
            ("baseline plan: plan.evaluate", fmt(big, "evaluate"), fmt(demo, "evaluate")),
            ("baseline plan: plan.build_view (evaluate + page frames)", fmt(big, "build_view"), fmt(demo, "build_view"))]
    rows += [(f"  {name}" + (" (unconstrained + constrained)" if name == "outlook" else ""), fmt(big, name),
              fmt(demo, name)) for name in PLAN_PARTS]
    rows.append(("  peak memory of that process", f"{big.get('peak_mb', 0):,.0f} MB", f"{demo.get('peak_mb', 0):,.0f} MB"))
    return rows


def table(big: dict, demo: dict, size: str, loads: dict[str, str], gen_s: float, fits: tuple[float, float],
          level: str) -> str:
    rows = [("generate the company (Parquet)", f"{gen_s:.1f} s", "—")]
    rows += [(f"load {k}", v, "—") for k, v in loads.items()]
    rows.append((f"forecast (CLI; the company per {level} × region, split to skus; the demo as the app does)",
                 f"{fits[0]:.1f} s", f"{fits[1]:.1f} s"))
    labels = {"old": "scorecard: whole tables + pandas (before)", "new": "scorecard: SQL aggregates (now)"}
    for k in big:
        if k == "plan":
            rows += plan_rows(big[k], demo[k])
        elif k in labels:
            rows.append((f"{labels[k]} — inputs only", fmt(big[k], "inputs"), fmt(demo[k], "inputs")))
            rows.append((f"{labels[k]} — with the KPIs", fmt(big[k]), fmt(demo[k])))
            rows.append(("  peak memory of that process", f"{big[k].get('peak_mb', 0):,.0f} MB",
                         f"{demo[k].get('peak_mb', 0):,.0f} MB"))
        elif k in ("warmup", "scenario"):
            if k == "scenario":
                rows.append(("scenario save, the first after a start (the tables read for the plan inputs)",
                             fmt(big[k], "cold") if "error" not in big[k] else "error",
                             fmt(demo[k], "cold") if "error" not in demo[k] else "error"))
            label = {"warmup": "baseline plan evaluated and stored in the background (warmup.baseline)",
                     "scenario": "scenario save in a running server: created, its plan evaluated and stored"}[k]
            rows.append((label, fmt(big[k]), fmt(demo[k])))
            rows.append(("  peak memory of that process", f"{big[k].get('peak_mb', 0):,.0f} MB",
                         f"{demo[k].get('peak_mb', 0):,.0f} MB"))
        else:
            what = {"compare": "share link of a two-scenario comparison (Scenarios page)",
                    "link": "share link of a scenario (Executive page)"}.get(k, f"{k} page")
            if k == "home" and "start" in big[k]:
                rows.append(("server start: workspace opened and checked, the Data page drawn (AppTest)",
                             fmt(big[k], "start"), fmt(demo[k], "start") if "start" in demo[k] else "error"))
            rows.append((f"{what}, first AppTest run" + (" on a fresh server" if k in LINKS else " (server running)"),
                         fmt(big[k]), fmt(demo[k])))
            rows.append((f"{what}, second run", fmt(big[k], "second") if "error" not in big[k] else "error",
                         fmt(demo[k], "second") if "error" not in demo[k] else "error"))
            rows.append(("  peak memory of that process", f"{big[k].get('peak_mb', 0):,.0f} MB",
                         f"{demo[k].get('peak_mb', 0):,.0f} MB"))
    w = max(len(r[0]) for r in rows)
    lines = [f"| {'what':<{w}} | {size} | demo |", f"|{'-' * (w + 2)}|---|---|"]
    lines += [f"| {a:<{w}} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skus", type=int, default=2000)
    ap.add_argument("--regions", type=int, default=5)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--months", type=int, default=48)
    ap.add_argument("--order-lines", type=int, default=10_000_000)
    ap.add_argument("--keep", type=Path, help="folder for the files and workspaces (default: a temporary one)")
    ap.add_argument("--forecast-level", choices=("family", "sku"), default="family",
                    help="fit per family × region and split to skus (default, ~200 series), or every sku series")
    ap.add_argument("--no-pages", action="store_true",
                    help="time the scorecard, the plan and the background baseline only, not the AppTest pages")
    ap.add_argument("--runs", type=int, default=3, help="runs of each timed step (the median is shown)")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.step:
        print(json.dumps(step(a.step, a.workspace)))
        return 0
    folder = a.keep or Path(tempfile.mkdtemp(prefix="sop-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    files = generate(folder, a.skus, a.regions, a.channels, a.months, a.order_lines)
    gen_s = time.perf_counter() - t
    big_ws, demo_ws = folder / "big.duckdb", folder / "demo.duckdb"
    for p in (big_ws, demo_ws):
        p.unlink(missing_ok=True)
    loads = load(big_ws, files)
    cli(demo_ws, "demo")
    fits = (prepare_plans(big_ws, a.forecast_level), prepare_plans(demo_ws, None))
    big = measure(big_ws, not a.no_pages, a.runs)
    demo = measure(demo_ws, not a.no_pages, a.runs)
    series = a.skus * a.regions  # a series is a sku × region (channels are summed)
    size = f"{a.skus:,} skus × {a.regions} regions × {a.channels} channels ({series:,} series), {a.months} months, {a.order_lines:,} lines"
    print(table(big, demo, size, loads, gen_s, fits, a.forecast_level))
    for name, r in {**{f"big {k}": v for k, v in big.items()}, **{f"demo {k}": v for k, v in demo.items()}}.items():
        if "message" in r:
            print(f"{name} failed: {r['message']}")
    print(f"OTIF: before {big['old'].get('otif', float('nan')):.6f}, now {big['new'].get('otif', float('nan')):.6f}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; files in {folder}; "
          f"medians of {a.runs} runs, peak memory = the highest VmHWM of a step's process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
