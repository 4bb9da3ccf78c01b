"""MkDocs hooks: the site's front page is the repository's README.md, its links into docs/ made
relative to the site (one text for both, never two copies); every figure a run printed is read
from its stored files (`{{ test_acc cnn }}`, tools/figure_text.py); every picture gets a visible
caption, its alt text, under it."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from figure_text import render  # noqa: E402 (tools/ is not a package)

PICTURE = re.compile(r"^!\[(?P<alt>[^\]]+)\]\((?P<src>[^)\s]+)\)\s*$", re.MULTILINE)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "index.md":
        readme = Path(config.config_file_path).parent / "README.md"
        markdown = readme.read_text().replace("](docs/", "](")
    markdown = render(markdown, page.file.src_uri)
    captioned = lambda m: f"{m.group(0).rstrip()}\n\n{m['alt']}\n{{: .caption }}\n\n"  # noqa: E731
    return PICTURE.sub(captioned, markdown)
