"""The HTML report in a real browser: headless Chromium renders the report of a lab run, healthy and with a
firewalled AMQP port, and the test reads the DOM Chromium built (and the colours it painted), not the
HTML string.

Set PREFLIGHT_SCREENSHOTS=docs/screenshots to keep the two screenshots the README shows.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.browser import dump_dom, png_colours, screenshot
from tests.conftest import Lab, run_preflight
from tests.unit.preflight.render.test_html import Page

pytestmark = pytest.mark.lab

FILTERED = (0xFF, 0xAB, 0x91)  # .st-filtered in the template


def render_lab(lab: Lab, out: Path, name: str) -> tuple[Page, Counter[tuple[int, int, int]]]:
    page = out / f"{name}.html"
    result = run_preflight("check", "-i", str(lab.inventory), "--format", "text", "--report", f"html:{page}")
    assert result.returncode in (0, 1), result.stderr
    png = out / f"report-{name}.png"
    screenshot(page, png)
    keep = os.environ.get("PREFLIGHT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, Path(keep) / png.name)
    return Page(dump_dom(page)), png_colours(png)


def states(page: Page) -> dict[tuple[str, str], str]:
    return {(a["data-node"], a["data-role"]): a["data-state"] for a in page.find("td") if "data-state" in a}


def card_text(dom: str, node: str) -> str:
    start = dom.index(f'data-node="{node}" data-worst=')
    return Page(dom[start:dom.index("</section>", start)]).text


def test_chromium_shows_the_dropped_amqp_port_as_filtered_and_the_node_card_shows_the_error(
        lab: Lab, tmp_path: Path) -> None:
    healthy, healthy_colours = render_lab(lab, tmp_path, "healthy")
    with lab.fault("drop-port", "rabbit2", "5672"):
        faulty, faulty_colours = render_lab(lab, tmp_path, "faulty")
        faulty_dom = dump_dom(tmp_path / "faulty.html")

    assert set(states(healthy).values()) == {"open"} and len(states(healthy)) == 12
    assert healthy.find("html")[0]["data-script"] == "ran"  # the page's one script ran under its own CSP

    cells = states(faulty)
    assert cells[("rabbit@rabbit2", "amqp")] == "filtered"
    assert {k: v for k, v in cells.items() if v != "open"} == {("rabbit@rabbit2", "amqp"): "filtered"}
    [cell] = faulty.find("td", data_node="rabbit@rabbit2", data_role="amqp")
    assert "st-filtered" in cell["class"] and "port 5672" in cell["title"]
    assert faulty.find("header")[0]["data-verdict"] == "fail"
    cards = [a for a in faulty.find("section", data_node="rabbit@rabbit2") if "card" in a["class"]]
    assert [a["data-worst"] for a in cards] == ["error"]
    text = card_text(faulty_dom, "rabbit@rabbit2")
    assert "PORT002" in text and "amqp port 5672: filtered from" in text
    assert "PORT002" not in card_text(faulty_dom, "rabbit@rabbit1")

    # Painted, not only in the markup: the legend's swatch in both, the filtered cell only in the faulty run.
    assert healthy_colours[FILTERED] > 0
    assert faulty_colours[FILTERED] > healthy_colours[FILTERED] + 300
