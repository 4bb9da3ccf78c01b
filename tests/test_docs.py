"""The documentation site: README.md is its front page, it builds strictly (a broken link or a page
missing from the navigation fails), and it renders in Chromium with nothing fetched from
elsewhere, equations included."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import ROOT
from mnistlab.lab.document import find_chromium

pytest.importorskip("mkdocs", reason="the docs extra is not installed (make setup installs it)")
MKDOCS = [sys.executable, "-m", "mkdocs"]
QUIET = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MKDOCS, "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent, capture_output=True, text=True, timeout=300, env=QUIET,
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return site


def nav_pages() -> list[str]:
    """Every page the navigation lists, in order."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    found = []

    def walk(entries):
        for entry in entries:
            for value in entry.values():
                walk(value) if isinstance(value, list) else found.append(value)

    walk(config["nav"])
    return found


def test_the_readme_is_a_short_front_page_whose_links_all_lead_somewhere(site):
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    linked = set(re.findall(r"\]\(docs/([\w.-]+)\)", readme))
    assert linked and all((ROOT / "docs" / name).is_file() for name in linked)
    pages = nav_pages()
    assert sorted(p.name for p in (ROOT / "docs").glob("*.md")) == sorted(pages)
    assert {name for name in linked if name.endswith(".md")} <= set(pages)
    front = (site / "index.html").read_text()
    assert "mnistlab: train, compare and explain small image classifiers" in front
    assert 'href="sweeps.html"' in front  # README's links into docs/ are the site's


def test_a_broken_link_a_page_left_out_or_a_figure_not_stored_fails_the_build(tmp_path):
    for name in ("docs", "tools", "README.md", "mkdocs.yml"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    sweeps = tmp_path / "docs" / "sweeps.md"
    sweeps.write_text(sweeps.read_text() + "\nSee [the missing page](missing.md).\n")
    broken = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert broken.returncode != 0 and "missing.md" in broken.stderr

    sweeps.write_text(sweeps.read_text().replace("[the missing page](missing.md)", "nothing"))
    (tmp_path / "docs" / "orphan.md").write_text("# A page no one can reach\n")
    orphan = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert orphan.returncode != 0 and "orphan.md" in orphan.stderr

    (tmp_path / "docs" / "orphan.md").unlink()
    sweeps.write_text(sweeps.read_text() + "\nThe CNN reached {{ test_acc cnn_no_such_run }}.\n")
    unstored = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert unstored.returncode != 0
    assert (
        "sweeps.md: '{{ test_acc cnn_no_such_run }}': 'cnn_no_such_run' is not stored"
        in unstored.stderr
    )


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1, as `make docs` serves it: its URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_the_site_renders_offline_with_navigation_search_and_equations(site, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("No Chromium here (`make setup` installs Debian's chromium when run as root).")
    from playwright.sync_api import sync_playwright

    elsewhere: list[str] = []
    with serving(site) as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox"]
            )
            tab = browser.new_page(viewport={"width": 1300, "height": 900})
            tab.on("request", lambda r: None if r.url.startswith(url) else elsewhere.append(r.url))
            tab.goto(f"{url}/index.html", wait_until="networkidle")
            titles = tab.eval_on_selector_all(
                "nav.md-nav--primary a.md-nav__link[href]", "links => links.map(a => a.href)"
            )
            assert len({t.split("#")[0] for t in titles}) >= len(nav_pages())

            tab.locator(".md-search__input").click()  # the search opens ...
            tab.keyboard.type("McNemar")  # ... and finds pages by their words
            results = tab.locator("a.md-search-result__link")
            results.first.wait_for(timeout=30_000)
            hrefs = results.evaluate_all("links => links.map(a => a.href)")
            assert any("statistics.html" in h for h in hrefs), hrefs

            tab.goto(f"{url}/question-1.html", wait_until="networkidle")
            heights = tab.eval_on_selector_all(
                "math",
                "maths => maths.map(m => [getComputedStyle(m).display, m.getBoundingClientRect().height])",
            )
            # Laid out as mathematics by the browser's MathML engine (its display type is math).
            assert len(heights) >= 10 and all("math" in d and h > 0 for d, h in heights), heights
            tab.screenshot(path=tmp_path / "question-1.png", full_page=True)
            browser.close()
    assert elsewhere == []


SHOWN = ("index.md", "results.md", "statistics.md", "question-1.md")
# What overflows its box on a page: an element past the text's right edge that no scroll area
# with a visible bar holds, a scroll area without a visible bar, content cut off.
OVERFLOW_JS = """() => {
  const article = document.querySelector("article");
  const edge = document.querySelector(".md-content").getBoundingClientRect().right;
  const name = el => el.tagName.toLowerCase()
    + (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\\s+/).join(".") : "")
    + " '" + (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 50) + "'";
  const scrolls = el => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const bar = el => el.offsetHeight - el.clientHeight > 0 && getComputedStyle(el).scrollbarWidth !== "none";
  const holder = el => {
    for (let a = el.parentElement; a && a !== article; a = a.parentElement) if (scrolls(a)) return a;
    return null;
  };
  const found = [];
  for (const el of article.querySelectorAll("*")) {
    const style = getComputedStyle(el), box = el.getBoundingClientRect();
    const blank = !el.textContent.trim() && !el.querySelector("img, svg, math");
    if (style.display === "none" || style.visibility === "hidden" || box.width === 0 || blank) continue;
    const wide = el.scrollWidth > el.clientWidth + 1;
    const inside = holder(el);
    if (box.right > edge + 1 && !(inside && bar(inside))) found.push("past the page's edge: " + name(el));
    else if (wide && scrolls(el) && !bar(el)) found.push("scrolls without a visible bar: " + name(el));
    else if (wide && ["hidden", "clip"].includes(style.overflowX)) found.push("cut off: " + name(el));
  }
  return found;
}"""


def test_no_page_hides_anything_at_a_desktops_or_a_phones_width(site, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("No Chromium here (`make setup` installs Debian's chromium when run as root).")
    from playwright.sync_api import sync_playwright

    hidden, uncaptioned = [], []
    with serving(site) as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(  # scrollbars shown, as a reader sees them
                executable_path=str(chromium), args=["--no-sandbox"],
                ignore_default_args=["--hide-scrollbars"],
            )  # fmt: skip
            for width in (1280, 390):
                tab = browser.new_page(viewport={"width": width, "height": 900})
                for page in nav_pages():
                    tab.goto(f"{url}/{page.removesuffix('.md')}.html", wait_until="load")
                    hidden += [f"{page} at {width} px: {p}" for p in tab.evaluate(OVERFLOW_JS)]
                    captions = tab.eval_on_selector_all(
                        "article img",
                        "imgs => imgs.map(i => [i.alt, i.parentElement.nextElementSibling?.matches('p.caption') && i.parentElement.nextElementSibling.offsetHeight > 0])",
                    )
                    uncaptioned += [f"{page}: {alt}" for alt, shown in captions if not shown]
                    if page in SHOWN:  # the pages a newcomer opens first, as they see them
                        tab.screenshot(path=tmp_path / f"{page[:-3]}-{width}.png", full_page=True)
                tab.close()
            browser.close()
    assert hidden == [], "\n".join(hidden[:40])
    assert uncaptioned == []
    for page in SHOWN:
        for width in (1280, 390):
            with Image.open(tmp_path / f"{page[:-3]}-{width}.png") as shot:
                # The page's width, less the window's scroll bar; all of its length.
                wide, long = shot.size
                assert width - 20 <= wide <= width and long >= 900, (page, shot.size)
