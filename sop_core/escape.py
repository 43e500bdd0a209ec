"""User data shown as text inside Markdown: the one escaping helper of the app.

Skus, regions, scenario names, file names and user names are data. In `st.markdown`, captions,
headings, alerts or labels a name like `![x](http://host/x.png)`, `[text](https://…)`, `:red[…]`
or `$x$` would become an image fetched from outside, a live link, coloured text or a formula.
`plain(text)` shows it exactly as typed, on one line: backslash escapes stop emphasis, links,
images, HTML, directives and maths; GitHub-style bare links (http://…, www.…, a@b) ignore escapes,
so an invisible word joiner keeps them plain text.
"""
from __future__ import annotations

import re
from typing import Any

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:=&])")
_AUTOLINK = re.compile(r"(?i)\\:(?=//)|www(?=\\\.)|@")
WORD_JOINER = "\u2060"


def plain(text: Any) -> str:
    """`text` escaped for Markdown (st.markdown, st.info, labels): shown exactly as typed, on one line ('' for None)."""
    if text is None:
        return ""
    text = _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))
    return _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, text)
