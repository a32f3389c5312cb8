"""Models that move between a host's running Tritons without a request lost (standard library only;
the host runs it as part of `migfleet.serving.rotation`).

A lend: before Tritons stop (a MIG change, a roll, a stray), a model they are the last to serve is
loaded into a Triton that stays and has the memory (serving.models.plan_lends), and is healthy in
that model's Envoy clusters before they go; the deploy's `rotation models` takes it away again once
the new Tritons serve it. A model move (`rotation models`): gains load and join, then losses leave,
drain and unload. Each Triton's served file follows what it loads, so a restart keeps the moves.
"""
from __future__ import annotations

import time

from migfleet.serving import rebind
from migfleet.serving.models import instance_mib, plan_lends
from migfleet.serving.triton import Triton


class ModelMoves:
    """The model moves of rotation.Host (which provides run_files, containers, sync, active,
    wait_healthy, say, ready_s, drain_s and model_mib)."""

    def served(self, t: Triton) -> tuple[str, ...]:
        """What a Triton serves now: its served file, else its run file's models."""
        now = rebind.read_served(t.name, self.served_dir)
        return t.models if now is None else now

    def lend(self, going: set[str]) -> dict[str, str]:
        """Before `going` stop: every wanted model they are the last running Triton to serve is loaded
        into a Triton that stays and has the memory, then healthy in its clusters; {model: lender}.
        A model no Triton can take is left to the host drain the deploy planned (said here)."""
        running = self.containers()
        files = {t.name: t for t in self.run_files() if t.name in running}
        serving = {n: self.served(t) for n, t in files.items()}
        lends, drained = plan_lends(serving, {n: instance_mib(t.place.profile) for n, t in files.items()},
                                    sorted(going & set(files)), self.model_mib)
        failed = set()
        for model, lender in sorted(lends.items()):
            error = rebind.load(files[lender], model, self.ready_s)
            if error:
                self.say(error)
                failed.add(model)
                continue
            rebind.write_served(lender, sorted({*serving[lender], model}), self.served_dir)
            serving[lender] = (*serving[lender], model)
            self.ready_again(files[lender])
            self.say(f"lend: {model} loaded into {lender} while {', '.join(sorted(going))} stop(s)")
        lends = {m: n for m, n in lends.items() if m not in failed}
        if lends:
            self.sync()         # the lenders join the models' clusters while the Tritons going are still there
            by_lender: dict[str, set[str]] = {}
            for m, n in lends.items():
                by_lender.setdefault(n, set()).add(m)
            unhealthy = self.wait_healthy([files[n] for n in by_lender], by_lender)
            if unhealthy:
                self.say(f"lent, but not healthy in Envoy after {self.ready_s:g} s: {', '.join(unhealthy)}")
        for m in sorted({*drained, *failed}):
            self.say(f"drain: no Triton that stays can take {m}; its clusters empty until its new Tritons serve")
        return lends

    def ready_again(self, t: Triton) -> None:
        """After a load or unload: Triton's strict readiness fails while a model loads or unloads, and
        so do Envoy's health checks of the Triton clusters; the next Triton changes only once this one
        is back (ready, then healthy in Envoy), so the host's health endpoint never sees them all fail."""
        deadline = time.monotonic() + self.ready_s
        time.sleep(0.2)
        while not rebind.ready(t.ports.http) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.wait_healthy([t])

    def models(self, names: set[str] | None = None) -> bool:
        """Each running Triton (of `names`) loads exactly the models of its run file, with no request
        lost: models it gains are loaded and ready, then join their clusters and pass Envoy's health
        checks; only then do the models it loses (a lend given back too) leave theirs, drain (at most
        drain_seconds) and unload."""
        running = self.containers()
        tritons = [t for t in self.run_files() if t.name in running and t.models and (names is None or t.name in names)]
        now = {t.name: rebind.loaded(t) for t in tritons}
        failed = sorted(n for n, m in now.items() if m is None)
        tritons = [t for t in tritons if now[t.name] is not None]
        gains = {t.name: set(t.models) - now[t.name] for t in tritons if set(t.models) - now[t.name]}
        losses = {t.name: now[t.name] - set(t.models) for t in tritons if now[t.name] - set(t.models)}
        for t in tritons:
            for m in sorted(gains.get(t.name, ())):
                error = rebind.load(t, m, self.ready_s)
                if error:
                    self.say(error)
                    failed.append(t.name)
            if t.name in failed:
                continue
            # its models' Triton settings: one whose live config differs is reloaded in place
            changed, errors = rebind.apply_settings(t, self.ready_s)
            for error in errors:
                self.say(error)
            failed += [t.name] if errors else []
            if changed:
                self.say(f"settings: {', '.join(changed)} reloaded in {t.name} with its Triton settings")
            if t.name in gains and t.name not in failed:
                rebind.write_served(t.name, sorted(now[t.name] | gains[t.name]), self.served_dir)
            if (t.name in gains or changed) and len(tritons) > 1:
                self.ready_again(t)
        self.sync(leaving=set(failed))
        unhealthy = self.wait_healthy([t for t in tritons if t.name in gains and t.name not in failed], gains)
        if unhealthy:
            self.say(f"loaded, but not healthy in Envoy after {self.ready_s:g} s: {', '.join(unhealthy)}")
        for t in tritons:
            if t.name not in failed:
                rebind.write_served(t.name, t.models, self.served_dir)
        self.sync(leaving=set(failed))
        moving = [t for t in tritons if t.name in losses]
        deadline = time.monotonic() + self.drain_s
        time.sleep(0.2)         # Envoy picks the moved files up from inotify; let them land
        while (left := self.active({t.name for t in moving}, losses)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            self.say(f"models leaving {', '.join(sorted(losses))}: {left} request(s) still in flight after {self.drain_s:g} s")
        for t in moving:
            for m in sorted(losses[t.name]):
                error = rebind.unload(t, m)
                if error:
                    self.say(error)
            if len(tritons) > 1:
                self.ready_again(t)
        if gains or losses:
            self.say("models: " + "; ".join(f"{t.name} {' '.join(sorted(t.models))}" for t in tritons
                                          if t.name in gains or t.name in losses))
        if failed:
            self.say(f"models not converged: {', '.join(sorted(set(failed)))}")
        return not failed
