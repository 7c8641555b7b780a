"""Records that travel through the pipeline: the turn context, its trace and the reply."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import hours as business_hours
from knowledge.base import SearchResult

if TYPE_CHECKING:
    from bot.http_action import HttpServices

log = logging.getLogger(__name__)


@dataclass
class BotServices:
    """What the server lends a bot's turns that bot/ cannot reach itself (it never imports server/).

    agents_online: whether a person has the inbox open now; None: presence is not tracked.
    http: what HTTP rule actions need (network policy, secrets, signing key); None: they fail.
    """

    agents_online: Callable[[], bool] | None = None
    http: HttpServices | None = None


@dataclass
class BotProfile:
    """Who the bot is: shown to customers and put in prompts."""

    slug: str
    name: str
    persona: str = ""
    greeting: str = ""
    fallback: str = (
        "I'm sorry, I couldn't find that in our help center. Would you like me to connect you with a person?"
    )
    handoff: str = "I'm not sure I can help with that, so I've asked a person to join. They will reply here soon."
    timezone: str = "UTC"  # IANA name; rule time windows and `now` without their own timezone use it
    hours: business_hours.BusinessHours | None = None  # None: always open (no offline message)
    services: BotServices = field(default_factory=BotServices, repr=False, compare=False)

    def public(self) -> dict[str, Any]:
        """What templates see as `bot`: the profile's plain fields (name, slug, greeting, ...)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("hours", "services")}


@dataclass
class Turn:
    """One earlier message of the conversation."""

    role: str  # "customer" | "bot" | "agent"
    text: str
    intent: str | None = None  # a customer turn's intent, once the bot answered it
    handoff: bool = False  # a bot turn that handed the conversation to a person
    fallback: bool = False  # a bot turn that was the "I don't know" fallback


@dataclass
class Citation:
    """A passage an answer rests on, numbered as in the reply's [n] markers."""

    n: int
    document: str
    section: str
    url: str
    snippet: str
    chunk_id: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class StageRecord:
    """What one stage did, for the message trace."""

    stage: str
    ms: float
    status: str  # "ok" | "error" | "skipped"
    error: str | None = None


@dataclass
class Trace:
    """Why the bot said what it said: stored with every reply."""

    intent: str | None = None
    confidence: float | None = None
    rule: str | None = None
    passages: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    backend: str | None = None
    fallback_reason: str | None = None
    cancelled: bool = False  # generation stopped early: the customer left or sent a newer message
    handoff: bool = False  # the turn asked for a person
    handoff_reason: str | None = None  # e.g. "rule:human_agent", "low_confidence"
    grounding: dict[str, Any] = field(default_factory=dict)
    stages: list[StageRecord] = field(default_factory=list)
    rule_reasons: list[str] = field(default_factory=list)  # why the rule fired, one line per condition
    rules_applied: list[str] = field(default_factory=list)  # tag/set_attribute-only rules that also ran
    actions: list[str] = field(default_factory=list)  # the fired rule's actions that ran, in order
    flow: list[dict[str, Any]] = field(default_factory=list)  # slot-filling steps of this turn
    quick_replies: list[dict[str, str]] = field(default_factory=list)  # buttons sent with the reply
    knowledge_query: str | None = None  # the question a rule's knowledge action asked instead of the message
    http: list[dict[str, Any]] = field(default_factory=list)  # HTTP action calls: method, url, status, ms, ...
    offline: str | None = None  # a handoff found nobody to answer: why (outside hours, holiday, no agent)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["latency_ms"] = {s.stage: s.ms for s in self.stages}
        return data


@dataclass
class ConversationState:
    """What a conversation remembers between turns; rule actions and flows change it.

    attributes: customer attributes and tags (Conversation.attributes).
    flow: slot-filling state (Conversation.flow): {"slots": {...}, "active": {...}} or None.
    message_count: customer messages in the conversation, this one included (0: unknown, count the history).
    """

    attributes: dict[str, Any] = field(default_factory=dict)
    flow: dict[str, Any] | None = None
    message_count: int = 0

    @property
    def slots(self) -> dict[str, Any]:
        """Slot values collected by completed flows."""
        return dict((self.flow or {}).get("slots") or {})

    @property
    def active_flow(self) -> dict[str, Any] | None:
        """The flow waiting for the customer's answer, if any."""
        active = (self.flow or {}).get("active")
        return active if isinstance(active, dict) else None


Emit = Callable[[str], None]


def _ignore(_: str) -> None:
    return None


@dataclass
class TurnContext:
    """The state of one customer turn as it passes through the stages."""

    bot: BotProfile
    text: str
    history: list[Turn] = field(default_factory=list)
    channel: str = "web"
    locale: str | None = None
    emit: Emit = _ignore
    restart: Callable[[], None] = lambda: None  # streamed pieces so far are void; a new answer follows
    cancel: threading.Event = field(default_factory=threading.Event)
    intent: str | None = None
    confidence: float = 0.0
    search: SearchResult | None = None
    reply: str | None = None
    citations: list[Citation] = field(default_factory=list)
    fallback: bool = False
    done: bool = False
    trace: Trace = field(default_factory=Trace)
    state: ConversationState = field(default_factory=ConversationState)
    now: datetime | None = None  # the turn's moment for time-window rules; None: the clock
    prefix: str = ""  # already streamed by a rule whose knowledge action lets later stages answer
    dry_run: bool = False  # the console's "Try it": HTTP actions show what they would send, and send nothing
    offline_text: str | None = None  # said with a handoff when nobody can answer (bot/hours.py)

    def finish(self, text: str, *, fallback: bool = False, stream: bool = True) -> None:
        """Set the final reply and stop the pipeline; stream it when no stage streamed yet.

        A turn that hands off while nobody can answer ends with the offline message: it replaces
        the bot's handoff notice, and follows any other text.
        """
        if self.trace.handoff and self.offline_text:
            text, stream = self._with_offline_text(text, stream)
        self.reply = self.prefix + text
        self.fallback = fallback
        self.done = True
        if stream:
            self.emit(text)

    def _with_offline_text(self, text: str, stream: bool) -> tuple[str, bool]:
        """The reply with the offline message, and whether finish must still stream it."""
        offline, said = self.offline_text or "", text.strip()
        if said and said != self.bot.handoff.strip():
            if not stream:  # the answer already went out: the offline message follows it
                self.emit(f"\n\n{offline}")
            return f"{said}\n\n{offline}", stream
        if said and not stream:
            self.restart()  # the streamed handoff notice is replaced
        return offline, True

    def request_handoff(self, reason: str) -> None:
        """Ask for a person to take the conversation; the server queues it after this turn.

        Outside business hours, or with no agent online, the trace records why and the turn's
        reply becomes the offline message (see finish).
        """
        self.trace.handoff = True
        self.trace.handoff_reason = reason
        if self.offline_text is not None:
            return
        try:
            notice = business_hours.offline_notice(self)
        except Exception as exc:  # a broken template or an unreachable database must not stop the handoff
            log.warning("business hours check failed for bot %s: %s", self.bot.slug, exc)
            self.trace.offline = f"check failed: {type(exc).__name__}"
            return
        if notice is not None:
            self.trace.offline, self.offline_text = notice


@dataclass
class BotReply:
    """The outcome of a turn."""

    text: str
    citations: list[Citation]
    intent: str | None
    fallback: bool
    trace: Trace
    state: ConversationState | None = None  # the conversation's state after the turn
