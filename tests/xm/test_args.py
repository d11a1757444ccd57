"""SequentialArgs / merge_args: how launch-script args become argv items."""

from __future__ import annotations

import shlex

import pytest

from lxm3 import xm
from lxm3.xm.args import SequentialArgs, merge_args


def render(args: object) -> list[object]:
    return SequentialArgs.from_collection(args).to_list()  # type: ignore[arg-type]


def test_dict_values_become_key_equals_value_flags_in_order() -> None:
    assert render({"seed": 3, "lr": 0.5, "name": "run a"}) == ["--seed=3", "--lr=0.5", "--name=run a"]


def test_true_gives_bare_flag_false_gives_no_prefix_none_is_dropped() -> None:
    assert render({"verbose": True, "cuda": False, "resume": None, "x": 0}) == [
        "--verbose",
        "--nocuda",
        "--x=0",
    ]


def test_falsy_non_bool_values_are_kept() -> None:
    assert render({"a": 0, "b": "", "c": 0.0}) == ["--a=0", "--b=", "--c=0.0"]


def test_list_gives_positional_arguments_as_strings() -> None:
    assert render(["train", 3, 1.5, "two words"]) == ["train", "3", "1.5", "two words"]


def test_none_and_empty_collections_give_no_args() -> None:
    assert render(None) == []
    assert render([]) == []
    assert render({}) == []
    assert len(SequentialArgs.from_collection(None)) == 0


def test_string_is_rejected_rather_than_split_into_characters() -> None:
    with pytest.raises(ValueError, match=r"from a string: '--seed=1'\. Wrap it in a list: \['--seed=1'\]"):
        SequentialArgs.from_collection("--seed=1")  # type: ignore[arg-type]


def test_unsupported_type_is_rejected_with_its_name() -> None:
    with pytest.raises(TypeError, match="int"):
        SequentialArgs.from_collection(5)  # type: ignore[arg-type]


def test_later_keyword_overrides_value_but_keeps_first_position() -> None:
    merged = merge_args({"a": 1, "b": 2, "c": 3}, {"b": 20}, ["pos"], {"a": 10, "d": 4})
    assert merged.to_list() == ["--a=10", "--b=20", "--c=3", "pos", "--d=4"]


def test_override_to_none_drops_the_flag_and_false_flips_it() -> None:
    assert merge_args({"a": 1, "b": True}, {"a": None, "b": False}).to_list() == ["--nob"]


def test_positionals_accumulate_in_order_across_merges() -> None:
    assert merge_args(["a"], {"k": 1}, ["b", "c"]).to_list() == ["a", "--k=1", "b", "c"]


def test_merge_accepts_sequential_args_and_skips_none() -> None:
    base = SequentialArgs.from_collection({"x": 1})
    merged = merge_args(None, base, None, {"y": 2})
    assert merged.to_list() == ["--x=1", "--y=2"]


def test_merge_does_not_mutate_its_operands() -> None:
    base = SequentialArgs.from_collection({"x": 1})
    merge_args(base, {"x": 2, "y": 3})
    assert base.to_list() == ["--x=1"]


def test_from_collection_copies_sequential_args() -> None:
    base = SequentialArgs.from_collection({"x": 1})
    copy = SequentialArgs.from_collection(base)
    assert copy == base
    merged = merge_args(copy, {"x": 5})
    assert base.to_list() == ["--x=1"] and merged.to_list() == ["--x=5"]


def test_shell_safe_arg_is_kept_as_is_positionally_and_as_a_value() -> None:
    items = merge_args(
        [xm.ShellSafeArg("$HOME")], {"out": xm.ShellSafeArg("$TMPDIR/x"), "plain": "$HOME"}
    ).to_list()
    assert items[0] == xm.ShellSafeArg("$HOME")
    assert isinstance(items[1], xm.ShellSafeArg) and items[1].arg == "--out=$TMPDIR/x"
    # A plain string that looks like shell syntax stays a plain string.
    assert items[2] == "--plain=$HOME" and not isinstance(items[2], xm.ShellSafeArg)


def test_everything_but_shell_safe_args_renders_to_str() -> None:
    items = render({"a": 1, "b": 2.5, "c": "x"}) + render([7, None])
    assert all(type(item) is str for item in items)
    assert items[-1] == "None"  # a positional None is a value, unlike a keyword None


def test_escaper_and_kwargs_joiner_follow_xmanager_signature() -> None:
    args = SequentialArgs.from_collection({"name": "a b", "flag": True})
    assert args.to_list(escaper=shlex.quote) == ["--name='a b'", "--flag"]
    assert args.to_list(kwargs_joiner=lambda key, value: f"{key} {value}") == ["--name a b", "--flag"]


def test_to_dict_gives_keywords_and_positionals_as_true_flags() -> None:
    args = merge_args(["p"], {"k": 1})
    assert args.to_dict() == {"p": True, "k": 1}
    assert args.to_dict(kwargs_only=True) == {"k": 1}


