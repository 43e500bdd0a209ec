"""The data contract: the input tables, their columns, types, synonyms and rules.

Every stored table has exactly the canonical columns listed here, in this order, with
these DuckDB types; optional columns absent from an upload are stored as NULL. A table's
`intake_columns` are mapped and checked at intake but never stored (the unit of measure of the
quantity tables: quantities are stored as written, or converted to the sku's base unit).
"""
from __future__ import annotations

from dataclasses import dataclass, field

DATE = "DATE"
TEXT = "VARCHAR"
NUMBER = "DOUBLE"


@dataclass(frozen=True)
class Column:
    """One canonical column of a table."""

    name: str
    type: str
    required: bool = False
    synonyms: tuple[str, ...] = ()
    minimum: float | None = None  # inclusive lower bound for numbers
    help: str = ""


@dataclass(frozen=True)
class Table:
    """One input table of the data contract."""

    name: str
    label: str
    grain: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # must be unique after normalisation (error)
    one_of: tuple[tuple[str, ...], ...] = ()  # at least one column of each group required
    needed_by: tuple[str, ...] = ()
    sum_duplicates: bool = False  # duplicate keys are summed with a warning instead of rejected
    intake_columns: tuple[Column, ...] = ()  # mapped and checked at intake, not stored
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    def column(self, name: str) -> Column:
        """Return the column called `name` (stored or intake-only)."""
        for c in self.mappable:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def mappable(self) -> tuple[Column, ...]:
        """Every column a file's header can be mapped to: the stored ones, then the intake-only ones."""
        return self.columns + self.intake_columns

    @property
    def mappable_names(self) -> tuple[str, ...]:
        """Names of the mappable columns, in order."""
        return tuple(c.name for c in self.mappable)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


_REGION = Column("region", TEXT, synonyms=("region", "market", "territory", "area", "zone", "country"))
# the unit of measure a row's quantities are written in (EA, CS...); see sop_core.intake.units
_UNIT = Column("unit", TEXT, synonyms=("unit", "uom", "unit of measure", "units of measure", "um", "u m",
                                       "unit of measure code", "uom code", "unit code", "sales unit",
                                       "order unit", "quantity unit", "qty unit", "selling unit"))
