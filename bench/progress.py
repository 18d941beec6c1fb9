"""A print-based progress bar (no dependency): redrawn in place on a terminal, a line per
quarter otherwise (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.began = time.monotonic()
        self._quarter = -1

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        share = self.done / self.total
        if self.tty:
            bar = "#" * int(share * 30)
            self.stream.write(f"\r{self.label:<34} [{bar:<30}] {share:4.0%}")
            if self.done == self.total:
                self.stream.write(f" {time.monotonic() - self.began:.1f} s\n")
        elif int(share * 4) > self._quarter:
            self._quarter = int(share * 4)
            self.stream.write(f"{self.label}: {share:.0%}\n")
        self.stream.flush()