def test_rewrite_changes_only_string_values() -> None:
    args = merge_args(["path/a", 3], {"out": "path/b", "n": 4})
    rewritten = args.rewrite(lambda value: value.replace("path", "/abs"))
    assert rewritten.to_list() == ["/abs/a", "3", "--out=/abs/b", "--n=4"]
    assert args.to_list() == ["path/a", "3", "--out=path/b", "--n=4"]


def test_iteration_equality_and_unhashability() -> None:
    a = SequentialArgs.from_collection({"k": 1})
    assert list(a) == ["--k=1"]
    assert a == SequentialArgs.from_collection({"k": 1})
    assert a != SequentialArgs.from_collection({"k": 2})
    assert a != ["--k=1"]
    with pytest.raises(TypeError):
        hash(a)


def test_non_string_keys_are_stringified() -> None:
    assert render({1: "x"}) == ["--1=x"]


def test_list_value_repeats_the_flag_nested_list_stays_one_value() -> None:
    assert render({"a": 1, "c": [3, "4"]}) == ["--a=1", "--c=3", "--c=4"]
    assert render({"t": ("x", "y z")}) == ["--t=x", "--t=y z"]
    assert render({"a": [[1, 2, 3]]}) == ["--a=[[1, 2, 3]]"]
    assert render({"e": []}) == []
    shell = SequentialArgs.from_collection({"f": [xm.ShellSafeArg("$A"), "b"]}).to_list()
    assert shell == [xm.ShellSafeArg("--f=$A"), "--f=b"]


def test_escaper_gets_raw_values_as_in_xmanager() -> None:
    args = merge_args([xm.ShellSafeArg("$HOME"), "a b"], {"n": 1.0, "s": "x y", "on": True, "m": [1, 2]})
    assert args.to_list(xm.utils.ARG_ESCAPER) == [
        "$HOME",
        "'a b'",
        "--n=1.0",
        "--s='x y'",
        "--on",
        "--m=1",
        "--m=2",
    ]
    assert merge_args([1, 2], {"a": 3}).to_list(str) == ["1", "2", "--a=3"]


def test_to_dict_keeps_shell_safe_args_and_lists_as_given() -> None:
    shell = xm.ShellSafeArg("$LXM_TASK_ID")
    args = merge_args(["--knob", shell], {1: False, "seed": shell, "c": [1, 2]})
    assert args.to_dict() == {"--knob": True, "$LXM_TASK_ID": True, "1": False, "seed": shell, "c": [1, 2]}
    assert args.to_dict(kwargs_only=True) == {"1": False, "seed": shell, "c": [1, 2]}


def test_remove_args_drops_keywords_and_matching_positionals_in_a_copy() -> None:
    args = merge_args(["--debug", "train"], {"seed": 1, "lr": 0.1, "n": 2})
    removed = args.remove_args("seed", "--debug")
    assert removed.to_list() == ["train", "--lr=0.1", "--n=2"]
    assert args.remove_args(["lr", "n"]).to_list() == ["--debug", "train", "--seed=1"]
    assert args.to_list() == ["--debug", "train", "--seed=1", "--lr=0.1", "--n=2"]
    assert merge_args(removed, {"seed": 5}).to_list() == ["train", "--lr=0.1", "--n=2", "--seed=5"]


def test_rewrite_args_is_xmanagers_name_for_rewrite() -> None:
    args = merge_args(["a"], {"k": "a"})
    assert args.rewrite_args(str.upper).to_list() == ["A", "--k=A"]


def test_repr_shows_the_rendered_items() -> None:
    assert repr(merge_args(["p"], {"k": 1})) == "['p', '--k'=1]"  # XManager's form: to_list(repr)


def test_shell_safe_arg_refuses_to_become_a_plain_string() -> None:
    with pytest.raises(RuntimeError, match="ShellSafe semantics"):
        f"{xm.ShellSafeArg('$HOME')}"


class _Ordered(dict):  # type: ignore[type-arg]
    """A dict subclass: takes the general (Mapping) path, not the plain-dict one."""


def test_the_fast_paths_render_as_the_general_path() -> None:
    import enum

    class Colour(enum.IntEnum):
        RED = 1

    class Name(str):
        pass

    values = [1, 2.5, 1e-05, "x", "", True, False, None, [1, "2"], (3,), [[1], [2]], Colour.RED]
    values += [Name("n"), float("nan"), -0.0, 10**30, xm.ShellSafeArg("$HOME")]
    mapping = {f"k{n}": value for n, value in enumerate(values)}
    fast = SequentialArgs.from_collection(mapping)
    general = SequentialArgs.from_collection(_Ordered(mapping))
    assert fast == general
    joined = general.to_list(kwargs_joiner=lambda flag, value: _join(flag, value))
    assert fast.to_list() == joined
    positional = SequentialArgs.from_collection(values)
    assert positional.to_list() == [v if isinstance(v, (str, xm.ShellSafeArg)) else str(v) for v in values]


def _join(flag: str, value: object) -> object:
    if isinstance(value, xm.ShellSafeArg):
        return xm.ShellSafeArg(f"{flag}={value.arg}")
    return f"{flag}={value}"
