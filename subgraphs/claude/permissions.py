"""Permission prompts over GraphQL: the CLI asks, a client answers.

When the CLI wants a tool that the session's rules neither allow nor deny, it sends
a ``can_use_tool`` control request; ``PermissionBroker`` stores it (status OPEN),
emits a PERMISSION_REQUEST event and waits. ``answerPermission`` resolves it
(ALLOWED / DENIED; ``remember`` adds the rule to the session's options, which every
later command passes to the CLI). Without an answer within ``permission_timeout``
it is denied (TIMED_OUT) with a message Claude reads; an interrupt or the end of
the command closes it (INTERRUPTED). Each resolution emits a PERMISSION_RESOLVED
event. A restart closes the requests a previous process left OPEN.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from claude_agent_sdk import (
    PermissionResultAllow,
    PermissionResultDeny,
    PermissionUpdate,
)
from claude_agent_sdk.types import PermissionRuleValue

from subgraphs.claude.errors import BadInputError, PermissionRequestNotFoundError
from subgraphs.claude.options import rule_matches
from subgraphs.claude.runner import (
    AskPermission,
    OutputItem,
    PermissionAsk,
    PermissionResult,
)
from subgraphs.claude.store import PermissionRecord, new_id, utc_now

if TYPE_CHECKING:
    from subgraphs.claude.service import ClaudeService

__all__ = ["PermissionBroker", "remembered_rule"]

logger = logging.getLogger("gateway.claude.permissions")


def remembered_rule(record: PermissionRecord) -> str:
    """The rule ``remember`` adds: the CLI's first suggested rule for this call
    (e.g. ``Bash(ls)``), else the tool's name."""
    for suggestion in record.suggestions or []:
        if not isinstance(suggestion, Mapping):
            continue
        for rule in suggestion.get("rules") or []:
            if isinstance(rule, Mapping) and rule.get("toolName") == record.tool_name:
                content = rule.get("ruleContent")
                return f"{record.tool_name}({content})" if content else record.tool_name
    return record.tool_name


def _rule_value(rule: str) -> PermissionRuleValue:
    name, _, rest = rule.partition("(")
    return PermissionRuleValue(tool_name=name, rule_content=rest[:-1] or None)


