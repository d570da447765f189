"""What one process holds of a poll's results, and until when it may serve them."""

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Held:
    """Results as one process holds them. `results` has a `status_until`: the datetime
    when the clock changes the status they show (the poll opens or closes), or None."""

    results: object
    asked: float  # monotonic: when they were asked for; reads that began before may use them
    until: float  # monotonic: the end of their lease (no later than `asked` without one)
    status_until: float | None  # epoch seconds, from results.status_until

    @classmethod
    def of(cls, results, *, asked, until):
        status_until = results.status_until.timestamp() if results.status_until else None
        return cls(results, asked, until, status_until)

    def serves(self, started):
        """Whether a read that started at `started` (monotonic) may use these results:
        they were asked for after it started, or under a lease that still runs; and the
        clock has not changed their status since."""
        if started >= self.until and started > self.asked:
            return False
        return self.status_until is None or time.time() < self.status_until


def by_the_clock(results):
    """False when the status these results show has changed by the clock since."""
    until = results.status_until
    return until is None or time.time() < until.timestamp()
