"""Routing that every family shares: the command guard, flow buttons and flow input.

- `command_handler(entry, callback)`: the registry's rules, applied before any command runs:
  who may use it (bot/commands.py), and what it does to an open flow (InFlow).
- `flow_button`: every `~<nonce>:<payload>` button; the nonce must be the open flow's.
- `route_message`: a message that is not a command goes to the open flow, else to the
  location check-in, else gets a hint.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import ReplyKeyboardRemove, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.commands import Command, InFlow
from bot.context import AsaContext
from bot.flows import FLOWS, Flow, Input, Run, input_of, open_run, parse_button
from bot.handlers.updates import message_of, query_of

_log = logging.getLogger(__name__)

Callback = Callable[[Update, AsaContext], Awaitable[Any]]

# Set by the check-in family: what a shared location outside any flow does.
_location_handler: Callback | None = None


def set_location_handler(callback: Callback) -> None:
    """The handler of a location shared outside a flow (check-in by location)."""
    global _location_handler
    _location_handler = callback


# ---------------------------------------------------------------------------------------------
# Commands


def command_handler(entry: Command, callback: Callback) -> CommandHandler[AsaContext, None]:
    """A CommandHandler that applies the registry's rules before `callback`."""

    async def guarded(update: Update, context: AsaContext) -> None:
        """Refuse, or settle the open flow, then run the command."""
        actor = context.actor
        if not entry.allowed(actor.access, registered=actor.registered):
            await _refuse(update, context, entry)
            return
        flow = FLOWS.get(actor.flow.name) if actor.flow is not None else None
        if flow is not None and entry.name not in flow.commands:
            if entry.in_flow is InFlow.CANCELS:
                await leave_flow(context, key="flow.cancelled")
                return
            if entry.in_flow is InFlow.ENDS:
                # A prompt is only a waiting question: it goes quietly.
                await leave_flow(context, key=None if flow.prompt else "flow.left")
        await callback(update, context)
        if entry.in_flow is InFlow.KEEPS:
            await reask_open_flow(update, context)

    guarded.__doc__ = callback.__doc__
    return CommandHandler(entry.name, guarded)


async def _refuse(update: Update, context: AsaContext, entry: Command) -> None:
    """Say why this person cannot use the command."""
    key = "error.not_allowed"
    if entry.registered and not context.actor.registered and entry.capability is None:
        key = "error.not_registered"
    await message_of(update).reply_text(context.t(key))


async def leave_flow(context: AsaContext, *, key: str | None) -> None:
    """End the open flow and tell the person (key: flow.left, flow.cancelled, or None)."""
    state = context.actor.flow
    if state is None:
        return
    flow = FLOWS.get(state.name)
    title = context.t(flow.title_key) if flow is not None else ""
    run = flow.resume(state) if flow is not None else None
    if run is not None:
        await run.end(context)
    else:
        from bot.usecases.scope import end_flow

        await end_flow(context.db, telegram_id=context.actor.telegram_id, now=context.clock.now())
    if key is not None:
        # A step may have shown a reply keyboard (share my phone, share my location): it goes
        # with the flow, or pressing it later would act outside any flow.
        await context.bot.send_message(
            context.actor.telegram_id,
            context.t(key, flow=title),
            reply_markup=ReplyKeyboardRemove(),
        )


async def reask_open_flow(update: Update, context: AsaContext) -> None:
    """Ask the open flow's current question again (after /help or /lang)."""
    opened = open_run(context)
    if opened is None:
        return
    flow, run = opened
    await flow.reask(update, context, run)
    await save_if_changed(context, run)


async def save_if_changed(context: AsaContext, run: Run[Any]) -> None:
    """Write the run's row if a step changed it without asking a question."""
    if run.dirty:
        await run.save(context)


# ---------------------------------------------------------------------------------------------
# Flow buttons and flow input


async def flow_button(update: Update, context: AsaContext) -> None:
    """A button of a flow's question: only the open flow's latest question's buttons work."""
    query, data = query_of(update)
    parsed = parse_button(data)
    opened = open_run(context)
    if parsed is None or opened is None or parsed[0] != opened[1].nonce:
        await query.answer(context.t("error.stale_button"))
        return
    flow, run = opened
    handler = flow.button_handler(run.step)
    if handler is None:
        await query.answer(context.t("error.stale_button"))
        return
    await handler(update, context, run, parsed[1])
    await save_if_changed(context, run)


async def flow_input(update: Update, context: AsaContext) -> bool:
    """Give a message to the open flow; False when the person is in no flow."""
    state = context.actor.flow
    if state is None:
        return False
    opened = open_run(context)
    if opened is None:
        # A flow this version no longer knows, or a draft that no longer fits: start over.
        await leave_flow(context, key="flow.gone")
        return True
    flow, run = opened
    kind = input_of(update)
    handler = flow.input_handler(run.step, kind)
    if handler is None and kind is Input.LOCATION and _location_handler is not None:
        # A location is a check-in wherever the step does not ask for one; the flow waits.
        return False
    if handler is None:
        await hint(update, context, flow, run)
    else:
        await handler(update, context, run)
    await save_if_changed(context, run)
    return True


async def hint(update: Update, context: AsaContext, flow: Flow[Any], run: Run[Any]) -> None:
    """Input this step cannot use: a short hint (unless the flow has none), then the question."""
    if flow.hint_key is not None:
        await message_of(update).reply_text(context.t(flow.hint_key))
    await flow.reask(update, context, run)


async def route_message(update: Update, context: AsaContext) -> None:
    """A message that is not a command: the open flow, a location check-in, or a hint."""
    message = update.effective_message
    if message is None:
        return
    if update.edited_message is not None:
        # Edits are ignored, except live locations, which arrive as edits every few seconds.
        if message.location is not None and _location_handler is not None:
            await _location_handler(update, context)
        return
    if await flow_input(update, context):
        return
    if message.location is not None and _location_handler is not None:
        await _location_handler(update, context)
        return
    await message.reply_text(context.t("fallback.not_understood"))


def flow_button_handler() -> CallbackQueryHandler[AsaContext, None]:
    """The one handler of every flow's buttons."""
    return CallbackQueryHandler(flow_button, pattern=r"^~")
