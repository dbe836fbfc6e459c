"""FHIR R4 resources of a CDS Hooks request, read into cases of the contract's format.

Elements are read with FHIRPath (`fhirpathpy`, over the request's plain JSON, R4 model);
codes are mapped to the case vocabulary with two data tables of the policy folder:

- `data/fhir_body_sites.csv`: SNOMED CT body structure -> a site of data/sites.csv;
- `data/fhir_condition_codes.csv`: ICD-10-CM codes of other Conditions that document a case
  field (immunosuppression of the patient, prior irradiation at a lesion's site).

Where the case comes from (README, "Serve"):

| case | FHIR |
|---|---|
| a line | each draft order (ServiceRequest or Procedure) with a CPT code (code.coding, system CPT); units from quantity |
| date_of_service | occurrence[x] (ServiceRequest) or performed[x] (Procedure); absent: the day of the request |
| a lesion | the Condition an order names (reasonReference), or the order's own reasonCode and bodySite |
| diagnosis | Condition.code, ICD-10-CM |
| site | Condition.bodySite (else the order's bodySite), SNOMED CT, through data/fhir_body_sites.csv |
| size | Observation LOINC 33728-7 (or a component with that code, as in mCODE's tumor size) whose focus is the Condition, valueQuantity in UCUM cm or mm |
| recurrent | Condition.clinicalStatus = recurrence |
| previously_irradiated | a Condition with a code of data/fhir_condition_codes.csv (Z92.3) at the same bodySite |
| patient.immunosuppressed | any active Condition with a code of data/fhir_condition_codes.csv |

A field the resources do not document is left out of the case ("not documented"), never
guessed; what a lesion's answer could still need is read off the engine's explanation
(mohs_asp/serve/crd.py). Nothing here decides coverage.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from ..policy import icd10
from ..errors import PolicyError
from ..policy.data import read_csv
from ..policy.load import Policy, default_root

CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
TUMOR_SIZE = "33728-7"  # LOINC: Size.maximum dimension in Tumor
ORDER_TYPES = ("ServiceRequest", "Procedure")
SITES_FILE = "fhir_body_sites.csv"
CONDITIONS_FILE = "fhir_condition_codes.csv"
DOCUMENTS = ("immunosuppressed", "previously_irradiated")
NOT_ACTIVE = {"inactive", "remission", "resolved"}  # Condition.clinicalStatus that no longer documents
NOT_TRUE = {"refuted", "entered-in-error"}  # Condition.verificationStatus that never documents
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

PATHS = {
    "cpt": f"code.coding.where(system = '{CPT}').code",
    "reasons": "reasonReference.reference",
    "reason_icd": f"reasonCode.coding.where(system = '{ICD10CM}').code",
    "body_site": f"bodySite.coding.where(system = '{SNOMED}').code",
    "units": "quantity.ofType(Quantity).value",
    "order_date": "occurrence.ofType(dateTime) | occurrence.ofType(Period).start | occurrence.ofType(Timing).event"
                  " | performed.ofType(dateTime) | performed.ofType(Period).start",
    "icd": f"code.coding.where(system = '{ICD10CM}').code",
    "clinical": "clinicalStatus.coding.code",
    "verification": "verificationStatus.coding.code",
    "focus": "focus.reference",
    "evidence": "evidence.detail.reference",
    "size": f"iif(code.coding.where(system = '{LOINC}' and code = '{TUMOR_SIZE}').exists(), value.ofType(Quantity))"
            f" | component.where(code.coding.where(system = '{LOINC}' and code = '{TUMOR_SIZE}').exists())"
            ".value.ofType(Quantity)",
    "effective": "effective.ofType(dateTime) | effective.ofType(Period).start | issued",
    "obs_status": "status",
}


@lru_cache(maxsize=None)
def _compiled(name: str):
    return fhirpathpy.compile(PATHS[name], models["r4"])


def read(resource: dict, name: str) -> list:
    """The values of one of PATHS in a resource (FHIRPath over its JSON)."""
    return _compiled(name)(resource)


def first(resource: dict, name: str) -> Any:
    found = read(resource, name)
    return found[0] if found else None


class PrefetchMissing(Exception):
    """A resource the decision needs is neither in the prefetch nor in the request (CDS Hooks: 412)."""


# -- the mapping tables ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    sites: dict[str, str]  # SNOMED CT code -> site
    documents: dict[str, str]  # ICD-10-CM code -> the case field it documents


def _table(policy: Policy, name: str) -> Path:
    """A policy folder's own table, else the project's (an author's older copy may lack it)."""
    own = policy.data_dir / name
    return own if own.is_file() else default_root() / "data" / name


@lru_cache(maxsize=8)
def tables(policy: Policy) -> Tables:
    """The two mapping tables, checked (a bad row is a broken policy: exit 3 at start-up)."""
    sites: dict[str, str] = {}
    path = _table(policy, SITES_FILE)
    for lineno, row in read_csv(path, ("snomed", "site", "source")):
        where = f"data/{SITES_FILE}:{lineno}"
        if not row["snomed"].isdigit():
            raise PolicyError(f"{where}: {row['snomed']!r} is not a SNOMED CT code (digits)")
        if row["site"] not in policy.data.sites:
            raise PolicyError(f"{where}: site {row['site']!r} is not in data/sites.csv")
        if row["snomed"] in sites:
            raise PolicyError(f"{where}: SNOMED CT {row['snomed']} is listed twice")
        sites[row["snomed"]] = row["site"]
    documents: dict[str, str] = {}
    codes = icd10.code_set()
    for lineno, row in read_csv(_table(policy, CONDITIONS_FILE), ("code", "documents", "source")):
        where = f"data/{CONDITIONS_FILE}:{lineno}"
        code = icd10.normalize(row["code"])
        if codes.kind(code) != "billable":
            raise PolicyError(f"{where}: {row['code']} is not a billable ICD-10-CM code (release {codes.release})")
        if row["documents"] not in DOCUMENTS:
            raise PolicyError(f"{where}: documents must be one of {', '.join(DOCUMENTS)}")
        documents[code] = row["documents"]
    return Tables(sites, documents)


# -- the request's resources -------------------------------------------------------------------


def _entries(value: Any) -> list[tuple[dict, str | None]]:
    """The resources of a prefetch value or of draftOrders: a Bundle's entries (with their
    fullUrl), or one resource; nothing for null or anything else."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        out = []
        for entry in value.get("entry") or []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                out.append((entry["resource"], entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None))
        return out
    return [(value, None)] if isinstance(value.get("resourceType"), str) else []


def ref_of(resource: dict) -> str | None:
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid}" if isinstance(rid, str) and rid else None


class Resources:
    """Every resource of a request, found by its reference."""

    def __init__(self) -> None:
        self.by_ref: dict[str, dict] = {}
        self.of_type: dict[str, list[dict]] = defaultdict(list)

    def add(self, resource: dict, full_url: str | None) -> None:
        kind = resource.get("resourceType")
        self.of_type[kind].append(resource)
        ref = ref_of(resource)
        for key in (ref, full_url):
            if key:
                self.by_ref.setdefault(key, resource)
        for inner in resource.get("contained") or []:  # `#id` references, resolved against their holder
            if isinstance(inner, dict) and isinstance(inner.get("resourceType"), str):
                self.of_type[inner["resourceType"]].append(inner)

    def resolve(self, reference: str, holder: dict) -> dict | None:
        if reference.startswith("#"):
            for inner in holder.get("contained") or []:
                if isinstance(inner, dict) and inner.get("id") == reference[1:]:
                    return inner
            return None
        if reference in self.by_ref:
            return self.by_ref[reference]
        parts = reference.rstrip("/").split("/")  # an absolute URL: .../Condition/c1 (or .../_history/2)
        if "_history" in parts:
            parts = parts[:parts.index("_history")]
        return self.by_ref.get("/".join(parts[-2:])) if len(parts) >= 2 else None


# -- orders and lesions into cases -------------------------------------------------------------


@dataclass
class Order:
    index: int  # its place among the draft orders
    resource: dict
    label: str  # ServiceRequest/sr-1, or "draft order 2" for one without an id
    code: str | None  # the CPT code
    date: dt.date | None


@dataclass
class Draft:
    """One case built from the orders of one date of service."""

    doc: dict
    orders: list[Order]  # line i of doc is orders[i]
    lesions: list[str]  # lesion j of doc comes from this resource (Condition/c1, or the order)
    carried: list[frozenset[str]]  # per lesion: the case facts the resources documented
    notes: dict[str, str] = field(default_factory=dict)  # case path -> why the FHIR data gave no value


def _date(value: Any) -> dt.date | None:
    if isinstance(value, str) and _DATE.match(value):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def orders_of(context: dict) -> list[Order]:
    """The draft orders (ServiceRequest, Procedure) of a hook's context, in order."""
    out = []
    for i, (resource, _) in enumerate(_entries(context.get("draftOrders"))):
        if resource.get("resourceType") not in ORDER_TYPES:
            continue
        codes = read(resource, "cpt")
        code = codes[0].strip() if codes and isinstance(codes[0], str) else None
        out.append(Order(i, resource, ref_of(resource) or f"draft order {i + 1}", code,
                         _date(first(resource, "order_date"))))
    return out


def _active(condition: dict) -> bool:
    return not (set(read(condition, "clinical")) & NOT_ACTIVE or set(read(condition, "verification")) & NOT_TRUE)


class CaseBuilder:
    """Cases (one per date of service) from a request's orders and prefetched resources."""

    def __init__(self, policy: Policy, request: dict, case_id: str, today: dt.date):
        self.policy, self.tables = policy, tables(policy)
        self.case_id, self.today = case_id, today
        self.prefetch = request.get("prefetch") if isinstance(request.get("prefetch"), dict) else {}
        self.context = request["context"]
        self.resources = Resources()
        for value in [self.context.get("draftOrders"), *self.prefetch.values()]:
            for resource, full_url in _entries(value):
                self.resources.add(resource, full_url)

    def conditions(self) -> list[dict]:
        return [c for c in self.resources.of_type.get("Condition", []) if _active(c)]

    def patient_documents(self) -> set[str]:
        """What the patient's other active Conditions document (immunosuppressed)."""
        return {self.tables.documents[icd10.normalize(code)] for c in self.conditions()
                for code in read(c, "icd") if isinstance(code, str)
                and self.tables.documents.get(icd10.normalize(code)) == "immunosuppressed"}

    def drafts(self, orders: list[Order]) -> list[Draft]:
        by_date: dict[dt.date, list[Order]] = defaultdict(list)
        for order in orders:
            if order.code:
                by_date[order.date or self.today].append(order)
        documents = self.patient_documents()
        many = len(by_date) > 1
        return [self.draft(day, group, documents, f"{self.case_id}/{day.isoformat()}" if many else self.case_id)
                for day, group in sorted(by_date.items())]

    def draft(self, day: dt.date, orders: list[Order], documents: set[str], case_id: str) -> Draft:
        lesions: list[dict] = []
        sources: list[str] = []
        carried: list[frozenset[str]] = []
        notes: dict[str, str] = {}
        index: dict[str, str] = {}  # lesion source -> lesion id
        lines = []
        for n, order in enumerate(orders):
            named = []
            for source, condition in self.reasons(order):
                if source not in index:
                    index[source] = self.lesion_id(condition, source, set(index.values()))
                    sources.append(source)
                    lesion, facts, why = self.lesion(index[source], condition, order, documents)
                    for key, text in why.items():
                        notes[f"lesions[{len(lesions)}].{key}"] = text
                    lesions.append(lesion)
                    carried.append(facts)
                named.append(index[source])
            line: dict[str, Any] = {"line": n + 1, "code": order.code}
            units = first(order.resource, "units")
            if isinstance(units, int) and not isinstance(units, bool):
                line["units"] = units
            elif isinstance(units, Decimal) and units == units.to_integral_value():
                line["units"] = int(units)
            if len(named) == 1:
                line["lesion"] = named[0]
            elif named:
                line["lesions"] = named
            else:
                notes[f"lines[{n}].lesion"] = f"{order.label} names no Condition (reasonReference) and no ICD-10-CM reasonCode"
            lines.append(line)
        doc: dict[str, Any] = {"id": case_id, "date_of_service": day.isoformat()}
        if "immunosuppressed" in documents:
            doc["patient"] = {"immunosuppressed": True}
        doc["lesions"] = lesions
        doc["lines"] = lines
        return Draft(doc, orders, sources, carried, notes)

    @staticmethod
    def lesion_id(condition: dict | None, source: str, taken: set[str]) -> str:
        """The Condition's id (the order's, for a reasonCode), made unique within the case."""
        rid = (condition or {}).get("id")
        base = rid if isinstance(rid, str) and 0 < len(rid) <= 64 else source.rsplit("/", 1)[-1][:64] or "lesion"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def reasons(self, order: Order) -> list[tuple[str, dict | None]]:
        """The Conditions an order is for: (their reference, the resource); an order without a
        reasonReference but with an ICD-10-CM reasonCode is a lesion of its own (None)."""
        refs = [r for r in read(order.resource, "reasons") if isinstance(r, str)]
        found = []
        for ref in refs:
            condition = self.resources.resolve(ref, order.resource)
            if condition is None or condition.get("resourceType") != "Condition":
                key = "conditions"
                given = "is not in the request" if key not in self.prefetch or self.prefetch[key] is None else \
                    f"is not in the prefetched {key!r}"
                raise PrefetchMissing(f"{order.label} is for {ref}, which {given}: the service needs the Condition "
                                      f"(prefetch key {key!r}) and does not fetch it")
            if ref.startswith("#"):
                found.append((f"{order.label}{ref}", condition))
            else:
                found.append((ref_of(condition) or ref, condition))
        if not found and read(order.resource, "reason_icd"):
            found.append((order.label, None))
        return found

    def lesion(self, lesion_id: str, condition: dict | None, order: Order,
               documents: set[str]) -> tuple[dict, frozenset[str], dict[str, str]]:
        """A lesion of the case, the case facts the resources documented, and notes on what they lacked."""
        holder = condition if condition is not None else order.resource
        lesion: dict[str, Any] = {"id": lesion_id}
        facts = {"lesion"}
        why: dict[str, str] = {}
        codes = read(holder, "icd" if condition is not None else "reason_icd")
        what = ref_of(holder) or order.label
        if codes and isinstance(codes[0], str):
            lesion["diagnosis"] = codes[0]
            facts.add("diagnosis")
        else:
            why["diagnosis"] = f"{what} has no ICD-10-CM code (system {ICD10CM})"
        snomed = [c for c in read(holder, "body_site") if isinstance(c, str)] or \
            [c for c in read(order.resource, "body_site") if isinstance(c, str)]
        sites = [self.tables.sites[c] for c in snomed if c in self.tables.sites]
        if sites:
            lesion["site"] = sites[0]
            facts.add("site")
        elif snomed:
            why["site"] = f"{what}: body site SNOMED CT {snomed[0]} is not in data/{SITES_FILE}"
        else:
            why["site"] = f"{what} has no SNOMED CT bodySite"
        if condition is not None:
            size = self.size(condition)
            if size is not None:
                lesion[size[0]] = size[1]
                facts.add("size_um")
            if "recurrence" in read(condition, "clinical"):
                lesion["recurrent"] = True
                facts.add("recurrent")
            if self.irradiated_at(snomed):
                lesion["previously_irradiated"] = True
                facts.add("previously_irradiated")
        if "immunosuppressed" in documents:
            facts.add("immunosuppressed")
        return lesion, frozenset(facts), why

    def size(self, condition: dict) -> tuple[str, Decimal | int] | None:
        """The lesion's largest dimension from its latest tumor-size Observation: (size_cm or size_mm, value)."""
        ref = ref_of(condition)
        evidence = {r for r in read(condition, "evidence") if isinstance(r, str)}
        found = []
        for obs in self.resources.of_type.get("Observation", []):
            if first(obs, "obs_status") in ("entered-in-error", "cancelled"):
                continue
            about = set(read(obs, "focus"))
            if not (ref and (ref in about or any(a.endswith("/" + ref) for a in about if isinstance(a, str)))) \
                    and not (ref_of(obs) and ref_of(obs) in evidence):
                continue
            for quantity in read(obs, "size"):
                unit = quantity.get("code") if isinstance(quantity, dict) else None
                value = quantity.get("value") if isinstance(quantity, dict) else None
                system = quantity.get("system", UCUM) if isinstance(quantity, dict) else None
                if system == UCUM and unit in ("cm", "mm") and isinstance(value, (int, Decimal)) \
                        and not isinstance(value, bool):
                    found.append((str(first(obs, "effective") or ""), f"size_{unit}", value))
        if not found:
            return None
        latest = max(found, key=lambda f: f[0])
        return latest[1], latest[2]

    def irradiated_at(self, snomed: list[str]) -> bool:
        if not snomed:
            return False
        for c in self.conditions():
            if any(self.tables.documents.get(icd10.normalize(code)) == "previously_irradiated"
                   for code in read(c, "icd") if isinstance(code, str)) and set(read(c, "body_site")) & set(snomed):
                return True
        return False
