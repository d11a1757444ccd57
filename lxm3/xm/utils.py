"""Small helpers that XManager exposes to launch scripts."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_asyncio_loop(function: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Turns `async def main(argv)` into a plain function for `app.run(main)`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(function(*args, **kwargs))

    return wrapper
