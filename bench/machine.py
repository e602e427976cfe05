"""Describe the machine a benchmark ran on, for the figures in bench/README.md."""

import contextlib
import os
import platform


def machine() -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    mem = ""
    with contextlib.suppress(OSError, StopIteration, ValueError), open("/proc/meminfo") as f:
        kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
        mem = f" · {kb / 1024 / 1024:.0f} GiB"
    return f"{platform.node()} · {cpu} · {os.cpu_count()} cores{mem} · Python {platform.python_version()}"
