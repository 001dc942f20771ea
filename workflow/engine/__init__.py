"""The engine: definitions as data, the one machine built from each, and the interpreter that runs them.

Nothing here knows a particular workflow; `workflow.definition` is the e-CPS activation.
"""

from workflow.engine.bindings import Binding, Bindings, Wrong
from workflow.engine.interpreter import AtBound, Instance, Interpreter, Move
from workflow.engine.machine import Workflow
from workflow.engine.model import (
    Counter,
    Deadline,
    Definition,
    Edge,
    Implied,
    Outcome,
    Problem,
    counter_bound,
    deadline_validity,
    definition_problems,
    reachable,
    unvalidated,
)
from workflow.engine.retry import retrying

__all__ = [
    "AtBound",
    "Binding",
    "Bindings",
    "Counter",
    "Deadline",
    "Definition",
    "Edge",
    "Implied",
    "Instance",
    "Interpreter",
    "Move",
    "Outcome",
    "Problem",
    "Workflow",
    "Wrong",
    "counter_bound",
    "deadline_validity",
    "definition_problems",
    "reachable",
    "retrying",
    "unvalidated",
]
