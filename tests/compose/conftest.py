"""The running compose stack, as ``make compose-test`` started it; every test leaves it with all services healthy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compose.stack import Stack

pytestmark = pytest.mark.compose


@pytest.fixture(scope="session")
def stack() -> Stack:
    found = Stack.from_environment()
    if found is None:
        pytest.fail("no compose stack: run `make compose-test`", pytrace=False)
    return found


@pytest.fixture
def healthy(stack: Stack) -> Iterator[Stack]:
    """The stack with every default service healthy, before the test and again after it (a test may stop some)."""
    stack.compose("up", "--wait")
    yield stack
    stack.compose("up", "--wait")
