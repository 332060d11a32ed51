"""Arbitrary inventories and facts files: a value or a one-line configuration error, never a crash."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rabbitmq_preflight.facts import Facts
from rabbitmq_preflight.inventory import Inventory, InventoryError, load_inventory, parse_inventory

toml_scalars = st.one_of(
    st.integers(-(2**40), 2**40), st.text(max_size=20), st.booleans(), st.floats(allow_nan=False)
)
toml_values = st.recursive(
    toml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
documents = st.dictionaries(
    st.sampled_from(["cluster", "management", "nodes", "expect", "waivers", "extra"]), toml_values, max_size=5
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(documents)
def test_any_decoded_toml_document_is_an_inventory_or_an_inventory_error(doc: dict[str, object]) -> None:
    try:
        inv = parse_inventory(doc, "fuzz.toml", Path("/nonexistent"))
    except InventoryError as exc:
        assert exc.problems and all(line.startswith("fuzz.toml: ") and "\n" not in line for line in exc.problems)
    else:
        assert isinstance(inv, Inventory)


@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_arbitrary_inventory_bytes_give_an_inventory_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inv.toml"
        path.write_bytes(data)
        try:
            load_inventory(path)
        except InventoryError as exc:
            assert all(line.startswith(str(path)) for line in exc.problems)


@settings(max_examples=100)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_arbitrary_facts_bytes_are_rejected_by_validation(data: bytes) -> None:
    with contextlib.suppress(ValidationError):
        Facts.model_validate_json(data)
