"""One issue compared byte for byte with its golden file: a template change shows up as a reviewed diff."""

from tests.golden import GOLDEN, render_golden


def test_day_ten_matches_its_golden_files():
    for name, content in render_golden().items():
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        assert content == expected, f"{name} changed: run `make golden` and review `git diff tests/golden`"
