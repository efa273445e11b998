"""The Go text/template engine: syntax, scoping, functions and errors, on Go's documented semantics."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from krakenpy.gotemplate import TemplateError, TemplateSet, TemplateSyntaxError, go_json
from krakenpy.gotemplate.exec import MAX_DEPTH, MAX_OUTPUT
from krakenpy.gotemplate.values import go_float

DATA = {
    "service": {"port": 8080, "environment": "prod", "hosts": ["http://a:80", "http://b:80"], "null": None},
    "endpoints": [{"path": "/a", "method": "GET"}, {"path": "/b", "method": "POST"}],
    "flags": {"zero": 0, "empty": "", "list": [], "yes": True},
}


def render(text: str, data: Any = DATA, **templates: str) -> str:
    ts = TemplateSet({"marshal": go_json})
    ts.add("main", text, "main.tmpl")
    for name, body in templates.items():
        ts.add(name, body)
    out, _ = ts.render("main", data)
    return out


def test_engine_fields_and_text() -> None:
    assert render('{"port": {{ .service.port }}, "env": "{{.service.environment}}"}') == (
        '{"port": 8080, "env": "prod"}'
    )


def test_engine_missing_key_prints_no_value_and_warns() -> None:
    ts = TemplateSet()
    ts.add("main", "a{{ .nope.deeper }}b\n{{ .service.null }}", "main.tmpl")
    out, warnings = ts.render("main", DATA)
    assert out == "a<no value>b\n<no value>"
    assert warnings[0].startswith("main.tmpl:1: <.nope.deeper> has no value")
    assert warnings[1].startswith("main.tmpl:2:")


def test_engine_field_of_null_is_an_error_with_line() -> None:
    with pytest.raises(TemplateError, match=r"main.tmpl:2: at <.service.null.x>: nil pointer"):
        render("\n{{ .service.null.x }}")


def test_engine_field_of_string_is_an_error() -> None:
    with pytest.raises(TemplateError, match="can't evaluate field x in type string"):
        render("{{ .service.environment.x }}")


def test_engine_trim_markers_remove_whitespace_and_newlines() -> None:
    assert render("a  \n {{- .service.port -}} \n  b") == "a8080b"
    assert render("a {{- 3 }} {{ -3 }}") == "a3 -3"


def test_engine_comments_produce_nothing() -> None:
    assert render("a{{/* one\ntwo */}}b {{- /* x */ -}} c") == "abc"


def test_engine_range_with_index_and_comma_trick() -> None:
    text = '[{{ range $i, $e := .endpoints }}{{ if $i }},{{ end }}"{{ $e.method }} {{ $e.path }}"{{ end }}]'
    assert render(text) == '["GET /a","POST /b"]'


def test_engine_range_single_variable_is_the_element_and_dollar_is_root() -> None:
    assert render("{{ range $e := .endpoints }}{{ $e.path }}{{ $.service.port }} {{ end }}") == "/a8080 /b8080 "


def test_engine_range_over_map_sorts_keys_and_else_on_empty() -> None:
    assert render("{{ range $k, $v := .flags }}{{ $k }};{{ end }}") == "empty;list;yes;zero;"
    assert render("{{ range .flags.list }}x{{ else }}empty{{ end }}") == "empty"
    assert render("{{ range .missing }}x{{ else }}none{{ end }}") == "none"


def test_engine_range_break_continue_and_integer() -> None:
    text = (
        "{{ range $i := 6 }}{{ if eq $i 1 }}{{ continue }}{{ end }}"
        "{{ if gt $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}"
    )
    assert render(text) == "023"


def test_engine_if_else_if_chain_and_truthiness() -> None:
    text = "{{ if .flags.zero }}a{{ else if .flags.empty }}b{{ else if .flags.yes }}c{{ else }}d{{ end }}"
    assert render(text) == "c"
    assert render("{{ if .flags.list }}x{{ else }}y{{ end }}{{ if .nope }}x{{ else }}y{{ end }}") == "yy"


def test_engine_with_changes_dot_and_else() -> None:
    assert render("{{ with .service }}{{ .port }}{{ end }}{{ with .nope }}x{{ else }}-{{ end }}") == "8080-"
    assert render("{{ with .nope }}x{{ else with .service }}{{ .environment }}{{ end }}") == "prod"


def test_engine_variables_declare_assign_and_scope() -> None:
    text = '{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ $y := "c" }}{{ $y }}{{ end }}{{ $x }}'
    assert render(text) == "cb"
    with pytest.raises(TemplateError, match='undefined variable "\\$y"'):
        render("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}")


def test_engine_pipelines_and_parentheses() -> None:
    assert render('{{ .service.environment | upper | printf "%s!" }}') == "PROD!"
    assert render("{{ (index .endpoints 1).path }}") == "/b"
    assert render('{{ len (split "," "a,b,c") }}') == "3"


def test_engine_and_or_short_circuit() -> None:
    # the second operand would fail if evaluated
    assert render("{{ or .service.port (index .endpoints 9) }}") == "8080"
    assert render("{{ and .flags.zero (index .endpoints 9) }}") == "0"
    assert render("{{ not .flags.empty }}") == "true"


def test_engine_comparisons() -> None:
    assert render('{{ eq .service.port 8080 }} {{ ne 1 2 }} {{ lt 1 2.5 }} {{ ge "b" "a" }}') == "true true true true"
    assert render('{{ eq .service.environment "dev" "prod" }}') == "true"
    with pytest.raises(TemplateError, match="incompatible types"):
        render('{{ lt 1 "a" }}')


def test_engine_printf_verbs() -> None:
    assert render('{{ printf "%d|%5.2f|%q|%v|%s|%x|%t|%%" 42 3.14159 "a\\"b" .endpoints 7 255 true }}') == (
        '42| 3.14|"a\\"b"|[map[method:GET path:/a] map[method:POST path:/b]]|%!s(int=7)|ff|true|%'
    )
    assert render('{{ printf "%d %d" 1 }}') == "1 %!d(MISSING)"
    assert render('{{ print 1 2 "a" "b" 3 }}') == "1 2ab3"


def test_engine_printf_width_and_precision_have_gos_bound() -> None:
    # Go's fmt refuses a width or precision over a million (tooLarge): "%*d" 4000000000 allocated 4 GB
    # here before the output cap refused it. Numbers just past the bound show it without that cost.
    assert render('{{ printf "%*d|%.*f" 1000001 1 1000001 1.5 }}') == "%!(BADWIDTH)1|%!(BADPREC)1.500000"
    assert render('{{ printf "%*d" 4000000000 1 }}') == "%!(BADWIDTH)1"
    assert render('{{ printf "%*d|%.*d" "x" 1 -1 2 }}') == "%!(BADWIDTH)1|%!(BADPREC)2"
    assert render('{{ printf "a%10000010d|b" 1 }}') == "a%!(NOVERB)%!(EXTRA int=1)"
    assert render('{{ printf "%.10000010f|b" 1.5 }}') == "%!(NOVERB)%!(EXTRA float64=1.5)"
    assert render('{{ printf "%*d|" -3 1 }}') == "1  |"  # a negative width pads on the right
    assert len(render('{{ printf "%*d" 1000000 1 }}')) == 1000000  # the bound itself is allowed


def test_engine_marshal_and_to_json_sort_keys_and_escape_html() -> None:
    data = {"x": {"b": [1, 2], "a": "<&>"}}
    assert render("{{ marshal .x }}|{{ toJson .x }}|{{ toRawJson .x }}", data) == (
        '{"a":"\\u003c\\u0026\\u003e","b":[1,2]}|{"a":"\\u003c\\u0026\\u003e","b":[1,2]}|{"a":"<&>","b":[1,2]}'
    )


def test_engine_sprig_strings_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KP_TEST_NAME", "gw")
    assert render('{{ env "KP_TEST_NAME" }}-{{ env "KP_TEST_UNSET" | default "none" }}') == "gw-none"
    assert render(
        '{{ quote "a" 1 }} {{ squote "b" }} {{ trim "  x " }} {{ lower "AB" }} {{ title "hello world" }}'
    ) == ('"a" "1" \'b\' x ab Hello World')
    assert render('{{ join "," .service.hosts }}|{{ splitList ":" "a:b" }}|{{ (split "," "x,y")._1 }}') == (
        "http://a:80,http://b:80|[a b]|y"
    )
    assert render('{{ replace "-" "_" "a-b" }} {{ trimPrefix "/" "/x" }} {{ hasPrefix "ht" "http" }}') == "a_b x true"
    assert render('{{ ternary "y" "n" .flags.yes }} {{ coalesce .nope .flags.zero "c" }} {{ empty .flags.list }}') == (
        "y c true"
    )


def test_engine_sprig_lists_dicts_and_math() -> None:
    assert render('{{ $d := dict "a" 1 "b" 2 }}{{ hasKey $d "a" }} {{ keys $d }} {{ get $d "b" }}') == ("true [a b] 2")
    assert render("{{ list 1 2 3 | last }} {{ first .endpoints | toJson }} {{ has 2 (list 1 2) }}") == (
        '3 {"method":"GET","path":"/a"} true'
    )
    assert render("{{ add 1 2 3 }} {{ sub 5 7 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 3 }} {{ max 1 9 4 }}") == (
        "6 -2 6 3 1 9"
    )
    assert render('{{ toJson (dig "service" "port" 0 .) }} {{ atoi "42" | add1 }} {{ b64enc "hi" }}') == "8080 43 aGk="


def test_engine_template_define_and_block() -> None:
    text = (
        '{{ define "item" }}<{{ . }}>{{ end }}{{ template "item" .service.port }}{{ block "b" "x" }}[{{ . }}]{{ end }}'
    )
    assert render(text) == "<8080>[x]"
    assert render('{{ template "sub.tmpl" . }}', **{"sub.tmpl": "{{ .service.environment }}"}) == "prod"


def test_engine_template_unknown_name_is_an_error() -> None:
    with pytest.raises(TemplateError, match='no template "nope.tmpl"'):
        render('{{ template "nope.tmpl" . }}')


def test_engine_recursion_is_bounded() -> None:
    with pytest.raises(TemplateError, match="maximum template depth"):
        render('{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}')


def _nested(levels: int) -> Any:
    data: Any = 0
    for _ in range(levels):
        data = [data]
    return data


def _with_frames(frames: int, call: Any) -> Any:
    """``call()`` under ``frames`` extra Python frames (a gateway request's stack is this deep)."""
    return call() if frames == 0 else _with_frames(frames - 1, call)


def test_engine_recursion_depth_stops_before_the_python_stack() -> None:
    """A frame-hungry recursive template over data nested past MAX_DEPTH, at the real recursion limit
    and under a request's stack: the depth error, not a RecursionError."""
    assert sys.getrecursionlimit() <= 1000  # the interpreter's default: nothing raised it for this test
    template = (
        '{{ define "w" }}{{ if . }}{{ with . }}{{ range . }}{{ if true }}[{{ template "w" . }}]'
        "{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}"
        '{{ template "w" . }}'
    )
    with pytest.raises(TemplateError, match="maximum template depth"):
        _with_frames(150, lambda: render(template, _nested(MAX_DEPTH + 10)))
    assert render(template, _nested(MAX_DEPTH - 2)).count("[") == MAX_DEPTH - 2


def test_engine_data_nested_past_the_stack_is_a_template_error() -> None:
    """Printing a value nested thousands deep (a client's JSON body) fails cleanly (Go would print it)."""
    with pytest.raises(TemplateError, match="nested too deeply"):
        render("{{ . }}", _nested(5000))


@pytest.mark.parametrize(
    "text",
    [
        '{{ repeat .n "ab" }}',
        '{{ indent .n "a\\nb" }}',
        '{{ nindent .n "a" }}',
        "{{ until .n }}",
        "{{ untilStep 0 .n 1 }}",
        "{{ range .n }}{{ end }}",
        '{{ range until 3000 }}{{ repeat 5000 "x" }}{{ end }}',
    ],
)
def test_engine_output_is_bounded(text: str) -> None:
    """A count from the data cannot make the engine allocate past MAX_OUTPUT."""
    with pytest.raises(TemplateError, match=str(MAX_OUTPUT)):
        render(text, {"n": 10**12})


def test_engine_output_just_under_the_bound_renders() -> None:
    assert len(render('{{ repeat .n "x" }}', {"n": MAX_OUTPUT})) == MAX_OUTPUT


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a\n{{ .x ", "unclosed action", 2),
        ("{{ if .x }}\nno end", "missing {{end}}", 2),
        ("\n\n{{ end }}", "unexpected {{end}}", 3),
        ("{{ nosuchfunc 1 }}", 'function "nosuchfunc" not defined', 1),
        ('{{ "unterminated }}', "unterminated quoted string", 1),
        ("{{ break }}", "{{break}} outside {{range}}", 1),
        ("{{/* open", "unclosed comment", 1),
        ("{{ .x | }}", "missing value", 1),
    ],
)
def test_engine_syntax_errors_name_file_and_line(text: str, message: str, line: int) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        render(text)
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"main.tmpl:{line}:")


def test_engine_function_errors_are_template_errors() -> None:
    with pytest.raises(TemplateError, match="main.tmpl:1: .*error calling index: index out of range"):
        render("{{ index .endpoints 5 }}")
    with pytest.raises(TemplateError, match="error calling fail: stop here"):
        render('{{ fail "stop here" }}')


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.5, "0.5"), (1e6, "1e+06"), (123456.0, "123456"), (1.5e-5, "1.5e-05"), (0.0001, "0.0001"), (-2.25, "-2.25")],
)
def test_engine_floats_print_like_go(value: float, text: str) -> None:
    assert go_float(value) == text


def test_engine_to_json_past_orjson_depth_is_a_template_error() -> None:
    """orjson serialises 254 levels: deeper data is a clean error (the README's limits row)."""
    assert render("{{ toJson . }}", _nested(200)).startswith("[[")
    with pytest.raises(TemplateError, match="toJson"):
        render("{{ toJson . }}", _nested(300))
