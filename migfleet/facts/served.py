"""What each Triton of a host serves now: its run file, and its served file where the rotation wrote
one (serving.models). Read only for a run that stops Tritons, to plan lends and drains; a converged
host never runs it."""
from __future__ import annotations

from pyinfra.api import FactBase

from migfleet.serving.models import SERVED_DIR, parse_served
from migfleet.serving.triton import RUN_DIR, RUN_SUFFIX, Triton, TritonPlanError

MARK = "@@migfleet-served"
COMMAND = "; ".join(f'for f in {where}; do [ -f "$f" ] || continue; printf "\\n{MARK} {kind} %s\\n" "$f"; cat "$f"; done'
                    for kind, where in (("run", f"{RUN_DIR}/*{RUN_SUFFIX}"), ("served", f"{SERVED_DIR}/*"))) + "; true"


def parse(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{Triton: (its profile, the models it serves now)}: its served file, else its run file's
    models. A run file that is not a Triton's is left out (the deploy rewrites it)."""
    runs, served = {}, {}
    for chunk in text.split(f"\n{MARK} ")[1:]:
        head, _, body = chunk.partition("\n")
        kind, _, path = head.partition(" ")
        name = path.rsplit("/", 1)[-1]
        if kind == "run":
            try:
                t = Triton.from_json(body)
            except TritonPlanError:
                continue
            runs[t.name] = t
        elif not name.startswith("."):
            served[name] = parse_served(body)
    return {n: (t.place.profile, served.get(n, t.models)) for n, t in runs.items()}


class ServedModels(FactBase):
    def command(self) -> str:
        return COMMAND

    def process(self, output) -> dict[str, tuple[str, tuple[str, ...]]]:
        return parse("\n" + "\n".join(output))
