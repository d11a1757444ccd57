"""Argument and env values that break naive quoting: every one must arrive byte for byte.

ONE list for every test that sends values somewhere (the task runner, both
transports, the Local, Slurm and Grid Engine backends, containers), so every
path is held to the same values. Each scheduler adds what only its own
directive syntax makes dangerous (`SLURM_VALUES`, `SGE_VALUES`).
"""

from __future__ import annotations

from collections.abc import Sequence

HOSTILE_VALUES = [
    "",
    " ",
    "two  spaces",
    "trailing  ",
    "  leading",
    "it's",
    'say "hi"',
    "'",
    '"',
    "'\"'\"'",
    "'; exit 3 #",
    "$HOME",
    "${PATH}",
    "`id`",
    "$(touch /tmp/lxm3-pwned)",
    "a\nnew line",
    "tab\there",
    "\t",
    "carriage\rreturn",
    "*",
    "?[ab]*",
    "[a-z]*",
    "~",
    "ünïcödé ✓ 日本 🚀",
    "\\",
    "back\\slash\\",
    "#hash",
    ";& | < > && ||",
    "--flag=value",
    "a=b=c",
    "--",
    "-n",
    "!!",
    "%s %d %%",
]

#: Slurm expands these in #SBATCH paths and names.
SLURM_VALUES = ["%A_%a %j", "%A_%a %%"]
#: Grid Engine reads `#$` lines as directives.
SGE_VALUES = ["#$ -q not.a.directive", "\n#$ -l h_rt=1"]


def one_line(values: Sequence[str] = HOSTILE_VALUES) -> list[str]:
    """The values a single line can carry (a scheduler directive cannot hold a line break)."""
    return [value for value in values if "\n" not in value and "\r" not in value]


def hostile_env(
    offset: int = 0, prefix: str = "HOSTILE_", values: Sequence[str] = HOSTILE_VALUES
) -> dict[str, str]:
    """Env vars `<prefix>00`, `<prefix>01`... holding the values, rotated by `offset`."""
    rotated = [*values[offset:], *values[:offset]]
    return {f"{prefix}{n:02d}": value for n, value in enumerate(rotated)}
