"""Bad, hostile and broken case input: a clear `invalid` answer (exit 2), never a crash, never
an answer steered by the data, nothing lost.

tests/invalid holds one data file per class of the contract's "Invalid cases"; this file covers
what such a file cannot say (bytes, sizes, nesting, YAML tricks), the limits (README, "Input
limits"), and ids that look like ASP. A representative set goes through the installed
`mohs-asp check`, the rest through the library.
"""

from __future__ import annotations

import copy
import io
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from mohs_asp.case import reading as case_module  # reading a file is reading.py's
from helpers import check, check_file
from mohs_asp.case.check import MAX_ERRORS, MAX_FILE_BYTES, MAX_YAML_CHARS, parse_text, read_document
from mohs_asp.errors import CaseInvalid

TESTS = Path(__file__).resolve().parent
from helpers import EXE
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")


def run(*args, cwd=None, stdin=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, cwd=cwd, input=stdin, timeout=60)


def covered_case(**changes) -> dict:
    """A covered case (nose, BCC): MMS payable, frozen section bundled into it."""
    doc = {"id": "hostile-1", "date_of_service": "2026-03-01",
           "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose", "size_cm": Decimal("0.9")}],
           "lines": [{"line": 1, "code": "17311", "lesion": "A"}, {"line": 2, "code": "88331", "lesion": "A"}]}
    doc.update(changes)
    return doc


def with_lesion(**fields) -> dict:
    doc = covered_case()
    if "size_mm" in fields:
        del doc["lesions"][0]["size_cm"]
    doc["lesions"][0].update(fields)
    return doc


def invalid(answer: dict) -> dict[str, str]:
    """The errors of an invalid answer, by path; checks the answer's shape on the way."""
    assert answer["status"] == "invalid", answer
    assert "decision" not in answer and answer["errors"]
    assert all(isinstance(e["path"], str) and e["message"] for e in answer["errors"])
    return {e["path"]: e["message"] for e in answer["errors"]}


def invalid_text(text: str | bytes) -> str:
    """The one message for a file that cannot be read as a case."""
    with pytest.raises(CaseInvalid) as e:
        parse_text(text) if isinstance(text, str) else parse_text(text.decode("utf-8"))
    [error] = e.value.errors
    assert error.path == ""
    return error.message


# -- files that are not a case, through the installed command --------------------------------

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
HOSTILE_FILES = {
    "empty.json": b"",
    "blank.yaml": b"  \n\t\n",
    "not-json.json": b'{"id": "x",',
    "a-list.json": b'[{"id": "x", "date_of_service": "2026-03-01"}]',
    "a-string.yaml": b"just some words\n",
    "not-utf8.yaml": b"id: caf\xe9\ndate_of_service: 2026-03-01\n",
    "nan.json": b'{"id": "x", "date_of_service": "2026-03-01", "lesions": '
                b'[{"id": "A", "diagnosis": "C44.311", "site": "nose", "size_cm": NaN}]}',
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep.yaml": b"- " * 100_000 + b"x\n",
    "python-tag.yaml": b"id: !!python/object/apply:os.system ['touch PWNED']\ndate_of_service: 2026-03-01\n",
    "billion-laughs.yaml": BILLION_LAUGHS.encode(),
    "duplicate-id.json": b'{"id": "x", "id": "y", "date_of_service": "2026-03-01"}',
}


@needs_exe
@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_check_answers_a_hostile_file_invalid_with_exit_2(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(HOSTILE_FILES[name])
    result = run("check", path, "--format", "json", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert b"Traceback" not in result.stderr
    invalid(json.loads(result.stdout))
    assert not (tmp_path / "PWNED").exists()


@needs_exe
def test_check_refuses_standard_input_past_the_size_limit():
    big = b'{"id": "x", "date_of_service": "2026-03-01", "pad": "' + b" " * MAX_FILE_BYTES + b'"}'
    result = run("check", "-", "--format", "json", stdin=big)
    assert result.returncode == 2, result.stderr
    assert "larger than 10 MB" in invalid(json.loads(result.stdout))[""]


@needs_exe
def test_check_text_answer_for_a_hostile_file_is_one_clear_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(HOSTILE_FILES["deep.json"])
    result = run("check", path)
    assert result.returncode == 2 and not result.stderr
    assert b"nested too deeply" in result.stdout


# -- the same classes through the library, with their messages --------------------------------


def test_empty_and_blank_files_say_so():
    assert invalid_text("") == "the file is empty"
    assert invalid_text(" \n\t") == "the file is empty"


@pytest.mark.parametrize("text", ["[1, 2]", "42", '"a string"', "- a\n- b\n", "plain words\n", "null"])
def test_a_document_that_is_not_an_object_is_invalid_at_the_top(text, policy):
    answer = check(parse_text(text), policy)
    assert "must be an object" in invalid(answer)[""]


def test_bytes_that_are_not_utf8_are_invalid_and_a_bom_is_read(tmp_path):
    bad = tmp_path / "case.json"
    bad.write_bytes(b'{"id": "\xff\xfe"}')
    with pytest.raises(CaseInvalid, match="not UTF-8"):
        read_document(str(bad))
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "x", "date_of_service": "2026-03-01"}).encode())
    assert read_document(str(bom)) == {"id": "x", "date_of_service": "2026-03-01"}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_not_numbers(constant):
    assert f"{constant} is not a number JSON allows" in invalid_text(f'{{"size_cm": {constant}}}')


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "x: " + "[" * 100_000 + "]" * 100_000,
                                  "- " * 100_000 + "x", '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_nesting_100000_deep_is_invalid_not_a_crash(text):
    message = invalid_text(text)
    assert "nested too deeply" in message or "nesting depth" in message


