"""Command-line arguments as launch scripts give them, and how they merge.

XManager lets a launch script give arguments as a list (positional), a dict
(`--key=value` flags) or an already built `SequentialArgs`. Arguments come
from several places (the `Packageable`, the `Job`, `experiment.add(args=...)`)
and later ones override earlier ones, keeping the position the flag first had
so that the final command line stays stable across a sweep.
"""

from __future__ import annotations

import itertools
import operator
import sys
from collections import deque as collections_abc_deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Union

from lxm3.xm.shell_safe import ShellSafeArg


def _define_xmanager_multi_arg_flag() -> None:
    """Defines XManager's `--xm_to_list_multi_arg_behavior` for scripts and tests that set it.

    lxm3 always repeats the flag for list values (as lxm3 0.4 did); the absl
    flag exists only so code that sets it (e.g. `flagsaver`) keeps working.
    Defined only when absl.flags is already loaded, so the CLI does not pay
    absl's import time.
    """
    absl_flags: Any = sys.modules.get("absl.flags")
    if absl_flags is None:
        return
    try:
        absl_flags.DEFINE_bool(
            "xm_to_list_multi_arg_behavior",
            True,
            "Pass `args=dict(x=[v0, v1])` as --x=v0 --x=v1 (always on in lxm3).",
        )
    except absl_flags.DuplicateFlagError:  # XManager imported in the same process
        pass


_define_xmanager_multi_arg_flag()


