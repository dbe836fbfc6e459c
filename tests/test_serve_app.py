"""The serve application's own pieces, in process (Starlette's test client): what a bug or a
policy that breaks on one case answers, and that one case's fault costs no other its answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mohs_asp.errors import PolicyError
from mohs_asp.policy.load import load_policy
from mohs_asp.serve import app as serve_app
from mohs_asp.serve import crd, fhir

EXAMPLES = sorted((Path(__file__).resolve().parent / "examples").glob("*.case.json"))
JSON = {"Content-Type": "application/json"}


@pytest.fixture()
def client():
    with TestClient(serve_app.create_app(load_policy()), raise_server_exceptions=True) as c:
        yield c


def test_a_bug_answers_500_without_a_traceback_or_a_path(client, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("/home/someone/secret/engine.py line 3: boom")

    monkeypatch.setattr(crd, "answer_hook", broken)
    r = client.post("/cds-services/mohs-asp-order-sign", content=b"{}", headers=JSON)
    assert r.status_code == 500 and r.json() == {"error": "internal", "message": "internal error: the service logged it"}
    logged = capsys.readouterr().err
    assert "RuntimeError" in logged and "Traceback" not in logged and len(logged.strip().splitlines()) == 1


def test_a_policy_that_breaks_on_a_case_answers_500_naming_the_rule(client, monkeypatch):
    def broken(*args, **kwargs):
        raise PolicyError("logic/claims.lp:92: rule mms_payable derives payable(0,x) for case 'a', but x is not a line number")

    monkeypatch.setattr(serve_app.api, "answer", broken)
    r = client.post("/check", content=EXAMPLES[0].read_bytes(), headers=JSON)
    assert r.status_code == 500 and r.json()["error"] == "policy" and "logic/claims.lp:92" in r.json()["message"]


def test_one_case_that_breaks_the_solver_run_costs_no_other_its_answer(monkeypatch):
    policy = load_policy()
    real = serve_app.api.answer

    def fragile(docs, *args, **kwargs):
        if any(isinstance(d, dict) and d.get("id") == "poison" for d in docs):
            raise PolicyError("logic/x.lp:1: this case breaks the policy")
        return real(docs, *args, **kwargs)

    monkeypatch.setattr(serve_app.api, "answer", fragile)
    answerer = object.__new__(serve_app.Answerer)
    answerer.policy, answerer.explain = policy, False
    good = EXAMPLES[0].read_bytes()
    out = answerer._solve([(good, ".json"), (b'{"id": "poison", "date_of_service": "2026-01-01"}', ".json"), (good, ".json")])
    assert isinstance(out[1], PolicyError)
    assert out[0] == out[2] and out[0]["case"] == json.loads(good)["id"]


def test_an_order_with_its_own_reason_code_and_body_site_needs_no_condition(client):
    body = json.dumps({"hook": "order-sign", "hookInstance": "i-1", "context": {
        "patientId": "p", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {
            "resourceType": "ServiceRequest", "id": "s", "code": {"coding": [{"system": fhir.CPT, "code": "17311"}]},
            "reasonCode": [{"coding": [{"system": fhir.ICD10CM, "code": "C44.311"}]}],
            "bodySite": [{"coding": [{"system": fhir.SNOMED, "code": "45206002"}]}]}}]}},
        "prefetch": {"coverage": {"resourceType": "Coverage", "id": "c", "status": "active"}}})
    r = client.post("/cds-services/mohs-asp-order-sign", content=body.encode(), headers=JSON)
    assert r.status_code == 200
    card = r.json()["cards"][0]
    assert card["summary"].startswith("17311 is covered") and len(card["summary"]) <= crd.SUMMARY_MAX