def _endless_reader(requested: list[int]):
    class Endless(io.RawIOBase):
        def read(self, size=-1):
            assert size is not None and 0 <= size <= MAX_FILE_BYTES + 1, f"an unbounded read ({size})"
            requested.append(size)
            return b"[" * size

    return Endless()


def test_standard_input_is_read_only_up_to_the_limit(monkeypatch):
    requested: list[int] = []

    class Stdin:
        buffer = _endless_reader(requested)

    monkeypatch.setattr(case_module.sys, "stdin", Stdin)
    with pytest.raises(CaseInvalid, match="larger than 10 MB"):
        read_document("-")
    assert sum(requested) == MAX_FILE_BYTES + 1


def test_a_file_is_read_only_up_to_the_limit(monkeypatch, tmp_path):
    requested: list[int] = []
    monkeypatch.setattr(case_module, "open", lambda *a, **k: _endless_reader(requested), raising=False)
    with pytest.raises(CaseInvalid, match="larger than 10 MB"):
        read_document(str(tmp_path / "huge.json"))
    assert sum(requested) == MAX_FILE_BYTES + 1


def test_yaml_past_1_mb_is_refused_before_it_is_parsed():
    # PyYAML takes about a second and 100 MB of memory per MB: 10 MB of YAML would take 10 s and 1 GB
    at_limit = "id: x\n#" + " " * (MAX_YAML_CHARS - 7)  # a long comment: quick to read
    assert len(at_limit) == MAX_YAML_CHARS and parse_text(at_limit) == {"id": "x"}
    assert "a YAML case may be at most 1 MB (a JSON one 10 MB)" in invalid_text(at_limit + " ")
    assert invalid_text("{" + at_limit).startswith("the file is not valid JSON (")


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    doc = b'{"id": "x", "date_of_service": "2026-03-01"}'
    path = tmp_path / "padded.json"
    path.write_bytes(doc + b" " * (MAX_FILE_BYTES - len(doc)))
    assert read_document(str(path))["id"] == "x"


# -- YAML: tags, aliases, merge keys, values Python cannot hold --------------------------------


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['touch {pwned}']", "!!python/name:os.system",
                                 "!!python/object/new:subprocess.Popen [['touch', '{pwned}']]"])
def test_yaml_tags_that_build_python_objects_are_refused_never_run(tag, tmp_path):
    pwned = tmp_path / "PWNED"
    message = invalid_text(f"id: {tag.format(pwned=pwned)}\ndate_of_service: 2026-03-01\n")
    assert "could not determine a constructor" in message
    assert not pwned.exists()


def test_a_billion_laughs_is_refused_at_its_first_alias():
    message = invalid_text(BILLION_LAUGHS)
    assert "aliases (&name, *name) are not allowed" in message and "line 1" in message


def test_a_merge_key_bomb_is_refused_before_it_expands():
    # each level merges the one before nine times: expanded, level f holds 9**5 pairs
    text = "a: &a {k: 1}\n" + "".join(f"{b}: &{b} {{<<: [{', '.join([f'*{a}'] * 9)}]}}\n" for a, b in zip("abcde", "bcdef"))
    assert "not allowed in a case file" in invalid_text(text)


def test_a_plain_merge_key_is_refused_too():
    assert "a merge key (<<) is not allowed" in invalid_text("id: x\npatient: {<<: {immunosuppressed: true}}\n")


@pytest.mark.parametrize("text", ["id: !!int abc\n", "id: !!float abc\n", "units: 1" + "0" * 5000 + "\n"])
def test_yaml_values_python_cannot_hold_are_invalid_not_a_crash(text):
    assert invalid_text(text).startswith("the file is not valid YAML")


@pytest.mark.parametrize("text", ["units: !!int 020\n", "units: !!int 0x10\n", "units: !!int 1:0\n",
                                  "recurrent: !!bool yes\n", "recurrent: !!bool on\n"])
