"""The host lock: one migfleet deploy per host at a time.

It is taken inside the run's one host read (the "lock" section of facts.host.HostState), so it
costs no round trip of its own. The holder recorded is the process on the host that lives exactly
as long as the deploy's connection: over SSH, the per-connection sshd (the read's first `sshd`
ancestor; OpenSSH 9.8 and later name it `sshd-session`); with `@local`, pyinfra itself (the first
ancestor that is neither a shell nor sudo). The lock is one line in /run/migfleet (tmpfs: gone at
reboot): the holder's PID, its start time (field 22 of /proc/PID/stat, clock ticks after boot, so
a PID reused later does not match), the same as seconds since the epoch, the controller and the
holder's name. A lock whose holder still runs with that start time is held; any other is stale,
and taken over. It ends with its holder, when the deploy's connection closes. A run that changes
the host marks its lock `changing=1` before its first change and removes the lock after its last
(operations.lock): a stale lock still marked is a deploy that ended in the middle of a change, and
the next run says so; an unmarked one is a run that changed nothing, taken over without a word.

Taking is serialised by flock(1) on a guard file (released by the kernel when the read's shell
exits, whatever happens to it); without flock, a lock is created with noclobber (O_EXCL).
This module is pure: the section's shell and the parser of what it prints.
"""
from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass

LOCK_DIR = "/run/migfleet"
LOCK_FILE = f"{LOCK_DIR}/deploy.lock"
# What may stand between the read's shell and the process that holds the connection.
PASS_THROUGH = ("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "sudo", "su", "doas", "env",
                "timeout", "nice", "ionice", "setsid", "flock")

# Lines printed: "holder PID START SINCE NAME", "lock <the lock file's line>" when there was one,
# then "state WORD [text]".
_SHELL = r"""set -f
st() { s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; c=${s#*\(}; c=${c%\)*}; set -- ${s##*\) }; echo "$2 ${20} $c"; }
p=$$ h= f=
while [ "${p:-0}" -gt 1 ]; do
  i=$(st "$p") || break; set -- $i; pp=$1 ps=$2; shift 2
  case "$*" in
    sshd*) h="$p $ps $*"; break ;;
    @PASS@) ;;
    *) [ -n "$f" ] || f="$p $ps $*" ;;
  esac
  p=$pp
done
h=${h:-$f}
[ -n "$h" ] || { echo "state unsupported no holder process found under /proc"; exit 0; }
set -- $h; hp=$1 hs=$2; shift 2; hn="$*"
bt=0; while read -r k v _; do [ "$k" = btime ] && bt=$v; done < /proc/stat
hz=$(getconf CLK_TCK 2>/dev/null) || hz=100
since=$((bt + hs / ${hz:-100}))
echo "holder $hp $hs $since $hn"
if [ @TAKE@ = 1 ]; then
  mkdir -p @DIR@ 2>/dev/null || { echo "state error cannot create @DIR@"; exit 0; }
  if command -v flock >/dev/null 2>&1; then
    exec 9>>@GUARD@ || { echo "state error cannot open @GUARD@"; exit 0; }
    flock -w 10 9 || { echo "state locked"; exit 0; }
  fi
fi
old=$(cat @FILE@ 2>/dev/null | head -n 1)
alive=
if [ -n "$old" ]; then
  echo "lock $old"
  set -- $old; op=${1#pid=} os=${2#start=}
  case "$op" in ''|*[!0-9]*) op= ;; esac
  [ -n "$op" ] && i=$(st "$op") && set -- $i && [ "$2" = "$os" ] && alive=1
fi
if [ @TAKE@ = 0 ]; then
  if [ -n "$alive" ]; then echo "state active"; elif [ -n "$old" ]; then echo "state stale"; else echo "state free"; fi
  exit 0
fi
if [ -n "$alive" ]; then
  if [ "$op" = "$hp" ] && [ "$os" = "$hs" ]; then echo "state ours"; else echo "state locked"; fi
  exit 0
fi
line="pid=$hp start=$hs since=$since controller=@CONTROLLER@ name=$hn"
if [ -z "$old" ]; then
  if (set -C; echo "$line" > @FILE@) 2>/dev/null; then echo "state taken"
  else o=$(cat @FILE@ 2>/dev/null | head -n 1); [ -z "$o" ] || echo "lock $o"; echo "state locked"; fi
else
  echo "$line" > @FILE@.$$ && mv -f @FILE@.$$ @FILE@ && echo "state took-over" || echo "state error cannot write @FILE@"
fi"""

STATES = ("free", "active", "stale", "taken", "took-over", "ours", "locked", "error", "unsupported")


def controller_name(user: str, machine: str) -> str:
    """`user@machine`, reduced to characters that need no quoting in the lock line."""
    return _plain(f"{user}@{machine}")


def _plain(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._:-]", "_", text) or "unknown"


