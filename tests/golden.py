"""Golden files for one rendered issue (day 10, the default country), reviewed as diffs.

Regenerate only on purpose, after a template or content change:  make golden   (python -m tests.golden --write)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
DAY = "2027-09-10"


def render_golden() -> dict[str, str]:
    from tests.conftest import CampaignDir, base_env, copy_campaign

    with tempfile.TemporaryDirectory() as tmp:
        root = copy_campaign(Path(tmp) / "campaign")
        project = CampaignDir(root, base_env(root)).project()
        from datetime import date

        issue = project.render(date.fromisoformat(DAY))
        html, text = issue.merge(
            unsubscribe_url="https://news.example.org/unsubscribe/GOLDEN",
            name="Ann",
            preferences_url="https://news.example.org/preferences/GOLDEN",
        )
    return {f"{DAY}.email.html": html, f"{DAY}.email.txt": text}


def main(argv: list[str]) -> int:
    if "--write" not in argv:
        print("usage: python -m tests.golden --write   (then review `git diff tests/golden`)")
        return 2
    GOLDEN.mkdir(exist_ok=True)
    for name, content in render_golden().items():
        (GOLDEN / name).write_text(content, encoding="utf-8")
        print(f"wrote tests/golden/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
