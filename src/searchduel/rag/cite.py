"""After generation: citations become links, bad citations are marked, images are removed.

The sources list always comes from what was packed (Context.sources), never from the
model's text; these functions only decorate the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..types import Source

# A run of citations: [3], [1, 2], [1-3], [1][2]. Not a markdown link's text ("[3](...)"),
# nor an image, a footnote definition or a link reference ("[3]: ...", "[x][3]").
_NUM = r"\s*\d{1,3}(?:\s*[-–]\s*\d{1,3})?\s*"
_GROUP = rf"\[{_NUM}(?:[,;]{_NUM})*\]"
_CITATION = re.compile(rf"(?<![\]!])((?:{_GROUP})+)(?![(:\[])")
MAX_RANGE = 20  # "[1-300]" is not a citation worth expanding
# ![alt](url "title"), ![alt][ref], and the HTML form; alt text is kept as plain text.
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\s*\)")
_MD_IMAGE_REF = re.compile(r"!\[([^\]]*)\]\[[^\]]*\]")
_HTML_IMAGE = re.compile(r"<\s*(?:img|image|picture|source|svg)\b[^>]*>", re.IGNORECASE)
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)


def _numbers(run: str) -> list[int]:
    """The numbers a citation run names, ranges expanded: "[1-3][5]" -> [1, 2, 3, 5]."""
    out: list[int] = []
    for lo, hi in re.findall(r"(\d+)(?:\s*[-–]\s*(\d+))?", run):
        a = int(lo)
        b = int(hi) if hi else a
        out.extend(range(a, b + 1) if a <= b <= a + MAX_RANGE else [a] if not hi else [a, b])
    return out


def cited_numbers(text: str) -> list[int]:
    """The distinct citation numbers in `text`, in order of use ("[1-3][5]" -> 1, 2, 3, 5)."""
    out: list[int] = []
    for m in _CITATION.finditer(_CODE.sub("", text)):
        out.extend(n for n in _numbers(m.group(1)) if n not in out)
    return out


def invalid_citations(answer: str, n_sources: int) -> list[int]:
    """The distinct citation numbers in `answer` that point at no source, in order of use."""
    bad: list[int] = []
    for m in _CITATION.finditer(_CODE.sub("", answer)):
        for n in _numbers(m.group(1)):
            if not 1 <= n <= n_sources and n not in bad:
                bad.append(n)
    return bad


def split_citations(text: str) -> list[str | list[int]]:
    """`text` cut at its citation runs: the text between them (strings, "" included) and,
    for each run, the numbers it names ("a [1-2] b" -> ["a ", [1, 2], " b"])."""
    out: list[str | list[int]] = []
    pos = 0
    for m in _CITATION.finditer(text):
        out += [text[pos : m.start()], _numbers(m.group(1))]
        pos = m.end()
    out.append(text[pos:])
    return out


def render_citations(answer: str, sources: Sequence[Source]) -> str:
    """Markdown with each [n] linked to its source and each unknown [n] shown as [n?].

    Code spans are left alone; images are stripped first (see `strip_images`).
    """
    by_n = {s.n: s for s in sources}

    def link(m: re.Match[str]) -> str:
        out = []
        for n in _numbers(m.group(1)):
            src = by_n.get(n)
            if src is None:
                out.append(f"[{n}?]")
            else:
                url = src.url.replace(")", "%29").replace(" ", "%20")
                title = src.title.replace('"', "'")
                out.append(f'[[{n}]]({url} "{title}")')
        return "".join(out)

    return _outside_code(strip_images(answer), lambda part: _CITATION.sub(link, part))


def strip_images(text: str) -> str:
    """Remove markdown and HTML images: rendering one would fetch a URL the model wrote,
    which can carry the prompt's contents to a third party."""

    def strip(part: str) -> str:
        part = _MD_IMAGE.sub(lambda m: m.group(1), part)
        part = _MD_IMAGE_REF.sub(lambda m: m.group(1), part)
        return _HTML_IMAGE.sub("", part)

    return _outside_code(text, strip)


def _outside_code(text: str, fn) -> str:  # type: ignore[no-untyped-def]
    """Apply fn to the parts of text that are not code spans or fenced code."""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):
        out.append(fn(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(text[pos:]))
    return "".join(out)
