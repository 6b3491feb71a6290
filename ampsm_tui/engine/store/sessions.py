"""Sessions: create, find by id or unique prefix, list with filters, update."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..clock import now_iso
from ..errors import UsageError
from ..models import Session, SessionStatus
from .core import StoreBase, db_error


class SessionNotFound(UsageError):
    def __init__(self, ref: str, detail: str = "no such session") -> None:
        super().__init__(f"{detail}: {ref}")


class SessionsRepo(StoreBase):
    async def create_session(self, session: Session) -> Session:
        now = now_iso()
        session = session.model_copy(update={"created_at": session.created_at or now, "updated_at": now})
        await self._insert_model("sessions", session)
        return session

    async def get_session(self, session_id: str) -> Session | None:
        row = await self._fetchone("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return self._model(Session, row)

    async def resolve_session(self, ref: str) -> Session:
        """An id or a unique prefix of one (`sess-1a2`, or just `1a2`)."""
        exact = await self.get_session(ref)
        if exact:
            return exact
        prefixes = [ref] if ref.startswith("sess-") else [ref, f"sess-{ref}"]
        rows = []
        for prefix in prefixes:
            like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = await self._fetchall(
                "SELECT * FROM sessions WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 3", (like,)
            )
            if rows:
                break
        if len(rows) == 1:
            return Session.model_validate(dict(rows[0]))
        if len(rows) > 1:
            raise SessionNotFound(ref, "ambiguous session prefix (give more characters)")
        raise SessionNotFound(ref)

    async def list_sessions(
        self,
        *,
        status: SessionStatus | str | None = None,
        statuses: list[str] | None = None,
        repo_path: str | None = None,
        include_archived: bool = True,
        limit: int | None = None,
    ) -> list[Session]:
        """Newest first (lesson 10: "last N" means the most recent N)."""
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(str(status))
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        if repo_path:
            where.append("repo_path = ?")
            params.append(repo_path)
        if not include_archived:
            where.append("status != 'archived'")
        sql = "SELECT * FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._models(Session, await self._fetchall(sql, params))

    async def update_session(self, session_id: str, **fields: Any) -> None:
        fields["updated_at"] = now_iso()
        await self._update("sessions", "id", session_id, fields)

    async def set_session_status(self, session_id: str, status: SessionStatus, **fields: Any) -> None:
        await self.update_session(session_id, status=str(status), **fields)

    async def claim_session(self, session_id: str, pid: int, pid_started_at: float | None) -> int | None:
        """Mark the session `running` for this process, unless a live process already runs it.

        Check and write in one IMMEDIATE transaction, so of two processes (or two engines in the
        TUI) iterating one session at the same moment exactly one wins. Returns None when claimed,
        else the pid of the live holder.

        The usual case, a session nobody runs, is one conditional UPDATE (one trip to the DB
        thread, atomic on its own); only a session marked running needs the check of its holder."""
        from ..procinfo import same_process

        async with self._write_lock:
            try:
                cur = await self.conn.execute(
                    "UPDATE sessions SET status = ?, pid = ?, pid_started_at = ?, updated_at = ?"
                    " WHERE id = ? AND status != ?",
                    (
                        SessionStatus.RUNNING.value,
                        pid,
                        pid_started_at,
                        now_iso(),
                        session_id,
                        SessionStatus.RUNNING.value,
                    ),
                )
            except sqlite3.Error as exc:
                raise db_error(self.path, exc) from exc
            if cur.rowcount == 1:
                return None
        async with self.transaction() as conn:
            cur = await conn.execute("SELECT status, pid, pid_started_at FROM sessions WHERE id = ?", (session_id,))
            row = await cur.fetchone()
            await cur.close()
            if row is None:
                raise SessionNotFound(session_id)
            if row["status"] == SessionStatus.RUNNING.value and same_process(row["pid"], row["pid_started_at"]):
                return int(row["pid"])
            await conn.execute(
                "UPDATE sessions SET status = ?, pid = ?, pid_started_at = ?, updated_at = ? WHERE id = ?",
                (SessionStatus.RUNNING.value, pid, pid_started_at, now_iso(), session_id),
            )
        return None

    async def delete_session(self, session_id: str) -> None:
        await self._write("DELETE FROM sessions WHERE id = ?", (session_id,))

    async def count_sessions(self) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM sessions")
        return int(row[0]) if row else 0
