"""The project file: what parses, and every refusal named by its location and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.builders import flow_document, make_flow
from signoff.config import Flow, load_project, parse_project
from signoff.errors import ConfigError, Problem

PATH = Path("/projects/credit/signoff.yaml")


def _problems(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_project(document, PATH)
    return [(p.location, p.reason) for p in caught.value.problems]


def test_a_valid_document_parses_into_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNOFF_DATABASE_URL", raising=False)
    project = parse_project({"database_url": "sqlite:////data/signoff.db", "flows": {"credit": flow_document()}}, PATH)
    flow = project.flow("credit")
    assert project.path == PATH
    assert project.database_url == "sqlite:////data/signoff.db"
    assert (flow.name, flow.labels, flow.groups, flow.default_queue) == (
        "credit",
        ("good", "bad"),
        ("group",),
        "default",
    )
    assert list(flow.fields) == ["score", "amount", "group"]
    assert flow.fields["amount"].required is False
    assert flow.model.entry_point == "helpers.models:by_score"
    assert [rule.name for rule in flow.policy] == ["uncertain"]
    assert flow.queues["default"].lease_ttl == 60


def test_load_project_reads_a_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNOFF_DATABASE_URL", raising=False)
    path = tmp_path / "signoff.yaml"
    path.write_text(yaml.safe_dump({"database_url": "sqlite:///:memory:", "flows": {"credit": flow_document()}}))
    project = load_project(path)
    assert project.path == path.resolve()
    assert project.database_url == "sqlite:///:memory:"
    assert list(project.flows) == ["credit"]


def test_invalid_yaml_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "signoff.yaml"
    path.write_text("flows:\n\tcredit: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert caught.value.problems == [
        Problem("line 2, column 1", "not valid YAML: found character '\\t' that cannot start any token")
    ]


def test_a_missing_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert caught.value.path == str(path)
    assert caught.value.problems == [
        Problem("(file)", "not found; create one with `signoff init DIR` or pass --project PATH")
    ]


def test_the_error_message_names_the_file_and_each_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_project({"flows": {"credit": flow_document(labels=["good", "good"])}}, PATH)
    assert str(caught.value) == (
        "/projects/credit/signoff.yaml is not a valid Signoff configuration:\n"
        "  - flows.credit.labels: labels must be unique"
    )


def test_an_unknown_key_asks_to_check_its_spelling() -> None:
    document = {"flows": {"credit": flow_document(queues={"default": {"lease_tll": 60}})}}
    assert _problems(document) == [("flows.credit.queues.default.lease_tll", "unknown field (check its spelling)")]


def test_an_unknown_top_level_key_is_refused_with_the_missing_flows() -> None:
    assert _problems({"flow": {}}) == [
        ("flows", "Field required"),
        ("flow", "unknown field (check its spelling)"),
    ]


@pytest.mark.parametrize(
    ("min_confidence", "reason"),
    [(0, "Input should be greater than 0"), (1.01, "Input should be less than or equal to 1")],
)
def test_threshold_min_confidence_must_be_in_zero_to_one(min_confidence: float, reason: str) -> None:
    rule = {"name": "unsure", "kind": "threshold", "min_confidence": min_confidence}
    document = {"flows": {"credit": flow_document(policy=[rule])}}
    assert _problems(document) == [("flows.credit.policy[0].threshold.min_confidence", reason)]


def test_threshold_min_confidence_of_one_is_allowed() -> None:
    flow = make_flow(policy=[{"name": "unsure", "kind": "threshold", "min_confidence": 1}])
    assert flow.policy_document()["rules"][0]["min_confidence"] == 1.0


def test_a_band_with_low_above_high_is_refused() -> None:
    rule = {"name": "uncertain", "kind": "band", "label": "bad", "low": 0.8, "high": 0.2, "review": "inside"}
    document = {"flows": {"credit": flow_document(policy=[rule])}}
    assert _problems(document) == [("flows.credit.policy[0].band", "'low' (0.8) is greater than 'high' (0.2)")]


def test_a_band_label_must_be_one_of_the_labels() -> None:
    rule = {"name": "uncertain", "kind": "band", "label": "ugly", "low": 0.3, "high": 0.7, "review": "inside"}
    document = {"flows": {"credit": flow_document(policy=[rule])}}
    assert _problems(document) == [
        ("flows.credit", "policy[0] ('uncertain') names label 'ugly', not one of ['good', 'bad']")
    ]


def test_a_rule_queue_must_be_declared() -> None:
    rule = {"name": "unsure", "kind": "threshold", "min_confidence": 0.6, "queue": "senior"}
    document = {"flows": {"credit": flow_document(policy=[rule])}}
    assert _problems(document) == [
        ("flows.credit", "policy[0] ('unsure') sends to queue 'senior', which is not declared under 'queues'")
    ]


def test_labels_must_be_unique() -> None:
    document = {"flows": {"credit": flow_document(labels=["good", "bad", "good"])}}
    assert _problems(document) == [("flows.credit.labels", "labels must be unique")]


def test_rule_names_must_be_unique() -> None:
    rule = {"name": "unsure", "kind": "threshold", "min_confidence": 0.6}
    document = {"flows": {"credit": flow_document(policy=[rule, {**rule, "min_confidence": 0.7}])}}
    assert _problems(document) == [("flows.credit", "policy rule names must be unique")]


def test_a_group_must_be_a_field() -> None:
    document = {"flows": {"credit": flow_document(groups=["region"])}}
    assert _problems(document) == [
        ("flows.credit", "group attribute 'region' is not one of the fields (score, amount, group)")
    ]


def test_a_category_field_needs_values() -> None:
    document = {"flows": {"credit": flow_document(fields={"region": {"type": "category"}}, groups=[])}}
    assert _problems(document) == [("flows.credit.fields.region", "a category field needs its allowed 'values'")]


@pytest.mark.parametrize("entry_point", ["helpers.models", "helpers.models:", ":by_score", "helpers models:by_score"])
def test_a_python_model_entry_point_must_be_module_colon_function(entry_point: str) -> None:
    model = {"kind": "python", "entry_point": entry_point, "version": "1"}
    document = {"flows": {"credit": flow_document(model=model)}}
    assert _problems(document) == [
        ("flows.credit.model", "a python model needs 'entry_point' in the form 'package.module:function'")
    ]


def test_a_python_model_needs_a_version() -> None:
    document = {"flows": {"credit": flow_document(model={"kind": "python", "entry_point": "helpers.models:by_score"})}}
    assert _problems(document) == [
        ("flows.credit.model", "a python model needs 'version' (code has no file to fingerprint)")
    ]


def test_a_sklearn_model_needs_a_path() -> None:
    document = {"flows": {"credit": flow_document(model={"kind": "sklearn"})}}
    assert _problems(document) == [("flows.credit.model", "a sklearn model needs 'path' (a .skops or .joblib file)")]


@pytest.mark.parametrize("name", ["Credit", "credit approval", "-credit", "c" * 64])
def test_a_flow_name_must_match_the_name_pattern(name: str) -> None:
    assert _problems({"flows": {name: flow_document()}}) == [
        (f"flows.{name}.[key]", "String should match pattern '^[a-z0-9][a-z0-9_-]{0,62}$'")
    ]


def test_problems_of_several_flows_are_reported_together() -> None:
    document = {"flows": {"first": flow_document(groups=["region"]), "second": flow_document(labels=["good"])}}
    assert [location for location, _reason in _problems(document)] == ["flows.first", "flows.second.labels"]


def test_a_relative_sqlite_url_is_resolved_against_the_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIGNOFF_DATABASE_URL", raising=False)
    document = {"database_url": "sqlite:///data/app.db", "flows": {"credit": flow_document()}}
    project = parse_project(document, tmp_path / "signoff.yaml")
    assert project.database_url == f"sqlite:///{(tmp_path / 'data' / 'app.db').resolve()}"


@pytest.mark.parametrize("url", ["sqlite:////srv/app.db", "sqlite:///:memory:", "postgresql://db.internal/signoff"])
def test_absolute_and_non_file_urls_are_kept(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNOFF_DATABASE_URL", raising=False)
    project = parse_project({"database_url": url, "flows": {"credit": flow_document()}}, PATH)
    assert project.database_url == url


def test_without_a_url_the_database_sits_next_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNOFF_DATABASE_URL", raising=False)
    project = parse_project({"flows": {"credit": flow_document()}}, tmp_path / "signoff.yaml")
    assert project.database_url == f"sqlite:///{(tmp_path / 'signoff.db').resolve()}"


def test_the_environment_overrides_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNOFF_DATABASE_URL", "postgresql://db.internal/override")
    project = parse_project({"database_url": "sqlite:///app.db", "flows": {"credit": flow_document()}}, PATH)
    assert project.database_url == "postgresql://db.internal/override"


def test_policy_version_is_the_same_for_equal_policies() -> None:
    assert make_flow().policy_version == make_flow(description="another text, same rules").policy_version


def test_policy_version_changes_when_a_threshold_changes() -> None:
    rule = {"name": "unsure", "kind": "threshold", "min_confidence": 0.6}
    before = make_flow(policy=[rule]).policy_version
    after = make_flow(policy=[{**rule, "min_confidence": 0.65}]).policy_version
    assert before != after
    assert len(before) == 64


def test_unquoted_yes_no_labels_get_a_yaml_hint_and_no_noise() -> None:
    document = {"flows": {"credit": flow_document(labels=[True, False])}}
    assert _problems(document) == [
        (
            "flows.credit.labels[0]",
            "Input should be a valid string (YAML reads unquoted yes/no/on/off/true/false "
            "as booleans: put quotes around it)",
        ),
        (
            "flows.credit.labels[1]",
            "Input should be a valid string (YAML reads unquoted yes/no/on/off/true/false "
            "as booleans: put quotes around it)",
        ),
    ]


def test_a_queue_role_error_names_the_allowed_roles_plainly() -> None:
    document = {"flows": {"credit": flow_document(queues={"q": {"role": "boss"}})}}
    assert _problems(document) == [("flows.credit.queues.q.role", "Input should be 'reviewer', 'lead' or 'admin'")]


def test_two_flows_with_the_same_rules_have_different_policy_versions() -> None:
    a = Flow.model_validate({"name": "a", **flow_document()})
    b = Flow.model_validate({"name": "b", **flow_document()})
    assert a.policy_version != b.policy_version


def _pixels(n: int) -> dict[str, dict[str, Any]]:
    return {f"px_{i}": {"type": "number", "min": 0, "max": 16} for i in range(n)}


def test_an_image_takes_its_pixels_by_prefix_in_declared_order() -> None:
    document = flow_document(fields={**flow_document()["fields"], **_pixels(4)})
    document["images"] = {"digit": {"prefix": "px_", "width": 2, "height": 2, "high": 16}}
    flow = make_flow(**document)
    assert flow.images["digit"].field_names(list(flow.fields)) == ("px_0", "px_1", "px_2", "px_3")


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ({"prefix": "px_", "width": 3, "height": 2}, "image 'digit' is 3x2 = 6 pixels but names 4 fields"),
        ({"fields": ["px_0", "group", "px_2", "px_3"], "width": 2, "height": 2}, "needs field 'group' to be number"),
        ({"fields": ["px_0", "nope", "px_2", "px_3"], "width": 2, "height": 2}, "reads field 'nope', which is not"),
        ({"prefix": "px_", "fields": ["px_0"], "width": 1, "height": 1}, "give either 'fields' (in row order) or"),
        ({"prefix": "px_", "width": 2, "height": 2, "low": 1, "high": 1}, "'low' and 'high' must differ"),
    ],
)
def test_a_bad_image_is_refused_with_what_is_wrong(image: dict[str, Any], reason: str) -> None:
    document = flow_document(fields={**flow_document()["fields"], **_pixels(4)})
    document["images"] = {"digit": image}
    [(where, said)] = _problems({"flows": {"credit": document}})
    assert where.startswith("flows.credit") and reason in said


def test_the_entity_must_be_a_declared_identifying_field() -> None:
    assert _problems({"flows": {"credit": flow_document(entity="nope")}}) == [
        ("flows.credit", "entity reads field 'nope', which is not one of score, amount, group")
    ]
    [(_, said)] = _problems({"flows": {"credit": flow_document(entity="score")}})
    assert "needs field 'score' to be string or category or integer, not number" in said