_FAMILY = Column(
    "family", TEXT,
    synonyms=("family", "product family", "product_family", "category", "product category",
              "product line", "product group", "group"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "sales", "Sales history", "one row per date × sku × region",
            (
                Column("date", DATE, True, ("date", "order date", "order_date", "orderdate", "ship date",
                                            "invoice date", "posting date", "month", "week", "period", "ds",
                                            "day", "transaction date")),
                Column("sku", TEXT, True, ("sku", "product id", "product_id", "productid", "item", "item no",
                                           "item number", "item_id", "material", "article", "product code",
                                           "part number", "part", "product")),
                _REGION,
                Column("channel", TEXT, synonyms=("channel", "segment", "sales channel", "customer segment")),
                _FAMILY,
                Column("quantity", NUMBER, True, ("quantity", "qty", "units", "unit sales", "volume",
                                                  "demand", "sold", "units sold", "y", "order quantity"),
                       minimum=0),
                Column("revenue", NUMBER, synonyms=("revenue", "sales", "net sales", "amount", "sales amount",
                                                     "value", "turnover", "net revenue"), minimum=0),
            ),
            key=("date", "sku", "region", "channel"),
            sum_duplicates=True,
            intake_columns=(_UNIT,),
            needed_by=("Demand review", "Supply review", "Inventory", "Financials", "Executive S&OP"),
        ),
        Table(
            "products", "Products", "one row per sku",
            (
                Column("sku", TEXT, True, ("sku", "product id", "product_id", "item", "item no", "item number",
                                           "material", "article", "product code", "part number")),
                Column("description", TEXT, synonyms=("description", "product name", "name", "item description",
                                                      "product_name", "title")),
                Column("family", TEXT, True, _FAMILY.synonyms + ("sub-category", "subcategory")),
                Column("category", TEXT, synonyms=("category", "sub-category", "subcategory", "class")),
                Column("unit_price", NUMBER, True, ("unit price", "unit_price", "price", "list price",
                                                    "selling price", "asp"), minimum=0),
                Column("unit_cost", NUMBER, True, ("unit cost", "unit_cost", "cost", "standard cost",
                                                   "std cost", "cogs per unit"), minimum=0),
                Column("resource", TEXT, synonyms=("resource", "line", "production line", "work center",
                                                   "workcenter", "plant line", "machine")),
                Column("hours_per_unit", NUMBER, synonyms=("hours per unit", "hours_per_unit", "run time",
                                                           "hrs per unit", "hours/unit"), minimum=0),
                Column("lead_time_weeks", NUMBER, synonyms=("lead time weeks", "lead_time_weeks", "lead time",
                                                            "leadtime"), minimum=0),
                Column("safety_stock_units", NUMBER, synonyms=("safety stock units", "safety_stock_units",
                                                               "safety stock", "ss"), minimum=0),
                Column("base_unit", TEXT, synonyms=("base unit", "base uom", "base unit of measure", "stock uom",
                                                    "stocking unit", "stock unit", "inventory uom", "uom",
                                                    "unit of measure", "unit"),
                       help="the unit quantities are counted in (EA when empty)"),
                Column("units_per_case", NUMBER, synonyms=("units per case", "case pack", "case pack qty",
                                                           "casepack", "case qty", "case quantity", "case size",
                                                           "qty per case", "units per carton", "pack size",
                                                           "conversion factor"),
                       minimum=1, help="base units in one case (CS) — converts quantities given in cases"),
            ),
            key=("sku",),
            needed_by=("Supply review", "Inventory", "Financials"),
        ),
        Table(
            "inventory", "Inventory on hand", "one row per snapshot date × sku × location",
            (
                Column("date", DATE, True, ("date", "snapshot date", "as of", "as_of", "stock date", "period")),
                Column("sku", TEXT, True, ("sku", "product id", "item", "item no", "material", "article")),
                Column("location", TEXT, synonyms=("location", "warehouse", "plant", "site", "dc", "store")),
                Column("on_hand", NUMBER, True, ("on hand", "on_hand", "onhand", "stock", "qty on hand",
                                                 "quantity", "inventory", "units"), minimum=0),
            ),
            key=("date", "sku", "location"),
            intake_columns=(_UNIT,),
            needed_by=("Inventory", "Executive S&OP"),
        ),
        Table(
            "capacity", "Capacity", "one row per period × resource",
            (
                Column("period", DATE, True, ("period", "month", "date", "week")),
                Column("resource", TEXT, True, ("resource", "line", "production line", "work center",
                                                "workcenter", "machine")),
                Column("available_hours", NUMBER, synonyms=("available hours", "available_hours", "hours",
                                                            "capacity hours"), minimum=0),
                Column("capacity_units", NUMBER, synonyms=("capacity units", "capacity_units", "capacity",
                                                           "max units"), minimum=0),
            ),
            key=("period", "resource"),
            one_of=(("available_hours", "capacity_units"),),
            needed_by=("Supply review",),
        ),
        Table(
            "supply", "Planned receipts", "one row per date × sku",
            (
                Column("date", DATE, True, ("date", "receipt date", "due date", "delivery date", "period")),
                Column("sku", TEXT, True, ("sku", "product id", "item", "item no", "material")),
                Column("quantity", NUMBER, True, ("quantity", "qty", "units", "receipt qty"), minimum=0),
                Column("source", TEXT, synonyms=("source", "type", "order type", "supplier")),
            ),
            key=("date", "sku", "source"),
            sum_duplicates=True,
            intake_columns=(_UNIT,),
            needed_by=("Inventory",),
        ),
        Table(
            "plan", "Annual plan", "one row per period × family (or sku) × region",
            (
                Column("period", DATE, True, ("period", "month", "date")),
                Column("family", TEXT, synonyms=_FAMILY.synonyms),
                Column("sku", TEXT, synonyms=("sku", "product id", "item")),
                _REGION,
                Column("volume_plan", NUMBER, synonyms=("volume plan", "volume_plan", "units plan", "volume",
                                                        "units", "quantity"), minimum=0),
                Column("revenue_plan", NUMBER, True, ("revenue plan", "revenue_plan", "revenue", "budget",
                                                      "sales plan", "sales"), minimum=0),
                Column("margin_plan", NUMBER, synonyms=("margin plan", "margin_plan", "margin", "gross margin")),
            ),
            key=("period", "family", "sku", "region"),
            one_of=(("family", "sku"),),
            needed_by=("Financials", "Executive S&OP"),
        ),
        Table(
            "orders", "Order lines", "one row per order line",
            (
                Column("order_id", TEXT, True, ("order id", "order_id", "order", "order number", "order no",
                                                "so number")),
                Column("sku", TEXT, True, ("sku", "product id", "item", "item no", "material")),
                Column("requested_date", DATE, True, ("requested date", "requested_date", "request date",
                                                      "due date", "order date")),
                Column("requested_qty", NUMBER, True, ("requested qty", "requested_qty", "ordered qty",
                                                       "order qty", "quantity", "qty"), minimum=0),
                Column("delivered_date", DATE, synonyms=("delivered date", "delivered_date", "delivery date",
                                                         "ship date", "shipped date")),
                Column("delivered_qty", NUMBER, synonyms=("delivered qty", "delivered_qty", "shipped qty",
                                                          "delivered quantity"), minimum=0),
            ),
            intake_columns=(_UNIT,),
            needed_by=("Executive S&OP",),
        ),
    )
}

TABLE_ORDER: tuple[str, ...] = tuple(TABLES)

# What the sales history measures (workspace setting BASIS_SETTING, written with each sales load):
# UNITS, or MONEY for a history of sales values only — then `revenue` holds the amounts and
# `quantity` the same amounts, so the forecast runs unchanged on the demand measure.
BASIS_SETTING = "demand_basis"
UNITS, MONEY = "units", "money"
BASES: tuple[str, ...] = (UNITS, MONEY)


def normalise_header(name: str) -> str:
    """Header as compared with synonyms: trimmed, lower case, separators as single spaces."""
    text = str(name).replace("\ufeff", "").strip().lower()
    for ch in "_-./":
        text = text.replace(ch, " ")
    return " ".join(text.split())


def create_table_sql(table: Table, name: str | None = None) -> str:
    """CREATE TABLE statement for a table of the contract (all names quoted)."""
    cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
    return f'CREATE TABLE "{name or table.name}" ({cols})'
