"""The web UI's plain functions: redirects, token checks, number formats, colour contrast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from signoff.web import format as fmt
from signoff.web import security

CSS = Path(__file__).resolve().parents[2] / "src" / "signoff" / "web" / "static" / "site.css"


@pytest.mark.parametrize("target", ["/review", "/audit?case=12", "/", "/lead#queues"])
def test_same_site_paths_are_kept_as_next(target: str) -> None:
    assert security.safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "review",
        "/x\r\nSet-Cookie: a=b",
        "/" + "a" * 3000,
    ],
)
def test_other_sites_and_odd_paths_are_refused_as_next(target: str | None) -> None:
    assert security.safe_next(target) is None


def test_tokens_match_only_when_both_are_present_and_equal() -> None:
    assert security.tokens_match("abc", "abc")
    assert not security.tokens_match("abc", "abd")
    assert not security.tokens_match("abc", None)
    assert not security.tokens_match(None, None)
    assert not security.tokens_match("", "")


def test_the_host_prefix_only_when_secure() -> None:
    assert security.cookie_name("signoff-session", secure=True) == "__Host-signoff-session"
    assert security.cookie_name("signoff-session", secure=False) == "signoff-session"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (52341.27, "52,341.27"),
        (1234567, "1,234,567"),
        (3.0, "3"),
        (0.123456, "0.1235"),
        (12.3456, "12.35"),
        (0.000123, "0.000123"),
        (True, "yes"),
        (None, "—"),
        ("<b>", "<b>"),  # escaping is the template's job
        (float("nan"), "nan"),
    ],
)
def test_values_are_formatted_for_reading(raw: object, text: str) -> None:
    assert fmt.value(raw) == text


def test_percent_and_points() -> None:
    assert fmt.percent(0.8314) == "83.1%"
    assert fmt.signed_points(-0.0412) == "-4.1 pts"
    assert fmt.duration(45) == "45 s" and fmt.duration(600) == "10 min" and fmt.duration(7200) == "2.0 h"


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_function_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


# Every pair of colours the stylesheet uses for text on a background.
TEXT_PAIRS = [
    ("text", "bg"),
    ("text", "surface"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("accent", "bg"),
    ("accent-text", "accent"),
    ("topbar-text", "topbar"),
    ("danger", "danger-bg"),
    ("danger", "bg"),
    ("ok", "bg"),
    ("ok", "ok-bg"),
    ("notice-text", "bg"),
    ("notice-text", "notice-bg"),
    ("text", "accent-soft"),
]


@pytest.mark.parametrize(("fore", "back"), TEXT_PAIRS)
def test_text_colours_have_a_contrast_of_at_least_4_5(fore: str, back: str) -> None:
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6});", CSS.read_text(encoding="utf-8")))
    assert contrast(colours[fore], colours[back]) >= 4.5, (fore, back)


def test_an_image_is_drawn_white_to_black_and_missing_pixels_are_marked() -> None:
    from helpers.builders import flow_document, make_flow
    from signoff.web.workspace import IMAGE_SIDE, image_view

    fields = {f"p{i}": {"type": "number", "required": False} for i in range(6)}
    document = flow_document(fields={**flow_document()["fields"], **fields})
    document["images"] = {"digit": {"prefix": "p", "width": 3, "height": 2, "low": 0, "high": 16}}
    flow = make_flow(**document)
    view = image_view("digit", flow.images["digit"], flow, {"p0": 0, "p1": 16, "p2": 8, "p3": 40, "p4": None})
    assert [c["fill"] for c in view["cells"]] == [
        "rgb(255,255,255)",
        "rgb(0,0,0)",
        "rgb(128,128,128)",
        "rgb(0,0,0)",  # above 'high' is clipped to black
        None,  # missing: hatched, never white
        None,
    ]
    assert view["missing"] == 2
    assert (view["width"], view["height"]) == (IMAGE_SIDE, IMAGE_SIDE * 2 / 3)
    assert [(c["x"], c["y"]) for c in view["cells"]][3:] == [(0, 64), (64, 64), (128, 64)]


def test_label_keys_are_positions_unless_the_labels_are_digits() -> None:
    from signoff.web.workspace import label_keys

    assert label_keys(["approve", "decline"]) == ["1", "2"]
    assert label_keys([str(d) for d in range(10)]) == [str(d) for d in range(10)]  # "0" is chosen by 0
    assert label_keys([f"l{i}" for i in range(11)])[8:] == ["9", "", ""]  # only nine keys by position
    assert label_keys(["1", "2", "x"]) == ["1", "2", "3"]  # not all digits: by position
