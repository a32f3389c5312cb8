"""What each Triton serves now (its served file), and which Triton lends a model that would otherwise
lose its last Triton (standard library only; the host runs it). Which models each GPU instance's
Tritons load is the planner's (mig.fit.models_at, beside the placed layout)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from migfleet.mig.desired import ServedModel


# -- what each Triton serves now, kept across restarts ---------------------------------------------
# A Triton loads its models from its served file when its container starts (docker run, and every
# restart Docker makes), so a restart comes back with the models it serves now: those a model move
# or a lend gave it, not the list it was first started with. The rotation is its one writer.

SERVED_DIR = "/var/lib/migfleet/triton-models"      # on the host: one file per Triton, a model a line
CONTAINER_SERVED_DIR = "/etc/migfleet/served"       # the same folder inside each Triton (read-only)


def served_text(models: Sequence[str]) -> str:
    return "".join(f"{m}\n" for m in models)


def parse_served(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def load_script(name: str) -> str:
    """`sh -c` script a Triton's container runs: its arguments, one --load-model per line of its served
    file, then exec (POSIX sh: a redirected loop runs in the same shell, so `set --` holds)."""
    path = f"{CONTAINER_SERVED_DIR}/{name}"
    return (f'if [ -f {path} ]; then while IFS= read -r m; do [ -z "$m" ] || set -- "$@" "--load-model=$m"; '
            f'done < {path}; fi; exec "$@"')


# -- Triton settings per instance: loaded through the repository API's config override --------------
# The run file carries them (it outlives restarts); every start and model move on the host applies
# them once the model is loaded (serving.rebind.apply_settings), and a change reloads it in place.

def split_models(models: Sequence) -> tuple[tuple[str, ...], tuple[ServedModel, ...]]:
    """Names, and the entries that carry Triton settings, of a model list (names or ServedModels)."""
    entries = [m if isinstance(m, ServedModel) else ServedModel(str(m)) for m in models]
    return tuple(m.name for m in entries), tuple(m for m in entries if m.has_settings)


def settings_json(settings: Sequence[ServedModel]) -> dict:
    return {m.name: {k: v for k, v in (("instance_count", m.instance_count), ("max_batch_size", m.max_batch_size))
                     if v is not None} for m in settings}


def settings_from_json(d: Mapping) -> tuple[ServedModel, ...]:
    return tuple(ServedModel(str(n), _int(v.get("instance_count")), _int(v.get("max_batch_size")))
                 for n, v in sorted(d.items()))


def _int(v) -> int | None:
    return None if v is None else int(v)


def settings_config(base: Mapping, max_batch_size: int | None, instance_count: int | None) -> dict:
    """The model's config (`base`, as GET /v2/models/NAME/config answers) with Triton settings: dynamic
    batching up to `max_batch_size` (0: none), `instance_count` copies in each instance group (one
    group of that many where it has none); None keeps what the config says."""
    cfg = {k: v for k, v in base.items() if k not in ("max_batch_size", "dynamic_batching", "instance_group")}
    batch = int(base.get("max_batch_size", 0) or 0) if max_batch_size is None else max_batch_size
    cfg["max_batch_size"] = batch
    if batch > 0:
        cfg["dynamic_batching"] = dict(base.get("dynamic_batching") or {})
    groups = [dict(g) for g in base.get("instance_group") or []] or [{"kind": "KIND_AUTO"}]
    cfg["instance_group"] = groups if instance_count is None else [{**g, "count": instance_count} for g in groups]
    return cfg


def settings_differences(want: ServedModel, live: Mapping) -> list[str]:
    """How a model's live config (GET /v2/models/NAME/config) differs from its settings: each
    "setting: wanted, live" in words; none when it has them."""
    out = []
    counts = sorted({int(g.get("count", 1)) for g in live.get("instance_group") or [{}]})
    if want.instance_count is not None and counts != [want.instance_count]:
        out.append(f"instance_count {want.instance_count}, live {', '.join(map(str, counts))}")
    if want.max_batch_size is not None:
        batch, batching = int(live.get("max_batch_size", 0) or 0), "dynamic_batching" in live
        if batch != want.max_batch_size or batching != (want.max_batch_size > 0):
            out.append(f"max_batch_size {want.max_batch_size} ({'dynamic batching' if want.max_batch_size else 'no batching'}), "
                       f"live {batch} ({'dynamic batching' if batching else 'no batching'})")
    return out


def instance_mib(profile: str) -> float:
    """Memory of a MIG instance from its profile name ("3g.40gb" -> 40 GiB); 0 when the name does not say."""
    size = profile.rsplit(".", 1)[-1].lower()
    try:
        return float(size.removesuffix("gb")) * 1024 if size.endswith("gb") else 0.0
    except ValueError:
        return 0.0


def plan_lends(serving: Mapping[str, Sequence[str]], room: Mapping[str, float], going: Sequence[str],
               model_mib: Mapping[str, float]) -> tuple[dict[str, str], list[str]]:
    """When the Tritons `going` stop, which models lose their last Triton among `serving` ({running
    Triton: models it serves now}), and for each ({model: lender}) a Triton that stays and has the
    memory to load it (`room`: its instance's MiB; `model_mib`: the models still wanted on the host
    and what each takes), else the model is drained (second value). Largest model first; the lender
    with the most memory free, then by name, so the deploy's plan and the host agree."""
    going = set(going)
    staying = {n: set(ms) for n, ms in serving.items() if n not in going}
    free = {n: room.get(n, 0.0) - sum(model_mib.get(m, 0.0) for m in ms) for n, ms in staying.items()}
    lost = {m for n in going for m in serving.get(n, ())} - {m for ms in staying.values() for m in ms}
    lends, drained = {}, []
    for m in sorted((m for m in lost if m in model_mib), key=lambda m: (-model_mib[m], m)):
        fits = sorted((n for n in staying if free[n] >= model_mib[m]), key=lambda n: (-free[n], n))
        if fits:
            lends[m] = fits[0]
            free[fits[0]] -= model_mib[m]
        else:
            drained.append(m)
    return lends, sorted(drained)
