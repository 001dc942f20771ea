#!/usr/bin/env bash
# Mutation testing of workflow/ with mutmut 3, in a scratch copy of the committed tree (HEAD).
#
#   tools/mutation.sh                      # the core: definition security service work outbox,
#                                          # the checker and the engine (interpreter, model, machine, bindings)
#   tools/mutation.sh security work        # some modules only
#   MUTATION_DIR=/tmp/mut tools/mutation.sh   # keep the scratch copy there (reruns reuse its cache)
#   MUTATION_DIR=/tmp/mut MUTATION_RERUN_SURVIVORS=1 tools/mutation.sh   # and judge its survivors again
#
# The tests that judge the mutants: tests/unit (less the slow thread, benchmark and docs-example
# runs), the stateful property suite over memory adapters (derandomized `ecps-mutation` profile) and
# the conformance replay of the checker's model through the service.
# Needs mutmut 3 (`pip install -e '.[mutation]'`). Prints the score: killed / (mutants - not checked),
# where killed counts mutants caught by a failing test or by a timeout; survivors are listed by name.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$#" -gt 0 ]; then modules=("$@"); else
  modules=(definition security service work outbox
           checker/__init__ checker/space checker/proofs checker/report checker/loader
           engine/interpreter engine/model engine/machine engine/bindings); fi
work=${MUTATION_DIR:-$(mktemp -d -t ecps-mutation.XXXXXX)}
mkdir -p "$work"
git -C "$root" archive HEAD | tar -x -C "$work"
cd "$work"
# Functions that run only while their module is imported (the shipped definition's table) cannot be
# switched on by mutmut's trampolines: their mutants would "survive" unjudged, so they are not generated.
sed -i 's/^def _edges() -> tuple\[Edge\[State, Event\], \.\.\.\]:$/& # pragma: no mutate block/' workflow/definition.py
grep -q 'def _edges.*no mutate block' workflow/definition.py || echo "warning: _edges not excluded" >&2
only="" copy=""
for entry in *; do [ "$entry" != workflow ] && copy+=$'\n'"    ${entry}"; done
for m in "${modules[@]}"; do only+=$'\n'"    workflow/${m}.py"; done
cat > setup.cfg <<CFG
[mutmut]
source_paths = workflow/
also_copy =${copy}
only_mutate =${only}
# A mutant is stopped after 2 × 1.5 × (its tests' measured time + 10 s) of CPU, and counted as a timeout
# (mutmut's default, 2 × 15 × (time + 1 s), let a mutant that makes the checker's exploration unbounded
# run for ten minutes). The 10 s cover the worker's own start (collecting the tests' modules), which
# the measured time leaves out: with 1 s, mutants of functions that few, quick tests call timed out.
timeout_multiplier = 1.5
timeout_constant = 10
pytest_add_cli_args_test_selection =
    tests/unit
    tests/property/test_machine.py
    tests/property/test_conformance.py
pytest_add_cli_args =
    -p
    no:cacheprovider
    --ignore=tests/unit/test_aio.py
    --ignore=tests/unit/test_benchmarks_smoke.py
    --ignore=tests/unit/test_docs_examples.py
    -m
    not postgres and not slow
    --hypothesis-profile=ecps-mutation
CFG
if grep -q '^\[tool.mutmut\]' pyproject.toml; then
  echo "warning: pyproject.toml has [tool.mutmut]; mutmut reads it instead of this script's settings" >&2
fi
export ECPS_HYPOTHESIS_PROFILE=ecps-mutation
mutmut run --max-children "${MUTATION_JOBS:-$(nproc)}" || true
if [ -n "${MUTATION_RERUN_SURVIVORS:-}" ]; then  # judge the cached survivors again with the current tests
  mapfile -t again < <(mutmut results 2>/dev/null | awk -F': ' '$2 == "survived" {gsub(/ /, "", $1); print $1}')
  if [ "${#again[@]}" -gt 0 ]; then mutmut run --max-children "${MUTATION_JOBS:-$(nproc)}" "${again[@]}" || true; fi
fi
mutmut results --all true > results.txt || true
python3 - results.txt <<'PY'
import collections, re, sys
counts, survivors = collections.Counter(), []
for line in open(sys.argv[1]):
    m = re.match(r"\s*(\S+): (.+)$", line)
    if m:
        counts[m.group(2).strip()] += 1
        if m.group(2).strip() == "survived":
            survivors.append(m.group(1))
killed = counts["killed"] + counts["timeout"]
considered = sum(counts.values()) - counts["not checked"] - counts["skipped"]
print("mutants by status:", dict(sorted(counts.items())))
print(f"score = (killed + timeout) / (all - not checked - skipped) = {killed}/{considered}"
      f" = {100 * killed / max(considered, 1):.1f}%")
print("surviving mutants (mutmut show NAME):", *survivors, sep="\n  ")
PY
echo "scratch copy: $work"
