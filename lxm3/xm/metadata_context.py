"""Experiment and unit metadata (XManager's `xm.MetadataContext`).

XManager backends keep titles, tags and notes in a database UI; lxm3 keeps
them in memory on the object, so launch scripts that set them still run.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs


class ContextAnnotations:
    """User-editable annotations of a context: a title, tags and notes."""

    def __init__(self, title: str = "") -> None:
        self._title = title
        self._tags: list[str] = []
        self._notes = ""

    @property
    def title(self) -> str:
        return self._title

    def set_title(self, title: str) -> None:
        self._title = title

    @property
    def tags(self) -> list[str]:
        return list(self._tags)

    def add_tags(self, *tags: str) -> None:
        self._tags.extend(tag for tag in tags if tag not in self._tags)

    def remove_tags(self, *tags: str) -> None:
        self._tags = [tag for tag in self._tags if tag not in tags]

    def set_tags(self, tags: Iterable[str]) -> None:
        self._tags = list(dict.fromkeys(tags))

    @property
    def notes(self) -> str:
        return self._notes

    def set_notes(self, notes: str) -> None:
        self._notes = notes


@attrs.define
class MetadataContext:
    """Who created a context, and its annotations."""

    creator: str
    annotations: ContextAnnotations
