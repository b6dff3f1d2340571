"""What this machine can still give a stage: stages that would hold more than it has say so, with the
numbers and the fix, before they allocate."""
from __future__ import annotations

import os


def available_memory() -> int:
    """Bytes this machine can still allocate (`MemAvailable`, else total physical memory)."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