def test_explicit_yaml_tags_are_not_read_the_yaml_1_1_way_either(text):
    assert invalid_text(text).startswith("the file is not valid YAML")


def test_an_unquoted_yaml_date_that_does_not_exist_is_reported_at_its_path(policy):
    doc = parse_text("id: x\ndate_of_service: 2026-02-30\n")
    assert invalid(check(doc, policy)) == {"date_of_service": '"2026-02-30" is not a real date'}


# -- duplicate keys: an error at the key's path -------------------------------------------------


@pytest.mark.parametrize("text", [
    '{"id": "x", "date_of_service": "2026-03-01", "id": "y", "lesions": [{"id": "A", "site": "nose", '
    '"diagnosis": "C44.311", "site": "back"}]}',
    "id: x\ndate_of_service: 2026-03-01\nid: y\nlesions:\n  - {id: A, site: nose, diagnosis: C44.311, site: back}\n",
])
def test_a_key_given_twice_is_an_error_at_its_path(text, policy):
    errors = invalid(check(parse_text(text), policy))
    assert set(errors) == {"id", "lesions[0].site"}
    assert "more than once" in errors["lesions[0].site"]


def test_a_json_object_without_repeated_keys_is_a_plain_dict():
    assert type(parse_text('{"a": {"b": 1}}')["a"]) is dict


# -- wrong values --------------------------------------------------------------------------------


@pytest.mark.parametrize("doc,path", [
    (with_lesion(recurrent="true"), "lesions[0].recurrent"),
    (with_lesion(rapid_growth="false"), "lesions[0].rapid_growth"),
    (with_lesion(size_cm="1.2"), "lesions[0].size_cm"),
    (with_lesion(size_mm="12"), "lesions[0].size_mm"),
    (with_lesion(id=1), "lesions[0].id"),
    (covered_case(id=12345), "id"),
    (covered_case(lines=[{"line": 1, "code": 17311, "lesion": "A"}]), "lines[0].code"),
    (covered_case(date_of_service="2026-03-01T10:00:00"), "date_of_service"),
])
def test_booleans_and_numbers_written_as_the_other_type_are_invalid(doc, path, policy):
    assert path in invalid(check(doc, policy))


@pytest.mark.parametrize("doc,path", [
    (covered_case(id="x" * 201), "id"),
    (covered_case(id="x" * MAX_FILE_BYTES), "id"),
    (with_lesion(id="A" * 201), "lesions[0].id"),
    (with_lesion(site="nose" * 1000), "lesions[0].site"),
    (with_lesion(histology=["nodular" * 1000]), "lesions[0].histology[0]"),
])
def test_text_longer_than_200_characters_is_invalid(doc, path, policy):
    assert "longer than 200 characters" in invalid(check(doc, policy))[path]


def test_text_of_200_characters_is_valid(policy):
    assert check(covered_case(id="x" * 200), policy)["case"] == "x" * 200


def test_unicode_ids_come_back_byte_for_byte(policy):
    ids = ["Läsion-β", "病変-1", "😀\u200d👩", "e\u0301", "\u202eRTL", "tab\there"]  # é decomposed stays decomposed
    doc = covered_case(id="Fälle-Ω-😀")
    doc["lesions"] = [{**doc["lesions"][0], "id": i} for i in ids]
    doc["lines"] = [{"line": 1, "code": "17311", "lesion": ids[0]}, {"line": 2, "code": "88331", "lesion": ids[-1]}]
    answer = check(doc, policy)
    assert answer["case"] == "Fälle-Ω-😀"
    assert [lesion["id"] for lesion in answer["lesions"]] == ids
    assert answer["decision"] == "covered"


@pytest.mark.parametrize("bad", ["A\x00x", "\ud800", "x\udfff"])
def test_text_a_case_cannot_hold_is_invalid(bad, policy):
    doc = covered_case(id=bad)
    doc["lesions"] = [{**doc["lesions"][0], "id": bad}, {**doc["lesions"][0], "id": "B", "histology": [bad]}]
    errors = invalid(check(doc, policy))
    assert {"id", "lesions[0].id", "lesions[1].histology[0]"} <= set(errors)
    assert "cannot hold" in errors["lesions[0].id"]
    json.dumps(check(doc, policy), ensure_ascii=False).encode("utf-8")  # printable as the answer


def test_two_lesion_ids_that_differ_after_a_nul_are_not_merged(policy):
    # clingo strings end at NUL: taken as they are, "A\0x" and "A\0y" would be one lesion "A"
    doc = covered_case()
    doc["lesions"] = [{"id": "A\x00x", "diagnosis": "C44.311", "site": "nose"},
                      {"id": "A\x00y", "diagnosis": "L57.0", "site": "back"}]
    doc["lines"] = [{"line": 1, "code": "17311", "lesion": "A\x00x"}]
    assert invalid(check(doc, policy))


