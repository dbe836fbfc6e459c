"""`mohs-asp batch --dask ADDRESS` on a real dask.distributed cluster (a `dask scheduler` and
two `dask worker` processes on 127.0.0.1), against the local `mohs-asp batch` on the same
file: the same bytes. And the Spark route (cluster.spark_answers) where PySpark and Java are."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import EXE, copy_policy
from test_batch import contract_cases, jsonl

pytest.importorskip("distributed")
pytestmark = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "scripts"))
import bench_batch  # noqa: E402 -- the benchmark's generator of realistic claims

DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
INVALID = [b"not json at all", b"", b"   ", b"[1, 2]", b'{"id": "cut-off", "lesions": [', b"\xff\xfe not UTF-8",
           json.dumps({"id": "typo", "date_of_service": "2026-03-01",
                       "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nsoe"}], "lines": []}).encode()]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a dask scheduler with two single-threaded worker processes, all on loopback."""
    if DASK is None:
        pytest.skip("the dask command is not installed")
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    logs = (folder / "log").open("wb")
    processes = [subprocess.Popen([DASK, "scheduler", "--port", "0", "--scheduler-file", str(info), *common],
                                  stdout=logs, stderr=subprocess.STDOUT)]
    try:
        for _ in range(2):
            processes.append(subprocess.Popen([DASK, "worker", "--scheduler-file", str(info), "--nworkers", "1",
                                               "--nthreads", "1", *common], stdout=logs, stderr=subprocess.STDOUT))
        from distributed import Client

        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        with Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            _stop(process)
        logs.close()


