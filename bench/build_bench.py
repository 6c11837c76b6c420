"""Build benchmark (not a test): `campaign build` of the 30-day series against the official MJML 5 CLI compiling
30 MJML files of comparable size — the MJML our own pipeline compiles for each day — in one run, side by side.

    .venv/bin/python bench/build_bench.py             # 7 runs of each, interleaved (make bench-build)
    .venv/bin/python bench/build_bench.py --runs 11

Both are timed as whole processes from outside (start-up included), alternately (A B A B ...), so a drift in
the machine's speed hits both; the figure is the median wall time of each and the median of the pairwise ratios.
`campaign build` does more than the MJML CLI: Jinja2, the safe-messaging lint, CSS inlining (premailer),
the text part and the safety verification of every issue; the MJML CLI only compiles. The CLI is installed
from the npm registry into bench/.mjml/ (ignored by git) on first use.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MJML_HOME = ROOT / "bench" / ".mjml"
MJML_VERSION = "5"


def mjml_cli() -> Path:
    binary = MJML_HOME / "node_modules" / ".bin" / "mjml"
    if not binary.exists():
        MJML_HOME.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(MJML_HOME),
                f"mjml@{MJML_VERSION}",
            ],
            check=True,
        )
    return binary


def campaign_folder(tmp: Path) -> Path:
    """A copy of the example campaign (no database: nothing sent yet), as `make run` starts from."""
    folder = tmp / "campaign"
    folder.mkdir()
    shutil.copy(ROOT / "schedule.yaml", folder / "schedule.yaml")
    shutil.copytree(ROOT / "content", folder / "content")
    shutil.copytree(ROOT / "templates", folder / "templates")
    return folder


def mjml_sources(folder: Path, into: Path) -> list[Path]:
    """The MJML our pipeline hands to the compiler for each of the 30 days (the layout, the day's part, the
    crisis block, disclaimer and footer): 30 files of the size `campaign build` compiles."""
    code = (
        "import sys, mjml\n"
        "from pathlib import Path\n"
        "from campaign.config import load_settings\n"
        "from campaign.series.project import load_project\n"
        "out = Path(sys.argv[1]); seen = []\n"
        "real = mjml.mjml2html\n"
        "mjml.mjml2html = lambda src: (seen.append(src), real(src))[1]\n"
        "p = load_project(load_settings())\n"
        "for day in p.schedule.dates:\n"
        "    seen.clear(); p.render(day)\n"
        "    (out / f'{day}.mjml').write_text(seen[0], encoding='utf-8')\n"
    )
    into.mkdir()
    subprocess.run([sys.executable, "-c", code, str(into)], cwd=folder, check=True)
    return sorted(into.glob("*.mjml"))


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cli = mjml_cli()
    campaign = str(Path(sys.executable).parent / "campaign")
    with tempfile.TemporaryDirectory(prefix="campaign-build-bench-") as tmp_name:
        tmp = Path(tmp_name)
        folder = campaign_folder(tmp)
        sources = mjml_sources(folder, tmp / "mjml-in")
        (tmp / "mjml-out").mkdir()
        ours = [campaign, "build", "--out", str(tmp / "build")]
        theirs = [str(cli), *map(str, sources), "-o", str(tmp / "mjml-out")]
        version = subprocess.run([str(cli), "--version"], capture_output=True, text=True).stdout.split()
        timed(ours, folder), timed(theirs, tmp)  # warm-up: file caches, Python's bytecode, Node's
        a, b = [], []
        for _ in range(args.runs):
            a.append(timed(ours, folder))
            b.append(timed(theirs, tmp))
        built = list((tmp / "mjml-out").glob("*.html"))
        sizes = [p.stat().st_size for p in sources]
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"MJML CLI {version[-1] if version else '?'}: {len(sources)} files in, {len(built)} HTML out")
    print(f"MJML sources: {min(sizes) / 1024:.1f}–{max(sizes) / 1024:.1f} KB each")
    print(f"campaign build (30 days): median {statistics.median(a):.3f} s  (min {min(a):.3f}, max {max(a):.3f})")
    print(f"mjml CLI (30 files):      median {statistics.median(b):.3f} s  (min {min(b):.3f}, max {max(b):.3f})")
    print(f"campaign build ÷ MJML CLI: {statistics.median(ratios):.2f} (median of {args.runs} pairwise ratios)")


if __name__ == "__main__":
    main()