def test_a_key_that_is_not_utf8_text_is_reported_printably(policy):
    errors = invalid(check(covered_case(**{"\ud800": 1}), policy))
    assert errors == {"\\ud800": "`\\ud800` is not a field of the case format"}


@pytest.mark.parametrize("count", [101, 10_000])
def test_too_many_lesions_is_one_error(count, policy):
    doc = covered_case(lines=[])
    doc["lesions"] = [{"id": str(i), "diagnosis": "C44.311", "site": "nose"} for i in range(count)]
    assert invalid(check(doc, policy)) == {"lesions": f"a case may have at most 100 lesions, found {count}"}


def test_lines_naming_lesions_of_a_list_too_long_to_read_add_no_errors(policy):
    doc = covered_case(lines=[{"code": "17311", "lesion": str(i)} for i in range(101)])
    doc["lesions"] = [{"id": str(i), "diagnosis": "C44.311", "site": "nose"} for i in range(101)]
    assert invalid(check(doc, policy)) == {"lesions": "a case may have at most 100 lesions, found 101"}


@pytest.mark.parametrize("count", [501, 10_000])
def test_too_many_lines_is_one_error(count, policy):
    doc = covered_case(lines=[{"code": "99213"}] * count)
    assert invalid(check(doc, policy)) == {"lines": f"a case may have at most 500 lines, found {count}"}


def test_100_lesions_and_500_lines_are_answered(policy):
    doc = covered_case()
    doc["lesions"] = [{"id": str(i), "diagnosis": "C44.311", "site": "nose"} for i in range(100)]
    doc["lines"] = [{"code": "17311", "lesion": str(i % 100)} for i in range(500)]
    answer = check(doc, policy)
    assert answer["status"] == "ok" and len(answer["lines"]) == 500


def test_a_flood_of_problems_lists_the_first_100_and_counts_the_rest(policy):
    doc = covered_case(**{f"field{i}": i for i in range(100_000)})
    doc["lesions"][0]["histology"] = ["x"] * 50_000
    answer = check(doc, policy)
    assert len(answer["errors"]) == MAX_ERRORS + 1
    assert answer["errors"][-1] == {"path": "", "message": "149900 more problems are not listed (the first 100 are)"}


@pytest.mark.parametrize("size", [{"size_cm": Decimal("1e-9")}, {"size_mm": Decimal("0.0009")},
                                  {"size_cm": Decimal("1e-999999999")}, {"size_cm": Decimal("0.00009")}])
def test_a_size_above_0_but_below_a_micrometre_is_a_size_and_not_large(size, policy):
    """The contract refuses only a size not above 0 (or above 100 cm): 0.00009 cm is a size."""
    answer = check(with_lesion(**size), policy)
    assert answer["status"] == "ok" and "large_lesion" not in answer["lesions"][0]["indications"]


@pytest.mark.parametrize("size,message", [
    ({"size_cm": Decimal("1e308")}, "must be at most 100 cm, found 1E+308 cm"),
    ({"size_cm": 10**400}, "must be at most 100 cm, found 10000000000000000000... (401 characters) cm"),
    ({"size_mm": Decimal("1e999999999")}, "must be at most 100 cm"),
    ({"size_cm": 1e308}, "must be at most 100 cm"),
    ({"size_cm": float("inf")}, "must be a finite number"),
    ({"size_cm": float("nan")}, "must be a finite number"),
    ({"size_cm": Decimal("-0.0")}, "must be above 0, found -0.0 cm"),
    ({"size_cm": -0.0}, "must be above 0"),
])
def test_absurd_sizes_are_invalid(size, message, policy):
    key = next(iter(size))
    assert message in invalid(check(with_lesion(**size), policy))[f"lesions[0].{key}"]


def test_a_huge_integer_in_json_is_read_and_refused(policy):
    text = json.dumps(covered_case(), default=str).replace('"0.9"', "1" + "0" * 400)
    assert "at most 100 cm" in invalid(check(parse_text(text), policy))["lesions[0].size_cm"]


def test_the_smallest_size_is_one_micrometre(policy):
    assert check(with_lesion(size_cm=Decimal("0.0001")), policy)["status"] == "ok"


@pytest.mark.parametrize("number", [2**31, 10**400])
def test_line_numbers_beyond_the_limit_are_invalid_not_a_crash(number, policy):
    doc = covered_case(lines=[{"line": number, "code": "17311", "lesion": "A"}])
    assert "must be from 1 to 2147483647" in invalid(check(doc, policy))["lines[0].line"]


@pytest.mark.parametrize("number", [1_000_000, 2**31 - 1])
def test_the_largest_line_numbers_are_answered(number, policy):
    doc = covered_case(lines=[{"line": number, "code": "17311", "lesion": "A"}])
    assert check(doc, policy)["lines"][0]["line"] == number


