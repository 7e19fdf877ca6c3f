"""Stand-in for DECNET's `decnet.web.db.sqlmodel_repo._helpers` (not in the seed): the
mixin base whose `_session()` DECNET's SQLModelRepository provides: a session of the
repository's `async_sessionmaker` that is closed inline when the block succeeds and
handed to a fresh task when it fails (so a cancelled caller cannot orphan the pooled
connection), as DECNET's `_safe_session` does."""

import asyncio
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

_cleanup_tasks: set = set()  # strong references, so that a detached close is not collected


def _detach_close(session: AsyncSession) -> None:
    async def cleanup() -> None:
        try:
            await session.close()
        except BaseException:  # noqa: BLE001 - as DECNET: fall back to invalidating
            session.sync_session.invalidate()

    task = asyncio.get_running_loop().create_task(cleanup())
    _cleanup_tasks.add(task)
    task.add_done_callback(_cleanup_tasks.discard)


@asynccontextmanager
async def _safe_session(factory: async_sessionmaker):
    session = factory()
    try:
        yield session
    except BaseException:
        _detach_close(session)
        raise
    else:
        await session.close()


class _MixinBase:
    """What every repository mixin may use: `self._session()`."""

    engine: AsyncEngine
    session_factory: async_sessionmaker

    def _session(self):
        return _safe_session(self.session_factory)