_STR_ONLY = frozenset({str})


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
        """Builds args from a list, a dict, another `SequentialArgs` or None.

        A string is refused (iterating it would give one argument per
        character); XManager's message says how to pass it instead.
        """
        if type(collection) is dict and set(map(type, collection)) <= _STR_ONLY:
            # A sweep's usual element (100,000 of them): names are distinct, so no slot logic.
            fast = cls.__new__(cls)
            fast._items = list(collection)
            fast._kwvalues = dict(collection)
            return fast
        result = cls()
        if collection is None:
            return result
        if isinstance(collection, SequentialArgs):
            result._merge_from(collection)
            return result
        if isinstance(collection, (str, bytes)):
            raise ValueError(
                f"Tried to construct xm.SequentialArgs from a string: {collection!r}. "
                f"Wrap it in a list: [{collection!r}] to make it a single argument."
            )
        if isinstance(collection, Mapping):
            for name, value in collection.items():
                result._set_keyword(str(name), value)
            return result
        if isinstance(collection, Sequence):
            for value in collection:
                result._items.append(_Positional(value))
            return result
        raise TypeError(f"args must be a list, a dict or SequentialArgs, got {type(collection).__name__}")

    @classmethod
    def from_collections(
        cls, collections: Iterable[UserArgs | SequentialArgs | None]
    ) -> list[SequentialArgs]:
        """`from_collection` of each (a `SequentialArgs` is kept as it is): a sweep's list at once.

        A sweep's dicts usually share their names: a dict whose names are the
        very objects of the dict before it skips the check that they are all strings.
        """
        values: list[Any] = list(collections)
        if (
            values
            and set(map(type, values)) == {dict}
            and set(map(type, itertools.chain.from_iterable(values))) <= _STR_ONLY
        ):
            # Every element a dict with str names (a sweep): the fast path of `from_collection`
            # for each, with no Python work per element (C loops over the whole list).
            built: list[SequentialArgs] = list(map(cls.__new__, itertools.repeat(cls, len(values))))
            collections_abc_deque(map(_ITEMS_SLOT, built, map(list, values)), maxlen=0)
            collections_abc_deque(map(_KWVALUES_SLOT, built, map(dict.copy, values)), maxlen=0)
            return built
        new = cls.__new__
        result: list[SequentialArgs] = []
        append = result.append
        checked: list[Any] = []  # names of the last dict known to be all strings
        for value in values:
            if type(value) is dict:
                names = list(value)
                same = len(names) == len(checked) and all(map(operator.is_, names, checked))
                if same or set(map(type, names)) <= _STR_ONLY:
                    checked = names
                    fast = new(cls)
                    fast._items = names
                    fast._kwvalues = dict(value)
                    append(fast)
                    continue
            append(value if isinstance(value, SequentialArgs) else cls.from_collection(value))
        return result

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

    def to_list(
        self,
        escaper: Callable[[Any], Any] | None = None,
        kwargs_joiner: Callable[[Any, Any], Any] | None = None,
    ) -> list[Any]:
        """Renders to argv items: `--k=v`, `--k` for True, `--nok` for False.

        None-valued keywords are dropped; a list or tuple value (not nested)
        repeats the flag once per element (`{"c": [3, "4"]}` -> `--c=3 --c=4`),
        as absl's multi-flags expect. Without an `escaper` the result keeps
        `ShellSafeArg` items as they are (the task runtime expands only those)
        and every other item is a `str`. With one (XManager's signature, e.g.
        `xm.utils.ARG_ESCAPER` or `shlex.quote` to build a shell line) each
        raw value and flag name goes through it and `kwargs_joiner` joins them.
        """
        if escaper is None and kwargs_joiner is None:
            return self._to_argv()
        out: list[Any] = []
        for item in self._items:
            if isinstance(item, _Positional):
                out.append(escaper(item.value) if escaper else _plain(item.value))
                continue
            value = self._kwvalues[item]
            if value is None:
                continue
            if isinstance(value, bool):
                flag = f"--{item}" if value else f"--no{item}"
                out.append(escaper(flag) if escaper else flag)
                continue
            values = value if _is_flat_sequence(value) else [value]
            for element in values:
                out.append(_keyword(item, element, escaper, kwargs_joiner))
        return out

    def _to_argv(self) -> list[Any]:
        """`to_list()` without escaper or joiner: run once per task of a sweep, so kept lean.

        Plain str/int/float values (exact types: a subclass may format differently) are
        rendered inline; anything else takes the general path, with the same result.
        """
        out: list[Any] = []
        append = out.append
        kwvalues = self._kwvalues
        for item in self._items:
            if isinstance(item, str):
                value = kwvalues[item]
                kind = type(value)
                if kind is str or kind is int:
                    append(f"--{item}={value}")
                elif kind is float:
                    # repr is what format() gives an exact float, without its slower lookup.
                    append(f"--{item}={value!r}")
                elif value is None:
                    continue
                elif kind is bool:
                    append(f"--{item}" if value else f"--no{item}")
                else:
                    values = value if _is_flat_sequence(value) else [value]
                    for element in values:
                        append(_keyword(item, element, None, None))
            else:
                positional = item.value
                append(positional if type(positional) is str else _plain(positional))
        return out

    def to_dict(self, kwargs_only: bool = False) -> dict[str, Any]:
        """The args as a dict, as XManager gives it.

        Keywords map to their values (ShellSafeArgs and lists as given); a
        positional item maps its text to True, so `["--knob"]` reads as
        `{"--knob": True}`. `kwargs_only` leaves positionals out.
        """
        result: dict[str, Any] = {}
        for item in self._items:
            if isinstance(item, str):
                result[item] = self._kwvalues[item]
            elif not kwargs_only:
                value = item.value
                result[value.arg if isinstance(value, ShellSafeArg) else str(value)] = True
        return result

    def rewrite_args(self, rewrite: Callable[[str], str]) -> SequentialArgs:
        """Returns a copy with every string value passed through `rewrite`."""
        result = SequentialArgs()
        for item in self._items:
            if isinstance(item, str):
                value = self._kwvalues[item]
                result._set_keyword(item, rewrite(value) if isinstance(value, str) else value)
            else:
                value = item.value
                result._items.append(_Positional(rewrite(value) if isinstance(value, str) else value))
        return result

    rewrite = rewrite_args  # lxm3's earlier name

    def remove_args(self, *names: str | Iterable[str]) -> SequentialArgs:
        """Returns a copy without the given keyword args (and positionals equal to a name).

        SequentialArgs are otherwise append/override only; this is how a
        launcher drops a flag a base Packageable set: `args.remove_args("seed")`.
        Names may be given one by one or as one collection.
        """
        drop: set[str] = set()
        for name in names:
            if isinstance(name, str):
                drop.add(name)
            else:
                drop.update(name)
        result = SequentialArgs()
        for item in self._items:
            if isinstance(item, str):
                if item not in drop:
                    result._set_keyword(item, self._kwvalues[item])
            elif not (isinstance(item.value, str) and item.value in drop):
                result._items.append(item)
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

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"[{', '.join(self.to_list(repr))}]"


