"""What the fault suite did, printed as a table at the end of the test session."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

# CSU_SOAK=1 multiplies the number of injected faults (a longer, optional run).
SOAK = os.environ.get("CSU_SOAK", "").lower() in ("1", "true", "yes")


@dataclass
class Ledger:
    """Counts of injected faults and of verified outcomes, across the whole session."""

    faults: Counter[str] = field(default_factory=Counter)
    runs_completed: int = 0
    files_verified: int = 0
    bytes_verified: int = 0
    lost: dict[str, int] = field(default_factory=dict)  # file (on the server) -> bytes
    leftovers: int = 0
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def bytes_lost(self) -> int:
        """The bytes of every file seen to exist nowhere intact, each counted once."""
        return sum(self.lost.values())

    def lose(self, where: str, size: int) -> None:
        """Record that the file at ``where`` (its server path) exists nowhere intact."""
        self.lost[where] = size

    def verdict(self) -> str | None:
        """Return why the session fails on what the ledger saw (a loss), or None."""
        if self.bytes_lost:
            return f"the fault suite lost data: {self.bytes_lost} bytes exist nowhere intact"
        return None

    def empty(self) -> bool:
        return not self.faults and not self.runs_completed and not self.bytes_lost

    def table(self) -> str:
        rows = [
            (f"faults injected: {kind}", str(count)) for kind, count in sorted(self.faults.items())
        ]
        rows += [
            ("faults injected: total", str(sum(self.faults.values()))),
            ("agent runs completed", str(self.runs_completed)),
            ("files verified byte for byte", str(self.files_verified)),
            ("bytes verified", str(self.bytes_verified)),
            ("bytes lost", str(self.bytes_lost)),
            ("leftovers (markers, temporary files)", str(self.leftovers)),
            *self.notes.items(),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [
            f"| {'fault suite' + ' ' * (width - 11)} | value |",
            f"|{'-' * (width + 2)}|-------|",
        ]
        lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
        return "\n".join(lines)


LEDGER = Ledger()