def batch(*args):
    return subprocess.run([EXE, "batch", *map(str, args)], capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    """Every contract and policy case, 3,000 generated ones and a few lines that are not
    cases, mixed: one JSON Lines file."""
    folder = tmp_path_factory.mktemp("cases")
    generated = folder / "generated.jsonl"
    bench_batch.write_cases(generated, 3000, seed=12)
    lines = jsonl(contract_cases()).splitlines() + generated.read_bytes().splitlines()
    for i, bad in enumerate(INVALID):
        lines.insert(1 + 400 * i, bad)
    path = folder / "cases.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def local(cases, tmp_path_factory) -> bytes:
    result = batch(cases, "--out", tmp_path_factory.mktemp("local") / "answers.jsonl")
    assert result.returncode == 0, result.stderr
    return (Path(result.args[-1])).read_bytes()


def test_a_cluster_run_writes_the_bytes_of_a_local_run_in_input_order(scheduler, cases, local, tmp_path):
    out = tmp_path / "answers.jsonl"
    result = batch(cases, "--out", out, "--dask", scheduler)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == local
    answers = [json.loads(line) for line in local.splitlines()]
    assert len(answers) == len(cases.read_bytes().splitlines())
    assert sum(a["status"] == "invalid" for a in answers) >= len(INVALID)  # (the generator adds some of its own)
    assert b"Traceback" not in result.stderr and b"cases in" in result.stderr  # the local run's summary


def test_explained_answers_and_standard_output_as_a_local_run(scheduler, cases, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"\n".join(cases.read_bytes().splitlines()[:300]) + b"\n")
    here, there = batch(small, "--explain"), batch(small, "--explain", "--dask", scheduler)
    assert here.returncode == there.returncode == 0, there.stderr
    assert there.stdout == here.stdout and b'"explanation"' in there.stdout


def test_file_urls_for_input_and_output(scheduler, cases, local, tmp_path):
    out = tmp_path / "answers.jsonl"
    result = batch(f"file://{cases}", "--out", f"file://{out}", "--dask", scheduler)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == local


def test_memory_urls_for_input_and_output(scheduler, cases, local, policy):
    """fsspec's memory:// file system lives in this process: so the run is called here."""
    import fsspec

    from mohs_asp.batch import cluster

    fs = fsspec.filesystem("memory")
    fs.pipe("/in/cases.jsonl", cases.read_bytes())
    fs.pipe("/out/answers.jsonl", b"old answers\n")
    summary = cluster.run("memory://in/cases.jsonl", "memory://out/answers.jsonl", scheduler, policy)
    assert fs.cat("/out/answers.jsonl") == local
    assert fs.ls("/out", detail=False) == ["/out/answers.jsonl"]  # the temporary object has gone
    assert sum(summary.counts.values()) == len(local.splitlines())


def test_a_policy_folder_of_its_own_reaches_the_workers_and_is_loaded_once_per_worker(scheduler, tmp_path):
    """The workers never see the folder: its files travel with the run, and each worker
    process loads them once (a second run finds them loaded)."""
    from distributed import Client

    from mohs_asp.batch import cluster
    from mohs_asp.policy.load import load_policy

    folder = copy_policy(tmp_path / "policy")
    digest = load_policy(folder).digest
    cases = tmp_path / "cases.jsonl"
    bench_batch.write_cases(cases, 600, seed=3)
    here = batch(cases, "--policy", folder)
    held = []
    for _ in range(2):
        there = batch(cases, "--policy", folder, "--dask", scheduler)
        assert here.returncode == there.returncode == 0, there.stderr
        assert there.stdout == here.stdout
        with Client(scheduler, timeout=30, set_as_default=False) as client:
            held.append(client.run(lambda: str(cluster._policies[digest].root) if digest in cluster._policies else None))
    assert len(held[0]) == 2 and None not in held[0].values()  # both workers loaded it
    assert len(set(held[0].values())) == 2  # each in a folder of its own, not the client's
    assert str(folder) not in held[0].values()
    assert held[1] == held[0]  # the second run loaded nothing again


def test_a_changed_policy_is_a_different_policy_on_the_cluster(scheduler, tmp_path):
    folder = copy_policy(tmp_path / "policy")
    thresholds = folder / "data" / "thresholds.csv"
    text = thresholds.read_text()
    assert "large_lesion_min,2.0,cm" in text
    cases = tmp_path / "cases.jsonl"
    bench_batch.write_cases(cases, 600, seed=4)
    before = batch(cases, "--policy", folder, "--dask", scheduler)
    thresholds.write_text(text.replace("large_lesion_min,2.0,cm", "large_lesion_min,0.5,cm"))
    here = batch(cases, "--policy", folder)
    there = batch(cases, "--policy", folder, "--dask", scheduler)
    assert before.returncode == here.returncode == there.returncode == 0, there.stderr
    assert there.stdout == here.stdout != before.stdout


def test_bad_usage_is_said_in_words(scheduler, cases, tmp_path):
    refused = batch(cases, "--dask", scheduler, "--workers", "2")
    assert refused.returncode == 2 and b"--workers" in refused.stderr
    unknown = batch(cases, "--dask", scheduler, "--out", "nosuchfs://bucket/answers.jsonl")
    assert unknown.returncode == 2 and b"nosuchfs" in unknown.stderr
    missing = batch(tmp_path / "missing.jsonl", "--dask", scheduler)
    assert missing.returncode == 2 and b"no such file" in missing.stderr
    for result in (refused, unknown, missing):
        assert b"Traceback" not in result.stderr


def test_a_worker_killed_mid_run_costs_no_answer(scheduler, tmp_path):
    """dask redoes the lost worker's chunks elsewhere (its nanny starts it again, and the
    policy plugin loads the policy there): the same bytes as a local run, exit 0."""
    from distributed import Client

    cases = tmp_path / "cases.jsonl"
    bench_batch.write_cases(cases, 20_000, seed=5)
    here = batch(cases)
    with Client(scheduler, timeout=30, set_as_default=False) as client:
        victim = sorted(client.run(os.getpid).values())[0]
        out = tmp_path / "answers.jsonl"
        run = subprocess.Popen([EXE, "batch", str(cases), "--out", str(out), "--dask", scheduler],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)
        assert run.poll() is None, "the run ended before the worker could be killed"
        os.kill(victim, signal.SIGKILL)
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
        assert out.read_bytes() == here.stdout
        client.wait_for_workers(2, timeout=60)
        assert victim not in client.run(os.getpid).values()


def test_check_does_not_import_dask(tmp_path):
    case = TESTS / "examples" / "trunk-small-nodular-denied.case.json"
    code = ("import sys, runpy; sys.argv = ['mohs-asp', 'check', sys.argv[1]]\n"
            "try:\n    runpy.run_module('mohs_asp', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'fsspec', 'mohs_asp.batch.cluster')))")
    result = subprocess.run([sys.executable, "-c", code, str(case)], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


# -- Spark -------------------------------------------------------------------------------------


def test_spark_map_partitions_gives_the_local_answers(cases, tmp_path, monkeypatch):
    """Runs where PySpark is importable and `java` is on PATH (neither is installed for CI).
    Every line but the one that is not UTF-8 (Hadoop's reading replaces such bytes with U+FFFD
    before Python sees them: a documented difference)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("no java on PATH")
    from pyspark.sql import SparkSession

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # the executors' Python: one with mohs-asp installed

    from mohs_asp.batch import cluster
    from mohs_asp.policy.load import load_policy

    utf8 = tmp_path / "utf8.jsonl"
    utf8.write_bytes(b"".join(line + b"\n" for line in cases.read_bytes().splitlines() if _is_utf8(line)))
    result = batch(utf8)
    assert result.returncode == 0, result.stderr
    local = result.stdout
    spark = (SparkSession.builder.master("local[2]").appName("mohs-asp-test")
             .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").getOrCreate())
    try:
        lines = spark.sparkContext.textFile(str(utf8), minPartitions=4, use_unicode=False)
        assert lines.getNumPartitions() >= 2  # line numbers carried across partitions
        answers = cluster.spark_answers(lines, load_policy(copy_policy(tmp_path / "policy")))
        assert b"".join(line + b"\n" for line in answers.collect()) == local
    finally:
        spark.stop()


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_csv_on_the_cluster_is_the_local_csv_and_a_case_file_is_refused(scheduler, cases, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"\n".join(cases.read_bytes().splitlines()[:1200]) + b"\n")
    here, there = batch(small, "--format", "csv"), batch(small, "--format", "csv", "--dask", scheduler)
    assert here.returncode == there.returncode == 0, there.stderr
    assert there.stdout == here.stdout and there.stdout.startswith(b"input_line,case,decision,")
    pretty = tmp_path / "case.json"
    pretty.write_text(json.dumps(contract_cases()[0], indent=2))
    refused = batch(pretty, "--dask", scheduler, "--out", tmp_path / "out.jsonl")
    assert refused.returncode == 2 and b"is not JSON Lines" in refused.stderr and not (tmp_path / "out.jsonl").exists()
