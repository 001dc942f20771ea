"""The engine in memory: µs per event through `ActivationService` against bare state machines.

Side by side in one run, over the same flow (request → … → active → one login):
a dict state machine, a bare `transitions` trigger on the engine's shared machine, the engine's
`Workflow.fire`, a `transitions.Machine` built per activation, and the whole service on
`MemoryStore` (PIN hash at its cheapest setting; no QR is rendered, see `costs`).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

from transitions import Machine

from benchmarks.common import (
    FLOW,
    PIN,
    TRANSITIONS,
    Figure,
    Result,
    Target,
    bench_settings,
    flow,
    identifiers,
    interleave,
    main,
    memory_service,
    timed,
)
from workflow.definition import DEFINITION, WORKFLOW, Event, Outcome, State, Workflow

OK = Outcome.OK
STATES = [str(s) for s in DEFINITION.states]
EVENTS = tuple(Event(name) for name in TRANSITIONS)
TABLE = {(str(e.source), str(e.event), str(e.outcome)): str(e.dest) for e in DEFINITION.edges}


class _Outcome:
    """The condition the engine's machine uses: the trigger's `outcome` keyword is ours."""

    __slots__ = ("outcome",)

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def __call__(self, outcome: Outcome = OK, **_: object) -> bool:
        return outcome == self.outcome


SPEC = [{"trigger": str(e.event), "source": str(e.source), "dest": str(e.dest),
         "conditions": [_Outcome(e.outcome)]} for e in DEFINITION.edges]


class Record:
    """A plain object a machine moves (transitions adds its trigger methods to it)."""

    state: str


def build_machine(model: Record, initial: str) -> Machine:
    """A `transitions.Machine` of the whole definition bound to one model."""
    return Machine(model=model, states=STATES, transitions=SPEC, auto_transitions=False,
                   initial=initial)


class MachinePerActivation(Workflow[State, Event]):
    """The engine's `Workflow` as a naive implementation would do it: a Machine per loaded activation."""

    def fire(self, state: str, event: str, outcome: str = OK) -> State:
        record = Record()
        build_machine(record, str(state))
        getattr(record, str(event))(outcome=outcome)
        return State(record.state)


# -- the variants, each returning seconds per activation ------------------------------------------

def dict_machine(activations: int) -> float:
    """A hand-written dict state machine along the flow."""
    table, events = TABLE, TRANSITIONS
    start = time.perf_counter()
    for _ in range(activations):
        state = "requested"
        for event in events:
            state = table[(state, event, "ok")]
    assert state == "active"
    return (time.perf_counter() - start) / activations


def bare_trigger(activations: int) -> float:
    """The shared machine's triggers called on a plain record (no engine around them)."""
    triggers = {name: ev.trigger for name, ev in WORKFLOW.machine.events.items()}
    flow_triggers = [triggers[name] for name in TRANSITIONS]
    start = time.perf_counter()
    for _ in range(activations):
        record = Record()
        record.state = "requested"
        for trigger in flow_triggers:
            trigger(record, outcome=OK)
    assert record.state == "active"
    return (time.perf_counter() - start) / activations


def shared_fire(activations: int) -> float:
    """The engine's state-machine layer: `Workflow.fire` on the one shared machine."""
    fire = WORKFLOW.fire
    start = time.perf_counter()
    for _ in range(activations):
        state = State.REQUESTED
        for event in EVENTS:
            state = fire(state, event)
    assert state == State.ACTIVE
    return (time.perf_counter() - start) / activations


def machine_per_activation(activations: int) -> float:
    """A `transitions.Machine` built for each activation, then the same triggers."""
    start = time.perf_counter()
    for _ in range(activations):
        record = Record()
        build_machine(record, "requested")
        for name in TRANSITIONS:
            getattr(record, name)(outcome=OK)
    assert record.state == "active"
    return (time.perf_counter() - start) / activations


def service_flows(ids: list[str], workflow: Workflow[State, Event] = WORKFLOW) -> list[float]:
    """Seconds spent in each call of `FLOW`, summed over one activation of each of `ids`."""
    svc = memory_service(ids)
    svc.workflow = workflow
    spent = [0.0] * len(FLOW)
    for nid in ids:
        flow(svc, nid, spent)
    return spent


# -- memory ------------------------------------------------------------------------------------

def store_memory(count: int) -> tuple[float, float]:
    """Bytes per activation held by a `MemoryStore` after `count` whole flows: (all, records only).

    "all" counts the activation records with their outbox messages and audit trail;
    "records only" is measured again after dropping those two.
    """
    ids = identifiers(count, start=9_000_000)
    svc = memory_service(ids)
    store = svc.store
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        spent = [0.0] * len(FLOW)
        for nid in ids:
            flow(svc, nid, spent)
        del spent
        gc.collect()
        whole = tracemalloc.get_traced_memory()[0] - base
        for private in ("_outbox", "_audit"):
            held = getattr(store, private, None)
            if isinstance(held, dict):
                held.clear()
        gc.collect()
        records = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return whole / count, records / count


