import math

from sop_core import formatting as f


def test_money_compact_and_full():
    assert f.money(1_234_567) == "$1.23M"
    assert f.money(12_345_678) == "$12.3M"
    assert f.money(845_200) == "$845K"
    assert f.money(84_520) == "$84.5K"
    assert f.money(-999_960) == "−$1.00M"  # never "−$1,000K"
    assert f.money(950) == "$950"
    assert f.money(-1_200_000) == "−$1.20M"
    assert f.money(1_234_567, compact=False) == "$1,234,567"
    assert f.money(float("nan")) == "—" and f.money(None) == "—"


def test_units_pct_and_deltas():
    assert f.units(12345.4) == "12,345"
    assert f.units(123456, compact=True) == "123.5K"
    assert f.pct(0.1234) == "12.3%"
    assert f.pct(-0.05) == "−5.0%"
    assert f.pct(0.05, signed=True) == "+5.0%"
    assert f.pct(math.inf) == "—"
    assert f.delta_money(2500) == "+$2.50K"
    assert f.delta_units(-40) == "−40"


def test_a_percentage_that_rounds_to_zero_has_no_sign():
    assert f.pct(-0.0001) == "0.0%"
    assert f.pct(0.0004, signed=True) == "0.0%"
    assert f.pct(-0.0006) == "−0.1%"


def test_delta_money_whole_is_signed_whole_dollars():
    assert f.delta_money_whole(1_234_567.4) == "+$1,234,567"
    assert f.delta_money_whole(-300.2) == "−$300"
    assert f.delta_money_whole(0.4) == "$0" and f.delta_money_whole(-0.4) == "$0"
    assert f.delta_money_whole(None) == "—" and f.delta_money_whole(float("nan")) == "—"


def test_differences_of_percentages_are_points() -> None:
    assert f.pts(0.043) == "+4.3 pts"
    assert f.pts(-0.0214) == "−2.1 pts"
    assert f.pts(0.00004) == "0.0 pts" and f.pts(None) == "—"


def test_plural_agrees_with_the_count() -> None:
    assert f.plural(1, "month") == "1 month" and f.plural(3, "month") == "3 months"
    assert f.plural(1204, "series", "series") == "1,204 series"
    assert f.plural(0, "decision") == "0 decisions"
    assert f.plural(float("nan"), "sku") == "— skus"