class PermissionBroker:
    def __init__(self, service: ClaudeService) -> None:
        self._service = service
        self._waiting: dict[str, asyncio.Future[PermissionResult]] = {}
        self._commands: dict[str, str] = {}
        """request id -> command id, for the requests being waited on."""

    def asker(self, session_id: str, command_id: str) -> AskPermission:
        """The ``can_use_tool`` answerer of one command."""

        async def ask(request: PermissionAsk) -> PermissionResult:
            return await self._ask(session_id, command_id, request)

        return ask

    async def _ask(
        self, session_id: str, command_id: str, request: PermissionAsk
    ) -> PermissionResult:
        service = self._service
        session = await service.require_session(session_id)
        # Rules remembered during this command (the CLI got the others as flags).
        for rule in session.options.disallowed_tools:
            if rule_matches(rule, request.tool_name, request.input):
                return PermissionResultDeny(message=f"denied by the rule {rule}")
        for rule in session.options.allowed_tools:
            if rule_matches(rule, request.tool_name, request.input):
                return PermissionResultAllow()
        timeout = service.config.permission_timeout
        now = datetime.now(UTC)
        expires = (
            (now + timedelta(seconds=timeout))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
            if timeout
            else None
        )
        record = PermissionRecord(
            id=new_id(),
            session_id=session_id,
            command_id=command_id,
            tool_name=request.tool_name,
            input=request.input,
            suggestions=request.suggestions,
            tool_use_id=request.tool_use_id,
            title=request.title,
            status="OPEN",
            message=None,
            remember=False,
            created_at=utc_now(),
            expires_at=expires,
            answered_at=None,
        )
        future: asyncio.Future[PermissionResult] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting[record.id] = future
        self._commands[record.id] = command_id
        try:
            await service.store.create_permission(record)
            await service.emit(
                session_id,
                command_id,
                OutputItem(
                    "PERMISSION_REQUEST",
                    request.tool_name,
                    {
                        "requestId": record.id,
                        "toolName": request.tool_name,
                        "input": request.input,
                        "suggestions": request.suggestions,
                        "toolUseId": request.tool_use_id,
                        "title": request.title,
                        "expiresAt": expires,
                    },
                ),
            )
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout)
            except TimeoutError:
                message = (
                    f"Nobody answered the permission request for {request.tool_name} "
                    f"within {timeout:g} s, so it was denied."
                )
                _, changed = await self._finish(
                    record, "TIMED_OUT", message, remember=False
                )
                if not changed:  # answered at the same moment: that answer holds
                    return await future
                denied = PermissionResultDeny(message=message)
                if not future.done():
                    future.set_result(denied)
                return denied
        except asyncio.CancelledError:
            # The CLI withdrew the request (control_cancel_request) or the
            # command ended: close it, then let the cancellation go on.
            await asyncio.shield(
                self._finish(
                    record,
                    "INTERRUPTED",
                    "the command ended before an answer",
                    remember=False,
                )
            )
            raise
        finally:
            self._waiting.pop(record.id, None)
            self._commands.pop(record.id, None)

    async def answer(
        self,
        request_id: str,
        *,
        allow: bool,
        message: str | None,
        updated_input: Any,
        remember: bool,
    ) -> PermissionRecord:
        service = self._service
        record = await service.store.get_permission(request_id)
        future = self._waiting.get(request_id)
        if record is None or record.status != "OPEN" or future is None or future.done():
            raise PermissionRequestNotFoundError(
                f"no open permission request with id {request_id!r}"
            )
        if updated_input is not None and not isinstance(updated_input, Mapping):
            raise BadInputError("updatedInput must be an object (the tool's input)")
        result: PermissionResult
        rule = remembered_rule(record)
        if allow:
            result = PermissionResultAllow(
                updated_input=dict(updated_input) if updated_input else None,
                updated_permissions=[
                    PermissionUpdate(
                        type="addRules",
                        rules=[_rule_value(rule)],
                        behavior="allow",
                        destination="session",
                    )
                ]
                if remember
                else None,
            )
        else:
            result = PermissionResultDeny(
                message=message or "The user denied this tool use."
            )
        # Stored and announced before the CLI hears it: PERMISSION_RESOLVED comes
        # before whatever the tool then does.
        finished, changed = await self._finish(
            record, "ALLOWED" if allow else "DENIED", message, remember=remember
        )
        if not changed or future.done():
            raise PermissionRequestNotFoundError(
                f"permission request {request_id!r} was closed meanwhile "
                f"({finished.status})"
            )
        if remember:
            session = await service.require_session(record.session_id)
            await service.update_options(
                record.session_id, session.options.with_rule(rule, allow=allow)
            )
        future.set_result(result)
        return finished

    async def interrupt(self, command_id: str) -> None:
        """Deny (and interrupt) every request the command is waiting on."""
        for request_id, owner in list(self._commands.items()):
            future = self._waiting.get(request_id)
            if owner != command_id or future is None or future.done():
                continue
            record = await self._service.store.get_permission(request_id)
            if record is not None:
                await self._finish(
                    record, "INTERRUPTED", "the command was interrupted", remember=False
                )
            if not future.done():
                future.set_result(
                    PermissionResultDeny(
                        message="The command was interrupted.", interrupt=True
                    )
                )

    async def command_ended(self, command_id: str) -> None:
        """Close what the command left open (the SDK normally withdraws it)."""
        for request in await self._service.store.open_permissions():
            if request.command_id == command_id:
                future = self._waiting.get(request.id)
                if future is not None and not future.done():
                    future.set_result(
                        PermissionResultDeny(
                            message="The command ended.", interrupt=True
                        )
                    )
                await self.close_stale(request)

    async def close_stale(self, record: PermissionRecord) -> None:
        await self._finish(
            record, "INTERRUPTED", "the command ended before an answer", remember=False
        )

    async def _finish(
        self,
        record: PermissionRecord,
        status: str,
        message: str | None,
        *,
        remember: bool,
    ) -> tuple[PermissionRecord, bool]:
        """Close the request (if still OPEN) and announce it; the record and
        whether this call closed it."""
        service = self._service
        finished, changed = await service.store.finish_permission(
            record.id, status=status, message=message, remember=remember
        )
        if changed:
            await service.emit(
                record.session_id,
                record.command_id,
                OutputItem(
                    "PERMISSION_RESOLVED",
                    status,
                    {
                        "requestId": record.id,
                        "status": status,
                        "message": message,
                        "remember": remember,
                    },
                ),
            )
        return finished, changed
