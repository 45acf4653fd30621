"""Flows: conversations of several steps whose state is a database row, not process memory.

A flow (registration, /newevent, /broadcast, the check-in code prompt...) has a name, a typed
draft (a dataclass) and steps. Where a person is (flow, step, draft, and a nonce) is the
`chat_state` row: read at the start of every update (bot/usecases/scope.py) and written when it
changes, so a person half-way through continues after a restart or on another replica.

    REGISTRATION = Flow("registration", RegistrationDraft, title_key="flow.registration")

    @REGISTRATION.on_text("name")
    async def name_typed(update, context, run: Run[RegistrationDraft]) -> None:
        run.draft.full_name = ...
        await run.ask(context, context.t("reg.ask.phone"), step="phone")

    @REGISTRATION.on_button("type")
    async def type_chosen(update, context, run, payload: str) -> None: ...

    @REGISTRATION.reasker
    async def reask(update, context, run) -> None: ...  # ask the current step's question again

Buttons: `run.button(text, payload)` makes callback data `~<nonce>:<payload>`; every question
gets a new nonce, so only the buttons of the latest question work (the one liveness check); the
same question asked again (after /help, a hint, a replayed update) keeps its nonce, so a person
who presses the earlier copy is not told it is stale, and once answered, every copy is.
`run.ask(...)` writes the row before sending, so a crash in between loses no state.

What happens to other input is decided here, once, for every flow:
- a command: the command registry decides (bot/handlers/dispatch.py): /cancel ends the flow,
  /help and /lang answer and ask the question again, the flow's own commands (`commands=`)
  reach their handler, and any other command ends the flow (saying so) and does what it says;
- a button of another feature works as usual, the flow stays where it is;
- input the step does not take (a sticker at a text step, text at a button step): the flow's
  hint, then the question again;
- nothing for `timeout` (`[bot] flow_timeout_minutes`, or `prompt_timeout_minutes` for a prompt):
  the flow is dropped and the person is told at their next message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bot.config import Settings
from bot.context import AsaContext
from bot.scope import FlowState
from bot.usecases.scope import end_flow, flow_ends_with_commit, save_flow

_log = logging.getLogger(__name__)

D = TypeVar("D")

BUTTON_PREFIX = "~"
NONCE_BYTES = 3  # four base64 characters: a stale button matches by chance once in 16 million
# Telegram's limit on callback_data, in bytes; the nonce and separators take six.
CALLBACK_DATA_LIMIT = 64

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove
Rows = Sequence[Sequence[tuple[str, str]]]


class Input(StrEnum):
    """What kind of message arrived in a flow."""

    TEXT = "text"
    CONTACT = "contact"
    LOCATION = "location"
    OTHER = "other"


def input_of(update: Update) -> Input:
    """Classify a new message."""
    message = update.effective_message
    if message is None:
        return Input.OTHER
    if message.text is not None:
        return Input.TEXT
    if message.contact is not None:
        return Input.CONTACT
    if message.location is not None:
        return Input.LOCATION
    return Input.OTHER


def new_nonce() -> str:
    """A short random token for one question's buttons."""
    return secrets.token_urlsafe(NONCE_BYTES)


InputStep = Callable[[Update, AsaContext, "Run[D]"], Awaitable[None]]
ButtonStep = Callable[[Update, AsaContext, "Run[D]", str], Awaitable[None]]