def machine_memory(count: int) -> float:
    """Bytes per activation when each one keeps its own `transitions.Machine`."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept: list[tuple[Record, Any]] = []
        for _ in range(count):
            record = Record()
            kept.append((record, build_machine(record, "requested")))
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del kept
    return used / count


# -- the benchmark -------------------------------------------------------------------------------

def run(quick: bool = False, flows: int | None = None, rounds: int | None = None,
        activations: int | None = None) -> Result:
    """The engine in memory against a dict machine, a bare trigger and a Machine per activation."""
    flows = flows or (20 if quick else 400)
    rounds = rounds or (3 if quick else 7)
    naive_flows = max(5, flows // 4)
    ids = identifiers(flows * rounds)
    naive_ids = identifiers(naive_flows * rounds, start=5_000_000)
    calls: dict[str, list[float]] = {}

    def service(r: int) -> float:
        spent = service_flows(ids[r * flows:(r + 1) * flows])
        calls.setdefault("service", []).append(sum(spent))
        for name, seconds in zip(FLOW, spent, strict=True):
            calls.setdefault(name, []).append(seconds / flows)
        return sum(spent) / flows

    def naive_service(r: int) -> float:
        spent = service_flows(naive_ids[r * naive_flows:(r + 1) * naive_flows],
                              MachinePerActivation(DEFINITION))
        return sum(spent) / naive_flows

    service_flows(identifiers(5, start=8_000_000))  # warm caches and imports
    per_activation = interleave({
        "dict": lambda _r: dict_machine(flows * 50),
        "trigger": lambda _r: bare_trigger(flows * 4),
        "fire": lambda _r: shared_fire(flows * 4),
        "machine_per_activation": lambda _r: machine_per_activation(flows),
        "service": service,
        "service_machine_per_activation": naive_service,
    }, rounds)
    us = {k: v * 1e6 for k, v in per_activation.items()}
    steps = len(TRANSITIONS)
    per_call = {name: sorted(calls[name])[len(calls[name]) // 2] * 1e6 for name in FLOW}
    service_event = us["service"] / len(FLOW)
    trigger_event = us["trigger"] / steps

    keys = memory_service([], bench_settings()).keys
    stored = keys.hash_pin("aid", PIN)
    hash_us = timed(lambda: keys.hash_pin("aid", PIN), 200 if not quick else 20) * 1e6
    verify_us = timed(lambda: keys.verify_pin(stored, "aid", PIN), 200 if not quick else 20) * 1e6

    engine_event = max(0.0, us["service"] - hash_us - 2 * verify_us) / len(FLOW)
    memory_count = activations or (200 if quick else 2000)
    whole, records = store_memory(memory_count)
    per_machine = machine_memory(memory_count)

    figures = [
        Figure("dict machine", us["dict"] / steps, "µs/transition"),
        Figure("bare transitions trigger", trigger_event, "µs/transition"),
        Figure("engine Workflow.fire", us["fire"] / steps, "µs/transition"),
        Figure("service event (mean)", service_event, "µs/event", "6 calls per activation"),
        *(Figure(f"  {name}", per_call[name], "µs/event") for name in FLOW),
        Figure("service event without the PIN hash's time", engine_event, "µs/event",
               "1 hash and 2 verifies per activation subtracted"),
        Figure("PIN hash at bench cost", hash_us, "µs", "in set_pin"),
        Figure("PIN verify at bench cost", verify_us, "µs", "in confirm_pin and authenticate"),
        Figure("dict machine, per activation", us["dict"], "µs/activation"),
        Figure("shared machine, per activation", us["fire"], "µs/activation", "6 fires"),
        Figure("Machine per activation", us["machine_per_activation"], "µs/activation",
               "build + 6 triggers"),
        Figure("service, per activation", us["service"], "µs/activation"),
        Figure("service with a Machine per loaded activation", us["service_machine_per_activation"],
               "µs/activation"),
        Figure("MemoryStore per activation, record", records, "bytes", "state, counters, history"),
        Figure("MemoryStore per activation, with outbox and audit", whole, "bytes"),
        Figure("one transitions.Machine per activation", per_machine, "bytes"),
    ]
    targets = [
        Target("service event / bare trigger", service_event / trigger_event, 3, at_most=True),
        Target("Machine per activation / shared machine", us["machine_per_activation"] / us["fire"],
               10, at_most=False),
        Target("service with Machine per activation / service",
               us["service_machine_per_activation"] / us["service"], 10, at_most=False),
        Target("memory per stored activation (record)", records / 1024, 2, at_most=True, unit=" KiB"),
        Target("memory per stored activation (with outbox, audit)", whole / 1024, 2, at_most=True,
               unit=" KiB"),
    ]
    notes = (
        f"medians of {rounds} interleaved rounds; {flows} service flows per round "
        f"({naive_flows} with a Machine per activation)",
        "PIN hash at argon2id 8 KiB, t=1, p=1 (production cost: see costs); phone reads outside "
        "the timings; nothing dispatched, so no QR image rendered",
    )
    return Result("engine_memory", "the engine in memory against its baselines", tuple(figures),
                  tuple(targets), notes, params={"flows": flows, "rounds": rounds, "quick": quick})


if __name__ == "__main__":
    raise SystemExit(main(run))
