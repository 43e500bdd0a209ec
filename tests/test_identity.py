"""Roles go by a verified identity: a verified e-mail address or the provider's subject, never a display name."""
from __future__ import annotations

import pytest

from sop_core import escape
from sop_core.store import identity


@pytest.mark.parametrize("claims, expected", [
    ({"email": "Ada@Example.com", "email_verified": True}, "ada@example.com"),
    ({"email": "ada@example.com", "email_verified": "true"}, "ada@example.com"),  # some providers send text
])
def test_a_verified_email_is_the_identity(claims, expected):
    assert identity.identity(claims) == (expected, None)


@pytest.mark.parametrize("claims, why", [
    ({"email": "ada@example.com", "email_verified": False}, "has not confirmed"),
    ({"email": "ada@example.com", "email_verified": "false"}, "has not confirmed"),
    ({"email": "ada@example.com"}, "has not confirmed"),
    ({"name": "ada@example.com", "email_verified": True}, "no e-mail address"),
    ({"email": "  ", "email_verified": True}, "no e-mail address"),
])
def test_no_identity_without_a_verified_email(claims, why):
    who, reason = identity.identity(claims)
    assert who is None and why in reason


def test_the_subject_mode_and_a_bad_mode():
    assert identity.identity({"sub": "abc", "email": "x@y.z"}, "sub") == ("abc", None)
    assert identity.identity({"email": "x@y.z", "email_verified": True}, "sub")[0] is None
    with pytest.raises(ValueError, match="not one of email, sub"):
        identity.identity({}, "name")


@pytest.mark.parametrize("hostile", ["![t](http://host/x.png)", "[text](https://evil.example)", ":red[alarm]",
                                     "$x^2$", "**bold** _it_ `code` # head", "line\nbreak <b>x</b>"])
def test_markdown_escaping_leaves_no_markup(hostile):
    out = escape.plain(hostile)
    assert "\n" not in out
    for ch in "![]()*_`#$:<>":  # every markup character arrives escaped
        assert all(out[i - 1] == "\\" for i, c in enumerate(out) if c == ch), out
    assert out.replace("\\", "").replace(escape.WORD_JOINER, "") == " ".join(hostile.split())  # the same text


def test_markdown_escaping_of_nothing():
    assert escape.plain(None) == "" and escape.plain(12.5) == "12\\.5"
    assert escape.plain("vic@example.com") == "vic@\u2060example\\.com"  # no mailto link either
