"""The lab report as one self-contained HTML page (pictures inside it, the lab's own charts as
SVG drawings; nothing fetched) and, where Chromium is installed, as a PDF printed from that
page."""

from __future__ import annotations

import base64
import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import markdown

from mnistlab.reports.mathml import MathExtension

# Debian's `chromium` command is a shell wrapper that misbehaves when scripted: the binary first.
CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
)
PDF_TIMEOUT_S = 180

STYLE = """
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; line-height: 1.45; color: #1b1b1b; font-size: 15px; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 12px; display: block;
        max-width: 100%; overflow-x: auto; }  /* too wide: it scrolls, nothing is cut */
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }
td a, td code { overflow-wrap: anywhere; }  /* long run names and overrides wrap, numbers never */
th { background: #f1f1f1; }
img { max-width: 100%; height: auto; }
td img { max-width: min(540px, 44vw); }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 13px; }
code { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 90%; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; margin: 0; font-size: 11px; }
  h2 { break-before: page; }
  img, tr, pre { break-inside: avoid; }
  td img { max-width: 330px; }
}
"""

_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")')


def _embedded(folder: Path):
    """A picture's bytes inside the page: its SVG drawing where one is beside the PNG."""

    def replace(match: re.Match[str]) -> str:
        path = folder / html.unescape(match.group(2))
        if not path.is_file():  # left as a link: the page shows it as missing
            return match.group(0)
        drawing = path.with_suffix(".svg")
        path, kind = (drawing, "svg+xml") if drawing.is_file() else (path, "png")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:image/{kind};base64,{data}{match.group(3)}"

    return replace


def write_html(markdown_path: Path, title: str) -> Path:
    """lab_report.html next to the Markdown, every picture inside it as a data: URL."""
    extensions = ["tables", "fenced_code", MathExtension()]  # equations as MathML: no script
    body = markdown.markdown(markdown_path.read_text(), extensions=extensions)
    body = _IMG_SRC.sub(_embedded(markdown_path.parent), body)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
    path = markdown_path.with_suffix(".html")
    path.write_text(page)
    return path


def find_chromium(configured: str | None = None) -> Path | None:
    """The Chromium (or Chrome) binary to print with: `configured`, else the first installed."""
    for candidate in (configured,) if configured else CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    return None


def print_pdf(page: Path, chromium: Path) -> tuple[Path | None, str]:
    """Print `page` to a PDF beside it with headless Chromium; return it, or None and why not."""
    pdf = page.with_suffix(".pdf")
    with tempfile.TemporaryDirectory(prefix="mnistlab-chromium-") as profile:
        command = [
            str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", page.resolve().as_uri(),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PDF_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"{chromium} could not print it ({type(e).__name__}: {e})"
    if done.returncode != 0 or not pdf.is_file():
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"{chromium} exited with code {done.returncode} ({last})"
    return pdf, ""
