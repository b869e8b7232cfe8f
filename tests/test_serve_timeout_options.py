"""``specops serve``'s time limits refuse what is not a time: exit 2, the value named."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("option", ["--header-timeout", "--body-timeout", "--retry-max"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon", "86401"])
def test_a_timeout_that_is_not_a_positive_time_is_refused(
    cli, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("serve", "m@champion", option, value)
    assert exit_info.value.code == 2
    assert f"expected seconds, more than 0, got {value!r}" in capsys.readouterr().err
