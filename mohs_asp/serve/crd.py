"""CDS Hooks 2.0 services for Da Vinci Coverage Requirements Discovery (CRD, STU 2).

`discovery()` lists the services (`GET /cds-services`); `answer_hook()` answers one call
(`POST /cds-services/{id}`): the draft orders and prefetched resources become cases
(mohs_asp/serve/fhir.py), the cases are decided and explained by the one pipeline
(api.answer), and each order the policy speaks to comes back in a system action of
type `update` carrying the `coverage-information` extension, with one card for the surgeon.

How an answer is worded in CRD's terms (README, "Serve"): a payable line is `covered`, a
line bundled into another is `covered` (paid within that line); a denied line is
`conditional` when every rule that denied it turns on the lesion's indications and the
engine's "would qualify" lists documentation the FHIR data did not carry (doc-needed
`clinical`, info-needed `OTH`, the list in `reason`), else `not-covered`. A line the policy
does not address gets no coverage information. Which rule turns on indications, and which
case facts each "would qualify" option reads, is read off the rules' bodies (clingo's AST),
not listed here. The policy says nothing of prior authorization, so `pa-needed` is left out.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .. import api
from ..policy.load import CASE_FACT_PREDICATES, Policy
from .fhir import CaseBuilder, Draft, Order, PrefetchMissing, orders_of

EXT = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
RULE_SYSTEM = "urn:mohs-asp:rule"  # the policy's rule ids (`mohs-asp rules`) as reason codes
DETAIL_SYSTEM = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
SUMMARY_MAX = 139  # CDS Hooks: a card's summary is under 140 characters
MAX_INSTANCE = 200  # characters of hookInstance (it becomes the case id)
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&code=http://loinc.org|33728-7,http://loinc.org|21889-1",
}
SERVICES = {
    "mohs-asp-order-sign": {
        "hook": "order-sign",
        "title": "Mohs micrographic surgery coverage (CRD)",
        "description": "Coverage information for Mohs micrographic surgery orders and the pathology, biopsy and "
                       "repair orders around them, from the payer's policy rules, when the order is signed.",
    },
    "mohs-asp-order-select": {
        "hook": "order-select",
        "title": "Mohs micrographic surgery coverage (CRD), on selection",
        "description": "The same coverage information as order-sign, for the orders just selected.",
    },
}
# case facts that document a lesion or the patient (what an order may or may not carry)
DOCUMENTATION = CASE_FACT_PREDICATES - {"case", "lesion", "line", "line_lesion", "units", "pre_surgical", "code_num"}


def discovery() -> dict:
    return {"services": [{"hook": s["hook"], "id": sid, "title": s["title"], "description": s["description"],
                          "prefetch": dict(PREFETCH)} for sid, s in SERVICES.items()]}


def outcome(message: str, code: str = "invalid") -> dict:
    """An OperationOutcome with one error (CRD's shape for a refused hook call)."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": message}]}


class HookError(Exception):
    def __init__(self, status: int, message: str, code: str = "invalid"):
        super().__init__(message)
        self.status, self.code = status, code


# -- what the rules read (the rule model, once per policy) ----------------------------------------


class RuleReading:
    """Which case facts a rule reads, through the rules it depends on, and which denial
    rules turn on a lesion's indications."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.atoms: dict[str, list[tuple[bool, str, int]]] = {}
        for rule in policy.rules:  # each atom its body reads (the rule model's uses), and whether under `not`
            found = [(use.negated, *use.key) for use in rule.uses]
            self.atoms[rule.id] = self.atoms.get(rule.id, []) + found
        self._pred: dict[tuple[str, int], frozenset[str]] = {}

    def reads(self, rule_id: str) -> frozenset[str]:
        out: set[str] = set()
        for _, name, arity in self.atoms.get(rule_id, []):
            out |= self._reads_pred(name, arity)
        return frozenset(out)

    def _reads_pred(self, name: str, arity: int) -> frozenset[str]:
        if name in CASE_FACT_PREDICATES:
            return frozenset({name})
        key = (name, arity)
        if key not in self._pred:
            self._pred[key] = frozenset()  # a loop through the rules reads nothing more
            out: set[str] = set()
            for rule in self.policy.rules_for(name, arity):
                for _, n, a in self.atoms.get(rule.id, []):
                    out |= self._reads_pred(n, a)
            self._pred[key] = frozenset(out)
        return self._pred[key]

    def _depends(self, name: str, arity: int, target: str, seen: set) -> bool:
        if name == target:
            return True
        if (name, arity) in seen:
            return False
        seen.add((name, arity))
        return any(self._depends(n, a, target, seen) for rule in self.policy.rules_for(name, arity)
                   for _, n, a in self.atoms.get(rule.id, []))

    def turns_on_indications(self, rule_id: str) -> bool:
        """The rule fires because something is *not* derived that the indications derive
        (`not medically_necessary(C,L)`): documentation meeting an indication would stop it."""
        return any(neg and self._depends(name, arity, "indication", set())
                   for neg, name, arity in self.atoms.get(rule_id, []))


@lru_cache(maxsize=8)
def reading(policy: Policy) -> RuleReading:
    return RuleReading(policy)


# -- deciding the orders ---------------------------------------------------------------------------


@dataclass
class Decided:
    """One order's answer: its line of the engine's (explained) answer, or why there is none."""

    order: Order
    draft: Draft
    answer: dict | None = None
    line: dict | None = None
    problems: list[str] = field(default_factory=list)


_PATH = re.compile(r"(lesions|lines)\[(\d+)\](?:\.(\w+))?")


def _decide(draft: Draft, policy: Policy) -> list[Decided]:
    """Every order of a draft decided; a lesion or order the case format refuses is set aside
    with its problems, and the others are decided without it."""
    doc = draft.doc
    answer = next(api.answer([doc], policy, explain=True))
    problems: dict[int, list[str]] = {}
    if answer["status"] != "ok":
        bad_lines, bad_lesions, general = set(), set(), []
        for error in answer["errors"]:
            m = _PATH.match(error["path"])
            said = draft.notes.get(error["path"]) or _where(draft, m, error)
            if m is None:
                general.append(said)
            elif m.group(1) == "lines":
                bad_lines.add(int(m.group(2)))
                problems.setdefault(int(m.group(2)), []).append(said)
            else:
                bad_lesions.add(int(m.group(2)))
                lesion_id = doc["lesions"][int(m.group(2))]["id"] if int(m.group(2)) < len(doc["lesions"]) else None
                for i, line in enumerate(doc["lines"]):
                    if lesion_id in ([line["lesion"]] if "lesion" in line else line.get("lesions", [])):
                        bad_lines.add(i)
                        problems.setdefault(i, []).append(said)
        if general or len(bad_lines) == len(doc["lines"]):
            for i in range(len(doc["lines"])):
                problems.setdefault(i, []).extend(general)
            return [Decided(o, draft, problems=problems.get(i) or ["the case is not valid"]) for i, o in enumerate(draft.orders)]
        kept_lesions = [x for j, x in enumerate(doc["lesions"]) if j not in bad_lesions]
        doc = {**doc, "lesions": kept_lesions, "lines": [x for i, x in enumerate(doc["lines"]) if i not in bad_lines]}
        answer = next(api.answer([doc], policy, explain=True))
        if answer["status"] != "ok":
            said = [e["message"] for e in answer["errors"]]
            return [Decided(o, draft, problems=problems.get(i) or said) for i, o in enumerate(draft.orders)]
    by_number = {line["line"]: line for line in answer["lines"]}
    return [Decided(o, draft, answer, by_number.get(i + 1), problems.get(i, [])) for i, o in enumerate(draft.orders)]


def _where(draft: Draft, m: re.Match | None, error: dict) -> str:
    """An error of the case format, said of the FHIR resource it came from."""
    if m is None:
        return error["message"]
    index = int(m.group(2))
    if m.group(1) == "lines" and index < len(draft.orders):
        order = draft.orders[index]
        return f"{order.label} ({order.code}): {error['message']}"
    if m.group(1) == "lesions" and index < len(draft.lesions):
        element = {"diagnosis": "code", "site": "bodySite"}.get(m.group(3) or "", m.group(3) or "")
        return f"{draft.lesions[index]}{'.' + element if element else ''}: {error['message']}"
    return error["message"]


# -- the answer in CRD's terms ---------------------------------------------------------------------


@dataclass
class Assertion:
    covered: str  # covered | not-covered | conditional
    rules: list[str]
    because: list[str]
    needs: list[str] = field(default_factory=list)  # documentation that would qualify (conditional)
    into: str | None = None  # the order a bundled line is paid within


def _lesions_of(decided: Decided) -> list[dict]:
    line = decided.line or {}
    names = set()
    for raw in decided.draft.doc["lines"]:
        if raw["line"] == line.get("line"):
            names = {raw["lesion"]} if "lesion" in raw else set(raw.get("lesions", []))
    return [lesion for lesion in decided.answer["lesions"] if lesion["id"] in names]


def assertion(decided: Decided, policy: Policy) -> Assertion | None:
    """The engine's outcome for an order, in CRD's words; None where the policy does not address it."""
    line = decided.line
    if line is None or line["outcome"] == "not_addressed":
        return None
    ex = line.get("explanation") or {}
    because = list(ex.get("because", []))
    if line["outcome"] == "payable":
        return Assertion("covered", line["rules"], because)
    if line["outcome"] == "bundled":
        orders = decided.draft.orders
        into = orders[line["into"] - 1].label if 0 < line["into"] <= len(orders) else None
        return Assertion("covered", line["rules"], because, into=into)
    read = reading(policy)
    needs: list[str] = []
    if all(read.turns_on_indications(r) for r in line["rules"]):
        carried = dict(zip((x["id"] for x in decided.draft.doc["lesions"]), decided.draft.carried))
        for lesion in _lesions_of(decided):
            for option in lesion.get("would_qualify", []):
                fields = read.reads(option["rule"]) & DOCUMENTATION
                if fields and not fields & carried.get(lesion["id"], frozenset()):
                    text = " and ".join(option["needs"])
                    if text not in needs:
                        needs.append(text)
    if needs:
        return Assertion("conditional", line["rules"], because, needs)
    return Assertion("not-covered", line["rules"], because)


def _assertion_id(decided: Decided, policy: Policy) -> str:
    """The same order, case and policy always get the same id: a payer finds the assertion
    again by answering the same request (the decision record names the policy's digest)."""
    record = (decided.answer or {}).get("decision_record") or {"policy_digest": policy.digest}
    text = json.dumps({"record": record, "case": decided.draft.doc, "order": decided.order.label},
                      sort_keys=True, default=str, ensure_ascii=False)
    return "mohs-asp-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _reason(rules: list[str], text: str, policy: Policy) -> dict:
    coding = []
    for rule_id in rules:
        rule = policy.rules_by_id.get(rule_id)
        entry = {"system": RULE_SYSTEM, "code": rule_id}
        if rule is not None and rule.policy:
            entry["display"] = rule.policy
        coding.append(entry)
    concept: dict[str, Any] = {"text": text}
    if coding:
        concept = {"coding": coding, **concept}
    return {"url": "reason", "valueCodeableConcept": concept}


def coverage_information(decided: Decided, found: Assertion | None, coverage: str, policy: Policy,
                         policy_url: str, today: dt.date) -> dict:
    ext: list[dict] = [{"url": "coverage", "valueReference": {"reference": coverage}}]
    if found is None:  # the case format refused what the order and its Condition say
        ext.append({"url": "covered", "valueCode": "conditional"})
        ext.append({"url": "info-needed", "valueCode": "OTH"})
        ext.append(_reason([], "Coverage could not be determined: " + "; ".join(decided.problems), policy))
    else:
        ext.append({"url": "covered", "valueCode": found.covered})
        if found.covered == "conditional":
            ext.append({"url": "doc-needed", "valueCode": "clinical"})
            ext.append({"url": "info-needed", "valueCode": "OTH"})
        ext.append({"url": "billingCode", "valueCoding": {"system": "http://www.ama-assn.org/go/cpt",
                                                           "code": decided.order.code}})
        text = "; ".join(found.because)
        if found.into:
            text += f" (paid within {found.into}, not billed separately)"
        if found.needs:
            text += ". Covered if the record documents any one of: " + "; ".join(found.needs)
        ext.append(_reason(found.rules, text, policy))
    ext.append({"url": "detail", "extension": [
        {"url": "category", "valueCodeableConcept": {"coding": [{"system": DETAIL_SYSTEM, "code": "policy-source"}],
                                                     "text": "the payer's policy"}},
        {"url": "value", "valueUrl": policy_url}]})
    ext.append({"url": "date", "valueDate": today.isoformat()})
    ext.append({"url": "coverage-assertion-id", "valueString": _assertion_id(decided, policy)})
    return {"url": EXT, "extension": ext}


WORDS = {"covered": "covered", "not-covered": "not covered", "conditional": "needs documentation"}


def _shorten(text: str, limit: int = SUMMARY_MAX) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def card(answered: list[tuple[Decided, Assertion | None]], policy: Policy, base_url: str, title: str) -> dict:
    """One card for the surgeon: a summary read at a glance, each order's answer in the detail."""
    states = [a.covered if a else "undetermined" for _, a in answered]
    if len(answered) == 1:
        d, a = answered[0]
        if a is None:
            summary = f"{d.order.code}: coverage not determined: {d.problems[0] if d.problems else 'see details'}"
        elif a.covered == "covered":
            summary = f"{d.order.code} is covered" + (f": {a.because[0]}" if a.because else "")
        elif a.covered == "not-covered":
            summary = f"{d.order.code} is not covered" + (f": {a.because[0]}" if a.because else "")
        else:
            summary = f"{d.order.code} is covered only with documentation of an indication (see details)"
    else:
        counts = {s: states.count(s) for s in dict.fromkeys(states)}
        summary = f"{len(answered)} orders: " + ", ".join(
            f"{n} {WORDS.get(s, 'not determined')}" for s, n in counts.items())
    rows = []
    for d, a in answered:
        if a is None:
            rows.append(f"- **{d.order.code}** ({d.order.label}): not determined: " + "; ".join(d.problems))
            continue
        rows.append(f"- **{d.order.code}** ({d.order.label}): {WORDS[a.covered]}: " + "; ".join(a.because)
                    + (f" (paid within {a.into})" if a.into else "") + f" [rules: {', '.join(a.rules)}]")
        for need in a.needs:
            rows.append(f"  - would qualify: {need}")
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _shorten(summary),
        "indicator": "info" if all(s == "covered" for s in states) else "warning",
        "detail": "\n".join(rows),
        "source": {"label": title, "url": base_url + "/"},
        "links": [{"label": "The policy's rules", "url": base_url + "/rules", "type": "absolute"}],
    }


# -- one hook call ---------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _request(body: bytes, service: dict) -> dict:
    try:
        request = json.loads(body.decode("utf-8-sig"), parse_float=Decimal, parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise HookError(400, f"the request is not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise HookError(400, "the request is nested too deeply") from None
    except ValueError as e:
        raise HookError(400, f"the request is not valid JSON: {e}") from None
    if not isinstance(request, dict):
        raise HookError(400, "a hook request must be a JSON object")
    if request.get("hook") != service["hook"]:
        raise HookError(400, f"hook must be {service['hook']!r} for this service, found {_short(request.get('hook'))}")
    instance = request.get("hookInstance")
    if not isinstance(instance, str) or not instance.strip() or len(instance) > MAX_INSTANCE or "\x00" in instance:
        raise HookError(400, f"hookInstance must be an id (text of 1 to {MAX_INSTANCE} characters)")
    context = request.get("context")
    if not isinstance(context, dict):
        raise HookError(400, "context is required and must be an object")
    if not isinstance(context.get("patientId"), str) or not context["patientId"]:
        raise HookError(400, "context.patientId is required (text)")
    orders = context.get("draftOrders")
    if not isinstance(orders, dict) or orders.get("resourceType") != "Bundle":
        raise HookError(400, "context.draftOrders is required and must be a FHIR Bundle")
    if not isinstance(orders.get("entry", []), list):
        raise HookError(400, "context.draftOrders.entry must be a list")
    if service["hook"] == "order-select":
        selections = context.get("selections")
        if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
            raise HookError(400, "context.selections is required for order-select (a list of references)")
    if "prefetch" in request and request["prefetch"] is not None and not isinstance(request["prefetch"], dict):
        raise HookError(400, "prefetch must be an object")
    return request


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _coverage(request: dict) -> str:
    prefetch = request.get("prefetch") or {}
    value = prefetch.get("coverage")
    resources = [r for r in ((value.get("entry") or []) if isinstance(value, dict) and value.get("resourceType") == "Bundle"
                             else [{"resource": value}]) if isinstance(r, dict) and isinstance(r.get("resource"), dict)]
    found = [r["resource"] for r in resources if r["resource"].get("resourceType") == "Coverage"]
    found.sort(key=lambda c: c.get("status") != "active")
    for c in found:
        if isinstance(c.get("id"), str) and c["id"]:
            return f"Coverage/{c['id']}"
    given = "is not in the request" if value is None else "holds no Coverage with an id"
    raise PrefetchMissing(f"prefetch 'coverage' {given}: coverage information must name the patient's Coverage, "
                          "and the service does not fetch it")


def answer_hook(service_id: str, body: bytes, policy: Policy, base_url: str, today: dt.date | None = None) -> tuple[int, dict]:
    """(HTTP status, JSON body) for one hook call: 200 with cards and systemActions; 404 for
    no such service; 400 for a malformed request; 412 when a resource the decision needs was
    not prefetched (the service does not fetch from the EHR's FHIR server)."""
    service = SERVICES.get(service_id)
    if service is None:
        return 404, outcome(f"no CDS service {service_id!r} here (GET /cds-services lists them)", "not-found")
    today = today or dt.date.today()
    try:
        request = _request(body, service)
        coverage = _coverage(request)
        orders = orders_of(request["context"])
        builder = CaseBuilder(policy, request, request["hookInstance"].strip(), today)
        drafts = builder.drafts(orders)
    except HookError as e:
        return e.status, outcome(str(e), e.code)
    except PrefetchMissing as e:
        return 412, outcome(str(e), "not-found")
    selected = set(request["context"].get("selections") or []) if service["hook"] == "order-select" else None
    title = str(policy.metadata.get("title") or policy.metadata.get("name") or "Mohs micrographic surgery policy")
    policy_url = str(policy.metadata.get("source_url") or f"{base_url}/rules")
    actions, answered = [], []
    for draft in drafts:
        for decided in _decide(draft, policy):
            if selected is not None and decided.order.label not in selected:
                continue
            found = assertion(decided, policy) if decided.line is not None else None
            if found is None and not decided.problems:
                continue  # the policy does not address this order
            resource = copy.deepcopy(decided.order.resource)
            resource["extension"] = [e for e in resource.get("extension") or [] if not (isinstance(e, dict) and e.get("url") == EXT)]
            resource["extension"].append(coverage_information(decided, found, coverage, policy, policy_url, today))
            actions.append({"type": "update", "description": f"Coverage information for {decided.order.label}",
                            "resource": resource})
            answered.append((decided, found))
    cards = [card(answered, policy, base_url, title)] if answered else []
    return 200, {"cards": cards, "systemActions": actions}