def test_a_huge_number_is_shortened_in_its_message(policy):
    doc = covered_case(lines=[{"line": 1, "code": "17311", "lesion": "A", "units": 10**400}])
    message = invalid(check(doc, policy))["lines[0].units"]
    assert len(message) < 100 and "401 characters" in message


# -- injection: ids are data; codes and terms are checked against their vocabularies -----------

HOSTILE_IDS = ['A"). covered. %', "a) :- .", "back\\slash\\", '"', "two\nlines", "#show payable/2.",
               "%* open comment", "*% close", '#include "x.lp".', "covered(0).", "X", "_"]


def _renamed(doc: dict, case_id: str, lesion_id: str) -> dict:
    doc = copy.deepcopy(doc)
    doc["id"] = case_id
    doc["lesions"][0]["id"] = lesion_id
    for line in doc["lines"]:
        line["lesion"] = lesion_id
    return doc


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
@pytest.mark.parametrize("base", ["covered", "denied"])
def test_an_id_that_looks_like_asp_changes_nothing_but_itself(hostile, base, policy):
    doc = covered_case() if base == "covered" else with_lesion(diagnosis="L57.0", site="back")
    plain = check(doc, policy)
    answer = check(_renamed(doc, hostile, hostile), policy)
    assert answer["case"] == hostile and answer["lesions"][0]["id"] == hostile
    answer["case"], answer["lesions"][0]["id"] = plain["case"], plain["lesions"][0]["id"]
    for line, was in zip(answer["lines"], plain["lines"]):
        assert line["lesion"] == hostile
        assert [r.replace(f"lesion {hostile}", "lesion A") for r in line["reasons"]] == was["reasons"]
        line["lesion"], line["reasons"] = was["lesion"], was["reasons"]
    assert answer == plain
    assert plain["decision"] == ("covered" if base == "covered" else "not_covered")


@pytest.mark.parametrize("field,value", [
    ("code", '17311"). covered. %'), ("code", "17311\n."), ("code", "#show"),
    ("site", 'nose"). covered. %'), ("site", "nose.\n#show"), ("diagnosis", 'C44.311"). covered(0).'),
    ("diagnosis", "C44.311 %"), ("histology", ['nodular"). x']), ("borders", "ill_defined) :- ."),
    ("modifiers", ['59"). %']),
])
def test_codes_and_terms_that_look_like_asp_are_refused(field, value, policy):
    if field in ("code", "modifiers"):
        doc = covered_case(lines=[{"line": 1, "code": "17311", "lesion": "A", field: value}])
        where = f"lines[0].{field}"
    else:
        doc, where = with_lesion(**{field: value}), f"lesions[0].{field}"
    errors = invalid(check(doc, policy))
    assert any(path.startswith(where) for path in errors), errors


@pytest.mark.parametrize("field,value,shown", [("code", " 17311\n", "17311"), ("diagnosis", " c44311 ", "C44.311"),
                                               ("site", "NOSE", "nose"), ("site", " Lower-Leg ", "lower_leg")])
def test_codes_and_terms_are_normalised(field, value, shown, policy):
    if field == "code":
        answer = check(covered_case(lines=[{"line": 1, "code": value, "lesion": "A"}]), policy)
        assert answer["lines"][0]["code"] == shown
    else:
        assert check(with_lesion(**{field: value}), policy)["lesions"][0][field] == shown


@needs_exe
def test_check_gives_hostile_ids_back_byte_for_byte(tmp_path):
    hostile = 'A"). covered. %\n#show x/1. \\ 😀 %*'
    doc = _renamed(json.loads((TESTS / "examples" / "trunk-small-nodular-denied.case.json").read_text()), hostile, hostile)
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = run("check", path, "--format", "json")
    assert result.returncode == 1, result.stderr  # not covered, as with a plain id
    answer = json.loads(result.stdout)
    assert answer["case"] == hostile and answer["lesions"][0]["id"] == hostile
    assert "😀".encode() in result.stdout  # UTF-8 as it came, not \\u escapes


def test_check_source_reads_a_file_with_hostile_ids(tmp_path, policy):
    path = tmp_path / "case.yaml"
    path.write_text('id: "a) :- ."\ndate_of_service: 2026-03-01\nlesions:\n  - {id: "\\"). covered.", '
                    "diagnosis: C44.311, site: nose}\n", encoding="utf-8")
    answer = check_file(str(path), policy)
    assert answer["case"] == "a) :- ." and answer["lesions"][0]["id"] == '"). covered.'


# -- numbers past Decimal's reach, YAML tags without a value (issue 10, item 9) ---------------

JSON_LESION = ('{{"id": "x", "date_of_service": "2026-03-01", "lesions": [{{"id": "A", "diagnosis": "C44.311", '
               '"site": "nose", {field}: {value}}}], "lines": [{{"line": 1, "code": "17311", "lesion": "A"}}]}}')
