"""convzoo site: every page valid HTML with nothing external, the index's rows and controls, tested in
headless Chromium where it is installed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import html5lib
import pytest

from helpers import run_cli as run

from convzoo.analysis.model_cards import stored_cards
from convzoo.registry import list_models

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from convzoo.cli import main

    out = tmp_path_factory.mktemp("site")
    assert main(["site", "--out", str(out)]) == 0
    return out


def test_the_command_says_where_the_site_is(capsys, tmp_path):
    code, out, _ = run(capsys, "site", "--out", str(tmp_path / "site"), "--docs", str(tmp_path / "none"))
    assert code == 0 and f"open {tmp_path / 'site' / 'index.html'}" in out
    assert "No figures" in (tmp_path / "site" / "figures.html").read_text()


def test_every_page_is_valid_html_with_nothing_external(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > len(list_models())
    parser = html5lib.HTMLParser(strict=True)
    for path in pages:
        text = path.read_text(encoding="utf-8")
        parser.parse(text)  # raises on any parse error
        assert not re.search(r'<(script|link|img|iframe)[^>]*(src|href)="(https?:)?//', text), path
        for target in re.findall(r'(?:href|src)="([^"#:]+)"', text):  # every relative link resolves
            assert (path.parent / target).resolve().exists(), (path, target)


def test_the_index_has_a_row_per_model_with_its_numbers(site):
    text = (site / "index.html").read_text()
    rows = re.findall(r'<tr data-name="([^"]+)" data-family="([^"]+)"[^>]* data-macs="(\d+)"', text)
    cards = stored_cards()
    assert [name for name, _, _ in rows] == list_models()
    assert all(cards[name]["family"] == family and cards[name]["profile"]["macs"] == int(macs)
               for name, family, macs in rows)


def test_a_model_page_shows_its_card(site):
    text = (site / "models" / "resnet50.html").read_text()
    assert "25,557,032" in text and "https://arxiv.org/abs/1512.03385" in text
    assert "427 (stride 32, offset 0) at layer4" in text and "layer4</td><td>1x2048x7x7" in text


def test_operator_and_attention_pages(site):
    assert "DepthwiseSeparableConv2d" in (site / "operators.html").read_text()
    cbam = (site / "attention" / "cbam.html").read_text()
    assert "Woo" in cbam and "resnet50, attn_layer=&#x27;cbam&#x27;" in cbam


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="headless Chromium not installed: apt install chromium chromium-driver")
def test_sorting_and_filtering_in_a_real_browser(site, tmp_path):
    pytest.importorskip("selenium", reason="pip install selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get((site / "index.html").as_uri())

        def shown(attribute: str) -> list[str]:
            return [row.get_attribute(attribute) for row in driver.find_elements(By.CSS_SELECTOR, "#models tbody tr")
                    if row.is_displayed()]

        cards = stored_cards()
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="macs"] button').click()
        ascending = [int(value) for value in shown("data-macs")]
        assert ascending == sorted(card["profile"]["macs"] for card in cards.values())
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="macs"] button').click()
        assert [int(value) for value in shown("data-macs")] == ascending[::-1]
        assert driver.find_element(By.CSS_SELECTOR, 'th[data-key="macs"]').get_attribute("aria-sort") == "descending"

        Select(driver.find_element(By.ID, "family")).select_by_value("resnet")
        resnets = [name for name, card in cards.items() if card["family"] == "resnet"]
        assert sorted(shown("data-name")) == sorted(resnets)
        assert driver.find_element(By.ID, "count").text == f"{len(resnets)} of {len(cards)} models"
        driver.find_element(By.ID, "filter").send_keys("resnet5")
        assert sorted(shown("data-name")) == sorted(name for name in resnets if "resnet5" in name)
        assert driver.save_screenshot(str(tmp_path / "index.png"))
        assert (tmp_path / "index.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        driver.quit()
