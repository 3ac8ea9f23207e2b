"""Per-session options for the CLI: permission mode, tool rules, system prompt, limits.

Chosen at ``createSession(input:)``, stored with the session (JSON), shown on
``Session`` and applied to every command of the session, resumed ones included.
``remember`` on a permission answer adds a rule here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from subgraphs.claude.errors import BadInputError, ForbiddenError

__all__ = ["PERMISSION_MODES", "SessionOptions", "rule_matches"]

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions")
SYSTEM_PROMPT_MODES = ("APPEND", "REPLACE")
_RULE = re.compile(r"^[A-Za-z_][\w.:-]*(\(.*\))?$", re.DOTALL)
_MAX_RULES = 200
_MAX_PROMPT = 100_000


@dataclass(frozen=True, slots=True)
class SessionOptions:
    permission_mode: str = "default"
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    system_prompt: str | None = None
    system_prompt_mode: str = "APPEND"
    """APPEND: Claude Code's own system prompt plus ``system_prompt``; REPLACE:
    ``system_prompt`` alone."""
    max_turns: int | None = None
    max_budget_usd: float | None = None

    @classmethod
    def from_input(
        cls, data: Mapping[str, Any], *, bypass_allowed: bool, default_mode: str
    ) -> SessionOptions:
        """Options from ``CreateSessionInput`` (snake_case keys). Bad values raise
        ``BAD_USER_INPUT``; ``bypassPermissions`` without the server's consent
        raises ``FORBIDDEN``."""
        mode = data.get("permission_mode") or default_mode
        if mode not in PERMISSION_MODES:
            raise BadInputError(
                f"permissionMode must be one of {', '.join(PERMISSION_MODES)}"
            )
        if mode == "bypassPermissions" and not bypass_allowed:
            raise ForbiddenError(
                "permissionMode bypassPermissions is not allowed by this server "
                "(dangerous_mode / CLAUDE_DANGEROUS_MODE is off)"
            )
        prompt_mode = data.get("system_prompt_mode") or "APPEND"
        if prompt_mode not in SYSTEM_PROMPT_MODES:
            raise BadInputError("systemPromptMode must be APPEND or REPLACE")
        prompt = data.get("system_prompt")
        if prompt is not None and len(prompt) > _MAX_PROMPT:
            raise BadInputError(f"systemPrompt is longer than {_MAX_PROMPT} characters")
        max_turns = data.get("max_turns")
        if max_turns is not None and not 1 <= int(max_turns) <= 10_000:
            raise BadInputError("maxTurns must be between 1 and 10000")
        budget = data.get("max_budget_usd")
        if budget is not None and (not math.isfinite(budget) or budget <= 0):
            raise BadInputError("maxBudgetUsd must be a positive number")
        return cls(
            permission_mode=mode,
            allowed_tools=_rules("allowedTools", data.get("allowed_tools")),
            disallowed_tools=_rules("disallowedTools", data.get("disallowed_tools")),
            system_prompt=prompt,
            system_prompt_mode=prompt_mode,
            max_turns=int(max_turns) if max_turns is not None else None,
            max_budget_usd=float(budget) if budget is not None else None,
        )

    def with_rule(self, rule: str, *, allow: bool) -> SessionOptions:
        """These options with ``rule`` added to the allowed (or disallowed) tools."""
        if allow:
            if rule in self.allowed_tools:
                return self
            return replace(self, allowed_tools=(*self.allowed_tools, rule))
        if rule in self.disallowed_tools:
            return self
        return replace(self, disallowed_tools=(*self.disallowed_tools, rule))

    def to_json(self) -> str:
        return json.dumps(
            {
                "permissionMode": self.permission_mode,
                "allowedTools": list(self.allowed_tools),
                "disallowedTools": list(self.disallowed_tools),
                "systemPrompt": self.system_prompt,
                "systemPromptMode": self.system_prompt_mode,
                "maxTurns": self.max_turns,
                "maxBudgetUsd": self.max_budget_usd,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> SessionOptions:
        data = json.loads(text) if text else {}
        return cls(
            permission_mode=data.get("permissionMode") or "default",
            allowed_tools=tuple(data.get("allowedTools") or ()),
            disallowed_tools=tuple(data.get("disallowedTools") or ()),
            system_prompt=data.get("systemPrompt"),
            system_prompt_mode=data.get("systemPromptMode") or "APPEND",
            max_turns=data.get("maxTurns"),
            max_budget_usd=data.get("maxBudgetUsd"),
        )


def _rules(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    rules = tuple(str(rule).strip() for rule in value)
    if len(rules) > _MAX_RULES:
        raise BadInputError(f"{name} has more than {_MAX_RULES} rules")
    for rule in rules:
        if not _RULE.match(rule) or "," in rule.split("(", 1)[0]:
            raise BadInputError(
                f"{name}: {rule!r} is not a tool rule (Tool or Tool(content))"
            )
    return rules


def rule_matches(rule: str, tool_name: str, tool_input: Mapping[str, Any]) -> bool:
    """Whether a permission rule (``Bash``, ``Bash(ls)``, ``Bash(npm run:*)``,
    ``Read(src/*)``) covers this tool call, as the CLI reads rules: the tool
    name, then the rule's content against the call's command or path (a trailing
    ``:*`` or ``*`` is a prefix match)."""
    name, _, rest = rule.partition("(")
    if name != tool_name:
        return False
    if not rest:
        return True
    content = rest[:-1] if rest.endswith(")") else rest
    subject = tool_input.get("command") or tool_input.get("file_path") or ""
    subject = str(subject)
    for suffix in (":*", "*"):
        if content.endswith(suffix):
            return subject.startswith(content[: -len(suffix)])
    return subject == content