#: The slots' setters, called from C (`map`) to fill many new SequentialArgs at once.
_ITEMS_SLOT = vars(SequentialArgs)["_items"].__set__
_KWVALUES_SLOT = vars(SequentialArgs)["_kwvalues"].__set__
_ITEMS = operator.attrgetter("_items")
_KWVALUES = operator.attrgetter("_kwvalues")
_SCALARS = frozenset({str, int, float})


def keyword_columns(tasks: Sequence[SequentialArgs]) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """A sweep's args as columns: the keyword names and each one's values, task by task.

    Only for args that are all keywords with the same names in the same order
    (a sweep's list of dicts); None otherwise. Lets a 100,000-task table be
    rendered a column at a time (`keyword_argv`) instead of a task at a time.
    """
    if not tasks or set(map(type, tasks)) != {SequentialArgs}:
        return None
    names = tasks[0]._items
    if len(names) != len(tasks[0]._kwvalues) or not all(map(names.__eq__, map(_ITEMS, tasks))):
        return None  # a positional item, or names differing between tasks
    # Each `_kwvalues` holds exactly `names`, in that order (first insertion, as `_items`).
    return [str(name) for name in names], list(zip(*map(dict.values, map(_KWVALUES, tasks)), strict=True))


def keyword_argv(name: str, values: Sequence[Any]) -> list[str] | None:
    """Each value's argv item for keyword `name`, as `to_list()` renders it; None if not one item each.

    Covers exact str, int and float values (`--name=value`) and a column of
    bools (`--name`/`--noname`); anything else (None, lists, ShellSafeArg,
    subclasses) takes `to_list()` itself.
    """
    kinds = set(map(type, values))
    if kinds <= _SCALARS:
        # f"{value}" of an exact str, int or float is str(value) (repr, for a float).
        prefix = f"--{name}="
        if len(kinds) == 1 and (kinds != {float} or 0.0 not in values):
            # One type, so equal values render alike (not 1 and 1.0, nor 0.0 and -0.0): a
            # sweep's column has few distinct values, each rendered once (floats are slow to).
            distinct = set(values)
            if 2 * len(distinct) < len(values):
                rendered = {value: prefix + str(value) for value in distinct}
                return list(map(rendered.__getitem__, values))
        return list(map(prefix.__add__, map(str, values)))
    if kinds == {bool}:
        yes, no = f"--{name}", f"--no{name}"
        return [yes if value else no for value in values]
    return None


def _is_flat_sequence(value: Any) -> bool:
    """A list/tuple of scalars: rendered as a repeated flag (nested ones as one string)."""
    return type(value) in (list, tuple) and not any(type(element) in (list, tuple) for element in value)


def _plain(value: Any) -> Any:
    return value if isinstance(value, (ShellSafeArg, str)) else str(value)


def _keyword(name: str, value: Any, escaper: Any, kwargs_joiner: Any) -> Any:
    if escaper is not None:
        flag, rendered = escaper(f"--{name}"), escaper(value)
        return kwargs_joiner(flag, rendered) if kwargs_joiner else f"{flag}={rendered}"
    rendered = _plain(value)
    if kwargs_joiner is not None:
        return kwargs_joiner(f"--{name}", rendered)
    if isinstance(rendered, ShellSafeArg):
        return ShellSafeArg(f"--{name}={rendered.arg}")
    return f"--{name}={rendered}"


UserArgs = Union[Mapping[str, Any], Sequence[Any], SequentialArgs]


def merge_args(*operands: UserArgs | None) -> SequentialArgs:
    """Merges argument sets left to right; later keywords override earlier ones."""
    result = SequentialArgs()
    for operand in operands:
        if operand is None:
            continue
        result._merge_from(
            operand if isinstance(operand, SequentialArgs) else SequentialArgs.from_collection(operand)
        )
    return result
