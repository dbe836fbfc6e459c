"""One finding of `mohs-asp lint`, and the report of them all."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" or "warning"
    where: str  # logic/claims.lp:12:5, data/sites.csv:7, data/covered_diagnoses.csv, or ""
    message: str
    details: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"severity": self.severity, "where": self.where, "message": self.message, "details": list(self.details)}

    def __str__(self) -> str:
        head = f"{self.where}: {self.severity}: {self.message}" if self.where else f"{self.severity}: {self.message}"
        return "\n".join([head, *(f"    {d}" for d in self.details)])


@dataclass
class LintReport:
    policy: str
    findings: list[Finding] = field(default_factory=list)
    rules: int = 0
    cases: int = 0  # cases solved to check for one answer
    release: str = ""
    loaded: bool = False  # the logic parsed and the data loaded (an empty logic/main.lp loads: 0 rules)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {"policy": self.policy, "ok": self.ok, "errors": len(self.errors), "warnings": len(self.warnings),
                "rules": self.rules, "cases": self.cases, "icd10cm_release": self.release,
                "findings": [f.as_dict() for f in self.findings]}

    def render(self) -> str:
        out = [str(f) for f in self.findings]
        n_err, n_warn = len(self.errors), len(self.warnings)
        about = (f"{self.rules} rule{'s' * (self.rules != 1)}, {self.cases} case{'s' * (self.cases != 1)} solved"
                 + (f", ICD-10-CM {self.release}" if self.release else "")) if self.loaded else "the policy does not load"
        out.append(f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)} in {self.policy} ({about})")
        return "\n".join(out)