YAML_LESION = ("id: x\ndate_of_service: 2026-03-01\nlesions:\n  - id: A\n    diagnosis: C44.311\n    site: nose\n"
               "    {field}: {value}\nlines:\n  - {{line: 1, code: \"17311\", lesion: A}}\n")


HUGE = "1e99999999999999999999"


def lesion_text(form: str, field: str, value: str) -> str:
    return (JSON_LESION if form == "json" else YAML_LESION).format(field=f'"{field}"' if form == "json" else field, value=value)


@pytest.mark.parametrize("form", ["json", "yaml"])
@pytest.mark.parametrize("number,says", [
    ("1e99999999999999999999", "must be at most 100 cm, found 1e99999999999999999999 cm"),
    ("1E+99999999999999999999", "must be at most 100 cm"),
    ("-1e99999999999999999999", "must be above 0"),
    ("0.0e99999999999999999999", "must be above 0"),
])
def test_a_size_whose_exponent_is_past_decimals_reach_is_an_error_at_its_path(form, number, says, policy):
    errors = invalid(check(parse_text(lesion_text(form, "size_cm", number)), policy))
    assert says in errors["lesions[0].size_cm"]


@pytest.mark.parametrize("line,field,says", [
    ({"units": HUGE}, "units", "must be a whole number, found the number 1e99999999999999999999"),
    ({"line": HUGE}, "line", "must be a whole number"),
    ({"code": HUGE}, "code", 'must be text: write it in quotes, "1e99999999999999999999"'),
])
@pytest.mark.parametrize("form", ["json", "yaml"])
def test_an_exponent_past_decimals_reach_anywhere_is_an_error_at_its_path(form, line, field, says, policy):
    fields = {"line": 1, "code": '"17311"', "lesion": "A" if form == "yaml" else '"A"', **line}
    text = lesion_text(form, "size_cm", "1.0").replace(
        '{"line": 1, "code": "17311", "lesion": "A"}' if form == "json" else '{line: 1, code: "17311", lesion: A}',
        "{" + ", ".join(f'"{k}": {v}' if form == "json" else f"{k}: {v}" for k, v in fields.items()) + "}")
    assert says in invalid(check(parse_text(text), policy))[f"lines[0].{field}"]


@pytest.mark.parametrize("value,path,says", [
    ("!!float", "", "'' is not a number"),
    ("!!float x", "", "'x' is not a number"),
    ("!!int", "", "is not a whole number"),
    ("!!bool", "", "is not true or false"),
    ("!!timestamp x", "lesions[0].size_cm", 'must be a number, found the text "x"'),
    ("!!timestamp", "lesions[0].size_cm", "must be a number"),
])
def test_a_yaml_tag_with_no_value_or_the_wrong_one_is_invalid(value, path, says, policy):
    text = lesion_text("yaml", "size_cm", value)
    if path:
        assert says in invalid(check(parse_text(text), policy))[path]
    else:
        assert says in invalid_text(text)


def test_a_timestamp_tag_on_the_date_that_is_no_date_is_an_error_at_the_date(policy):
    doc = parse_text("id: x\ndate_of_service: !!timestamp x\n")
    assert "must be a date written YYYY-MM-DD" in invalid(check(doc, policy))["date_of_service"]


@pytest.mark.parametrize("form", ["json", "yaml"])
def test_a_whole_number_longer_than_python_reads_is_one_clear_error(form):
    message = invalid_text(lesion_text(form, "size_cm", "1" * 5000))
    assert "has 5,000 digits, more than a case can hold" in message


@needs_exe
@pytest.mark.parametrize("name,text", [
    ("huge.json", lesion_text("json", "size_cm", "1e99999999999999999999")),
    ("huge.yaml", lesion_text("yaml", "size_cm", "1e99999999999999999999")),
    ("tiny.yaml", lesion_text("yaml", "size_mm", "-1e-99999999999999999999")),
    ("float.yaml", lesion_text("yaml", "size_cm", "!!float")),
    ("timestamp.yaml", "id: x\ndate_of_service: !!timestamp x\n"),
])
@pytest.mark.parametrize("command", ["check", "explain"])
def test_check_and_explain_answer_huge_exponents_and_bare_tags_invalid(tmp_path, name, text, command):
    path = tmp_path / name
    path.write_text(text)
    result = run(command, path, "--format", "json")
    assert result.returncode == 2, result.stderr
    assert not result.stderr
    invalid(json.loads(result.stdout))


# -- sizes exact at any length (issue 9, item 7) ------------------------------------------------


@pytest.mark.parametrize("places", [28, 29, 40, 100, 1000])
@pytest.mark.parametrize("form", ["json", "yaml"])
def test_a_size_just_under_2_cm_is_19999_micrometres_however_many_digits(form, places, policy):
    from mohs_asp.case.check import parse_case

    case = parse_case(parse_text(lesion_text(form, "size_cm", "1." + "9" * places)), policy)
    assert case.lesions[0].size_um == 19999


