"""Equations in Markdown as MathML: `$$...$$` a displayed equation, `$...$` one in the text.

A Python-Markdown extension, used by the lab report's HTML (and so its PDF) and by the
documentation site (mkdocs.yml): MathML needs no script and no network, and Chromium renders it.
LaTeX is converted by latex2mathml; code spans and blocks are left alone.
"""

from __future__ import annotations

from latex2mathml.converter import convert
from markdown import Extension, Markdown
from markdown.inlinepatterns import InlineProcessor

DISPLAY = r"\$\$(.+?)\$\$"
# Not a price or a shell prompt: no space just inside the dollars, no digit or dollar around them.
INLINE = r"(?<![\\$\w])\$(?![\s$])([^$\n]+?)(?<![\s\\])\$(?![\w$])"


def mathml(latex: str, display: bool) -> str:
    """The equation as MathML; a displayed one in a box that scrolls where a page is too narrow."""
    if not display:
        return convert(latex.strip(), display="inline")
    return f'<div class="equation">{convert(latex.strip(), display="block")}</div>'


class _Math(InlineProcessor):
    def __init__(self, pattern: str, md: Markdown, display: bool) -> None:
        super().__init__(pattern, md)
        self.display = display

    def handleMatch(self, m, data) -> tuple[str, int, int]:  # noqa: N802 (Markdown's name)
        return self.md.htmlStash.store(mathml(m.group(1), self.display)), m.start(0), m.end(0)


class MathExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 (Markdown's name)
        # Below code spans (190), which are taken first: `$...$` inside code stays code.
        md.inlinePatterns.register(_Math(DISPLAY, md, display=True), "math_display", 186)
        md.inlinePatterns.register(_Math(INLINE, md, display=False), "math_inline", 185)


def makeExtension(**kwargs) -> MathExtension:  # noqa: N802 (Markdown loads extensions by it)
    return MathExtension(**kwargs)
