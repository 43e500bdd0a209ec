"""The executive pack's charts: plotly figures (`figures`) exported to PNG through kaleido and Chromium.

One kaleido browser session per pack (`export_pngs`, in a worker thread); `render_charts` never
raises: a failure is reported in `ChartImages.error` and the PDF shows a note in place of each chart.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sop_core import config
from sop_core.meetings.pack.content import PackContent

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

CHART_TIMEOUT = 90.0  # seconds for the whole chart export
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


# -- charts -------------------------------------------------------------------------------------------
@dataclass
class ChartImages:
    """PNG bytes per chart name, and why the export failed (None when every chart was made)."""

    images: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None


# chart name -> size on the page in mm (width, height)
CHART_SIZES: dict[str, tuple[float, float]] = {
    "bridge": (150.0, 88.0), "outlook": (125.0, 88.0), "family_plan": (277.0, 80.0),
}
PX_PER_MM = 4.3


def figures(content: PackContent) -> dict[str, tuple[go.Figure, float, float]]:
    """The pack's plotly figures with their size on the page in mm: name -> (figure, width, height).

    Built with the app's figure builders (sop_core/meetings/charts.py), so the pack looks like the app.
    """
    from sop_core.meetings import charts  # plain plotly (no Streamlit): imported only when charts are made

    out: dict[str, tuple[go.Figure, float, float]] = {}
    font = dict(size=13)
    if len(content.bridge):
        w, h = CHART_SIZES["bridge"]
        fig = charts.bridge_chart(content.bridge)
        # plotly's 'total' bar is the running sum so far, which is 0 for the opening 'Annual plan' bar:
        # totals are drawn as 'absolute' (their own value), which is also right for the closing outlook
        fig.update_traces(measure=["absolute" if k == "total" else "relative" for k in content.bridge["kind"]])
        fig.update_layout(font=font, title=dict(text=f"From the annual plan to the outlook, {content.year}",
                                                x=0.01, font=dict(size=15)), margin=dict(t=80))
        out["bridge"] = (fig, w, h)
    mo = content.monthly_outlook
    if len(mo):
        w, h = CHART_SIZES["outlook"]
        fig = charts.outlook_chart(mo)
        fig.update_layout(font=font, title=dict(text=f"Revenue by month, {content.year}", x=0.01,
                                                font=dict(size=15)), margin=dict(t=80))
        out["outlook"] = (fig, w, h)
    fp = content.family_plan
    if len(fp):
        measure = "revenue" if content.in_money else "units"
        wide = fp.pivot_table(index="period", columns="family", values=measure, aggfunc="sum").fillna(0.0)
        fams = list(wide.columns)
        w, h = CHART_SIZES["family_plan"]
        fig = charts.bars(wide.reset_index(), "period", fams, names=[str(f) for f in fams], barmode="stack",
                          yaxis_title="Revenue" if content.in_money else "Units")
        fig.update_layout(font=font, bargap=0.2)
        out["family_plan"] = (fig, w, h)
    return out


def browser_path() -> str | None:
    """The browser kaleido will use: $BROWSER_PATH, else chromium / chrome on the PATH; None = kaleido searches."""
    env = config.browser_path()
    if env:
        return env
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "…"


def export_pngs(figs: Mapping[str, tuple[go.Figure, float, float]], timeout: float = CHART_TIMEOUT,
                scale: float = 2.0) -> ChartImages:
    """PNG of each figure (sized from its mm size), through one kaleido browser session in a worker thread.

    Never raises: on failure the images made so far and the reason in `error`.
    """
    if not figs:
        return ChartImages()
    try:
        import kaleido
    except ImportError as exc:  # pragma: no cover - kaleido is a requirement
        return ChartImages(error=f"kaleido is not installed ({exc}): pip install kaleido")
    images: dict[str, bytes] = {}
    failure: list[str] = []
    path = browser_path()

    async def render() -> None:
        kw: dict[str, Any] = {"n": 1, "timeout": timeout}
        if path:
            kw["path"] = path
        async with kaleido.Kaleido(**kw) as k:
            for name, (fig, w_mm, h_mm) in figs.items():
                opts = {"format": "png", "width": int(round(w_mm * PX_PER_MM)),
                        "height": int(round(h_mm * PX_PER_MM)), "scale": scale}
                # through JSON: kaleido str()s numpy object arrays (pandas str columns) instead of listing them
                images[name] = await k.calc_fig(json.loads(fig.to_json()), opts=opts)

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(render(), timeout))
        except asyncio.TimeoutError:
            failure.append(f"the chart export took longer than {timeout:g} s")
        except BaseException as exc:  # noqa: BLE001 - any failure of the browser becomes a note in the pack
            if type(exc).__name__ == "ChromeNotFoundError":
                failure.append(f"no Chrome/Chromium browser found{f' at {path}' if path else ''}: install Chromium "
                               "(e.g. apt-get install chromium) or set BROWSER_PATH to its binary")
            else:
                failure.append(_first_line(exc))

    worker = threading.Thread(target=run, name="pack-charts", daemon=True)
    worker.start()
    worker.join(timeout + 30.0)
    if worker.is_alive():
        failure.append(f"the chart export did not finish in {timeout + 30.0:g} s")
    error = None
    if failure or len(images) < len(figs):
        error = failure[0] if failure else "some charts could not be exported"
    return ChartImages(images=dict(images), error=error)


def render_charts(content: PackContent, timeout: float = CHART_TIMEOUT) -> ChartImages:
    """The pack's charts as PNG (see `figures`); failures are reported in `ChartImages.error`, never raised."""
    try:
        figs = figures(content)
    except Exception as exc:  # noqa: BLE001 - a chart that cannot be built must not stop the pack
        return ChartImages(error=f"the charts could not be built: {_first_line(exc)}")
    return export_pngs(figs, timeout)
