"""Fixtures for the network tests."""

import pytest
import simpy


@pytest.fixture
def env() -> simpy.Environment:
    return simpy.Environment()
