"""JUEL translation, the RestrictedPython sandbox, assignee and candidate lists."""

from __future__ import annotations

import pytest

from webapp.engine import ExpressionError, juel_to_python
from webapp.engine.expressions import SandboxEnvironment, compile_script, resolve_list, resolve_single, split_list


@pytest.mark.parametrize(("juel", "python"), [
    ("${approved}", "approved"),
    ("${!approved}", "(not approved)"),
    ("${ a && b || !c }", "((a and b) or (not c))"),
    ("${a and not b or c}", "((a and (not b)) or c)"),
    ("${application.hours ge 40}", "(application['hours'] >= 40)"),
    ("${decision eq 'approve'}", "(decision == 'approve')"),
    ('${decision ne "it\\"s"}', "(decision != 'it\"s')"),
    ("${hours > -1.5 && hours <= 1e3}", "((hours > -1.5) and (hours <= 1000.0))"),
    ("${x == null || x != true || x == false}", "(((x == None) or (x != True)) or (x == False))"),
    ("${empty comments}", "juel_empty(comments)"),
    ("${not empty a.b}", "(not juel_empty(a['b']))"),
    ("${a lt b && c gt d && e le f}", "(((a < b) and (c > d)) and (e <= f))"),
    ("${(a || b) && c}", "(((a or b)) and c)"),
    ("${a < b == true}", "((a < b) == True)"),
    ("#{!approved}", "(not approved)"),
    ("#{ application.hours ge 40 }", "(application['hours'] >= 40)"),
    ("approved == True", "approved == True"),
    ("  hours > 3\n", "hours > 3"),
])
def test_juel_subset_is_translated(juel: str, python: str) -> None:
    assert juel_to_python(juel) == python


@pytest.mark.parametrize(("text", "fragment"), [
    ("${bean.check(hours)}", "method and function calls"),
    ("${now()}", "method and function calls"),
    ("#{hours + 1}", "arithmetic ('+')"),
    ("${a} #{b}", "only one '${...}'"),
    ("${approved ? 'y' : 'n'}", "conditional operator"),
    ("${hours + 1 > 3}", "arithmetic ('+')"),
    ("${hours div 2}", "arithmetic ('div')"),
    ("${list[0]}", "bracket access"),
    ("${a = 1}", "assignment"),
    ("Hours: ${hours}", "the whole value must be one"),
    ("${a} && ${b}", "only one '${...}'"),
    ("${class}", "cannot be used as a variable name"),
    ("=not(approved)", "FEEL"),
])
def test_unsupported_juel_is_refused_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        juel_to_python(text)
    assert fragment in caught.value.message
    assert caught.value.code in ("expression_unsupported", "feel_unsupported")
    assert caught.value.expression == text