@pytest.mark.parametrize("text,um", [("2." + "0" * 100 + "1", 20000), ("0.0001" + "9" * 60, 1), ("99." + "9" * 80, 999999),
                                     ("19.999" + "9" * 50, 19999)])
def test_digits_below_a_micrometre_are_cut_off_exactly(text, um, policy):
    from mohs_asp.case.check import parse_case

    key = "size_mm" if text.startswith("19.") else "size_cm"
    assert parse_case(parse_text(lesion_text("json", key, text)), policy).lesions[0].size_um == um


# -- the same bytes, the same answer (issue 10, item 12) ----------------------------------------

NOSE_JSON = lesion_text("json", "size_cm", "1.0")
NOT_QUITE_JSON = {
    "trailing-comma": NOSE_JSON[:-1] + ",}",
    "comment-after": NOSE_JSON + "  # a comment",
    "comment-inside": NOSE_JSON.replace('"lines"', '# a comment\n"lines"'),
}


@needs_exe
@pytest.mark.parametrize("name", sorted(NOT_QUITE_JSON))
def test_json_with_a_trailing_comma_or_a_comment_is_invalid_whatever_the_file_is_called(tmp_path, name):
    data = NOT_QUITE_JSON[name].encode()
    answers = []
    for file_name in ("x.txt", "x.json", "x.yaml", "x"):
        (tmp_path / file_name).write_bytes(data)
        answers.append(run("check", tmp_path / file_name, "--format", "json"))
    answers.append(run("check", "-", "--format", "json", stdin=data))
    for result in answers:
        assert result.returncode == 2, result.stdout
    [answer] = {r.stdout for r in answers}
    assert "is not valid JSON (text beginning with { or [ is read as JSON)" in invalid(json.loads(answer))[""]
    (tmp_path / "cases.jsonl").write_bytes(data.replace(b"\n", b" ") + b"\n")
    batch = run("batch", tmp_path / "cases.jsonl")
    assert batch.returncode == 0, batch.stderr
    [line] = batch.stdout.decode().splitlines()
    assert json.loads(line)["status"] == "invalid"


@pytest.mark.parametrize("text", [lesion_text("json", "size_cm", "2e0"), lesion_text("yaml", "size_cm", "2e0"),
                                  lesion_text("json", "size_cm", "2E+0"), lesion_text("yaml", "size_cm", "2E+0")])
def test_a_size_written_with_an_exponent_is_read_the_same_in_json_and_yaml(text, policy):
    answer = check(parse_text(text), policy)
    assert answer["status"] == "ok", answer
    assert "large_lesion" in answer["lesions"][0]["indications"]


def test_a_yaml_document_is_read_as_yaml_whatever_the_file_is_called(tmp_path, policy):
    for name in ("case.json", "case.txt", "case.yaml"):
        (tmp_path / name).write_text(YAML_LESION.format(field="size_cm", value="1.0"))
        assert check_file(str(tmp_path / name), policy)["status"] == "ok"


def test_a_file_and_a_batch_line_of_exactly_10_mb_are_both_read_and_one_byte_more_refused(tmp_path):
    from mohs_asp.batch.pool import read_json_lines

    doc = b'{"id": "x", "date_of_service": "2026-03-01"}'
    for size, readable in ((MAX_FILE_BYTES, True), (MAX_FILE_BYTES + 1, False)):
        data = doc + b" " * (size - len(doc))
        (tmp_path / "case.json").write_bytes(data)
        (tmp_path / "cases.jsonl").write_bytes(data + b"\n" + data + b"\r\n" + data)
        try:
            file_doc = read_document(str(tmp_path / "case.json"))
        except CaseInvalid as e:
            file_doc = e
        lines = [doc for _, doc in read_json_lines(str(tmp_path / "cases.jsonl"))]
        assert len(lines) == 3
        for line_doc in [file_doc, *lines]:
            assert isinstance(line_doc, CaseInvalid) != readable, (size, line_doc)


# -- terminal safety: no id can forge a heading (issue 10, item 13) -----------------------------

# bidi embeddings, overrides, isolates and marks; zero-width characters; the BOM; escape sequences
STEERING = ["\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
            "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\x1b[2J", "\x9b31m", "\x07", "\x7f",
            "\u2028", "\u00ad"]


def _raw_steering(text: str) -> list[str]:
    import unicodedata

    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


