"""One exception family for the library; the CLI turns each into an exit code (mohs_asp/cli.py)."""

from __future__ import annotations

from dataclasses import dataclass


class MohsError(Exception):
    """Base of every error mohs-asp raises on purpose."""

    exit_code = 2


@dataclass(frozen=True)
class InputProblem:
    """One problem with a case: where (`lesions[0].size_cm`) and what, in a billing clerk's words."""

    path: str
    message: str
    excerpt: tuple[str, ...] = ()  # for a file a parser could not read: its line there, and a caret under the place

    def as_dict(self) -> dict:
        return {"path": self.path, "message": self.message, **({"excerpt": list(self.excerpt)} if self.excerpt else {})}


class CaseInvalid(MohsError):
    """The case breaks the contract; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, errors: list[InputProblem], case_id: str | None = None, warnings: list[InputProblem] = (),
                 icd10cm_release: str | None = None, policy_version: str | None = None):
        self.errors = list(errors)
        self.case_id = case_id
        self.warnings = list(warnings)
        # for its decision record: the ICD-10-CM release its diagnoses were checked against and the
        # version of the policy in force on its date of service, when the date could be read
        self.icd10cm_release = icd10cm_release
        self.policy_version = policy_version
        super().__init__("; ".join(f"{e.path}: {e.message}" if e.path else e.message for e in self.errors))


class UsageError(MohsError):
    """The command was called wrongly (a missing file, a bad option)."""

    exit_code = 2


class PolicyError(MohsError):
    """The policy itself (logic/ or data/) is broken: a syntax error, bad data, no single answer."""

    exit_code = 3


class OutputError(MohsError):
    """The answers could not be written (a full disk, a file too large, an I/O error): bad
    usage of the machine rather than of the case, so exit 2, as the contract has no other."""

    exit_code = 2


class OutputClosed(OutputError):
    """Standard output's reader has gone (`mohs-asp batch ... | head -1`): the rest is not
    wanted. Reported by exit status alone (128 + SIGPIPE, as a shell reports `yes | head -1`)."""

    exit_code = 141


class WorkerLost(MohsError):
    """A batch worker process ended without answering: killed (the out-of-memory killer sends
    SIGKILL) or crashed. The run stops; nothing in the input is to blame."""

    exit_code = 4
