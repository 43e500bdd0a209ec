"""Coverage: how much of the plan each check could see, and the words for what it could not.

No green without evidence. A check that cannot run for lack of data is *not checked* — never met,
never "within capacity", "no stockout" or "$0" — and a check that saw only part of the plan says so
("checked 12 of 45 skus: 33 have no resource"). Pages show these facts and texts; they never
compute them.

Checks (`CHECKS`), each counted over the skus of the plan (the consensus, units > 0 somewhere in the
horizon; the annual plan over its families):

* capacity — a sku is checked when every month it has demand was loaded on a resource with
  capacity (`supply.constrained_plan`'s capacity_check is 'capacity'); else the first reason of
  `supply` (not in products, no resource, no hours_per_unit, resource not in capacity, no capacity
  for the month).
* inventory — a sku of the plan (also one with no demand left) is checked when the inventory
  table holds a stock record for it (its latest on hand); without one its projection starts from
  an unknown balance, so its stockouts, breaches and excess are not claimed (`inventory.exceptions`
  reports checked skus only).
* prices — a sku is valued when it has a unit_price (from the products table, or derived from sales
  revenue when no products table is loaded); the outlook in money leaves the others out.
* annual plan — a family of the outlook is compared when the plan table gives revenue_plan for it
  in the outlook year.

A plan on a history in money (`of_plan(money=True)`) checks no sku against capacity or stock: both
need quantities in units, and the text says so.

`Coverage.state` is 'none' (nothing checked, also when the plan is empty), 'partial' or 'full';
`Coverage.text` is the sentence pages print, `Coverage.summary` the short form for a status line.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sop_core.planning import supply

STATES: tuple[str, ...] = ("none", "partial", "full")
CHECKS: dict[str, str] = {  # key -> what the check is, as the sentence starts
    "capacity": "Load vs capacity",
    "inventory": "Stock projection",
    "prices": "Value in money",
    "annual plan": "Comparison with the annual plan",
}
NOT_CHECKED = "not checked"

# capacity_check value -> (why, in words after a count, the table (with columns) to load)
CAPACITY_REASONS: dict[str, tuple[str, str]] = {
    supply.NOT_IN_PRODUCTS: ("are not in the products table", "products (resource, hours_per_unit)"),
    supply.NO_RESOURCE: ("have no resource", "products (resource, hours_per_unit)"),
    supply.NO_HOURS: ("have no hours_per_unit", "products (hours_per_unit)"),
    supply.NO_CAPACITY: ("have a resource with no capacity rows", "capacity"),
    supply.UNKNOWN_MONTH: ("have months without capacity", "capacity"),
}
NO_STOCK_RECORD = ("have no stock record in the inventory table", "inventory")
NO_PRICE = ("have no unit_price", "products (unit_price)")
NOT_PRICED_IN_PRODUCTS = ("are not in the products table", "products (unit_price)")
NO_REVENUE_PLAN = ("have no revenue_plan", "plan (revenue_plan)")
IN_MONEY = ("have a sales history in money, not units", "sales (quantity in units)")


@dataclass(frozen=True)
class Coverage:
    """How much of the plan one check saw.

    check: a key of CHECKS; noun: what is counted ('sku' or 'family'); checked of total;
    reasons: the unchecked ones grouped by why, largest group first ((why, count), ...);
    needs: the tables (with columns) to load for the rest, in order; missing_tables: needed
    tables not loaded at all.
    """

    check: str
    checked: int
    total: int
    noun: str = "sku"
    reasons: tuple[tuple[str, int], ...] = ()
    needs: tuple[str, ...] = ()
    missing_tables: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        """'none' (nothing checked, or nothing to check), 'partial' or 'full'."""
        if self.total <= 0 or self.checked <= 0:
            return "none"
        return "full" if self.checked >= self.total else "partial"

    @property
    def complete(self) -> bool:
        """Every item of the plan was checked (and there was something to check)."""
        return self.state == "full"

    def _count(self, n: int) -> str:
        return f"{n:,} {_plural(self.noun, n)}"

    @property
    def reasons_text(self) -> str:
        """'33 have no resource, 2 are not in the products table' (counts of the unchecked, by why)."""
        return ", ".join(f"{n:,} {_verb(why, n)}" for why, n in self.reasons)

    @property
    def load_text(self) -> str:
        """'load capacity and products (resource, hours_per_unit)' — what would make the check complete."""
        needs = list(self.needs) or ["the missing data"]
        return "load " + (needs[0] if len(needs) == 1 else ", ".join(needs[:-1]) + " and " + needs[-1])

    @property
    def summary(self) -> str:
        """Short: 'not checked', 'checked 12 of 45 skus', 'checked all 45 skus'."""
        if self.state == "none":
            return NOT_CHECKED
        if self.state == "partial":
            return f"checked {self.checked:,} of {self._count(self.total)}"
        return f"checked all {self._count(self.total)}" if self.total > 1 else f"checked {self._count(self.total)}"

    @property
    def text(self) -> str:
        """The sentence a page prints.

        none: 'Load vs capacity: not checked — load capacity and products (...) for these skus (45 skus:
        45 are not in the products table).'; partial: 'Load vs capacity: checked 12 of 45 skus — 33
        have no resource; load products (...) for the rest.'; full: 'Load vs capacity: checked all 45 skus.'
        """
        what = CHECKS.get(self.check, self.check)
        if self.total <= 0:
            return f"{what}: {NOT_CHECKED} — the plan has nothing to check."
        if self.state == "none":
            why = ("no " + " and no ".join(self.missing_tables) + f" table{'s' if len(self.missing_tables) > 1 else ''}"
                   " loaded") if self.missing_tables else self.reasons_text
            return (f"{what}: {NOT_CHECKED} — {self.load_text} for these {_plural(self.noun)} "
                    f"({self._count(self.total)}: {why}).")
        if self.state == "partial":
            return f"{what}: {self.summary} — {self.reasons_text}; {self.load_text} for the rest."
        return f"{what}: {self.summary}."


# the tables (with columns) each check reads, for a check that has no plan to run on yet
NEEDS: dict[str, tuple[str, ...]] = {
    "capacity": ("capacity", "products (resource, hours_per_unit)"),
    "inventory": ("inventory",),
    "prices": ("products (unit_price)",),
    "annual plan": ("plan (revenue_plan)",),
}


def not_checked(check: str, tables_loaded: Iterable[str] = (), waiting: str = "a consensus plan") -> str:
    """The sentence for a check that could not run at all, before any plan exists.

    Names the tables of NEEDS[check] not in `tables_loaded` ('Load vs capacity: not checked — load
    capacity and products (resource, hours_per_unit).'); when they are all loaded, what it waits
    for ('… not checked — waiting for a consensus plan.').
    """
    loaded = set(tables_loaded)
    missing = [n for n in NEEDS[check] if n.split(" ")[0] not in loaded]
    what = CHECKS[check]
    if not missing:
        return f"{what}: {NOT_CHECKED} — waiting for {waiting}."
    return f"{what}: {NOT_CHECKED} — load " + (missing[0] if len(missing) == 1 else
                                                ", ".join(missing[:-1]) + " and " + missing[-1]) + "."


def _needs(pairs: Iterable[tuple[str, str]], missing_tables: Iterable[str]) -> tuple[str, ...]:
    """The tables to load, each once with the columns the reasons name: ('capacity', 'products (resource, ...)')."""
    cols: dict[str, list[str]] = {t: [] for t in missing_tables}
    for _, need in pairs:
        table, _, named = need.partition(" ")
        have = cols.setdefault(table, [])
        have += [c for c in named.strip("()").split(", ") if c and c not in have]
    return tuple(f"{t} ({', '.join(c)})" if c else t for t, c in cols.items())


def _verb(why: str, n: int) -> str:
    """A reason as said after a count: 'are not in …' / 'have no …' for many, 'is not in …' / 'has no …' for one."""
    if n != 1:
        return why
    first, _, rest = why.partition(" ")
    return {"are": "is", "have": "has"}.get(first, first) + (" " + rest if rest else "")


def _plural(noun: str, n: int = 2) -> str:
    """'sku' / 'skus', 'family' / 'families'."""
    if n == 1:
        return noun
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"


def _grouped(reason_of: pd.Series, words: dict[str, tuple[str, str]]) -> tuple[tuple[tuple[str, int], ...],
                                                                                tuple[tuple[str, str], ...]]:
    """((why, count), ...) largest first, and the (why, need) pairs in that order, of a sku → reason key series."""
    counts = reason_of.value_counts(sort=False)
    order = sorted(counts.index, key=lambda r: (-int(counts[r]), list(words).index(r) if r in words else 99))
    return (tuple((words[r][0], int(counts[r])) for r in order),
            tuple(words[r] for r in order))


def _make(check: str, checked: int, total: int, reason_of: pd.Series, words: dict[str, tuple[str, str]],
          missing_tables: Iterable[str] = (), noun: str = "sku") -> Coverage:
    missing = tuple(missing_tables)
    reasons, pairs = _grouped(reason_of, words)
    return Coverage(check=check, checked=int(checked), total=int(total), noun=noun, reasons=reasons,
                    needs=_needs(pairs, missing), missing_tables=missing)


def plan_skus(consensus: pd.DataFrame, units: str = "consensus", positive: bool = True) -> list[str]:
    """The skus of the plan, sorted: those with units > 0 in some period (column `units`, else 'units'), or every
    sku of the plan when not `positive`."""
    if consensus is None or consensus.empty:
        return []
    if not positive:
        return sorted(consensus["sku"].astype(str).unique())
    col = units if units in consensus.columns else "units"
    q = pd.to_numeric(consensus[col], errors="coerce").fillna(0.0)
    return sorted(consensus.loc[q > 0, "sku"].astype(str).unique())


# -- the checks ------------------------------------------------------------------------------------------
def capacity(constrained: pd.DataFrame, capacity_loaded: bool = True, products_loaded: bool = True) -> Coverage:
    """Capacity coverage of a `supply.constrained_plan` frame (sku, units, capacity_check).

    A sku is checked when every row with units > 0 has capacity_check 'capacity'; otherwise its
    reason is its most frequent other capacity_check. `capacity_loaded` / `products_loaded`: whether
    those tables are loaded (a products table derived from sales counts as not loaded).
    """
    missing = [t for t, ok in (("capacity", capacity_loaded), ("products", products_loaded)) if not ok]
    if constrained is None or constrained.empty:
        return Coverage("capacity", 0, 0, missing_tables=tuple(missing), needs=tuple(missing))
    c = constrained[pd.to_numeric(constrained["units"], errors="coerce").fillna(0.0) > 0]
    c = c.assign(sku=c["sku"].astype(str), capacity_check=c["capacity_check"].astype(str))
    total = c["sku"].nunique()
    bad = c[c["capacity_check"] != supply.CHECKED]
    reason_of = bad.groupby("sku")["capacity_check"].agg(lambda s: s.value_counts().index[0])
    return _make("capacity", total - len(reason_of), total, reason_of, CAPACITY_REASONS, missing)


def inventory(consensus: pd.DataFrame, on_hand: pd.DataFrame, inventory_loaded: bool = True) -> Coverage:
    """Stock coverage: every sku of the plan with a stock record in `on_hand` (sku, ...; `inventory.latest_on_hand`)."""
    skus = plan_skus(consensus, positive=False)
    recorded = set(on_hand["sku"].astype(str)) if on_hand is not None and len(on_hand) else set()
    reason_of = pd.Series({s: "no stock" for s in skus if s not in recorded}, dtype=object)
    return _make("inventory", len(skus) - len(reason_of), len(skus), reason_of, {"no stock": NO_STOCK_RECORD},
                 () if inventory_loaded else ("inventory",))


def needs_units(view: str) -> str:
    """What a units view (the supply review, the inventory projection) says on a history in money."""
    return (f"The {view} needs a sales history in units, and the one loaded is in money (sales values only): "
            "capacity and stock are counted in units. Load a sales file with quantities (a column like Quantity, "
            "Qty or Units) on the Data page, or with `python -m sop_core load FILE --table sales`. The demand "
            "review, the financials and the board pack work in currency meanwhile.")


def in_money(check: str, consensus: pd.DataFrame) -> Coverage:
    """A units check ('capacity' or 'inventory') of a plan in money: not checked, for want of a history in units."""
    skus = plan_skus(consensus, positive=check == "capacity")
    reason_of = pd.Series({s: "money" for s in skus}, dtype=object)
    return _make(check, 0, len(skus), reason_of, {"money": IN_MONEY})


def checked_skus(consensus: pd.DataFrame, on_hand: pd.DataFrame) -> set[str]:
    """The plan skus the stock projection can speak for: those with a stock record (see `inventory`)."""
    recorded = set(on_hand["sku"].astype(str)) if on_hand is not None and len(on_hand) else set()
    return {s for s in plan_skus(consensus, positive=False) if s in recorded}


def prices(consensus: pd.DataFrame, products: pd.DataFrame) -> Coverage:
    """Price coverage: plan skus with a unit_price in `products` (loaded, or derived from sales revenue)."""
    skus = plan_skus(consensus)
    prod = supply.normalise_products(products if products is not None and len(products)
                                     else pd.DataFrame({"sku": pd.Series(dtype=str)}))
    price = prod.set_index("sku")["unit_price"]
    reason_of = pd.Series({s: ("absent" if s not in price.index else "no price") for s in skus
                           if not (s in price.index and np.isfinite(price.get(s, np.nan)))}, dtype=object)
    words = {"absent": NOT_PRICED_IN_PRODUCTS, "no price": NO_PRICE}
    return _make("prices", len(skus) - len(reason_of), len(skus), reason_of, words)


def annual_plan(outlook: pd.DataFrame, budget: pd.DataFrame, year: int, products: pd.DataFrame | None = None,
                plan_loaded: bool = True) -> Coverage:
    """Annual-plan coverage for `year`: families of the outlook (a `finance.outlook` frame) with revenue_plan.

    `budget`: the plan table (family and/or sku rows, mapped as `finance.budget_by_family` does).
    """
    from sop_core.planning.finance import budget_by_family

    o = outlook[pd.to_datetime(outlook["period"]).dt.year == int(year)] if outlook is not None and len(outlook) \
        else pd.DataFrame({"family": pd.Series(dtype=str), "units": pd.Series(dtype=float)})
    fams = sorted(o.loc[pd.to_numeric(o["units"], errors="coerce").fillna(0.0) > 0, "family"].astype(str).unique())
    b = budget_by_family(budget, year, products)
    given = set(b.loc[b["revenue_plan"].notna(), "family"].astype(str))
    reason_of = pd.Series({f: "no plan" for f in fams if f not in given}, dtype=object)
    words = {"no plan": (f"have no revenue_plan for {int(year)}", f"plan (revenue_plan for {int(year)})")}
    return _make("annual plan", len(fams) - len(reason_of), len(fams), reason_of, words,
                 () if plan_loaded else ("plan",), noun="family")


# -- the plan's coverage ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanCoverage:
    """The coverage of every check of one evaluated plan (see the module docstring)."""

    capacity: Coverage
    inventory: Coverage
    prices: Coverage
    annual_plan: Coverage
    notes: tuple[str, ...] = field(default_factory=tuple)

    def incomplete(self, *checks: str) -> list[Coverage]:
        """The named checks (all when none named) that did not see the whole plan, in CHECKS order."""
        keys = checks or tuple(CHECKS)
        return [c for c in (self.capacity, self.inventory, self.prices, self.annual_plan)
                if c.check in keys and not c.complete]


def is_loaded(frame: pd.DataFrame | None) -> bool:
    """A contract table counts as loaded when it has rows and was not derived from sales (`derived` flag)."""
    if frame is None or frame.empty:
        return False
    return not ("derived" in frame.columns and frame["derived"].astype(bool).all())


def of_plan(consensus: pd.DataFrame, constrained: pd.DataFrame, on_hand: pd.DataFrame, products: pd.DataFrame,
            outlook: pd.DataFrame, budget: pd.DataFrame, year: int, *, capacity_frame: pd.DataFrame | None = None,
            inventory_frame: pd.DataFrame | None = None, money: bool = False) -> PlanCoverage:
    """Every check's coverage of one plan, from the frames `plan.evaluate` builds and its inputs.

    consensus (sku, consensus or units), constrained (`supply.constrained_plan`), on_hand
    (`inventory.latest_on_hand`), products (the plan's; `derived` marks one made from sales),
    outlook (`finance.outlook` of the year), budget (the plan table), capacity_frame and
    inventory_frame (the loaded tables, to tell "not loaded" from "no row for these skus"); `money`:
    the plan is in currency (a history in money), so capacity and stock are not checked (`in_money`).
    """
    prod_loaded = is_loaded(products)
    if money:
        return PlanCoverage(capacity=in_money("capacity", consensus), inventory=in_money("inventory", consensus),
                            prices=prices(consensus, products),
                            annual_plan=annual_plan(outlook, budget, year, products, is_loaded(budget)))
    return PlanCoverage(
        capacity=capacity(constrained, is_loaded(capacity_frame) if capacity_frame is not None else True,
                          prod_loaded),
        inventory=inventory(consensus, on_hand, is_loaded(inventory_frame) if inventory_frame is not None
                            else on_hand is not None and len(on_hand) > 0),
        prices=prices(consensus, products),
        annual_plan=annual_plan(outlook, budget, year, products, is_loaded(budget)),
    )
