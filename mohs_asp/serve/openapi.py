"""The OpenAPI 3.1 document of `mohs-asp serve` (GET /openapi.json)."""

from __future__ import annotations

from ..policy.load import Policy
from ..case.schema import case_schema


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _case_body(description: str) -> dict:
    case = {"$ref": "#/components/schemas/Case"}
    return {"required": True, "description": description, "content": {
        "application/json": {"schema": case},
        "application/yaml": {"schema": case},
        "application/x-yaml": {"schema": case},
        "text/yaml": {"schema": case}}}


def _answers(explained: bool) -> dict:
    answer = {"$ref": "#/components/schemas/Answer"}
    return {
        "200": {"description": "The case was decided: the contract's answer"
                               + (", with an explanation on every lesion and line" if explained else ""),
                "content": {"application/json": {"schema": answer}}},
        "413": _error("The body is over the input limit (a JSON case 10 MB, a YAML case 1 MB)"),
        "415": _error("The Content-Type is not JSON or YAML (or a charset other than UTF-8)"),
        "422": {"description": "The case is invalid: `status: invalid` with every error (path and message)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invalid"}}}},
        "503": _error("No answer within the time limit (Retry-After: 1)"),
    }


def openapi(policy: Policy, version: str) -> dict:
    cds_body = {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HookRequest"}}}}
    outcome = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "mohs-asp serve", "version": version,
                 "description": "Coverage of Mohs micrographic surgery from the payer's policy rules: a JSON API, "
                                "CDS Hooks services for Da Vinci CRD, and a page for billing staff (GET /). Every answer "
                                "comes from the same pipeline as `mohs-asp check`."},
        "paths": {
            "/check": {"post": {"summary": "Decide one case", "operationId": "check",
                                "requestBody": _case_body("A case (the contract's format)"), "responses": _answers(False)}},
            "/explain": {"post": {"summary": "Decide one case and say why", "operationId": "explain",
                                  "requestBody": _case_body("A case (the contract's format)"), "responses": _answers(True)}},
            "/batch": {"post": {
                "summary": "Decide many cases: JSON Lines in, one answer a line out, in order, streamed",
                "operationId": "batch",
                "parameters": [{"name": "explain", "in": "query", "required": False, "schema": {"type": "boolean"},
                                "description": "Add each answer's explanation"}],
                "requestBody": {"required": True, "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                                              "application/jsonl": {"schema": {"type": "string"}}}},
                "responses": {"200": {"description": "One answer a line (as `mohs-asp batch`); an invalid line's answer "
                                                     "carries its input_line",
                                      "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                              "413": _error("The body is over 100 MB"), "415": _error("Not JSON Lines"),
                              "503": _error("The first 500 lines took longer than the time limit")}}},
            "/rules": {"get": {"summary": "Every rule: id, source (logic/FILE.lp:LINE) and the policy sentence",
                               "operationId": "rules", "responses": {"200": {"description": "The rules", "content": {
                                   "application/json": {"schema": {"type": "array", "items": {
                                       "$ref": "#/components/schemas/Rule"}}}}}}}},
            "/schema": {"get": {"summary": "The JSON Schema of the case format", "operationId": "schema",
                                "responses": {"200": {"description": "JSON Schema (2020-12)",
                                                      "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/health": {"get": {"summary": "The service is up: the policy's id, version and digest", "operationId": "health",
                                "responses": {"200": {"description": "Up", "content": {
                                    "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/cds-services": {"get": {"summary": "CDS Hooks discovery", "operationId": "cdsDiscovery",
                                      "responses": {"200": {"description": "The services (order-sign, order-select)"}}}},
            "/cds-services/{service}": {"post": {
                "summary": "A CDS Hooks call (Da Vinci CRD): cards and coverage-information system actions",
                "operationId": "cdsHook",
                "parameters": [{"name": "service", "in": "path", "required": True, "schema": {
                    "type": "string", "enum": ["mohs-asp-order-sign", "mohs-asp-order-select"]}}],
                "requestBody": cds_body,
                "responses": {"200": {"description": "cards and systemActions", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/HookResponse"}}}},
                    "400": {"description": "A malformed hook request", **outcome},
                    "404": {"description": "No such service", **outcome},
                    "412": {"description": "A resource the decision needs was not prefetched (the Condition an order "
                                           "names, or the Coverage); the service does not fetch it", **outcome},
                    "413": {"description": "The request is over 10 MB", **outcome},
                    "415": {"description": "Not JSON", **outcome},
                    "503": _error("No answer within the time limit")}}},
            "/": {"get": {"summary": "The page for billing staff", "operationId": "page",
                          "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
        },
        "components": {"schemas": {
            "Case": case_schema(policy),
            "Answer": {"type": "object", "required": ["case", "status", "decision", "lesions", "lines"], "properties": {
                "case": {"type": "string"}, "status": {"const": "ok"},
                "decision": {"enum": ["covered", "not_covered", "no_mms"]},
                "lesions": {"type": "array", "items": {"type": "object"}},
                "lines": {"type": "array", "items": {"type": "object", "properties": {
                    "line": {"type": "integer"}, "code": {"type": "string"},
                    "outcome": {"enum": ["payable", "bundled", "denied", "not_addressed"]},
                    "into": {"type": "integer"}, "rules": {"type": "array", "items": {"type": "string"}}}}}}},
            "Invalid": {"type": "object", "required": ["status", "errors"], "properties": {
                "case": {"type": ["string", "null"]}, "status": {"const": "invalid"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {
                    "path": {"type": "string"}, "message": {"type": "string"}}}}}},
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
            "Rule": {"type": "object", "properties": {"id": {"type": "string"}, "source": {"type": "string"},
                                                      "policy": {"type": ["string", "null"]}}},
            "Health": {"type": "object", "properties": {
                "status": {"const": "ok"}, "engine_version": {"type": "string"},
                "policy": {"type": "object", "properties": {"id": {"type": "string"}, "version": {"type": ["string", "null"]},
                                                            "digest": {"type": "string"}, "rules": {"type": "integer"}}}}},
            "HookRequest": {"type": "object", "required": ["hook", "hookInstance", "context"], "properties": {
                "hook": {"enum": ["order-sign", "order-select"]}, "hookInstance": {"type": "string"},
                "fhirServer": {"type": "string"}, "context": {"type": "object", "required": ["patientId", "draftOrders"]},
                "prefetch": {"type": "object"}}},
            "HookResponse": {"type": "object", "properties": {"cards": {"type": "array"}, "systemActions": {"type": "array"}}},
            "OperationOutcome": {"type": "object", "properties": {"resourceType": {"const": "OperationOutcome"},
                                                                  "issue": {"type": "array"}}},
        }},
    }