class Run(Generic[D]):
    """One update's view of an open flow: its typed draft, its step, and how to move on."""

    def __init__(self, flow: Flow[D], *, draft: D, step: str, nonce: str) -> None:
        self.flow = flow
        self.draft = draft
        self.step = step
        self.nonce = nonce
        self.ended = False
        self.reasking = False  # asking the same question again: its nonce stays (see reask)
        self._written = self._snapshot()

    def _snapshot(self) -> tuple[str, str, dict[str, Any]]:
        return self.step, self.nonce, self.flow.dump(self.draft)

    @property
    def dirty(self) -> bool:
        """Whether step, nonce or draft changed since the row was last read or written."""
        return not self.ended and self._snapshot() != self._written

    # -- buttons ------------------------------------------------------------------------

    def data(self, payload: str) -> str:
        """Callback data for a button of the current question."""
        data = f"{BUTTON_PREFIX}{self.nonce}:{payload}"
        if len(data.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError(f"button payload too long for Telegram: {payload!r}")
        return data

    def button(self, text: str, payload: str) -> InlineKeyboardButton:
        """A button of the current question."""
        return InlineKeyboardButton(text, callback_data=self.data(payload))

    def keyboard(self, rows: Rows) -> InlineKeyboardMarkup:
        """Rows of (text, payload) as buttons of the current question."""
        return InlineKeyboardMarkup([[self.button(t, p) for t, p in row] for row in rows])

    # -- moving on ----------------------------------------------------------------------

    def new_question(self, step: str | None = None) -> None:
        """A new question (optionally at another step): older buttons stop working. The same
        question asked again keeps its nonce, so both copies' buttons work until one is used."""
        if self.reasking and step in (None, self.step):
            return
        if step is not None:
            self.step = step
        self.nonce = new_nonce()

    async def ask(
        self,
        context: AsaContext,
        text: str,
        *,
        step: str | None = None,
        buttons: Rows | None = None,
        reply_markup: Markup | None = None,
    ) -> Message:
        """Ask a question: new nonce, the row written, then the message sent."""
        self.new_question(step)
        markup = self.keyboard(buttons) if buttons else reply_markup
        await self.save(context)
        return await context.bot.send_message(context.actor.telegram_id, text, reply_markup=markup)

    async def save(self, context: AsaContext) -> None:
        """Write the flow's row now (ask() and the dispatcher call this)."""
        if self.ended:
            return
        draft = self.flow.dump(self.draft)
        await save_flow(
            context.db,
            telegram_id=context.actor.telegram_id,
            flow=self.flow.name,
            step=self.step,
            nonce=self.nonce,
            draft=draft,
            now=context.clock.now(),
        )
        self._written = (self.step, self.nonce, draft)
        context.actor = dataclasses.replace(
            context.actor,
            flow=FlowState(
                name=self.flow.name,
                step=self.step,
                nonce=self.nonce,
                draft=draft,
                updated_at=context.clock.now(),
            ),
        )

    @contextlib.asynccontextmanager
    async def ending(self, context: AsaContext) -> AsyncIterator[None]:
        """The flow ends in the transaction of the use case called within (its last step's
        effect): both are committed, or neither. Ended only when the block completes."""
        with flow_ends_with_commit(
            telegram_id=context.actor.telegram_id, flow=self.flow.name, now=context.clock.now()
        ):
            yield
        self._ended(context)

    async def end(self, context: AsaContext) -> None:
        """The flow is over (done, cancelled or left): the row forgets it and its draft."""
        if self.ended:
            return
        await end_flow(context.db, telegram_id=context.actor.telegram_id, now=context.clock.now())
        self._ended(context)

    def _ended(self, context: AsaContext) -> None:
        """The rest of this update sees the person in no flow."""
        self.ended = True
        context.actor = dataclasses.replace(context.actor, flow=None)


Reasker = Callable[[Update, AsaContext, Run[D]], Awaitable[None]]


@dataclass
class _Steps(Generic[D]):
    """A flow's handlers, by step."""

    inputs: dict[tuple[str, Input], InputStep[D]] = dataclasses.field(default_factory=dict)
    buttons: dict[str, ButtonStep[D]] = dataclasses.field(default_factory=dict)


FLOWS: dict[str, Flow[Any]] = {}


class Flow(Generic[D]):
    """A named conversation with a typed draft; see the module docstring."""

    def __init__(
        self,
        name: str,
        draft: type[D],
        *,
        title_key: str,
        prompt: bool = False,
        commands: frozenset[str] = frozenset(),
        hint_key: str | None = "flow.hint.default",
    ) -> None:
        if name in FLOWS:
            raise ValueError(f"two flows are called {name!r}")
        self.name = name
        self.draft_type = draft
        self.title_key = title_key
        self.prompt = prompt
        self.commands = commands
        self.hint_key = hint_key
        self._adapter: TypeAdapter[D] = TypeAdapter(draft)
        self._steps: _Steps[D] = _Steps()
        self._reask: Reasker[D] | None = None
        FLOWS[name] = self

    # -- declaring steps ----------------------------------------------------------------

    def on_input(self, step: str, *kinds: Input) -> Callable[[InputStep[D]], InputStep[D]]:
        """Declare the handler of `step` for messages of these kinds."""

        def register(handler: InputStep[D]) -> InputStep[D]:
            for kind in kinds:
                self._steps.inputs[(step, kind)] = handler
            return handler

        return register

    def on_text(self, step: str) -> Callable[[InputStep[D]], InputStep[D]]:
        """Declare the handler of typed text at `step`."""
        return self.on_input(step, Input.TEXT)

    def on_button(self, step: str) -> Callable[[ButtonStep[D]], ButtonStep[D]]:
        """Declare the handler of the buttons of `step`'s question (it gets the payload)."""

        def register(handler: ButtonStep[D]) -> ButtonStep[D]:
            self._steps.buttons[step] = handler
            return handler

        return register

    def reasker(self, handler: Reasker[D]) -> Reasker[D]:
        """Declare how the current step's question is asked again."""
        self._reask = handler
        return handler

    # -- running ------------------------------------------------------------------------

    def timeout(self, settings: Settings) -> timedelta:
        """How long the flow waits for an answer."""
        minutes = (
            settings.bot.prompt_timeout_minutes
            if self.prompt
            else settings.bot.flow_timeout_minutes
        )
        return timedelta(minutes=minutes)

    def dump(self, draft: D) -> dict[str, Any]:
        """The draft as JSON-ready values."""
        data = self._adapter.dump_python(draft, mode="json")
        if not isinstance(data, dict):
            raise TypeError(f"the draft of flow {self.name!r} must be a dataclass")
        return data

    def start(self, draft: D, step: str) -> Run[D]:
        """A new run (nothing is written until it asks or saves)."""
        return Run(self, draft=draft, step=step, nonce=new_nonce())

    def resume(self, state: FlowState) -> Run[D] | None:
        """The run a row describes, or None when its draft no longer fits the code."""
        try:
            draft = self._adapter.validate_python(state.draft)
        except ValidationError:
            _log.warning("flow %s: a saved draft no longer fits; dropped", self.name)
            return None
        return Run(self, draft=draft, step=state.step, nonce=state.nonce)

    def input_handler(self, step: str, kind: Input) -> InputStep[D] | None:
        """What handles this kind of message at this step, if anything."""
        return self._steps.inputs.get((step, kind))

    def button_handler(self, step: str) -> ButtonStep[D] | None:
        """What handles the buttons of this step's question, if anything."""
        return self._steps.buttons.get(step)

    async def reask(self, update: Update, context: AsaContext, run: Run[D]) -> None:
        """Ask the current step's question again, in a fresh message. Its buttons are the
        earlier copy's (same nonce): a person who scrolls up and presses the first copy, as
        people do after the question comes twice, is not told the button is stale."""
        if self._reask is None:
            raise RuntimeError(f"flow {self.name!r} declares no reasker")
        run.reasking = True
        try:
            await self._reask(update, context, run)
        finally:
            run.reasking = False


def parse_button(data: str) -> tuple[str, str] | None:
    """(nonce, payload) of a flow button's data, or None if it is not one."""
    if not data.startswith(BUTTON_PREFIX):
        return None
    nonce, separator, payload = data[len(BUTTON_PREFIX) :].partition(":")
    if not separator or not nonce:
        return None
    return nonce, payload


def open_run(context: AsaContext) -> tuple[Flow[Any], Run[Any]] | None:
    """The person's open flow and its run, if any."""
    state = context.actor.flow
    if state is None:
        return None
    flow = FLOWS.get(state.name)
    if flow is None:
        return None
    run = flow.resume(state)
    if run is None:
        return None
    return flow, run
