"""`mohs-asp serve`, the JSON API: a real server (the installed command, uvicorn) on a free
loopback port. Its answers are `check`'s and `explain`'s for every shared example and policy
case; bodies are limited while read; no answer carries a traceback or a path of this machine."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mohs_asp.case.check import parse_text
from mohs_asp.policy.load import load_policy
from helpers import EXE, POLICY_TESTS, copy_policy, one_case_texts, policy_tests
from serving import INTERNAL, TESTS, Server, free_port, strip_expect

pytestmark = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

EXAMPLES = sorted((TESTS / "examples").glob("*.case.json"))
# each case of tests/policy as the text of a one-case file, without its `expect:`
POLICY_CASES = [(name, strip_expect(text)) for path in sorted(POLICY_TESTS.glob("*.yaml"))
                for name, text in one_case_texts(path)]
JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    assert s.stop() == -signal.SIGTERM  # a graceful stop, then the signal itself ends it (as uvicorn does)
    assert not INTERNAL.search(s.output()), s.output()


def cli(*args) -> dict | list:
    result = subprocess.run([EXE, *map(str, args)], capture_output=True, timeout=120)
    assert result.returncode in (0, 1, 2), result.stderr
    return json.loads(result.stdout)


def both(paths, command):
    """`mohs-asp COMMAND --format json` for each path, two at a time."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda p: cli(command, p, "--format", "json"), paths))


def clean(response: httpx.Response) -> httpx.Response:
    assert not INTERNAL.search(response.text), response.text
    return response


# -- the same answers as the command ----------------------------------------------------------


def test_check_answers_every_example_as_check_does(server):
    for path, expected in zip(EXAMPLES, both(EXAMPLES, "check")):
        r = clean(server.client.post("/check", content=path.read_bytes(), headers=JSON))
        assert r.json() == expected, path.name
        assert r.status_code == (200 if expected["status"] == "ok" else 422)
        assert r.headers["content-type"] == "application/json"


def test_check_answers_every_policy_case_as_check_does(server, tmp_path):
    policy = load_policy()
    paths = []
    tests = {t.name: t for t in policy_tests()}
    for name, text in POLICY_CASES:
        assert parse_text(text, ".yaml") == tests[name].doc, name  # what policy_tests.py reads
        copy = tmp_path / f"{name}.yaml"
        copy.write_text(text)
        paths.append(copy)
    assert len(paths) == len(tests) > 300 and policy.rules
    for path, expected in zip(paths, both(paths, "check")):
        r = clean(server.client.post("/check", content=path.read_bytes(), headers=YAML))
        assert r.json() == expected, path.name
        assert r.status_code == (200 if expected["status"] == "ok" else 422), path.name


def test_explain_answers_as_explain_does(server, tmp_path):
    yaml_case = tmp_path / "two-lesions.yaml"
    yaml_case.write_text(dict(POLICY_CASES)["a-second-lesion-denied-for-three-reasons-makes-the-case-not-covered"])
    paths = [*EXAMPLES, yaml_case]
    for path, expected in zip(paths, both(paths, "explain")):
        r = clean(server.client.post("/explain", content=path.read_bytes(),
                                     headers=YAML if path.suffix == ".yaml" else JSON))
        assert r.json() == expected, path.name
    assert any("would_qualify" in lesion for lesion in expected["lesions"])


def test_yaml_media_types_are_all_read_as_yaml(server):
    text = POLICY_CASES[0][1].encode()
    answers = [server.client.post("/check", content=text, headers={"Content-Type": kind}).json()
               for kind in ("application/yaml", "application/x-yaml", "text/yaml", "application/yaml; charset=utf-8")]
    assert all(a == answers[0] for a in answers) and answers[0]["status"] == "ok"


def test_batch_streams_one_answer_a_line_in_order_as_batch_does(server, tmp_path):
    lines = [json.dumps(json.loads(p.read_text())).encode() for p in EXAMPLES]
    lines[3:3] = [b"", b"{not json", b"\xff\xfe", b"[1, 2]"]
    body = b"\n".join(lines) + b"\n"
    (tmp_path / "in.jsonl").write_bytes(body)
    expected = subprocess.run([EXE, "batch", str(tmp_path / "in.jsonl")], capture_output=True, timeout=120).stdout
    r = clean(server.client.post("/batch", content=body, headers={"Content-Type": "application/x-ndjson"}))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    got = [json.loads(line) for line in r.text.splitlines()]
    assert got == [json.loads(line) for line in expected.decode().splitlines()]
    assert len(got) == len(lines) and [a.get("input_line") for a in got[3:7]] == [4, 5, 6, 7]