def command(controller: str, take: bool, directory: str = LOCK_DIR) -> str:
    """The lock section: takes the lock for this connection (take), or only looks (--dry)."""
    lock_file = f"{directory}/{LOCK_FILE.rsplit('/', 1)[1]}"
    values = {"@PASS@": "|".join(PASS_THROUGH), "@TAKE@": "1" if take else "0",
              "@GUARD@": shlex.quote(f"{lock_file}.guard"), "@FILE@": shlex.quote(lock_file),
              "@DIR@": shlex.quote(directory), "@CONTROLLER@": _plain(controller)}
    return re.sub("|".join(values), lambda m: values[m[0]], _SHELL)


@dataclass(frozen=True)
class Holder:
    pid: int
    start: int                  # clock ticks after boot (/proc/PID/stat field 22)
    since: int                  # the same, seconds since the epoch
    name: str                   # the process (sshd, pyinfra)
    controller: str = ""        # user@machine that ran the deploy ("" for this run's own holder)
    changing: bool = False      # its run had begun changing the host (and not finished)

    def words(self) -> str:
        who = f"{self.name} for {self.controller}" if self.controller else self.name
        return f"PID {self.pid} ({who})"

    @property
    def since_text(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))


@dataclass(frozen=True)
class LockState:
    state: str                          # one of STATES
    me: Holder | None = None            # this run's holder
    found: Holder | None = None         # the lock there was
    detail: str = ""                    # why, for error and unsupported

    def message(self) -> str | None:
        """What the deploy says about the lock, or None: it failed ("locked", "error") or went on."""
        f = self.found
        if self.state == "locked" and f:
            return (f"another migfleet deploy holds this host: {f.words()} since {f.since_text}; wait for it or, "
                    f"if that deploy is gone, end its connection on the host (kill {f.pid}) and run again")
        if self.state == "locked":
            return "another migfleet deploy is taking this host's lock right now; run again once it is done"
        if self.state == "took-over" and f and f.changing:
            return (f"took over a stale lock from {f.words()} (started {f.since_text}): that deploy ended in the "
                    "middle of a change; this run converges what it left")
        if self.state == "active" and f:
            return (f"another migfleet deploy holds this host: {f.words()} since {f.since_text} "
                    "(--dry takes no lock)")
        if self.state == "error":
            return f"host lock: {self.detail} (run the deploy as root, or with _sudo)"
        if self.state == "unsupported":
            return f"host lock: {self.detail}; deploying without the lock"
        return None

    @property
    def refuses(self) -> bool:
        """The deploy may not touch the host."""
        return self.state in ("locked", "error")


def _lock_line(line: str) -> Holder:
    fields = dict(re.findall(r"(\w+)=(\S*)", line.split(" name=", 1)[0]))
    try:
        return Holder(int(fields["pid"]), int(fields["start"]), int(fields["since"]),
                      line.split(" name=", 1)[1].strip() if " name=" in line else "?", fields.get("controller", "?"),
                      fields.get("changing") == "1")
    except (KeyError, ValueError):
        raise ValueError(f"unexpected lock file line {line!r} in {LOCK_FILE}") from None


def parse(body: str) -> LockState | None:
    """The lock section's output -> LockState; None when the read took no look at the lock (raises
    ValueError quoting a line it does not know)."""
    if not body.strip():
        return None
    state, me, found, detail = None, None, None, ""
    for line in body.splitlines():
        key, _, rest = line.strip().partition(" ")
        if key == "holder":
            parts = rest.split(" ", 3)
            try:
                me = Holder(int(parts[0]), int(parts[1]), int(parts[2]), parts[3] if len(parts) > 3 else "?")
            except (IndexError, ValueError):
                raise ValueError(f"unexpected line in the lock section {line!r}") from None
        elif key == "lock":
            found = _lock_line(rest)
        elif key == "state" and rest.split(" ", 1)[0] in STATES:
            state, _, detail = rest.partition(" ")
        elif line.strip():
            raise ValueError(f"unexpected line in the lock section {line!r}")
    if state is None:
        raise ValueError(f"the lock section ended without a state: {body.strip()[-200:]!r}")
    return LockState(state, me, found, detail)


def mark_command(pid: int, lock_file: str = LOCK_FILE) -> str:
    """Marks this run's lock (held by `pid`) as changing the host; a lock not ours is left alone."""
    f = shlex.quote(lock_file)
    return (f"grep -q \"^pid={pid} \" {f} 2>/dev/null && sed 's/ name=/ changing=1 name=/' {f} > {f}.mark "
            f"&& mv -f {f}.mark {f}; true")


def release_command(pid: int, lock_file: str = LOCK_FILE) -> str:
    """Removes this run's lock (held by `pid`); a lock not ours (a reboot emptied /run, another took it)
    is left alone."""
    f = shlex.quote(lock_file)
    return f"grep -q \"^pid={pid} \" {f} 2>/dev/null && rm -f {f}; true"
