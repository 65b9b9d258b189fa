"""The README and docs/ stay true to the tree: links resolve and `make` targets exist."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)", re.M)
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
_MAKE = re.compile(r"(?:^|(?<=[\s/(;&|]))make(?=[ \t]+\S)")
_COMMENT = re.compile(r"(?:^|(?<=\s))#.*$", re.M)  # a shell comment
_SHELL_STOP = {";", "&&", "||", "|", ">", ">>", "<", "&", "(", ")"}


def _split(text: str) -> tuple[str, list[str]]:
    """``text`` without code, and the code: fenced blocks and inline spans."""
    blocks = [m.group(0) for m in _FENCE.finditer(text)]
    prose = _FENCE.sub("", text)
    spans = [m.group(2).replace("\n", " ") for m in _CODE_SPAN.finditer(prose)]
    return _CODE_SPAN.sub("", prose), blocks + spans


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, spaces to '-', punctuation dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*~]|<[^>]+>", "", text)  # formatting; '_' stays, as in snake_case
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a Markdown page (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for match in _HEADING.finditer(_FENCE.sub("", text)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    """Targets of inline links, images and reference definitions outside code."""
    prose, _ = _split(text)
    found = [m.group(1).strip("<>") for m in _LINK.finditer(prose)]
    return found + _REF_DEF.findall(prose)


def broken_links(page: Path) -> list[str]:
    """One message per relative link of ``page`` whose file or heading is missing."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            continue  # http:, https:, mailto: ... are not checked offline
        path, _, anchor = unquote(target).partition("#")
        dest = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(REPO)}: link {target!r}"
        shown = os.path.relpath(dest, REPO)
        if not dest.exists():
            problems.append(f"{where}: {shown} does not exist")
        elif (
            anchor
            and dest.suffix == ".md"
            and anchor not in anchors(dest.read_text(encoding="utf-8"))
        ):
            problems.append(f"{where}: no heading #{anchor} in {shown}")
    return problems


def make_targets(makefile: Path) -> set[str]:
    """The rules of a Makefile: every ``name:`` at the start of a line."""
    rules = re.findall(
        r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:(?!=)", makefile.read_text(), re.M
    )
    return {name for rule in rules for name in rule.split()}


def named_targets(text: str) -> list[str]:
    """Targets named by ``make ...`` in the code of a page (spans and fenced blocks)."""
    _, code = _split(text)
    found = []
    for snippet in code:
        snippet = _COMMENT.sub("", snippet)
        for match in _MAKE.finditer(snippet):
            rest = snippet[match.end() :].replace("\\\n", " ").split("\n")[0]
            lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            try:
                words = list(lexer)
            except ValueError:  # an unclosed quote: take the plain words
                words = rest.split()
            for word in words:
                if word in _SHELL_STOP:
                    break
                if word.startswith("-") or "=" in word:
                    continue  # an option or a variable
                if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", word):
                    break  # prose, "..." or a placeholder such as <target>
                found.append(word)
    return found


def unknown_targets(page: Path, targets: set[str]) -> list[str]:
    """One message per ``make TARGET`` in ``page`` that the Makefile does not define."""
    named = named_targets(page.read_text(encoding="utf-8"))
    return [
        f"{page.relative_to(REPO)}: `make {name}` names no target of the Makefile"
        for name in dict.fromkeys(named)
        if name not in targets
    ]


def test_there_are_docs_to_check():
    assert (REPO / "README.md").exists()
    assert len(PAGES) > 1, "docs/ has no Markdown pages"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    problems = broken_links(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_make_target_exists(page):
    problems = unknown_targets(page, make_targets(REPO / "Makefile"))
    assert not problems, "\n".join(problems)


def test_readme_is_short_and_shows_the_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    _, code = _split(text)
    blocks = "\n".join(code)
    assert re.search(r"^make all\b", blocks, re.M), "README lost `make all`"
    assert re.search(r"^make test\b", blocks, re.M), "README lost `make test`"


# The checks themselves, on pages made for them.


def _page(tmp_path: Path, name: str, text: str) -> Path:
    page = tmp_path / name
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")
    return page


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    return tmp_path


def test_slug_follows_github():
    assert slug("Results on the sample") == "results-on-the-sample"
    assert slug("GPU: one NVIDIA H200") == "gpu-one-nvidia-h200"
    assert slug("Scaling out (`benchmarks/scaling.py`)") == "scaling-out-benchmarksscalingpy"
    assert slug("Intervals: walk-forward backtest") == "intervals-walk-forward-backtest"
    assert slug("run_id and `make_batch`") == "run_id-and-make_batch"


def test_anchors_skip_code_and_number_repeats():
    text = "# Top\n\n```ini\n# not a heading\n```\n\n## Notes\n\n## Notes\n"
    assert anchors(text) == {"top", "notes", "notes-1"}


def test_a_missing_file_is_reported(repo):
    _page(repo, "docs/there.md", "# There\n")
    page = _page(repo, "docs/a.md", "[ok](there.md) ![pic](img/none.png) [up](../../out.md)\n")
    assert broken_links(page) == [
        "docs/a.md: link 'img/none.png': docs/img/none.png does not exist",
        "docs/a.md: link '../../out.md': ../out.md does not exist",
    ]


def test_a_missing_heading_is_reported(repo):
    _page(repo, "docs/there.md", "# There\n\n## Known part\n")
    page = _page(
        repo,
        "README.md",
        "# Top\n[a](docs/there.md#known-part) [b](docs/there.md#gone) [c](#top) [d](#nope)\n",
    )
    assert broken_links(page) == [
        "README.md: link 'docs/there.md#gone': no heading #gone in docs/there.md",
        "README.md: link '#nope': no heading #nope in README.md",
    ]


def test_links_in_code_and_to_the_web_are_not_checked(repo):
    page = _page(
        repo,
        "README.md",
        "[web](https://example.com/x) `[c](gone.md)`\n\n```\n[d](gone.md)\n```\n",
    )
    assert broken_links(page) == []


def test_make_targets_are_read_from_the_rules(tmp_path):
    makefile = _page(
        tmp_path,
        "Makefile",
        "X ?= 1\nY := 2\n.PHONY: all\nall: $(STAMP) ## doc\n\techo\nclean-runs:\nbench lint: x\n",
    )
    assert make_targets(makefile) == {".PHONY", "all", "clean-runs", "bench", "lint"}


def test_named_targets_come_from_code_only():
    text = (
        "Run make nothing in prose. `make all TICKERS=A,B` and `make\nui`.\n\n"
        '```bash\nmake bench BENCH_ARGS="--amp --repeats 9"   # comment make fake\n'
        "cd x && make retrain >> log 2>&1\nExecStart=/usr/bin/make predict\nmake <target>\n"
        "make all ENGINE=ray ...\n```\n"
    )
    assert sorted(named_targets(text)) == ["all", "all", "bench", "predict", "retrain", "ui"]


def test_an_unknown_target_is_reported(repo):
    page = _page(repo, "docs/a.md", "`make all` then `make al`\n")
    assert unknown_targets(page, {"all"}) == [
        "docs/a.md: `make al` names no target of the Makefile"
    ]