def test_batch_of_more_than_one_chunk_keeps_the_order_and_reads_the_body_as_it_comes(server):
    cases = [json.loads(p.read_text()) for p in EXAMPLES]
    docs = [{**cases[i % len(cases)], "id": f"case-{i}"} for i in range(1203)]

    def body():  # chunked: no Content-Length, the server reads it as it arrives
        for i in range(0, len(docs), 100):
            yield "".join(json.dumps(d) + "\n" for d in docs[i:i + 100]).encode()

    r = server.client.post("/batch", content=body(), headers={"Content-Type": "application/jsonl"})
    got = [json.loads(line) for line in r.text.splitlines()]
    assert [a["case"] for a in got] == [d["id"] for d in docs]


def test_batch_explain_adds_explanations(server):
    body = EXAMPLES[0].read_text().replace("\n", "").encode() + b"\n"
    r = server.client.post("/batch?explain=true", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert "explanation" in json.loads(r.text)["lines"][0]


def test_rules_schema_and_health_are_the_commands_and_the_policy(server):
    assert server.client.get("/rules").json() == cli("rules", "--format", "json")
    assert server.client.get("/schema").json() == cli("schema")
    health = server.client.get("/health").json()
    policy = load_policy()
    assert health["status"] == "ok" and health["policy"]["digest"] == policy.digest
    assert len(policy.digest) == 64 and health["policy"]["rules"] == len(policy.rules)
    assert set(health["policy"]) >= {"id", "version", "digest"}
    # the policy's own metadata (policy.toml): its id and the version in force today
    assert health["policy"]["id"] == policy.id == "mohs-micrographic-surgery"
    assert health["policy"]["version"] == policy.versions[-1].name
    # the same digest every answer's decision record names
    assert server.client.post("/check", content=EXAMPLES[0].read_bytes(),
                              headers={"Content-Type": "application/json"}).json()["decision_record"]["policy_digest"] \
        == policy.digest


def test_openapi_describes_every_endpoint(server):
    doc = server.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/", "/check", "/explain", "/batch", "/rules", "/schema", "/health", "/openapi.json",
                                 "/cds-services", "/cds-services/{service}"}
    assert set(doc["paths"]["/check"]["post"]["responses"]) == {"200", "413", "415", "422", "503"}
    assert doc["components"]["schemas"]["Case"] == server.client.get("/schema").json()


# -- bad bodies ---------------------------------------------------------------------------------


def test_an_invalid_case_is_422_with_the_contracts_errors(server):
    r = clean(server.client.post("/check", content=b'{"id": "x", "lesions": [{"id": "A"}]}', headers=JSON))
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == "invalid" and {e["path"] for e in body["errors"]} >= {"date_of_service", "lesions[0].site"}


@pytest.mark.parametrize("content, said", [
    (b"", "empty"), (b"\xff\xfe{}", "not UTF-8"), (b"[1, 2]", "must be an object"), (b'{"id": NaN}', "not valid JSON"),
    (b"[" * 100000, "nested too deeply"),
])
def test_a_body_that_is_not_a_case_is_422(server, content, said):
    r = clean(server.client.post("/check", content=content, headers=JSON))
    assert r.status_code == 422 and said in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/xml"},
                                     {"Content-Type": "application/json; charset=latin-1"}])
def test_an_unknown_media_type_is_415(server, headers):
    r = clean(server.client.post("/check", content=EXAMPLES[0].read_bytes(), headers=headers))
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"


def test_a_json_case_over_10_mb_is_413(server):
    big = b'{"id": "big", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    r = clean(server.client.post("/check", content=big, headers=JSON))
    assert r.status_code == 413 and "10 MB" in r.json()["message"]
    just = b'{"id": "big", "pad": "' + b"x" * (10 * 1024 * 1024 - 40) + b'"}'
    assert server.client.post("/check", content=just, headers=JSON).status_code == 422  # read, and invalid


