"""The platform driver fixtures: a scenario that asks for `chat` runs on Telegram and on
Slack (each on SQLite and PostgreSQL, through `engine`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import make_engine
from tests.helpers import dispose
from tests.helpers.platforms import PLATFORMS, AnyDriver, platform


@pytest.fixture(params=PLATFORMS)
def platform_name(request: pytest.FixtureRequest) -> str:
    """Each chat platform in turn."""
    name: str = request.param
    return name


@pytest.fixture
async def chat(platform_name: str, engine: AsyncEngine) -> AsyncIterator[AnyDriver]:
    """The platform's driver: the real library against its fake on loopback, the real app,
    core and storage, the test region with everyone linked, the clock at Tue 24 Nov 2026
    03:07."""
    async with platform(platform_name, engine) as driver:
        yield driver


@pytest.fixture
async def lite_chat(platform_name: str, sqlite_url: str) -> AsyncIterator[AnyDriver]:
    """`chat` on SQLite only, for scenarios whose point is not the database."""
    engine = make_engine(sqlite_url)
    try:
        async with platform(platform_name, engine) as driver:
            yield driver
    finally:
        await dispose(engine)
