"""Web logins that cannot starve the server: a blocked name or address is refused before any hashing, and Argon2id
(64 MiB and a core or more per check) runs in a few threads of its own, at a low CPU priority, never in the pool
that serves requests."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import anyio
from anyio.to_thread import run_sync

from signoff import users
from signoff.config import environment
from signoff.database import Database
from signoff.errors import LimitReached

DEFAULT_WAIT = 5.0  # seconds a login may wait for a hashing thread before the server says it is busy


class LoginBusy(LimitReached):
    """Every password-hashing thread stayed busy for the whole wait: the server is overloaded, try again soon."""


@dataclass
class Logins:
    """Logins of one server process: at most ``threads`` passwords hashed at once, a login waiting at most
    ``wait`` seconds for its turn."""

    db: Database
    limits: users.LoginLimits = field(default_factory=users.LoginLimits)
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    wait: float = DEFAULT_WAIT

    def __post_init__(self) -> None:
        self._turns = anyio.Semaphore(self.threads)  # waiting here holds no thread
        self._hashing = ThreadPoolExecutor(self.threads, "password-hashing", initializer=_yield_the_cpu)

    @classmethod
    def from_environment(cls, db: Database) -> Logins:
        limits = users.LoginLimits(
            account_tries=int(
                environment.number("SIGNOFF_LOGIN_ACCOUNT_TRIES", users.LoginLimits.account_tries, whole=True)
            ),
            address_tries=int(
                environment.number("SIGNOFF_LOGIN_ADDRESS_TRIES", users.LoginLimits.address_tries, whole=True)
            ),
            lockout_after=int(
                environment.number("SIGNOFF_LOGIN_LOCKOUT_AFTER", users.LoginLimits.lockout_after, whole=True)
            ),
            backoff=environment.number("SIGNOFF_LOGIN_BACKOFF_SECONDS", users.LoginLimits.backoff),
            lockout=environment.number("SIGNOFF_LOGIN_LOCKOUT_SECONDS", users.LoginLimits.lockout),
        )
        threads = int(environment.number("SIGNOFF_LOGIN_HASHING_THREADS", os.cpu_count() or 1, whole=True))
        return cls(db, limits, threads, environment.number("SIGNOFF_LOGIN_WAIT_SECONDS", DEFAULT_WAIT))

    async def login(self, name: str, password: str, source: str) -> users.Session:
        """Open a session, or raise: ``Unauthenticated``, ``users.LoginThrottled`` (429), ``LoginBusy`` (503)."""
        await run_sync(users.start_login, self.db, name, source)  # a blocked login never waits for a turn
        with anyio.move_on_after(self.wait) as waited:
            await self._turns.acquire()
        if waited.cancelled_caught:
            raise LoginBusy("the server is busy with other logins: try again in a few seconds", retry_after=self.wait)
        try:  # blocked while it waited? Then it is refused here, still before hashing
            attempt, check = await asyncio.wrap_future(self._hashing.submit(self._check, name, password, source))
        finally:
            self._turns.release()
        return await run_sync(users.finish_login, self.db, attempt, check, self.limits)

    def _check(self, name: str, password: str, source: str) -> tuple[users.LoginAttempt, users.PasswordCheck]:
        attempt = users.start_login(self.db, name, source)
        return attempt, users.check_password(attempt, password)


def _yield_the_cpu() -> None:
    """Give the hashing thread the lowest CPU priority (nice 19), and so the lane threads Argon2 starts from
    it: requests get a core as soon as they need one, and hashing takes what is left. On Linux the nice value
    belongs to a thread; elsewhere it would belong to the whole process, so it is left alone."""
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