@needs_exe
@pytest.mark.parametrize("command", ["check", "explain"])
def test_bidi_zero_width_and_escape_characters_in_ids_are_escaped_in_text(tmp_path, command):
    doc = json.loads((TESTS / "examples" / "trunk-small-nodular-denied.case.json").read_text())
    doc["id"] = "\u202eDERREVOC :7-mialc"  # shown right to left, raw, it reads "claim-7: COVERED"
    hostile = "".join(STEERING)
    doc = _renamed(doc, doc["id"], f"A{hostile}")
    path = tmp_path / "bidi.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = run(command, path)
    assert result.returncode == 1, result.stderr
    text = result.stdout.decode("utf-8")
    assert _raw_steering(text) == []
    assert text.splitlines()[0] == "\\u202eDERREVOC :7-mialc: NOT COVERED"
    # explain heads a lesion "Lesion A..."; check names it in its lines and under Lesions
    assert ("Lesion A\\u202e\\u202a" if command == "explain" else "lesion A\\u202e\\u202a") in text
    answer = json.loads(run(command, path, "--format", "json").stdout)
    assert answer["case"] == doc["id"] and answer["lesions"][0]["id"] == f"A{hostile}"  # JSON: byte for byte


@needs_exe
@pytest.mark.parametrize("command", ["check", "explain"])
def test_an_id_padded_with_spaces_cannot_push_a_fake_decision_onto_a_line_of_its_own(tmp_path, command):
    from mohs_asp.render import width

    doc = json.loads((TESTS / "examples" / "trunk-small-nodular-denied.case.json").read_text())
    padded = "claim-7" + " " * 73 + "COVERED"
    doc = _renamed(doc, padded, "A" + " " * 79 + "COVERED" + "\u3000" * 40 + "ＣＯＶＥＲＥＤ")
    path = tmp_path / "padded.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = run(command, path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.decode("utf-8").splitlines()
    assert all(width(line) <= 80 for line in lines), [line for line in lines if width(line) > 80]
    # the id's words may go on an indented line of an explanation, never at the left margin
    margin = [line for line in lines[1:] if line[:1] not in ("", " ")]
    # (the footer's warning and decision record lines are the engine's own words, no id in them)
    assert all(line.startswith(("Lesion A    ", "Line ", "warning: date_of_service: ", "decision record: policy "))
               or line in ("Lines", "Lesions") for line in margin), margin
    assert [line for line in lines if "COVERED" in line.replace("ＣＯＶＥＲＥＤ", "COVERED")
            and not line.startswith(" ")] == [lines[0]]
    assert lines[0] == f"claim-7{' ' * 29}... ({len(padded)} characters): NOT COVERED"
    assert json.loads(run(command, path, "--format", "json").stdout)["case"] == padded


def test_text_output_escapes_every_control_and_format_character(policy):
    import unicodedata

    from mohs_asp.render import render_check, render_explain

    every = "".join(chr(c) for c in range(1, 0x110000) if c < 0xD800 or c > 0xDFFF
                    if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp"))
    doc = _renamed(covered_case(), "x" + every[:150], "A" + every[150:340])
    answer = check(doc, policy)
    assert answer["status"] == "ok", answer
    assert _raw_steering(render_check(answer)) == []
    assert _raw_steering(render_explain(check_source_doc(doc, policy))) == []


def check_source_doc(doc: dict, policy) -> dict:
    from mohs_asp import api
    from mohs_asp.case.check import parse_case

    return list(api.answer([parse_case(doc, policy)], policy, explain=True))[0]


# -- the issue's two cases: answered within seconds, never minutes or gigabytes (issue 10, item 6)


@needs_exe
@pytest.mark.parametrize("name", ["100 lesions, 500 biopsy lines naming them all", "a biopsy line naming A 1,000 times"])
def test_a_case_the_rules_ground_slowly_is_answered_or_refused_within_the_limits(tmp_path, name):
    if name.startswith("100"):
        lesions = [{"id": f"L{i}", "diagnosis": "C44.311", "site": "nose", "size_cm": 1.0} for i in range(100)]
        lines = [{"code": "11102", "lesions": [f"L{i}" for i in range(100)], "pre_surgical": True} for _ in range(500)]
    else:
        lesions = [{"id": "A", "diagnosis": "C44.311", "site": "nose"}]
        lines = [{"code": "11102", "lesions": ["A"] * 1000, "pre_surgical": True}, {"code": "17311", "lesion": "A"}]
    path = tmp_path / "slow.json"
    path.write_text(json.dumps({"id": "slow", "date_of_service": "2026-03-01", "lesions": lesions, "lines": lines}))
    result = run("explain", path, "--format", "json")  # was 100 s and 6 GB, then out of memory; the timeout is 60 s
    assert result.returncode in (0, 1, 2), result.stderr
    answer = json.loads(result.stdout)
    if answer["status"] == "invalid":  # refused for its size (a line naming A twice may be an input error too)
        assert any("processor time" in e["message"] or "memory" in e["message"] or "lesions[" in e["path"]
                   for e in answer["errors"]), answer
