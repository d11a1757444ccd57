"""Command-line arguments as launch scripts give them, and how they merge.

XManager lets a launch script give arguments as a list (positional), a dict
(`--key=value` flags) or an already built `SequentialArgs`. Arguments come
from several places (the `Packageable`, the `Job`, `experiment.add(args=...)`)
and later ones override earlier ones, keeping the position the flag first had
so that the final command line stays stable across a sweep.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

from lxm3.xm.shell_safe import ShellSafeArg


class _Positional:
    """A positional item; keyword items are stored as their bare name (a str)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Positional) and self.value == other.value

    def __repr__(self) -> str:
        return f"_Positional({self.value!r})"


class SequentialArgs:
    """An ordered mix of positional and keyword arguments.

    Keyword arguments keep the slot of their first appearance; a later value
    for the same name replaces the earlier value in that slot. Slots and bare
    names keep a 100,000-task sweep's args small in memory.
    """

    __slots__ = ("_items", "_kwvalues")

    def __init__(self) -> None:
        self._items: list[_Positional | str] = []
        self._kwvalues: dict[str, Any] = {}

    @classmethod
    def from_collection(cls, collection: UserArgs | None) -> SequentialArgs:
        """Builds args from a list, a dict, another `SequentialArgs` or None."""
        result = cls()
        if collection is None:
            return result
        if isinstance(collection, SequentialArgs):
            result._merge_from(collection)
            return result
        if isinstance(collection, Mapping):
            for name, value in collection.items():
                result._set_keyword(str(name), value)
            return result
        if isinstance(collection, (str, bytes)):
            raise TypeError(f"args must be a list, a dict or SequentialArgs, not a string: {collection!r}")
        if isinstance(collection, Sequence):
            for value in collection:
                result._items.append(_Positional(value))
            return result
        raise TypeError(f"args must be a list, a dict or SequentialArgs, got {type(collection).__name__}")

    def _set_keyword(self, name: str, value: Any) -> None:
        if name not in self._kwvalues:
            self._items.append(name)
        self._kwvalues[name] = value

    def _merge_from(self, other: SequentialArgs) -> None:
        for item in other._items:
            if isinstance(item, str):
                self._set_keyword(item, other._kwvalues[item])
            else:
                self._items.append(item)

    def to_list(self, escaper: Any = None, kwargs_joiner: Any = None) -> list[Any]:
        """Renders to argv items: `--k=v`, `--k` for True, `--nok` for False.

        None-valued keywords are dropped. The result keeps `ShellSafeArg`
        items as they are (the task runtime expands only those); every other
        item is a `str`. `escaper`/`kwargs_joiner` follow XManager's signature
        for scripts that pass them (e.g. `shlex.quote` to build a shell line).
        """
        out: list[Any] = []
        for item in self._items:
            if isinstance(item, _Positional):
                out.append(_render_value(item.value, escaper))
                continue
            value = self._kwvalues[item]
            if value is None:
                continue
            if isinstance(value, bool):
                flag = f"--{item}" if value else f"--no{item}"
                out.append(escaper(flag) if escaper else flag)
                continue
            rendered = _render_value(value, escaper)
            if kwargs_joiner is not None:
                out.append(kwargs_joiner(f"--{item}", rendered))
            elif isinstance(rendered, ShellSafeArg):
                out.append(ShellSafeArg(f"--{item}={rendered.arg}"))
            else:
                out.append(f"--{item}={rendered}")
        return out

    def to_dict(self, kwargs_only: bool = False) -> dict[str, Any]:
        """Keyword args as a dict (positionals keyed by index unless kwargs_only)."""
        result: dict[str, Any] = {}
        for index, item in enumerate(self._items):
            if isinstance(item, str):
                result[item] = self._kwvalues[item]
            elif not kwargs_only:
                result[str(index)] = item.value
        return result

    def rewrite(self, rewriter: Any) -> SequentialArgs:
        """Returns a copy with every string value passed through `rewriter`."""
        result = SequentialArgs()
        for item in self._items:
            if isinstance(item, str):
                value = self._kwvalues[item]
                result._set_keyword(item, rewriter(value) if isinstance(value, str) else value)
            else:
                value = item.value
                result._items.append(_Positional(rewriter(value) if isinstance(value, str) else value))
        return result

    def __iter__(self) -> Iterator[Any]:
        return iter(self.to_list())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SequentialArgs)
            and self._items == other._items
            and self._kwvalues == other._kwvalues
        )

    def __hash__(self) -> int:  # pragma: no cover - mutable, like a list
        raise TypeError("SequentialArgs is unhashable")

    def __repr__(self) -> str:
        return f"SequentialArgs({self.to_list()!r})"


def _render_value(value: Any, escaper: Any) -> Any:
    if isinstance(value, ShellSafeArg):
        return value
    text = value if isinstance(value, str) else str(value)
    return escaper(text) if escaper else text


UserArgs = Union[Mapping[str, Any], Sequence[Any], SequentialArgs]


def merge_args(*operands: UserArgs | None) -> SequentialArgs:
    """Merges argument sets left to right; later keywords override earlier ones."""
    result = SequentialArgs()
    for operand in operands:
        if operand is None:
            continue
        result._merge_from(SequentialArgs.from_collection(operand))
    return result
