"""`mohs-asp serve` as a CDS Hooks service for Da Vinci CRD: discovery, order-sign and
order-select calls through a real server, each answer held to the coverage-information rules
of the specification; the FHIR-to-case mapping checked in the library."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import signal
from decimal import Decimal

import pytest

from mohs_asp.policy import icd10
from mohs_asp.policy.load import load_policy
from mohs_asp.serve import fhir
from mohs_asp.serve.crd import EXT
from helpers import EXE
from serving import INTERNAL, Server

pytestmark = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

SIGN = "/cds-services/mohs-asp-order-sign"
SELECT = "/cds-services/mohs-asp-order-select"
CPT, ICD, SCT = "http://www.ama-assn.org/go/cpt", "http://hl7.org/fhir/sid/icd-10-cm", "http://snomed.info/sct"
NOSE, BACK, ELBOW_UNLISTED = "45206002", "77568009", "127949000"


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    assert s.stop() == -signal.SIGTERM
    assert not INTERNAL.search(s.output()), s.output()


def condition(cid="lesion-a", icd="C44.311", site=NOSE, status="active"):
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": status}]},
            "code": {"coding": [{"system": ICD, "code": icd}]},
            "bodySite": [{"coding": [{"system": SCT, "code": site}]}] if site else []}


def order(oid="sr-1", code="17311", reason="Condition/lesion-a", date="2026-03-14", kind="ServiceRequest"):
    resource = {"resourceType": kind, "id": oid, "status": "draft", "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": CPT, "code": code}]}}
    if kind == "ServiceRequest":
        resource["intent"] = "order"
        if date:
            resource["occurrenceDateTime"] = date
    elif date:
        resource["performedDateTime"] = date
    if reason:
        resource["reasonReference"] = [{"reference": reason}]
    return resource


def size(value, unit="cm", focus="Condition/lesion-a", component=False):
    quantity = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    obs = {"resourceType": "Observation", "id": f"size-{focus.rsplit('/', 1)[-1]}", "status": "final",
           "focus": [{"reference": focus}]}
    if component:  # mCODE's tumor size: a panel (21889-1) with the longest dimension as a component
        obs["code"] = {"coding": [{"system": "http://loinc.org", "code": "21889-1"}]}
        obs["component"] = [{"code": {"coding": [{"system": "http://loinc.org", "code": "33728-7"}]}, "valueQuantity": quantity}]
    else:
        obs["code"] = {"coding": [{"system": "http://loinc.org", "code": "33728-7"}]}
        obs["valueQuantity"] = quantity
    return obs


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def request(orders, conditions=(), observations=(), hook="order-sign", coverage=True, selections=None, **extra):
    prefetch = {"patient": {"resourceType": "Patient", "id": "p1"}, "conditions": bundle(*conditions),
                "observations": bundle(*observations)}
    if coverage:
        prefetch["coverage"] = bundle({"resourceType": "Coverage", "id": "cov-1", "status": "active"})
    context = {"userId": "Practitioner/dr-1", "patientId": "p1",
               "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]}}
    if hook == "order-select":
        context["selections"] = selections or [f"{o['resourceType']}/{o['id']}" for o in orders[:1]]
    body = {"hook": hook, "hookInstance": "2f4c8a1e-6b1d-4c61-9d6e-3c8f0e8a7b21", "fhirServer": "https://ehr.example/fhir",
            "context": context, "prefetch": prefetch}
    body.update(extra)
    return body


def dumps(body) -> bytes:
    """JSON with Decimals written exactly (1.99999999999999999 stays itself)."""
    text = json.dumps(body, default=lambda d: f"@@{d}@@" if isinstance(d, Decimal) else None)
    return re.sub(r'"@@([-0-9.Ee+]+)@@"', r"\1", text).encode()


def call(server, body, path=SIGN):
    r = server.client.post(path, content=dumps(body), headers={"Content-Type": "application/json"})
    assert not INTERNAL.search(r.text), r.text
    return r


def info(action) -> dict[str, list]:
    """The coverage-information extension of a system action, as {sub-extension url: [values]}."""
    exts = [e for e in action["resource"]["extension"] if e["url"] == EXT]
    assert len(exts) == 1
    out: dict[str, list] = {}
    for sub in exts[0]["extension"]:
        value = [v for k, v in sub.items() if k.startswith("value") or k == "extension"]
        assert len(value) == 1, sub
        out.setdefault(sub["url"], []).append(value[0])
    return out


def valid_coverage_information(fields: dict[str, list]) -> None:
    """The rules CRD (STU 2) sets on ext-coverage-information."""
    for name in ("coverage", "covered", "date", "coverage-assertion-id"):
        assert len(fields.get(name, [])) == 1, f"{name} must be given once"
    assert fields["covered"][0] in ("covered", "not-covered", "conditional")
    assert len(fields.get("pa-needed", [])) <= 1
    if fields["covered"][0] == "not-covered":
        assert "pa-needed" not in fields, "not-covered has no pa-needed"
    conditional = "conditional" in fields["covered"] + fields.get("pa-needed", []) + fields.get("doc-needed", [])
    assert ("info-needed" in fields) == conditional, "info-needed is present exactly when a field is conditional"
    if "OTH" in fields.get("info-needed", []):
        assert fields.get("reason"), "info-needed OTH needs a reason"
    assert set(fields.get("doc-needed", [])) <= {"clinical", "admin", "patient", "conditional"}
    assert set(fields.get("info-needed", [])) <= {"performer", "location", "timeframe", "contract-window", "detail-code", "OTH"}
    assert set(fields) <= {"coverage", "covered", "pa-needed", "doc-needed", "doc-purpose", "info-needed", "billingCode",
                           "reason", "detail", "questionnaire", "date", "coverage-assertion-id", "satisfied-pa-id", "contact"}
    dt.date.fromisoformat(fields["date"][0])
    assert fields["coverage"][0]["reference"].startswith("Coverage/")


def answered(server, body, path=SIGN) -> tuple[dict, list[dict[str, list]]]:
    r = call(server, body, path)
    assert r.status_code == 200, r.text
    answer = r.json()
    fields = [info(a) for a in answer["systemActions"]]
    for f in fields:
        valid_coverage_information(f)
    for c in answer["cards"]:
        assert len(c["summary"]) < 140 and c["indicator"] in ("info", "warning", "critical") and c["source"]["label"]
    assert all(a["type"] == "update" for a in answer["systemActions"])
    return answer, fields


# -- discovery ------------------------------------------------------------------------------------


def test_discovery_lists_order_sign_and_order_select_with_their_prefetch(server):
    r = server.client.get("/cds-services")
    services = r.json()["services"]
    assert {(s["hook"], s["id"]) for s in services} == {("order-sign", "mohs-asp-order-sign"),
                                                        ("order-select", "mohs-asp-order-select")}
    for s in services:
        assert s["description"] and set(s["prefetch"]) == {"patient", "coverage", "conditions", "observations"}
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert r.headers["access-control-allow-origin"] == "*"


def test_a_browser_client_may_call_the_services(server):
    r = server.client.options(SIGN, headers={"Origin": "https://sandbox.example", "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]


# -- covered, not covered, conditional ---------------------------------------------------------


def test_a_covered_order(server):
    answer, (fields,) = answered(server, request([order()], [condition()]))
    assert fields["covered"] == ["covered"] and "doc-needed" not in fields and "info-needed" not in fields
    assert fields["coverage"] == [{"reference": "Coverage/cov-1"}]
    assert fields["billingCode"] == [{"system": CPT, "code": "17311"}]
    assert [c["code"] for c in fields["reason"][0]["coding"]] == ["mms_payable"]
    assert fields["detail"][0][1]["valueUrl"].endswith("/rules")
    (card,) = answer["cards"]
    assert card["indicator"] == "info" and card["summary"].startswith("17311 is covered")
    resource = answer["systemActions"][0]["resource"]
    assert {k: v for k, v in resource.items() if k != "extension"} == order()  # the order as sent, plus the extension


def test_a_not_covered_order(server):
    answer, (fields,) = answered(server, request([order()], [condition(icd="L57.0")]))
    assert fields["covered"] == ["not-covered"] and "pa-needed" not in fields and "info-needed" not in fields
    assert "mms_diagnosis_not_covered" in [c["code"] for c in fields["reason"][0]["coding"]]
    assert "L57.0 is not on the covered list" in fields["reason"][0]["text"]
    assert answer["cards"][0]["indicator"] == "warning" and "not covered" in answer["cards"][0]["summary"]


def test_a_wrong_family_code_is_not_covered(server):
    _, (fields,) = answered(server, request([order(code="17313")], [condition()]))
    assert fields["covered"] == ["not-covered"]
    assert [c["code"] for c in fields["reason"][0]["coding"]] == ["mms_wrong_family"]


def test_an_order_that_hangs_on_documentation_is_conditional(server):
    body = request([order(code="17313")], [condition(icd="C44.519", site=BACK)], [size(Decimal("1.1"))])
    answer, (fields,) = answered(server, body)
    assert fields["covered"] == ["conditional"] and fields["doc-needed"] == ["clinical"] and fields["info-needed"] == ["OTH"]
    text = fields["reason"][0]["text"]
    assert "borders documented as ill_defined" in text and "patient documented as immunosuppressed: yes" in text
    # what the order already says is not asked for again: its site and its size
    assert "site one of" not in text and "size at least" not in text
    assert "documentation" in answer["cards"][0]["summary"] and "would qualify" in answer["cards"][0]["detail"]


def test_an_undocumented_size_is_asked_for(server):
    _, (fields,) = answered(server, request([order(code="17313")], [condition(icd="C44.519", site=BACK)]))
    assert fields["covered"] == ["conditional"] and "size at least 2.0 cm" in fields["reason"][0]["text"]


@pytest.mark.parametrize("obs", [size(25, "mm"), size(Decimal("2.0")), size(Decimal("2.0"), component=True)])
def test_a_tumor_size_observation_of_2_cm_qualifies_a_back_lesion(server, obs):
    _, (fields,) = answered(server, request([order(code="17313")], [condition(icd="C44.519", site=BACK)], [obs]))
    assert fields["covered"] == ["covered"]


def test_a_size_is_compared_exactly(server):
    obs = size(Decimal("1.99999999999999999"))
    _, (fields,) = answered(server, request([order(code="17313")], [condition(icd="C44.519", site=BACK)], [obs]))
    assert fields["covered"] == ["conditional"]


@pytest.mark.parametrize("code", ["Z94.0", "D84.821", "B20"])
def test_a_condition_documenting_immunosuppression_qualifies(server, code):
    other = condition(cid="transplant", icd=code, site=None)
    _, (fields,) = answered(server, request([order(code="17313")], [condition(icd="C44.519", site=BACK), other]))
    assert fields["covered"] == ["covered"]
    assert "immunosuppressed" not in fields["reason"][0]["text"] or "medically necessary" in fields["reason"][0]["text"]


def test_a_resolved_immunosuppression_does_not_count(server):
    other = condition(cid="transplant", icd="Z94.0", site=None, status="resolved")
    _, (fields,) = answered(server, request([order(code="17313")], [condition(icd="C44.519", site=BACK), other]))
    assert fields["covered"] == ["conditional"]


def test_a_recurrence_qualifies(server):
    _, (fields,) = answered(server, request([order(code="17313")], [condition(icd="C44.519", site=BACK, status="recurrence")]))
    assert fields["covered"] == ["covered"]


def test_prior_irradiation_at_the_same_site_qualifies_and_elsewhere_does_not(server):
    lesion = condition(icd="C44.519", site=BACK)
    here = condition(cid="rt", icd="Z92.3", site=BACK)
    there = condition(cid="rt", icd="Z92.3", site=NOSE)
    assert answered(server, request([order(code="17313")], [lesion, here]))[1][0]["covered"] == ["covered"]
    assert answered(server, request([order(code="17313")], [lesion, there]))[1][0]["covered"] == ["conditional"]


def test_a_pathology_order_is_covered_within_its_mms_order(server):
    orders = [order(), order("sr-2", "88331")]
    answer, fields = answered(server, request(orders, [condition()]))
    assert [f["covered"] for f in fields] == [["covered"], ["covered"]]
    assert "paid within ServiceRequest/sr-1" in fields[1]["reason"][0]["text"]
    assert answer["cards"][0]["summary"] == "2 orders: 2 covered"


def test_three_orders_one_of_each(server):
    conditions = [condition(), condition("lesion-b", "L57.0", NOSE), condition("lesion-c", "C44.519", BACK)]
    orders = [order(), order("sr-2", "17311", "Condition/lesion-b"), order("sr-3", "17313", "Condition/lesion-c")]
    answer, fields = answered(server, request(orders, conditions))
    assert [f["covered"][0] for f in fields] == ["covered", "not-covered", "conditional"]
    assert answer["cards"][0]["summary"] == "3 orders: 1 covered, 1 not covered, 1 needs documentation"
    ids = [f["coverage-assertion-id"][0] for f in fields]
    assert len(set(ids)) == 3
    _, again = answered(server, request(orders, conditions))
    assert [f["coverage-assertion-id"][0] for f in again] == ids  # the same request, the same assertions


def test_an_order_the_policy_does_not_address_gets_no_coverage_information(server):
    orders = [order(), order("sr-2", "99213", reason=None), order("mr-1", kind="MedicationRequest")]
    answer, fields = answered(server, request(orders, [condition()]))
    assert [a["resource"]["id"] for a in answer["systemActions"]] == ["sr-1"]


def test_a_procedure_order_and_a_reason_code_are_read_too(server):
    proc = order(kind="Procedure", reason=None)
    proc["reasonCode"] = [{"coding": [{"system": ICD, "code": "C44.311"}]}]
    proc["bodySite"] = [{"coding": [{"system": SCT, "code": NOSE}]}]
    _, (fields,) = answered(server, request([proc]))
    assert fields["covered"] == ["covered"]


def test_a_site_the_table_lacks_is_undetermined_and_the_other_orders_are_decided(server):
    conditions = [condition(), condition("lesion-b", "C44.619", ELBOW_UNLISTED)]
    orders = [order(), order("sr-2", "17313", "Condition/lesion-b")]
    _, fields = answered(server, request(orders, conditions))
    assert fields[0]["covered"] == ["covered"]
    assert fields[1]["covered"] == ["conditional"] and fields[1]["info-needed"] == ["OTH"]
    assert f"SNOMED CT {ELBOW_UNLISTED} is not in data/fhir_body_sites.csv" in fields[1]["reason"][0]["text"]


def test_a_condition_without_an_icd_10_cm_code_is_undetermined(server):
    c = condition()
    c["code"] = {"coding": [{"system": SCT, "code": "254701007"}]}
    _, (fields,) = answered(server, request([order()], [c]))
    assert fields["covered"] == ["conditional"] and "has no ICD-10-CM code" in fields["reason"][0]["text"]


def test_order_select_answers_the_selected_orders(server):
    orders = [order(), order("sr-2", "88331")]
    answer, fields = answered(server, request(orders, [condition()], hook="order-select",
                                              selections=["ServiceRequest/sr-2"]), SELECT)
    assert [a["resource"]["id"] for a in answer["systemActions"]] == ["sr-2"]
    assert "paid within ServiceRequest/sr-1" in fields[0]["reason"][0]["text"]


def test_orders_on_two_dates_are_two_cases(server):
    orders = [order(), order("sr-2", "88331", date="2026-04-01")]
    _, fields = answered(server, request(orders, [condition()]))
    # the pathology is on another day than the MMS: the policy does not combine it into the MMS line
    assert fields[0]["covered"] == ["covered"] and len(fields) == 1


# -- refused calls ----------------------------------------------------------------------------------


def test_a_prefetch_missing_the_condition_is_412(server):
    r = call(server, request([order()], []))
    assert r.status_code == 412
    body = r.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] == "error"
    assert "Condition/lesion-a" in body["issue"][0]["diagnostics"] and "'conditions'" in body["issue"][0]["diagnostics"]


def test_a_prefetch_without_coverage_is_412(server):
    r = call(server, request([order()], [condition()], coverage=False))
    assert r.status_code == 412 and "coverage" in r.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("change, said", [
    (lambda b: b.pop("hook"), "hook"),
    (lambda b: b.update(hook="patient-view"), "hook"),
    (lambda b: b.pop("hookInstance"), "hookInstance"),
    (lambda b: b.pop("context"), "context"),
    (lambda b: b["context"].pop("patientId"), "patientId"),
    (lambda b: b["context"].update(draftOrders=[1, 2]), "draftOrders"),
    (lambda b: b["context"]["draftOrders"].update(entry="x"), "entry"),
    (lambda b: b.update(prefetch=[]), "prefetch"),
])
def test_a_malformed_hook_request_is_400_with_an_operation_outcome(server, change, said):
    body = request([order()], [condition()])
    change(body)
    r = call(server, body)
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    assert said in r.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("content", [b"", b"{nope", b"[]", b"\xff", b"[" * 50000])
def test_a_hook_body_that_is_not_a_json_object_is_400(server, content):
    r = server.client.post(SIGN, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome" and not INTERNAL.search(r.text)


def test_order_select_without_selections_is_400(server):
    body = request([order()], [condition()], hook="order-select")
    body["context"].pop("selections")
    assert call(server, body, SELECT).status_code == 400


def test_an_unknown_service_is_404_and_a_wrong_media_type_415(server):
    assert call(server, request([order()], [condition()]), "/cds-services/nope").status_code == 404
    r = server.client.post(SIGN, content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["resourceType"] == "OperationOutcome"


# -- the mapping, in the library ----------------------------------------------------------------------


def test_the_mapping_tables_are_sound():
    policy = load_policy()
    tables = fhir.tables(policy)
    assert set(tables.sites.values()) <= set(policy.data.sites) and len(tables.sites) >= 20
    assert tables.sites[NOSE] == "nose" and tables.sites[BACK] == "back"
    codes = icd10.code_set()
    assert all(codes.kind(code) == "billable" for code in tables.documents)
    assert set(tables.documents.values()) == {"immunosuppressed", "previously_irradiated"}


def test_orders_and_resources_become_the_case_check_would_read():
    policy = load_policy()
    orders = [order(), order("sr-2", "88331"), order("sr-3", "11102", "Condition/lesion-b")]
    orders[2]["reasonReference"].append({"reference": "Condition/lesion-a"})
    orders[2]["quantityQuantity"] = {"value": 2}
    body = request(orders, [condition(), condition("lesion-b", "C44.519", BACK, "recurrence")],
                   [size(Decimal("0.9"))])
    builder = fhir.CaseBuilder(policy, copy.deepcopy(body), "inst-1", dt.date(2026, 1, 1))
    (draft,) = builder.drafts(fhir.orders_of(body["context"]))
    assert draft.doc == {
        "id": "inst-1", "date_of_service": "2026-03-14",
        "lesions": [{"id": "lesion-a", "diagnosis": "C44.311", "site": "nose", "size_cm": Decimal("0.9")},
                    {"id": "lesion-b", "diagnosis": "C44.519", "site": "back", "recurrent": True}],
        "lines": [{"line": 1, "code": "17311", "lesion": "lesion-a"}, {"line": 2, "code": "88331", "lesion": "lesion-a"},
                  {"line": 3, "code": "11102", "units": 2, "lesions": ["lesion-b", "lesion-a"]}]}
    assert draft.lesions == ["Condition/lesion-a", "Condition/lesion-b"]
    assert draft.carried[0] == {"lesion", "diagnosis", "site", "size_um"}
    assert draft.carried[1] == {"lesion", "diagnosis", "site", "recurrent"}


def test_an_order_without_a_date_is_decided_for_the_day_of_the_request():
    policy = load_policy()
    body = request([order(date=None)], [condition()])
    (draft,) = fhir.CaseBuilder(policy, body, "x", dt.date(2026, 5, 2)).drafts(fhir.orders_of(body["context"]))
    assert draft.doc["date_of_service"] == "2026-05-02"


def test_references_resolve_by_full_url_and_contained_resources():
    policy = load_policy()
    contained = order(reason="#c1")
    contained["contained"] = [{**condition(), "id": "c1"}]
    by_url = order("sr-2", reason="https://ehr.example/fhir/Condition/lesion-a/_history/3")
    body = request([contained, by_url], [condition()])
    (draft,) = fhir.CaseBuilder(policy, body, "x", dt.date(2026, 5, 2)).drafts(fhir.orders_of(body["context"]))
    assert [x.get("lesion") for x in draft.doc["lines"]] == ["c1", "lesion-a"]
    assert all(x["site"] == "nose" for x in draft.doc["lesions"])
