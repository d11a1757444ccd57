"""What `add` and `wait_until_complete` return.

XManager returns awaitables; lxm3 launch scripts are often plain sync code.
`UnitFuture` serves both: `await` it in async code, `.result()` it in sync
code, `.cancel()` it to drop a launch that has not run yet.
`WorkUnitCompletedAwaitable` is XManager's completion awaitable, which also
names its `work_unit` so `asyncio.wait` users can tell which one finished.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lxm3.lazy import LazyModule

if TYPE_CHECKING:
    import asyncio
else:  # imported on first use: `lxm3 status` and `lxm3 list` load this API but never run a loop
    asyncio = LazyModule("asyncio")

T = TypeVar("T")


class UnitFuture(Generic[T]):
    """The result of `add`: awaitable in async code, `.result()` in sync code, cancellable."""

    def __init__(self, future: concurrent.futures.Future[T] | asyncio.Future[T]) -> None:
        self._future = future

    def result(self, timeout: float | None = None) -> T:
        """Blocks until the launch finished (sync code only) and returns its value."""
        if isinstance(self._future, concurrent.futures.Future):
            if timeout is not None:
                return self._future.result(timeout)
            while True:  # short waits keep Ctrl-C responsive (see Experiment._run_sync)
                try:
                    return self._future.result(0.1)
                except concurrent.futures.TimeoutError:
                    continue
        return self._future.result()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if isinstance(self._future, concurrent.futures.Future):
            return self._future.exception(timeout)
        return self._future.exception()

    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> bool:
        """Cancels the launch if it has not finished; True when it was cancelled."""
        future = self._future
        if isinstance(future, asyncio.Future):
            loop = future.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop and loop.is_running():
                # Futures belong to their loop's thread; ask it to cancel and report the outcome.
                return asyncio.run_coroutine_threadsafe(_cancel(future), loop).result()
        return future.cancel()

    def cancelled(self) -> bool:
        return self._future.cancelled()

    def add_done_callback(self, callback: Callable[[Any], object]) -> None:
        self._future.add_done_callback(lambda _: callback(self))

    def __await__(self) -> Generator[Any, None, T]:
        if isinstance(self._future, concurrent.futures.Future):
            return asyncio.wrap_future(self._future).__await__()
        return self._future.__await__()


async def _cancel(future: asyncio.Future[Any]) -> bool:
    return future.cancel()


class WorkUnitCompletedAwaitable(Coroutine[Any, Any, Any]):
    """Completion of a work unit; `.work_unit` says which, awaiting returns it.

    A coroutine object, so `asyncio.ensure_future`/`asyncio.wait` accept it.
    """

    def __init__(self, work_unit: Any, wait: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.work_unit = work_unit
        self._wait_coroutine = self._wait(wait)

    async def _wait(self, wait: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        # Created here, inside a coroutine, so an un-awaited instance raises no warning.
        await wait()
        return self.work_unit

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait_coroutine.__await__()

    def send(self, value: Any) -> Any:
        return self._wait_coroutine.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if val is None and tb is None:
            return self._wait_coroutine.throw(typ)
        return self._wait_coroutine.throw(typ, val, tb)

    def close(self) -> None:
        self._wait_coroutine.close()
