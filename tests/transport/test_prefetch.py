"""Answers fetched ahead in one remote command, against the real loopback sshd.

The answers must be what running each command on its own gives (stdout,
stderr and exit code byte for byte), be given as many times as asked for,
and cost one remote command in all.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from lxm3.transport.base import HOME_ARGV, TransportError
from lxm3.transport.prefetch import Answers, Questions, parse, script
from lxm3.transport.ssh import SSHTransport

from .test_ssh import ALIAS, SSH_CONFIG, testbed  # noqa: F401 - fixture

pytestmark = [pytest.mark.ssh, pytest.mark.usefixtures("testbed")]

ODD = ("sh", "-c", "printf 'no newline at the end \\n\\n%s' \"$0\"; printf 'warn\\n' >&2; exit 3", "x y'z")
TWICE = ("echo", "asked twice")
NEVER = ("echo", "only where a missing command exists")


def fetch(transport: SSHTransport, groups: list[Questions]) -> None:
    """What the pre-connect thread does: plan, connect, one remote command, answers."""
    transport.answers.expect()
    text = transport.answers.plan(groups)
    assert text is not None
    result = transport.run(["bash", "-c", text], check=False)
    transport.answers.finish(parse(result.stdout, groups, transport.answers.boundary))


def test_answers_are_what_each_command_prints_alone_and_cost_one_command() -> None:
    groups = [
        Questions((ODD, TWICE, HOME_ARGV)),
        Questions((TWICE,), only_if="sh"),
        Questions((NEVER,), only_if="lxm3-no-such-command"),
    ]
    alone = SSHTransport(ALIAS, ssh_config=str(SSH_CONFIG))
    transport = SSHTransport(ALIAS, ssh_config=str(SSH_CONFIG))
    try:
        expected = {argv: alone.run(list(argv), check=False) for argv in (ODD, TWICE, HOME_ARGV)}
        fetch(transport, groups)
        assert transport.commands == 1
        for argv in (ODD, TWICE, HOME_ARGV, TWICE):
            answer = transport.run(list(argv), check=False)
            wanted = expected[argv]
            assert (answer.returncode, answer.stdout, answer.stderr) == (
                wanted.returncode,
                wanted.stdout,
                wanted.stderr,
            )
        assert (transport.commands, transport.answers.given) == (1, 4)
        # Used up (TWICE was listed twice and asked twice): asked again, for real.
        assert transport.run(list(TWICE)).stdout == "asked twice\n"
        assert transport.commands == 2
        # A command whose group's probe failed was not asked: it runs itself.
        assert transport.run(list(NEVER)).stdout == "only where a missing command exists\n"
        assert transport.commands == 3
        # A failing answer raises as the command itself would.
        fetch(transport, groups)
        with pytest.raises(TransportError, match="warn"):
            transport.run(list(ODD))
        # Input given: never answered from the fetch.
        assert transport.run(["cat"], input="in").stdout == "in"
        assert transport.commands == 5
    finally:
        alone.close()
        transport.close()


def test_a_command_waits_for_answers_on_their_way_and_others_do_not_wait_for_them() -> None:
    answers = Answers()
    answers.expect()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(answers.take(TWICE)))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive(), "the plan is not known yet: every command waits"
    groups = [Questions((TWICE,))]
    answers.plan(groups)
    started = time.monotonic()
    assert answers.take(NEVER) is None  # not being fetched: no wait
    assert time.monotonic() - started < 0.1
    boundary = answers.boundary
    answers.finish(
        parse(f"{boundary} 0 rc 0\nasked twice\n\n{boundary} 0 err\n\n{boundary} 0 end\n", groups, boundary)
    )
    waiter.join(5)
    [answer] = got
    assert answer is not None and answer.stdout == "asked twice\n"  # type: ignore[attr-defined]


def test_a_failed_fetch_leaves_every_command_to_ask_itself() -> None:
    answers = Answers()
    answers.expect()
    answers.plan([Questions((TWICE,))])
    answers.finish({})
    assert answers.take(TWICE) is None


def test_the_script_asks_each_command_once_and_quotes_every_argument() -> None:
    text = script(
        [Questions((ODD, TWICE)), Questions((TWICE, NEVER), only_if="x; rm -rf /"), Questions((ODD,), "y")],
        "@@b",
    )
    assert text.count("echo 'asked twice'") == 1
    assert "command -v 'x; rm -rf /'" in text
    assert "command -v y" not in text, "a group with nothing left to ask is left out"
    assert re.search(r"for i in 0 1 2; do", text)


def test_nothing_to_ask_is_no_command(tmp_path: Path) -> None:
    answers = Answers()
    answers.expect()
    assert answers.plan([]) is None
    assert answers.take(TWICE) is None
