"""Hides the values of secret-looking environment variables in what lxm3 prints.

Env values such as `WANDB_API_KEY` reach the user's program byte for byte, but
a dry run or an error message is read over shoulders, pasted into issues and
kept in CI logs. A variable whose NAME contains KEY, TOKEN, SECRET or
PASSWORD (any case) is shown as `NAME=***`.
"""

from __future__ import annotations

import re

MASK = "***"
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
#: NAME=value (shell assignments, `export NAME='v a l'`, `--env NAME=value`).
_ASSIGNMENT = re.compile(rf"\b({_NAME})=('(?:[^'\\]|'\\''|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s'\"]+)")
#: 'NAME': 'value' (a dict's repr).
_MAPPING = re.compile(rf"(['\"])({_NAME})\1(\s*:\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in _SECRET_WORDS)


def mask_env(env: dict[str, str]) -> dict[str, str]:
    return {key: MASK if is_secret_name(key) else value for key, value in env.items()}


def mask_text(text: str) -> str:
    """`text` with the values of secret-looking assignments and mapping entries replaced by ***."""

    def assignment(match: re.Match[str]) -> str:
        return f"{match.group(1)}={MASK}" if is_secret_name(match.group(1)) else match.group(0)

    def mapping(match: re.Match[str]) -> str:
        quote, name, colon = match.group(1), match.group(2), match.group(3)
        return f"{quote}{name}{quote}{colon}'{MASK}'" if is_secret_name(name) else match.group(0)

    return _MAPPING.sub(mapping, _ASSIGNMENT.sub(assignment, text))
