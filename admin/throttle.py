"""Sign-in throttling: an in-process counter of failed attempts with a lockout window.

Per e-mail and address: MAX_PER_ACCOUNT failures within WINDOW lock that pair out for LOCKOUT.
Per address alone: MAX_PER_ADDRESS failures within WINDOW lock the address out (password
spraying across many e-mails). Counts live in this process only: several workers each keep
their own, and a restart forgets them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 15 * 60.0
LOCKOUT = 15 * 60.0
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 50


class LoginThrottle:
    """Failed sign-ins per (e-mail, address) and per address, with lockouts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(email: str, address: str | None) -> tuple[str, str]:
        return f"acct:{email.strip().lower()}|{address}", f"addr:{address}"

    def retry_after(self, email: str, address: str | None) -> float:
        """Seconds until this e-mail may try again from this address (0: now)."""
        now = self._clock()
        with self._lock:
            return max(0.0, *(self._locked_until.get(k, 0.0) - now for k in self._keys(email, address)))

    def failed(self, email: str, address: str | None) -> None:
        """Count a failed attempt; lock out when a limit is reached."""
        now = self._clock()
        with self._lock:
            for key, limit in zip(self._keys(email, address), (MAX_PER_ACCOUNT, MAX_PER_ADDRESS), strict=True):
                times = self._failures.setdefault(key, deque())
                while times and times[0] <= now - WINDOW:
                    times.popleft()
                times.append(now)
                if len(times) >= limit:
                    self._locked_until[key] = now + LOCKOUT
                    times.clear()
            self._forget_old(now)

    def succeeded(self, email: str, address: str | None) -> None:
        """A good sign-in clears the account's failures (not the address's)."""
        key = self._keys(email, address)[0]
        with self._lock:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)

    def _forget_old(self, now: float) -> None:
        if len(self._failures) < 10_000:
            return
        for key in [k for k, t in self._failures.items() if not t or t[-1] <= now - WINDOW]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]
