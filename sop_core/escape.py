"""User data shown as text inside Markdown: every Markdown, Streamlit-directive and KaTeX character escaped.

Skus, regions, scenario names, file names and user names are data: in `st.markdown`, captions,
headings or alerts a name like `![x](http://host/x.png)`, `[text](https://…)`, `:red[…]` or `$x$`
would become an image fetched from outside, a live link, coloured text or a formula. `markdown(text)`
backslash-escapes every ASCII punctuation character (CommonMark lets any of them be escaped) and
drops line breaks, so the text reads exactly as it was written.
"""
from __future__ import annotations

import re
from typing import Any

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def markdown(value: Any) -> str:
    """`value` as literal text inside Markdown (None → '')."""
    if value is None:
        return ""
    text = " ".join(str(value).splitlines())
    return _PUNCTUATION.sub(r"\\\1", text)
