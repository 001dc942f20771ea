"""docs/testing.md stays true: requirement ids, every contract test, the usage example, the zoo."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import workflow.testing as kit
from tests.adapters.zoo import delivery, stores
from workflow.testing.requirements import contract_table, contract_tests, requirement_table

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
CONTRACTS = (kit.StoreContract, kit.MailerContract, kit.SmsContract, kit.DirectoryContract,
             kit.EventSinkContract, kit.LoginStoreContract, kit.PushContract)


def _section(name: str) -> str:
    return DOC.split(f"<!-- {name}:start -->\n", 1)[1].split(f"<!-- {name}:end -->", 1)[0].strip()


def test_every_contract_test_carries_a_requirement_id() -> None:
    """No test of a shipped contract lacks the id of the specification rule it checks."""
    untagged = [f"{c.__name__}.{name}" for c in CONTRACTS for name, ids in contract_tests(c) if not ids]
    assert untagged == []
    assert sum(1 for c in CONTRACTS for _ in contract_tests(c)) >= 50


def test_the_doc_lists_every_requirement_and_contract_test() -> None:
    """The tables of docs/testing.md equal what the code says (regenerate them when they drift)."""
    assert _section("requirements") == requirement_table()
    assert _section("contracts") == contract_table(*CONTRACTS)


def test_the_ten_line_usage_is_the_file_that_runs() -> None:
    """The usage shown is verbatim from tests/adapters/test_kit_usage.py, imports included, and short."""
    usage = (ROOT / "tests" / "adapters" / "test_kit_usage.py").read_text(encoding="utf-8")
    block = DOC.split("## The ten-line usage", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    lines = iter(usage.splitlines())
    assert all(line in lines for line in block.strip().splitlines())  # in order, nothing changed
    assert len([line for line in block.splitlines() if line.strip()]) <= 20


def test_the_zoo_table_names_every_broken_adapter() -> None:
    """Each class of the zoo has a row in the doc's zoo table, and each row a class."""
    classes = {name for module in (stores, delivery)
               for name, obj in inspect.getmembers(module, inspect.isclass)
               if obj.__module__ == module.__name__}
    zoo = DOC.split("## The zoo", 1)[1].split("## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)` \|", zoo, flags=re.MULTILINE))
    assert listed == classes
    assert len(classes) >= 12


def _words(text: str) -> str:
    return " ".join(text.split())


def test_every_store_contract_test_cites_a_sentence_of_the_port() -> None:
    """Each `StoreContract` test cites a sentence that the `Store` docstring it names really holds."""
    from workflow.ports import Store
    from workflow.testing.store_contract import PORT_RULES

    tests = {name for name, _ in contract_tests(kit.StoreContract)}
    assert set(PORT_RULES) == tests
    for name, cited in PORT_RULES.items():
        for method, sentence in cited:
            doc = inspect.getdoc(Store if method == "Store" else getattr(Store, method)) or ""
            assert _words(sentence) in _words(doc), f"{name} cites {method}: {sentence!r}, not in it"


def test_every_method_of_the_store_port_is_checked_by_the_contract() -> None:
    """No method of `Store` goes unchecked: a store that ignored one would pass every contract test."""
    from workflow.ports import Store
    from workflow.testing.store_contract import PORT_RULES

    methods = {name for name, _ in inspect.getmembers(Store, inspect.isfunction) if not name.startswith("_")}
    cited = {method for rules in PORT_RULES.values() for method, _ in rules}
    assert methods - cited == set()


def test_the_docs_examples_run_as_written(tmp_path: Path) -> None:
    """Every Python block of docs/testing.md, imports included, runs as a module (test classes collected)."""
    import runpy

    blocks = re.findall(r"```python\n(.*?)```", DOC, flags=re.DOTALL)
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"example_{i}.py"
        path.write_text(block, encoding="utf-8")
        runpy.run_path(str(path), run_name=f"docs_example_{i}")
