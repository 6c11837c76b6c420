"""What a pre-flight check found: passed checks, warnings and errors (each error a `Problem` with its fix)."""

from __future__ import annotations

from dataclasses import dataclass, field

from campaign.errors import Problem


@dataclass
class Report:
    passed: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.passed.append(text)

    def warn(self, problem: Problem) -> None:
        self.warnings.append(problem)

    def error(self, problem: Problem) -> None:
        self.errors.append(problem)

    def extend(self, other: Report) -> None:
        self.passed += other.passed
        self.warnings += other.warnings
        self.errors += other.errors