@pytest.mark.parametrize("text", ["${}", "${a.}", "${(a}", "${'open}", "${a b}"])
def test_malformed_juel_is_a_syntax_error(text: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        juel_to_python(text)
    assert caught.value.code == "expression_syntax"


@pytest.fixture(scope="module")
def sandbox() -> SandboxEnvironment:
    return SandboxEnvironment()


def test_conditions_evaluate_in_the_sandbox(sandbox: SandboxEnvironment) -> None:
    data = {"approved": False, "application": {"hours": 12}, "comments": [], "title": "x"}
    assert sandbox.evaluate("${!approved}", data) is True
    assert sandbox.evaluate("${application.hours ge 12 and empty comments}", data) is True
    assert sandbox.evaluate("${not empty title}", data) is True
    assert sandbox.evaluate("len([c for c in comments]) == 0 and min(1, 2) == 1", data) is True



@pytest.mark.parametrize(("value", "is_empty"), [
    (None, True), ("", True), ([], True), ({}, True),
    ("x", False), ([0], False), ({"证书": None}, False), (0, False), (False, False),
])
def test_juel_empty_is_camunda_7s(sandbox: SandboxEnvironment, value: object, is_empty: bool) -> None:
    """``empty`` is true for null and for an empty string, list or map, as in Camunda 7; never for 0 or false."""
    data = {"value": value, "application": {"attachments": value}}
    assert sandbox.evaluate("${empty value}", data) is is_empty
    assert sandbox.evaluate("${not empty application.attachments}", data) is not is_empty
    assert sandbox.evaluate("juel_empty(value)", data) is is_empty, "the same in Python, in the sandbox process"

@pytest.mark.parametrize("attack", [
    "__import__('os').system('true')",
    "().__class__.__base__.__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']",
    "'{0.__class__}'.format(1)",
    "getattr(1, '__class__')",
])
def test_sandbox_escapes_fail(sandbox: SandboxEnvironment, attack: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        sandbox.evaluate(attack, {})
    assert caught.value.code in ("expression_forbidden", "expression_failed", "variable_missing")


def test_sandbox_escapes_fail_in_scripts_too(sandbox: SandboxEnvironment) -> None:
    with pytest.raises(ExpressionError, match="imports are not allowed"):
        sandbox.execute("import os\nos.system('true')", {})
    with pytest.raises(ExpressionError, match="invalid attribute name"):
        sandbox.execute("x = ().__class__.__base__", {})


def test_missing_variable_names_it_and_suggests(sandbox: SandboxEnvironment) -> None:
    with pytest.raises(ExpressionError) as caught:
        sandbox.evaluate("${approvd}", {"approved": True})
    assert caught.value.code == "variable_missing"
    assert caught.value.variable == "approvd"
    assert "Did you mean 'approved'?" in caught.value.message


def test_missing_key_in_dotted_access_is_named(sandbox: SandboxEnvironment) -> None:
    with pytest.raises(ExpressionError) as caught:
        sandbox.evaluate("${application.hours > 1}", {"application": {}})
    assert (caught.value.code, caught.value.variable) == ("variable_missing", "hours")


def test_scripts_run_with_guards_and_keep_only_data(sandbox: SandboxEnvironment) -> None:
    data = {"total": 1, "items": [1, 2]}
    sandbox.execute("total += 2\ndoubled = [i * 2 for i in items]\nsummary = dict(n=len(items))\n"
                    "summary['ok'] = True\na, b = items\nprint(total)", data)
    assert data == {"total": 3, "items": [1, 2], "doubled": [2, 4], "summary": {"n": 2, "ok": True}, "a": 1, "b": 2}



@pytest.mark.parametrize("script", ["math.pi = 3", "del math.pi", "math.floor = max", "juel_empty.memo = {}"])
def test_scripts_cannot_change_what_the_sandbox_gives_every_script(sandbox: SandboxEnvironment, script: str) -> None:
    """The sandbox process outlives one script: the write guard keeps one instance's script from changing the
    modules and helpers every later script and expression of every instance uses."""
    from webapp.engine.expressions import ScriptError

    data = {"x": 2.5}
    with pytest.raises(ScriptError, match="attribute-less object"):
        sandbox.execute(script, data)
    assert data == {"x": 2.5}
    assert sandbox.evaluate("(round(math.pi, 2), math.floor(x))", data) == (3.14, 2)

def test_script_syntax_error_reports_the_line() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_script("a = 1\nb = (\n")
    assert (caught.value.code, caught.value.line) == ("script_syntax", 2)


def double(value: int) -> int:
    return value * 2


def test_helpers_are_available_and_shadowable() -> None:
    sandbox = SandboxEnvironment({"double": f"{__name__}:double"})
    assert sandbox.evaluate("double(21)", {}) == 42
    data = {"double": 3}
    sandbox.execute("result = double + 1", data)
    assert data == {"double": 3, "result": 4}


def test_list_attributes_split_at_top_level_commas() -> None:
    assert split_list(" teacher, ${pick(a, b)} ,school_officer,") == ["teacher", "${pick(a, b)}", "school_officer"]
    assert split_list(None) == []


def test_assignee_literal_or_expression(sandbox: SandboxEnvironment) -> None:
    def evaluate(text: str) -> object:
        return sandbox.evaluate(text, {"initiator": "t42", "nobody": None})

    assert resolve_single("${initiator}", evaluate) == "t42"
    assert resolve_single(" alice ", evaluate) == "alice"
    assert resolve_single("${nobody}", evaluate) is None
    assert resolve_single("", evaluate) is None


def test_candidate_lists_mix_literals_and_expressions(sandbox: SandboxEnvironment) -> None:
    data = {"reviewers": ["bob", "carol"], "csv": "dave, erin", "none": None}

    def evaluate(text: str) -> object:
        return sandbox.evaluate(text, data)

    assert resolve_list("teacher, school_officer", evaluate) == ["teacher", "school_officer"]
    assert resolve_list("alice, ${reviewers}, ${csv}, ${none}, bob", evaluate) == ["alice", "bob", "carol", "dave",
                                                                                  "erin"]


def test_today_works_in_the_sandbox_but_imports_do_not() -> None:
    from datetime import date

    from webapp.engine.expressions import SandboxEnvironment

    environment = SandboxEnvironment()
    assert environment.evaluate("date.today()", {}) == date.today()
    with pytest.raises(ExpressionError):
        environment.execute("import os", {})
    with pytest.raises(ExpressionError):
        environment.execute("import time", {})
