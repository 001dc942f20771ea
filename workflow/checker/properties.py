"""The properties the checker proves, each registered under its name with the claim it makes."""

from __future__ import annotations

from enum import StrEnum


class Property(StrEnum):
    """The properties `check` proves, by short name."""

    WELL_FORMED = "well-formed"
    REACHABLE = "reachable"
    NO_TRAP = "no-trap"
    EXPIRY = "expiry"
    MAIN_PATH = "main-path"
    ABSORBING = "absorbing"
    DETERMINISTIC = "deterministic"
    BOUNDED = "bounded"
    DEADLINES = "deadlines"
    MACHINE = "machine"


CLAIMS: dict[Property, str] = {
    Property.WELL_FORMED: "the data is consistent (states, counters, settings)",
    Property.REACHABLE: "every state is reachable",
    Property.NO_TRAP: "every non-terminal state can reach a terminal one",
    Property.EXPIRY: "every in-flight state has an expire edge and a deadline",
    Property.MAIN_PATH: "every path to the goal passes the main states in order",
    Property.ABSORBING: "terminal states absorb (no outgoing edge)",
    Property.DETERMINISTIC: "each (state, event, guard outcome) has one target",
    Property.BOUNDED: "counters never pass their bound",
    Property.DEADLINES: "every deadline can fire in each of its states",
    Property.MACHINE: "the built transitions machine equals the definition",
}
