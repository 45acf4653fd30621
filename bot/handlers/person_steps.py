"""The person-field steps that registration, /profile and /walkin share: one implementation each.

A flow that asks for a person's details makes one `PersonSteps(flow, voice, person=..., done=...)`.
That declares the flow's steps for who the person is (participant type), their agency, name,
phone, district and volunteer role; asks them in the voice's order; and hands over to the
flow's own `done` step (its summary) once every answer is in. The voice says how the questions
are worded (a person registering themselves, or staff entering someone at the door), whether
the "share my phone number" button is offered, and whether the phone may be left out.

The rules (which participant type gives which field, what a valid name or number is) live in
bot/services/registration.py; this module asks, takes the answers and shows them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from telegram import (
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bot.context import AsaContext
from bot.data.districts import District, Geography
from bot.flows import ButtonStep, Flow, Input, Run
from bot.handlers.updates import message_of, query_of, text_of
from bot.i18n import Translator, terms
from bot.services import registration as fields
from bot.services.registration import (
    REGISTRATION_ORDER,
    WALKIN_ORDER,
    Field,
    PersonDraft,
    UnknownChoice,
)
from bot.services.validation import InvalidName, InvalidPhone, format_phone

D = TypeVar("D")
Step = Callable[[Update, AsaContext, Run[D]], Awaitable[None]]
Rows = list[list[tuple[str, str]]]

DISTRICT_PAGE_SIZE = 10
EDIT = "edit:"
SUMMARY = "summary"


@dataclass(frozen=True)
class Voice:
    """How a flow asks for a person's details."""

    prefix: str  # questions are f"{prefix}.ask.{field}"
    order: tuple[Field, ...]
    contact: bool  # offer Telegram's "share my phone number" button
    phone_optional: bool


# A person registering (or editing their profile) answers for themselves.
SELF = Voice("reg", REGISTRATION_ORDER, contact=True, phone_optional=False)
# Staff enter someone without Telegram at the door.
DOOR = Voice("walkin", WALKIN_ORDER, contact=False, phone_optional=True)


# ---------------------------------------------------------------------------------------------
# Showing answers


def type_label(t: Translator, value: str) -> str:
    """A participant type, as every screen names it."""
    return t(terms.participant_type(value))


def agency_label(t: Translator, value: str) -> str:
    """An agency, as every screen names it."""
    return t(terms.agency(value))


def role_label(t: Translator, value: str) -> str:
    """A volunteer role, as every screen names it."""
    return t(terms.volunteer_role(value))


Choice = tuple[
    tuple[str, ...], Callable[[Translator, str], str], Callable[[PersonDraft, str], None]
]
# The fields answered by a button: their values, how each is named, how it is taken.
CHOICES: dict[Field, Choice] = {
    Field.TYPE: (fields.PARTICIPANT_TYPES, type_label, fields.choose_type),
    Field.AGENCY: (fields.AGENCIES, agency_label, fields.choose_agency),
    Field.ROLE: (fields.VOLUNTEER_ROLES, role_label, fields.choose_role),
}


def district_label(t: Translator, district: District, geo: Geography) -> str:
    """A district's name, with its zone when it has one."""
    name = district.name(t.lang)
    zone = geo.zone(district.zone) if district.zone is not None else None
    if zone is None:
        return name
    return t("person.district.with_zone", district=name, zone=zone.name(t.lang))


def masked_phone(phone: str) -> str:
    """A number as Thai people write it, with the middle hidden: "08x-xxx-5678"."""
    shown = format_phone(phone)
    total = sum(ch.isdigit() for ch in shown)
    out, seen = [], 0
    for ch in shown:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= 2 or seen > total - 4 else "x")
        else:
            out.append(ch)
    return "".join(out)


def summary_lines(t: Translator, draft: PersonDraft, geo: Geography) -> list[str]:
    """The answers, one per line (a person's own or a walk-in's)."""
    none = t("person.summary.none")
    kind = draft.participant_type
    lines = [
        t("person.summary.name", value=draft.full_name or none),
        t("person.summary.phone", value=format_phone(draft.phone) if draft.phone else none),
        t("person.summary.type", value=type_label(t, kind) if kind else none),
    ]
    if fields.needs_agency(kind):
        value = agency_label(t, draft.agency) if draft.agency else none
        lines.append(t("person.summary.agency", value=value))
    district = geo.district(draft.district_code) if draft.district_code else None
    value = district_label(t, district, geo) if district else none
    lines.append(t("person.summary.district", value=value))
    if fields.needs_role(kind):
        value = role_label(t, draft.volunteer_role) if draft.volunteer_role else none
        lines.append(t("person.summary.role", value=value))
    return lines


