"""The checker's verdicts: one `Result` per property, and the `Report` that renders them."""

from __future__ import annotations

from dataclasses import dataclass

from workflow.checker.properties import CLAIMS, Property


@dataclass(frozen=True, slots=True)
class Result:
    """One property's verdict; a failure says why and, when a path shows it, the shortest one."""

    name: Property
    ok: bool
    detail: str = ""
    counterexample: tuple[str, ...] | None = None
    claim: str = ""
    """What the property asserts, as a sentence (`CLAIMS[name]` unless given)."""

    def __post_init__(self) -> None:
        if not self.claim:
            object.__setattr__(self, "claim", CLAIMS[self.name])


@dataclass(frozen=True, slots=True)
class Report:
    """The verdict on every property, with the size of the explored state space."""

    definition: str
    results: tuple[Result, ...]
    states_explored: int
    transitions_explored: int
    seconds: float
    start: str = ""
    """The state a new instance starts in (where every counter-example begins)."""

    @property
    def ok(self) -> bool:
        """Whether every property holds."""
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> frozenset[Property]:
        """The properties that do not hold."""
        return frozenset(r.name for r in self.results if not r.ok)

    def result(self, prop: Property | str) -> Result:
        """The verdict on `prop`."""
        return next(r for r in self.results if r.name == prop)

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (for `--json` output)."""
        return {
            "definition": self.definition, "ok": self.ok, "start": self.start,
            "states_explored": self.states_explored,
            "transitions_explored": self.transitions_explored,
            "seconds": round(self.seconds, 6),
            "properties": [
                {"name": str(r.name), "ok": r.ok, "claim": r.claim, "detail": r.detail,
                 "counterexample": list(r.counterexample) if r.counterexample is not None
                 else None}
                for r in self.results
            ],
        }

    def render(self) -> str:
        """A plain-text table of the properties, then each failure's counter-example."""
        width = max(len(p) for p in Property)
        lines = [
            f"Model check of {self.definition!r}: {self.states_explored} states and "
            f"{self.transitions_explored} transitions in {self.seconds:.3f} s",
            "",
            f"  {'property':<{width}}  result  claim",
            f"  {'-' * width}  ------  {'-' * 55}",
        ]
        for r in self.results:
            lines.append(f"  {r.name:<{width}}  {'PASS' if r.ok else 'FAIL':<6}  {r.claim}")
        for r in self.results:
            if r.ok:
                continue
            lines += ["", f"{r.name}: FAIL — {r.claim}", f"  why: {r.detail}"]
            if r.counterexample is not None:
                lines.append(f"  counter-example, from a new {self.start}: "
                             + " → ".join(r.counterexample))
        failures = len(self.failed)
        lines += ["", f"all {len(self.results)} properties hold" if not failures
                  else f"{failures} of {len(self.results)} properties fail"]
        return "\n".join(lines)