def test_a_yaml_case_over_1_mb_is_413(server):
    big = b"id: big\npad: " + b"x" * (1024 * 1024)
    r = clean(server.client.post("/check", content=big, headers=YAML))
    assert r.status_code == 413 and "1 MB" in r.json()["message"]


def test_the_body_limit_holds_while_reading_a_body_of_unknown_length(server):
    """Chunked, no Content-Length: 11 MB sent and the body never finished; the answer comes
    all the same, so the server stopped reading at the limit rather than waiting for the end."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"POST /check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b" " * 65536
        for _ in range(11 * 16):
            s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        reply = s.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 413")


def test_a_declared_length_over_the_limit_is_refused_before_the_body(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 50000000\r\n\r\n")
        reply = s.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 413")


def test_not_found_and_wrong_method_answer_json(server):
    r = clean(server.client.get("/nowhere"))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = clean(server.client.get("/check"))
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert clean(server.client.get("/batch")).status_code == 405


def test_malformed_http_gets_no_traceback(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GARBAGE /\x00\x01 HTTP/9\r\n\r\n")
        reply = s.recv(65536).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 400") and not INTERNAL.search(reply)


# -- time limit, start-up, binding ----------------------------------------------------------------


def big_case() -> bytes:
    lesions = [{"id": f"L{i}", "diagnosis": "C44.519", "site": "back", "size_cm": 1.1} for i in range(100)]
    lines = [{"line": n + 1, "code": "17313", "lesion": f"L{n % 100}"} for n in range(500)]
    return json.dumps({"id": "big", "date_of_service": "2026-03-01", "lesions": lesions, "lines": lines}).encode()


def test_past_the_time_limit_the_answer_is_503_and_the_server_goes_on():
    s = Server("--time-limit", "0.05")
    try:
        r = clean(s.client.post("/explain", content=big_case(), headers=JSON))
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and r.json()["error"] == "time_limit"
        # the server goes on (a solve of its own may not fit in 0.05 s on a loaded machine: /health needs none)
        ok = s.client.get("/health")
        assert ok.status_code == 200 and ok.json()
    finally:
        assert s.stop() == -signal.SIGTERM


def test_a_broken_policy_refuses_to_start_with_exit_3(tmp_path):
    copy_policy(tmp_path)
    lp = tmp_path / "logic" / "indications.lp"
    lp.write_text(lp.read_text().replace("large_lesion_min_um(T,When), in_force(C,When), S >= T", "large_lesion_mim_um(T,When), in_force(C,When), S >= T"))
    port = free_port()
    result = subprocess.run([EXE, "serve", "--port", str(port), "--policy", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "logic/indications.lp:" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_bad_mapping_table_row_refuses_to_start_with_exit_3(tmp_path):
    copy_policy(tmp_path)
    table = tmp_path / "data" / "fhir_body_sites.csv"
    table.write_text(table.read_text() + "123456,elbow,Elbow,made up\n")
    result = subprocess.run([EXE, "serve", "--port", str(free_port()), "--policy", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3 and "data/fhir_body_sites.csv:" in result.stderr and "elbow" in result.stderr


def test_a_port_in_use_is_bad_usage(server):
    result = subprocess.run([EXE, "serve", "--port", str(server.port)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot listen" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_it_listens_on_127_0_0_1_by_default(server):
    listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if line.split()[3] == "0A"]  # state LISTEN
    assert f"0100007F:{server.port:04X}" in listening
    assert f"00000000:{server.port:04X}" not in listening
    assert f"http://127.0.0.1:{server.port}" in server.output()


def test_several_workers_answer_alike():
    s = Server("--workers", "2")
    try:
        body = EXAMPLES[0].read_bytes()
        answers = [s.client.post("/check", content=body, headers=JSON).json() for _ in range(20)]
        assert all(a == answers[0] for a in answers)
    finally:
        assert s.stop() == -signal.SIGTERM


def test_a_short_load_gets_every_answer_right():
    """scripts/bench_serve.py in a short form: 200 clients at once, 2,000 requests, every answer
    checked against the pipeline's (requests answered together in one solver run must not swap
    answers); it exits non-zero on a wrong one. Its figures are not judged here."""
    result = subprocess.run([sys.executable, str(TESTS.parent / "scripts" / "bench_serve.py"), "--clients", "200",
                             "--requests", "2000", "--rounds", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "2,000 requests" in result.stdout and "requests/s" in result.stdout