def edit_rows(t: Translator, draft: PersonDraft, order: Sequence[Field]) -> Rows:
    """A button to change each field that applies, two a row."""
    edits = [
        (t(f"person.edit.{which.value}"), f"{EDIT}{which.value}")
        for which in order
        if fields.applies(which, draft)
    ]
    return [edits[i : i + 2] for i in range(0, len(edits), 2)]


# ---------------------------------------------------------------------------------------------
# The steps


class PersonSteps(Generic[D]):
    """The person-field steps of one flow (see the module docstring)."""

    def __init__(
        self,
        flow: Flow[D],
        voice: Voice,
        *,
        person: Callable[[D], PersonDraft],
        done: Step[D],
    ) -> None:
        self.flow = flow
        self.voice = voice
        self.person = person
        self.done = done
        for which in CHOICES:
            flow.on_button(which)(self._choice_button(which))
        flow.on_text(Field.NAME)(self._name_typed)
        flow.on_text(Field.PHONE)(self._phone_typed)
        flow.on_button(Field.PHONE)(self._phone_skipped)
        if voice.contact:
            flow.on_input(Field.PHONE, Input.CONTACT)(self._contact_shared)
        flow.on_text(Field.DISTRICT)(self._district_typed)
        flow.on_button(Field.DISTRICT)(self._district_button)

    def handles(self, step: str) -> bool:
        """Whether `step` is one of these steps."""
        return step in Field._value2member_map_

    async def reask(self, context: AsaContext, run: Run[D]) -> bool:
        """Ask the current field again; False when the flow is at a step of its own."""
        if not self.handles(run.step):
            return False
        await self.ask(context, run, Field(run.step))
        return True

    # -- asking ------------------------------------------------------------------------

    async def ask(
        self, context: AsaContext, run: Run[D], which: Field, *, before: str = ""
    ) -> None:
        """Ask for one field (after `before`, a problem or a note, if any)."""
        t, draft = context.t, self.person(run.draft)
        question = t(f"{self.voice.prefix}.ask.{which.value}")
        text = f"{before}\n\n{question}" if before else question
        if which is Field.PHONE and self.voice.contact:
            await run.ask(context, text, step=which, reply_markup=self._contact_keyboard(t))
            return
        await run.ask(context, text, step=which, buttons=self._choices(t, which, draft))

    async def ask_next(
        self, update: Update, context: AsaContext, run: Run[D], *, before: str = ""
    ) -> None:
        """The first open question, or the flow's summary when every answer is in."""
        which = fields.next_field(
            self.person(run.draft), self.voice.order, phone_optional=self.voice.phone_optional
        )
        if which is None:
            await self.done(update, context, run)
            return
        await self.ask(context, run, which, before=before)

    async def redo(self, context: AsaContext, run: Run[D], field_name: str, problem: str) -> None:
        """An answer turned out invalid at the end (a damaged draft): ask for it again."""
        which = Field(field_name)
        fields.unanswer(self.person(run.draft), which)
        await self.ask(context, run, which, before=problem)

    def on_summary(self, handler: ButtonStep[D]) -> ButtonStep[D]:
        """Declare the flow's summary buttons (step "summary"); its "change this" buttons are
        taken care of here, everything else goes to `handler`."""

        async def pressed(update: Update, context: AsaContext, run: Run[D], payload: str) -> None:
            if not await self.edit(update, context, run, payload):
                await handler(update, context, run, payload)

        pressed.__doc__ = handler.__doc__
        self.flow.on_button(SUMMARY)(pressed)
        return handler

    @staticmethod
    async def finish(update: Update, context: AsaContext, run: Run[D], text: str) -> None:
        """The flow is over: the pressed message loses its buttons, then `text` is said."""
        await run.end(context)
        query, _ = query_of(update)
        await query.answer()
        await query.edit_message_reply_markup(None)
        await context.bot.send_message(context.actor.telegram_id, text)

    async def edit(self, update: Update, context: AsaContext, run: Run[D], payload: str) -> bool:
        """A summary's "change this" button: ask that field again. False if it is not one."""
        if not payload.startswith(EDIT):
            return False
        query, _ = query_of(update)
        value = payload.removeprefix(EDIT)
        if value not in Field._value2member_map_ or not fields.applies(
            Field(value), self.person(run.draft)
        ):
            await query.answer(context.t("error.stale_button"))
            return True
        await query.answer()
        await query.edit_message_reply_markup(None)
        await self.ask(context, run, Field(value))
        return True

    def _choices(self, t: Translator, which: Field, draft: PersonDraft) -> Rows:
        """The buttons that come with a field's question (one choice a row: long Thai labels)."""
        if which in CHOICES:
            values, label, _ = CHOICES[which]
            return [[(label(t, v), v)] for v in values]
        if which is Field.DISTRICT:
            return [[(t("person.district.browse"), "page:0")], *self._skip_row(t, which, draft)]
        if which is Field.PHONE:
            return self._skip_row(t, which, draft)
        return []

    def _skip_row(self, t: Translator, which: Field, draft: PersonDraft) -> Rows:
        """The "none" button, where the field may be left out."""
        if not fields.may_skip(which, draft, phone_optional=self.voice.phone_optional):
            return []
        return [[(t(f"person.skip.{which.value}"), "skip")]]

    @staticmethod
    def _contact_keyboard(t: Translator) -> ReplyKeyboardMarkup:
        """One big button that shares the person's own number."""
        return ReplyKeyboardMarkup(
            [[KeyboardButton(t("reg.phone.share_button"), request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )

    # -- buttons -----------------------------------------------------------------------

    async def _closed(self, update: Update, context: AsaContext, run: Run[D], label: str) -> None:
        """Show the chosen answer under the question (its buttons go), then go on."""
        query, _ = query_of(update)
        await query.answer()
        original = getattr(query.message, "text", None) or ""
        await query.edit_message_text(f"{original}\n\n✅ {label}")
        await self.ask_next(update, context, run)

    async def _chosen(
        self,
        update: Update,
        context: AsaContext,
        run: Run[D],
        apply: Callable[[PersonDraft], object],
        label: str,
    ) -> None:
        """A choice button: into the draft, or answered as stale when it is not a choice."""
        try:
            apply(self.person(run.draft))
        except UnknownChoice:
            query, _ = query_of(update)
            await query.answer(context.t("error.stale_button"))
            return
        await self._closed(update, context, run, label)

    def _choice_button(self, which: Field) -> ButtonStep[D]:
        """The buttons of a choice field (type, agency, role)."""
        values, label, choose = CHOICES[which]

        async def chosen(update: Update, context: AsaContext, run: Run[D], payload: str) -> None:
            shown = label(context.t, payload) if payload in values else ""
            await self._chosen(update, context, run, lambda d: choose(d, payload), shown)

        chosen.__doc__ = f"A {which.value} button."
        return chosen

    async def _phone_skipped(
        self, update: Update, context: AsaContext, run: Run[D], payload: str
    ) -> None:
        """No phone number (where it may be left out)."""
        await self._skipped(update, context, run, Field.PHONE, context.t("person.skip.phone"))

    async def _skipped(
        self, update: Update, context: AsaContext, run: Run[D], which: Field, label: str
    ) -> None:
        """ "None" for a field that may be left out (a forged one changes nothing)."""
        optional = self.voice.phone_optional
        await self._chosen(
            update, context, run, lambda d: fields.skip(d, which, phone_optional=optional), label
        )

    async def _district_button(
        self, update: Update, context: AsaContext, run: Run[D], payload: str
    ) -> None:
        """A district, a page of all districts, or "none"."""
        t, geo = context.t, context.runtime.geography
        draft = self.person(run.draft)
        if payload.startswith("page:"):
            query, _ = query_of(update)
            page = payload.removeprefix("page:")
            await query.answer()
            await query.edit_message_text(
                t("person.district.browse_title"),
                reply_markup=self._page(context, run, draft, int(page) if page.isdigit() else 0),
            )
            return
        if payload == "skip":
            await self._skipped(update, context, run, Field.DISTRICT, t("person.district.skipped"))
            return
        code = payload.removeprefix("d:")
        district = geo.district(code)
        label = district_label(t, district, geo) if district is not None else ""
        await self._chosen(
            update, context, run, lambda d: fields.choose_district(d, code, geo=geo), label
        )

    def _page(
        self, context: AsaContext, run: Run[D], draft: PersonDraft, page: int
    ) -> InlineKeyboardMarkup:
        """One page of all districts, two a row, with previous and next."""
        t = context.t
        everyone = context.runtime.geography.districts
        ordered = sorted(everyone, key=lambda d: (d.name(t.lang), d.code))
        pages = max(1, -(-len(ordered) // DISTRICT_PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        chunk = ordered[page * DISTRICT_PAGE_SIZE : (page + 1) * DISTRICT_PAGE_SIZE]
        buttons = [(d.name(t.lang), f"d:{d.code}") for d in chunk]
        rows: Rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        nav = [(f"{page + 1}/{pages}", f"page:{page}")]
        if page > 0:
            nav.insert(0, ("‹", f"page:{page - 1}"))
        if page < pages - 1:
            nav.append(("›", f"page:{page + 1}"))
        rows.append(nav)
        rows += self._skip_row(t, Field.DISTRICT, draft)
        return run.keyboard(rows)

    # -- typed answers -----------------------------------------------------------------

    async def _name_typed(self, update: Update, context: AsaContext, run: Run[D]) -> None:
        """The full name: tidied and checked, else asked again with what was wrong."""
        try:
            fields.set_name(self.person(run.draft), text_of(update))
        except InvalidName as problem:
            await self.ask(
                context, run, Field.NAME, before=context.t(f"person.name.{problem.reason}")
            )
            return
        await self.ask_next(update, context, run)

    async def _phone_typed(self, update: Update, context: AsaContext, run: Run[D]) -> None:
        """A typed phone number."""
        try:
            phone = fields.set_phone(self.person(run.draft), text_of(update))
        except InvalidPhone as problem:
            await self.ask(
                context, run, Field.PHONE, before=context.t(f"person.phone.{problem.reason}")
            )
            return
        await self._phone_saved(update, context, run, phone)

    async def _contact_shared(self, update: Update, context: AsaContext, run: Run[D]) -> None:
        """A shared contact: only the person's own number is taken."""
        contact = message_of(update).contact
        if contact is None or contact.user_id != context.actor.telegram_id:
            await self.ask(context, run, Field.PHONE, before=context.t("person.phone.not_yours"))
            return
        try:
            phone = fields.set_shared_phone(self.person(run.draft), contact.phone_number)
        except InvalidPhone:
            await self.ask(context, run, Field.PHONE, before=context.t("person.phone.invalid"))
            return
        await self._phone_saved(update, context, run, phone)

    async def _phone_saved(
        self, update: Update, context: AsaContext, run: Run[D], phone: str
    ) -> None:
        """The number is in: the share button goes away (its own message), then on."""
        if self.voice.contact:
            await message_of(update).reply_text(
                context.t("reg.phone.saved", phone=format_phone(phone)),
                reply_markup=ReplyKeyboardRemove(),
            )
        await self.ask_next(update, context, run)

    async def _district_typed(self, update: Update, context: AsaContext, run: Run[D]) -> None:
        """Part of a district's name, in Thai or English: an exact name is taken at once;
        otherwise the matches are offered as buttons."""
        t, geo = context.t, context.runtime.geography
        draft = self.person(run.draft)
        exact, found = fields.find_district(geo, text_of(update))
        if exact is not None:
            fields.choose_district(draft, exact.code, geo=geo)
            await self.ask_next(update, context, run, before=f"✅ {district_label(t, exact, geo)}")
            return
        if not found:
            await self.ask(context, run, Field.DISTRICT, before=t("person.district.none"))
            return
        rows: Rows = [[(district_label(t, d, geo), f"d:{d.code}")] for d in found]
        rows += [
            [(t("person.district.browse"), "page:0")],
            *self._skip_row(t, Field.DISTRICT, draft),
        ]
        await run.ask(context, t("person.district.matches"), step=Field.DISTRICT, buttons=rows)
