"""What every benchmark mode shares: processes, ports, core pinning, wrk (with a check
of every response while timing), and /proc CPU accounting, with one definition of a
contended sample."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

ROOT = Path(__file__).resolve().parents[1]


PY = sys.executable


@dataclass
class Sample:
    """One wrk run. ``errors`` counts every bad answer: socket errors, answers that
    are not HTTP 200, and 200s whose body has ``"errors"`` (checked while timing by
    the script's ``response()``); ``checked`` is False when that check did not
    report (the run cannot be trusted)."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_200: int = 0
    error_bodies: int = 0
    checked: bool = True
    # Answers whose bytes differ from the expected answer (only when one was given).
    wrong_bodies: int = 0
    # The status and first 300 characters of the first bad answer, when there was one.
    first_bad: str = ""

    @property
    def failed(self) -> bool:
        return self.errors > 0 or not self.checked

    def failure(self) -> str:
        if not self.checked:
            return "wrk did not report its response check"
        socket_errors = (
            self.errors - self.non_200 - self.error_bodies - self.wrong_bodies
        )
        return (
            f"{self.non_200} non-200 answers, {self.error_bodies} answers with "
            f'"errors", {self.wrong_bodies} wrong answers, {socket_errors} socket errors'
            + (f"; the first bad answer: {self.first_bad}" if self.first_bad else "")
        )


class RunFailed(SystemExit):
    """A timed run got bad answers: it is reported as failed, never as a figure."""


def require_clean(sample: Sample, what: str) -> Sample:
    """``sample``, or ``RunFailed`` when any answer during it was bad."""
    if sample.failed:
        raise RunFailed(f"{what}: the run failed: {sample.failure()}")
    return sample


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: str, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", core, *argv]
    return argv


def start(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def post(url: str, query: str, timeout: float = 10.0) -> dict[str, Any]:
    """POST ``query`` to a GraphQL endpoint; the decoded answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            post(url, "{ __typename }")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up in {timeout}s") from None
            time.sleep(0.1)


def peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


WRK_CHECK = """
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non_200 = 0
  error_bodies = 0
  wrong = 0
  first_bad = ""
end

function response(status, headers, body)
  local bad = true
  if status ~= 200 then
    non_200 = non_200 + 1
  elseif string.find(body, '"errors"', 1, true) then
    error_bodies = error_bodies + 1
  elseif expected ~= nil and body ~= expected then
    wrong = wrong + 1
  else
    bad = false
  end
  if bad and first_bad == "" then
    first_bad = status .. " " .. string.gsub(string.sub(body, 1, 300), "[\\r\\n]", " ")
  end
end

function done(summary, latency, requests)
  local bad, errs, wrongs, first = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non_200")
    errs = errs + thread:get("error_bodies")
    wrongs = wrongs + thread:get("wrong")
    if first == "" then first = thread:get("first_bad") end
  end
  if first ~= "" then
    io.write("First bad answer: " .. first .. "\\n")
  end
  io.write(string.format(
    "Checked responses: %d non-200, %d with errors, %d wrong\\n", bad, errs, wrongs))
end
"""
"""wrk Lua: every answer is checked while timing; ``done()`` prints what was bad
(see https://github.com/wg/wrk/blob/master/SCRIPTING). With a global ``expected``
(set by ``wrk_argv`` from a file), an answer whose bytes differ from it is wrong."""

_CHECKED = re.compile(
    r"Checked responses: (\d+) non-200, (\d+) with errors(?:, (\d+) wrong)?"
)


def wrk_argv(
    url: str,
    query: str,
    *,
    seconds: float,
    connections: int,
    workdir: Path,
    expected: Path | None = None,
    timeout_s: int | None = None,
) -> list[str]:
    """The wrk command (pinned to core 1) that POSTs ``query`` to ``url`` and checks
    every answer (``WRK_CHECK``); with ``expected`` (a file), every answer must be
    exactly its bytes. ``timeout_s`` replaces wrk's 2 s timeout per request (an answer
    slower than the timeout counts as a socket error)."""
    script = workdir / "post.lua"
    body = json.dumps({"query": query})
    load = ""
    if expected is not None:
        load = (
            f"local expected_file = assert(io.open({json.dumps(str(expected))}, 'rb'))\n"
            "expected = expected_file:read('*a')\n"
            "expected_file:close()\n"
        )
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n' + load + WRK_CHECK
    )
    return pinned(
        "1",
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            *([f"--timeout={timeout_s}s"] if timeout_s else []),
            "-s",
            str(script),
            url,
        ],
    )


def wrk(
    url: str,
    query: str,
    *,
    seconds: float,
    connections: int,
    workdir: Path,
    what: str,
) -> Sample:
    """One checked wrk run; ``RunFailed`` (naming ``what``) when any answer was bad."""
    argv = wrk_argv(
        url, query, seconds=seconds, connections=connections, workdir=workdir
    )
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return require_clean(parse_wrk(out), what)


def _ms(text: str) -> float:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def parse_wrk(out: str) -> Sample:
    """wrk's report, with the line ``WRK_CHECK`` adds. wrk's own "Non-2xx" count is
    covered by the check (which also counts 3xx and bodies with errors)."""
    rps = p50 = p99 = 0.0
    socket_errors = non_200 = error_bodies = wrong = 0
    checked = False
    first_bad = ""
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif len(parts) == 2 and parts[0] == "50%":
            p50 = _ms(parts[1])
        elif len(parts) == 2 and parts[0] == "99%":
            p99 = _ms(parts[1])
        elif "Socket errors" in line:
            socket_errors += sum(
                int(x.rstrip(",")) for x in parts if x.rstrip(",").isdigit()
            )
        elif line.startswith("First bad answer: "):
            first_bad = line.removeprefix("First bad answer: ")
        elif match := _CHECKED.search(line):
            non_200, error_bodies = int(match[1]), int(match[2])
            wrong = int(match[3] or 0)
            checked = True
    return Sample(
        rps=rps,
        p50_ms=p50,
        p99_ms=p99,
        errors=socket_errors + non_200 + error_bodies + wrong,
        non_200=non_200,
        error_bodies=error_bodies,
        checked=checked,
        wrong_bodies=wrong,
        first_bad=first_bad,
    )


class CpuTimes(TypedDict):
    busy: int
    total: int


def cpu_times() -> dict[str, CpuTimes]:
    """Busy and total jiffies per core, from /proc/stat."""
    times: dict[str, CpuTimes] = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return times
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            times[name] = {"busy": sum(ticks) - idle, "total": sum(ticks)}
    return times


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, all its threads, from /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the parenthesised command name; utime and stime are 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(
    core: str = "cpu0", *, limit: float = 0.15, wait: float = 5.0
) -> float:
    """Wait until the gateway core is nearly idle; returns its last busy share.

    Between measurements every server under test is idle, so what keeps core 0 busy is
    some other process on the machine; a sample taken under it measures that process.
    Gives up after ``wait`` seconds (the sample then shows as contended).
    """
    deadline = time.monotonic() + wait
    while True:
        before = cpu_times()
        time.sleep(0.5)
        busy = busy_share(before, cpu_times()).get(core, 0.0)
        if busy <= limit or time.monotonic() >= deadline:
            return busy


def busy_share(
    before: dict[str, CpuTimes], after: dict[str, CpuTimes]
) -> dict[str, float]:
    share: dict[str, float] = {}
    for core, end in after.items():
        begin = before.get(core)
        if begin is None:
            continue
        total = end["total"] - begin["total"]
        if total > 0:
            share[core] = round((end["busy"] - begin["busy"]) / total, 3)
    return share


def total_requests(out: str) -> int:
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "requests" and parts[2] == "in":
            return int(parts[0])
    return 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def process_seconds_on(core: str, stat: str) -> float:
    """User + nice + system time spent on one core (a line of /proc/stat, e.g.
    ``cpu0``): time processes ran there, without irq, softirq and idle."""
    for line in stat.splitlines():
        name, *values = line.split()
        if name == core:
            user, nice, system = (int(v) for v in values[:3])
            return (user + nice + system) / os.sysconf("SC_CLK_TCK")
    return 0.0


def proc_stat() -> str:
    try:
        return Path("/proc/stat").read_text()
    except OSError:
        return ""


CONTENDED = 0.2
"""A sample during which other processes ran on the measured server's core for more
than this share of the sample's wall time measured them too: it is measured again.
(Busy time alone cannot tell: loopback TCP work lands on the core as softirq time,
charged to no process, so a server alone on its core shows as "saturated" with a low
share of it.)"""


LATENCY_CONTENDED = 0.02
"""The same for a sample whose latency is reported (``scripts/bench --peers``): a p99
is spoilt by far less. Others taking 0.13 s of the gateway's core in a 5 s sample (2.6%)
coincided with a light p99 of 47 ms where the gateway's other rounds gave 7 to 20 ms."""


def contended(others_cpu_s: float, elapsed_s: float, limit: float = CONTENDED) -> bool:
    """The one definition of a contended sample: others took more than ``limit`` of
    the core (``CONTENDED``, or ``LATENCY_CONTENDED``)."""
    return elapsed_s > 0 and others_cpu_s / elapsed_s > limit


def others_on_core(
    core: str, before: float, after: float, server_cpu_s: float
) -> float:
    """Process time spent on ``core`` between two ``process_seconds_on`` readings
    that the measured server did not spend."""
    return round(max(after - before - server_cpu_s, 0.0), 3)


def stop(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process still running, then wait; kill what outlives 10 s."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
