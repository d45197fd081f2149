"""The product's text tells what the project is, not the story of its making; its links resolve.

What the history check looks for, in every tracked text file (`git ls-files`, extensions
below), except the run records under `results/runs/` (measurement records keep their dates) and
this file:
- numbered stretches of work: "session" / "sessions" ("the twelfth session", "session 4");
- work items: "issue 12", "issues 11 and 16", "issue-7";
- commit hashes: "commit 6086abf", "commits a1b2c3d";
- borrowed machines and briefs: "lent", "the brief", "not my files", "borrowed machine";
- in markdown prose (not table rows or code blocks), dates of work: "2026-12-06".
Measurement records (command, machine, date, load) belong in table rows, where dates may stay.

The link check: every relative link of every tracked markdown file (and of the notebooks'
markdown cells) points at a file or folder of the repository, every `#anchor` into a markdown
file names one of its headings, and nothing points outside the repository (`../shared/...`).
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXTENSIONS = (".md", ".yaml", ".py", ".ipynb", ".toml", ".sh", ".cfg", ".cff")
SKIP_PREFIXES = ("results/runs/", "tests/test_docs_history.py")

HISTORY = {
    "numbered stretch of work": re.compile(r"\bsessions?\b", re.IGNORECASE),
    "issue number": re.compile(r"\bissues?[ -]\d+", re.IGNORECASE),
    "commit hash": re.compile(r"\bcommits? [0-9a-f]{7,40}\b", re.IGNORECASE),
    "lent machine": re.compile(r"\blent\b", re.IGNORECASE),
    "the brief": re.compile(r"\bthe brief\b", re.IGNORECASE),
    "not my files": re.compile(r"\bnot my files\b", re.IGNORECASE),
    "borrowed machine": re.compile(r"\bborrow(ed|ing)? (a |the )?(machine|gpu)", re.IGNORECASE),
}
PROSE_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
OUTSIDE = re.compile(r"\.\./shared/|\bshared/(MJX_NOTES|REFERENCE|STYLE|seeds)")


def tracked_text_files() -> list[pathlib.Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        ROOT / n
        for n in names
        if n.endswith(EXTENSIONS) and not n.startswith(SKIP_PREFIXES) and (ROOT / n).is_file()
    ]


def _text(path: pathlib.Path) -> str:
    if path.suffix == ".ipynb":  # sources and saved outputs alike
        cells = json.loads(path.read_text())["cells"]
        parts = ["".join(c.get("source", "")) for c in cells]
        parts += ["".join(o.get("text", "")) for c in cells for o in c.get("outputs", [])]
        return "\n".join(parts)
    return path.read_text(errors="replace")


def _prose_lines(text: str):
    """(line number, line) of markdown outside code blocks and table rows."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced and not line.lstrip().startswith("|"):
            yield number, line


def history_findings(path: pathlib.Path) -> list[str]:
    text = _text(path)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in HISTORY.items():
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()[:100]}")
        if OUTSIDE.search(line):
            found.append(f"{path.relative_to(ROOT)}:{number}: points outside the repository")
    if path.suffix == ".md":
        for number, line in _prose_lines(text):
            if PROSE_DATE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: date of work in prose")
    return found


def test_history_patterns_catch_what_they_should():
    for line in (
        "in the twelfth session",
        "issue 12's targets",
        "since commit f0e80d4",
        "no GPU was lent",
        "the machine the brief describes",
    ):
        assert any(p.search(line) for p in HISTORY.values()), line
    for line in ("the session of a jitted step", "content", "latent", "tissue 3"):
        assert not any(p.search(line) for p in HISTORY.values() if p.pattern != r"\bsessions?\b")


@pytest.mark.parametrize("path", tracked_text_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_work_history(path):
    findings = history_findings(path)
    assert not findings, "work history in the product:\n" + "\n".join(findings[:20])


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: pathlib.Path) -> set[str]:
    text = path.read_text()
    return {github_slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", text, re.MULTILINE)}


def link_problems(path: pathlib.Path) -> list[str]:
    text = _text(path) if path.suffix == ".ipynb" else path.read_text()
    problems = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}: ({target})"
        if not dest.is_relative_to(ROOT):
            problems.append(f"{where} points outside the repository")
        elif not dest.exists():
            problems.append(f"{where} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where} names no heading of {dest.name}")
    return problems


def test_github_slug():
    assert github_slug("The reference study's studies, rerun as one sweep each") == (
        "the-reference-studys-studies-rerun-as-one-sweep-each"
    )
    assert github_slug("Plain DDPG, TD3 and stabilisers at 128 envs on Hopper") == (
        "plain-ddpg-td3-and-stabilisers-at-128-envs-on-hopper"
    )


def test_links_resolve():
    docs = [p for p in tracked_text_files() if p.suffix in (".md", ".ipynb")]
    problems = [problem for path in docs for problem in link_problems(path)]
    assert not problems, "\n".join(problems)
