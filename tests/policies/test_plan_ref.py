"""`<catalog>:<plan>` references: one parser for the API, the CLI and the tests."""

import re

import pytest

from policies.format import PolicyError
from policies.loading import load_catalogs
from policies.plan_ref import PLAN_REF_PATTERN, PlanRef
from policies.resolution import find_plan


def test_parse_reads_catalog_and_plan_and_prints_them_back():
    ref = PlanRef.parse("eu-software-001:gold")
    assert (ref.catalog, ref.plan) == ("eu-software-001", "gold")
    assert str(ref) == "eu-software-001:gold"
    assert ref == PlanRef("eu-software-001", "gold")
    assert {ref, PlanRef.parse(str(ref))} == {ref}


@pytest.mark.parametrize("text", ["gold", ":gold", "eu-software-001:", ":", "", "a:b:c"])
def test_parse_refuses_anything_but_one_catalog_and_one_plan(text):
    with pytest.raises(ValueError) as caught:
        PlanRef.parse(text)
    assert str(caught.value) == f"expected <catalog>:<plan>, got {text!r}"


@pytest.mark.parametrize(
    "text", ["eu-software-001:gold", "a:b", "0-:-9", "worldscape:premier-plus"]
)
def test_what_the_api_pattern_lets_in_parses(text):
    assert re.fullmatch(PLAN_REF_PATTERN, text)
    assert str(PlanRef.parse(text)) == text


@pytest.mark.parametrize("ref", ["x:", ":gold", "eu-software-001:gold:x"])
def test_find_plan_names_a_malformed_reference(ref):
    with pytest.raises(PolicyError, match=re.escape(f"expected <catalog>:<plan>, got {ref!r}")):
        find_plan(load_catalogs(), ref)


def test_find_plan_takes_a_reference_or_a_unique_plan_id():
    catalogs = load_catalogs()
    catalog, plan = find_plan(catalogs, "eu-software-001:gold")
    assert (catalog.id, plan.id) == ("eu-software-001", "gold")
    assert find_plan(catalogs, "gold") == (catalog, plan)
