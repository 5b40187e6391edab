"""docs/staff-guide.md: ten questions, and every command, Python example and Datasette link in it
works on the demo store."""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from demo import Demo, demo_copy

from envwatch.cli import main
from envwatch.query import load_queries
from envwatch.serve import build_datasette

from conftest import ROOT

GUIDE = ROOT / "docs" / "staff-guide.md"
BASE = "http://127.0.0.1:8001"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_store: Demo) -> Demo:
    return demo_copy(demo_store, tmp_path_factory.mktemp("guide"))


def test_the_guide_answers_ten_questions_in_chinese() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    questions = re.findall(r"^## (\d+)\. (.+)$", text, re.M)
    assert [int(n) for n, _ in questions] == list(range(1, 11))
    assert all(re.search(r"[\u4e00-\u9fff]", q) for _, q in questions)
    # every answer shows a command and a Datasette link
    for part in re.split(r"^## \d+\. ", text, flags=re.M)[1:]:
        assert "```sh" in part and BASE in part


@pytest.mark.slow  # every command of the guide, one after the other: about 4 s
def test_every_example_runs(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo.folder)  # where the guide's reader works: envwatch.db is here
    runner = CliRunner()
    text = GUIDE.read_text(encoding="utf-8")
    ran = {"sh": 0, "python": 0}
    # in document order: the Python examples read files the commands before them wrote
    for lang, body in re.findall(r"```(sh|python)\n(.*?)```", text, re.S):
        if lang == "python":
            exec(compile(body, f"{GUIDE.name} example", "exec"), {"__name__": "guide"})
            ran["python"] += 1
            continue
        for line in body.splitlines():
            if not line.strip():
                continue
            words = shlex.split(line)
            assert words[0] == "envwatch", line
            result = runner.invoke(main, ["--config", str(demo.config), *words[1:]])
            assert result.exit_code == 0, (line, result.output)
            ran["sh"] += 1
    assert ran["sh"] >= 20 and ran["python"] >= 4
    assert (demo.folder / "空气日数据-2019-01.xlsx").exists()


def test_every_datasette_link_opens(demo: Demo) -> None:
    links = sorted(set(re.findall(rf"{BASE}[^\s>)]*", GUIDE.read_text(encoding="utf-8"))))
    canned = {f"{BASE}/envwatch/{name}" for name in load_queries()}
    assert len(links) >= 12
    ds = build_datasette(demo.db, load_queries())

    async def statuses() -> dict[str, int]:
        await ds.invoke_startup()
        return {u: (await ds.client.get(u[len(BASE) :] or "/")).status_code for u in links}

    assert {u: s for u, s in asyncio.run(statuses()).items() if s != 200} == {}
    assert {u.split("?")[0] for u in links if "/envwatch/" in u} - canned <= {
        f"{BASE}/envwatch/air_daily"
    }


def test_the_guide_is_linked_from_docs() -> None:
    assert (ROOT / "docs" / "README.md").read_text(encoding="utf-8").count("staff-guide.md") >= 1
    assert Path(GUIDE).stat().st_size > 2000
