"""Every error the user must fix derives from one root, and the CLI prints it as one line."""

from __future__ import annotations

import pytest

from lxm3 import xm
from lxm3.cli.errors import report
from lxm3.config import ConfigError
from lxm3.errors import LxmError
from lxm3.packaging.errors import PackagingError
from lxm3.runtime.task_table import TaskValueError
from lxm3.schedulers.base import SchedulerError
from lxm3.store.db import StoreError
from lxm3.transport.base import TransportError
from lxm3.xm_cluster.launching import ArtifactsMissingError
from lxm3.xm_cluster.reload import ReloadError

USER_ERRORS = [
    ConfigError,
    PackagingError,
    TaskValueError,
    SchedulerError,
    TransportError,
    StoreError,
    ArtifactsMissingError,
    ReloadError,
    xm.ExperimentUnitError,
    xm.ExperimentUnitFailedError,
    xm.ExperimentUnitNotCompletedError,
    xm.NotFoundError,
]


@pytest.mark.parametrize("error_type", USER_ERRORS, ids=lambda t: t.__name__)
def test_user_errors_share_one_root_and_print_one_line(
    error_type: type[Exception], capsys: pytest.CaptureFixture[str]
) -> None:
    assert issubclass(error_type, LxmError)
    assert report(error_type("fix the thing")) == 1
    assert capsys.readouterr().err == "lxm3: error: fix the thing\n"


def test_reload_errors_are_experiment_unit_errors() -> None:
    assert issubclass(ReloadError, xm.ExperimentUnitError)


def test_an_error_of_the_same_name_from_elsewhere_is_a_bug(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI decides by type, not by class name: a user's own `ConfigError` is not lxm3's."""
    ConfigError = type("ConfigError", (RuntimeError,), {})
    assert report(ConfigError("boom")) == 1
    assert "set LXM3_DEBUG=1" in capsys.readouterr().err
