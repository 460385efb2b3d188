"""The documentation against the code: every make target, `pgha` verb, stack key and relative link that README.md,
CHANGELOG.md and docs/*.md name must exist, and every stack key the program accepts must be documented.

No Docker: it reads the pages and the Makefile, and imports the command's parser and the settings."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CHANGELOG = ROOT / "CHANGELOG.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
MAKEFILE = ROOT / "Makefile"

# Where make targets, verbs and keys are named, and where links are followed.
PAGES = [README, *sorted(DOCS.glob("*.md"))]
LINKING_PAGES = [*PAGES, CHANGELOG]

FENCED = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
MAKE = re.compile(r"\bmake[ \t]+([a-z][a-z0-9_-]*)")
PGHA = re.compile(r"(?<![\w./-])pgha[ \t]+([^\n]*)")
KEY = re.compile(r"(?<![\w.-])pgha:([A-Za-z][A-Za-z0-9]*)\b(?!:)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MAKEFILE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)[ \t]*:(?!=)", re.M)
VERB = re.compile(r"[a-z][a-z0-9-]*")
# The command's global options that take a value: the verb comes after them.
GLOBAL_OPTIONS_WITH_VALUE = ("--stack", "--target-file")
TABLE_ROW = re.compile(r"^\|(.*)\|[ \t]*$")


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def code(text: str) -> list[str]:
    """The page's code: every fenced block, then every inline code span of the prose around them."""
    blocks = [m.group(2) for m in FENCED.finditer(text)]
    prose = FENCED.sub("", text)
    return blocks + [m.group(1) for m in INLINE.finditer(prose)]


def without_code_blocks(text: str) -> str:
    return FENCED.sub("", text)


def makefile_targets() -> set[str]:
    text = MAKEFILE.read_text()
    targets = {t for t in MAKEFILE_TARGET.findall(text) if not t.startswith(".")}
    for line in text.splitlines():
        if line.startswith(".PHONY:"):
            targets.update(line.split(":", 1)[1].split())
    return targets


def verb_of(words: str) -> str | None:
    """The subcommand in `pgha [--stack NAME] VERB ...`, or None when the words name none (`pgha --help`,
    `pgha [--stack NAME] VERB`)."""
    tokens = words.split()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("--help", "-h"):
            return None
        if token in GLOBAL_OPTIONS_WITH_VALUE:
            i += 2
            continue
        if token.startswith("-"):
            i += 1
            continue
        return token if VERB.fullmatch(token) else None
    return None


def pgha_verbs() -> set[str]:
    from pgha import cli  # the refactored command: pgha.cli.parser() builds its argparse parser

    parser = cli.parser()
    return {
        verb for action in parser._actions if isinstance(action, argparse._SubParsersAction) for verb in action.choices
    }


def accepted_keys() -> tuple[str, ...]:
    from pgha.model.settings import KNOWN_KEYS

    return tuple(KNOWN_KEYS)


def documented_keys() -> dict[str, int]:
    """The keys in configuration.md's key tables (a header whose first cell is `key`), with their line numbers."""
    found: dict[str, int] = {}
    in_key_table = False
    for number, line in enumerate(CONFIGURATION.read_text().splitlines(), start=1):
        row = TABLE_ROW.match(line)
        if not row:
            in_key_table = False
            continue
        first = row.group(1).split("|")[0].strip()
        if first == "key":
            in_key_table = True
        elif in_key_table and not set(first) <= set("-: "):
            found[first.strip("`").removeprefix("pgha:")] = number
    return found


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_make_target_named_is_in_the_makefile(page: Path) -> None:
    targets = makefile_targets()
    missing = sorted({target for snippet in code(page.read_text()) for target in MAKE.findall(snippet)} - targets)
    assert not missing, f"{name(page)} names make targets the Makefile does not have: " + ", ".join(
        f"`make {t}`" for t in missing
    )


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_pgha_verb_named_is_a_subcommand(page: Path) -> None:
    verbs = pgha_verbs()
    named = {verb_of(words) for snippet in code(page.read_text()) for words in PGHA.findall(snippet)}
    missing = sorted(v for v in named if v is not None and v not in verbs)
    assert not missing, (
        f"{name(page)} names `pgha` verbs that pgha.cli.parser() does not have: "
        + ", ".join(f"`pgha {v}`" for v in missing)
        + f" (known: {', '.join(sorted(verbs))})"
    )


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_stack_key_named_is_accepted(page: Path) -> None:
    known = set(accepted_keys())
    missing = sorted(set(KEY.findall(page.read_text())) - known)
    assert not missing, f"{name(page)} names stack keys the program does not accept: " + ", ".join(
        f"`pgha:{k}`" for k in missing
    )


def test_every_accepted_stack_key_is_documented() -> None:
    documented = documented_keys()
    missing = [k for k in accepted_keys() if k not in documented]
    assert not missing, (
        f"{name(CONFIGURATION)} has no row in a key table for: "
        + ", ".join(f"`{k}`" for k in missing)
        + " (pgha.model.settings.KNOWN_KEYS)"
    )


def test_every_key_documented_is_accepted() -> None:
    known = set(accepted_keys())
    unknown = sorted((line, key) for key, line in documented_keys().items() if key not in known)
    assert not unknown, f"{name(CONFIGURATION)} documents keys the program does not accept: " + ", ".join(
        f"`{key}` (line {line})" for line, key in unknown
    )


@pytest.mark.parametrize("page", LINKING_PAGES, ids=name)
def test_every_relative_link_points_to_a_file(page: Path) -> None:
    broken = []
    for target in LINK.findall(without_code_blocks(page.read_text())):
        if target.startswith("#") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target):
            continue  # an anchor on the same page, or a URL
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{name(page)} links to files that do not exist: " + ", ".join(broken)


def test_every_docs_page_is_listed_in_the_readme() -> None:
    linked = {(README.parent / t.split("#", 1)[0]).resolve() for t in LINK.findall(README.read_text())}
    unlisted = [name(p) for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlisted, "README.md does not link these docs pages: " + ", ".join(unlisted)


def test_the_readme_stays_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines < 150, f"README.md has {lines} lines: keep it under 150 and move the rest into docs/"
