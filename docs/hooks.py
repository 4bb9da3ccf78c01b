"""MkDocs hooks: the site's front page is the repository's README.md, its links into docs/ made
relative to the site (one text for both, never two copies); every picture gets a visible
caption, its alt text, under it."""

import re
from pathlib import Path

PICTURE = re.compile(r"^!\[(?P<alt>[^\]]+)\]\((?P<src>[^)\s]+)\)\s*$", re.MULTILINE)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "index.md":
        readme = Path(config.config_file_path).parent / "README.md"
        markdown = readme.read_text().replace("](docs/", "](")
    captioned = lambda m: f"{m.group(0).rstrip()}\n\n{m['alt']}\n{{: .caption }}\n\n"  # noqa: E731
    return PICTURE.sub(captioned, markdown)
