"""Run a module with a ``gc.callbacks`` probe: how much CPU the cyclic collector takes.

``python -m bench.gcprobe OUT.json -m gateway serve ...`` installs a callback that
times every collection with ``time.process_time`` and rewrites OUT.json (collections
per generation, seconds in the collector) every second, then runs the module as
``python -m`` would. The process under test needs no code of its own for this.
"""

from __future__ import annotations

import gc
import json
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


class Probe:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.started = 0.0
        self.seconds = 0.0
        self.collections = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.process_time()
        else:
            self.seconds += time.process_time() - self.started
            self.collections[info["generation"]] += 1

    def write(self) -> None:
        state = {
            "gc_seconds": self.seconds,
            "collections": self.collections,
            "process_seconds": time.process_time(),
        }
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.out)

    def writer(self) -> None:
        while True:
            time.sleep(0.5)
            self.write()


def main() -> None:
    out, flag, module, *rest = sys.argv[1:]
    if flag != "-m":
        raise SystemExit("usage: python -m bench.gcprobe OUT.json -m MODULE [ARGS]")
    probe = Probe(Path(out))
    gc.callbacks.append(probe)
    threading.Thread(target=probe.writer, daemon=True).start()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
