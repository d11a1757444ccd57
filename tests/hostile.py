"""Argument and env values that break naive quoting: every one must arrive byte for byte.

Shared by the end-to-end tests of every backend, so Local, Slurm and Grid
Engine are held to the same list (each adds what its own directives make
dangerous, e.g. `%A` for Slurm, `#$` for Grid Engine).
"""

HOSTILE_VALUES = [
    "two  spaces",
    "it's",
    'say "hi"',
    "$HOME",
    "${HOME}",
    "`id`",
    "$(id -u)",
    "a\nnew line",
    "tab\there",
    "*",
    "?",
    "[a-z]*",
    "~",
    "ünïcödé ✓ 日本 🚀",
    "",
    "trailing  ",
    "  leading",
    "back\\slash\\",
    "#hash",
    ";& | < > && ||",
    "--flag=value",
    "-n",
    "!!",
    "'",
    '"',
]
