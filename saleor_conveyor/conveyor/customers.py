"""Customers: which profile an event belongs to, its lock, account links and merges, opting out and back in.

An account's own profile comes first, else the guest profile of its email; never another
account's. `link_customer` follows the host's account changes and merges a guest's history in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from ..errors import ConveyorError, ErrorCode
from ..events import Customer
from ..models import (
    ConsentChange,
    ConsentSource,
    FanProfile,
    FanSurveyResponse,
    FollowUp,
    Inquiry,
    NpsResponse,
    ProfileAlias,
    Purchase,
    ReturnRequest,
    Touchpoint,
    TouchpointStatus,
    WinbackResponse,
)
from ..sql import Batch
from ._locking import profile_lock_sql, profile_qs_select_for_update, profiles_of_accounts_or_emails_for_update
from ._tables import PROFILES
from .outbox import rebuild


def fresh_profile(customer: Customer) -> FanProfile:
    """A new customer's profile, not yet written."""
    return PROFILES.new(
        email=customer.email,
        user_id=customer.user_id,
        first_name=customer.first_name,
        language_code=customer.language_code,
    )


def add_profile_lock(customer: Customer, batch: Batch, found: list[tuple], *, create: bool) -> None:
    """Queue locking the customer's profile row(s) (made first if `create` and missing); rows go to `found`.

    Whatever else should see what the lock's last holder wrote is read by later statements of the batch.
    """
    if create:  # inserted unless the account or the email has one (then it does nothing)
        PROFILES.insert([fresh_profile(customer)], batch=batch, on_conflict="ON CONFLICT DO NOTHING")
    batch.add(*profile_lock_sql(customer), found.extend)


def choose(profiles: Iterable[FanProfile], customer: Customer) -> FanProfile | None:
    """The account's own profile first, else the guest profile of its email (never another account's).

    A guest profile (no account) found by an account's own email is the history that
    `link_customer` would merge into it: an account without a profile of its own takes it over.
    """
    found = list(profiles)
    if customer.user_id is None:
        return next((p for p in found if p.email == customer.email), None)
    mine = next((p for p in found if p.user_id == customer.user_id), None)
    return mine or next((p for p in found if p.email == customer.email and p.user_id is None), None)


def email_of_another_account(customer: Customer) -> ConveyorError:
    """An account without a profile whose email is another account's profile: refused, nothing written.

    Emails are unique among profiles, so the account cannot have its own profile with that
    address, and it must never act on the other account's. Its events are recorded once its
    email is its own again (`link_customer` follows the host's email changes).
    """
    return ConveyorError(
        f"{customer.email} belongs to another account's profile.", field="email", code=ErrorCode.ALREADY_EXISTS
    )


def email_held_by_another_account(customer: Customer) -> bool:
    if customer.user_id is None:
        return False
    return (
        FanProfile.objects.filter(email=customer.email, user__isnull=False).exclude(user_id=customer.user_id).exists()
    )


def locked_profile(customer: Customer, *, create: bool = True) -> FanProfile | None:
    """The customer's profile, locked; found by account first, then by email; made if new."""
    batch = Batch()
    found: list[tuple] = []
    add_profile_lock(customer, batch, found, create=create)
    batch.flush()
    profile = choose(map(PROFILES.from_row, found), customer)
    if profile is None:
        if create:  # made if missing, yet none matched: the email is another account's profile
            raise email_of_another_account(customer)
        return None
    changed = customer_changes(profile, customer)
    if changed:
        PROFILES.update(profile, [*changed, "updated_at"])
    return profile


def customer_changes(profile: FanProfile, customer: Customer) -> list[str]:
    """Bring the profile's account link, name and language up to date (in memory); list what changed."""
    changed = []
    if customer.user_id is not None and profile.user_id is None:
        profile.user_id = customer.user_id
        changed.append("user")
    for field in ("first_name", "language_code"):
        value = getattr(customer, field)
        if value and getattr(profile, field) != value:
            setattr(profile, field, value)
            changed.append(field)
    return changed


def find_profile(
    *, user_id: int | None = None, email: str | None = None, using: str = DEFAULT_DB_ALIAS
) -> FanProfile | None:
    """A customer's profile by account or email, for readers (API, templates); `using` a replica for staff.

    With an account, the email only finds a guest profile: never another account's.
    """
    profiles = FanProfile.objects.using(using)
    if user_id is not None:
        profile = profiles.filter(user_id=user_id).first()
        if profile is not None:
            return profile
    if email:
        by_email = profiles.filter(email=email.strip().lower())
        if user_id is not None:
            by_email = by_email.filter(user__isnull=True)
        return by_email.first()
    return None


def link_customer(
    customer: Customer, *, previous_email: str | None = None, take_guest_history: bool = True
) -> FanProfile | None:
    """An account was created or changed: its guest history joins it, its email follows it.

    `take_guest_history=False` is for an account whose email is not proven yet (Saleor's
    `is_confirmed`): a guest profile with that email stays the guest's, and nothing is written,
    until the host links the account again once the email is confirmed (returns None then).
    """
    customer = customer.validate()
    if customer.user_id is None:
        raise ConveyorError("link_customer needs an account (user_id).", field="user_id")
    with transaction.atomic():
        emails = {customer.email} | ({previous_email.strip().lower()} if previous_email else set())
        found = profiles_of_accounts_or_emails_for_update(customer.user_id, emails)
        account = next((p for p in found if p.user_id == customer.user_id), None)
        same_email = next((p for p in found if p.email == customer.email and p is not account), None)
        if same_email is not None and same_email.user_id is not None:
            raise email_of_another_account(customer)
        if same_email is not None and not take_guest_history:
            return None
        if account is None and same_email is not None:
            account, same_email = same_email, None
        if account is None:
            account = FanProfile.objects.create(
                email=customer.email,
                user_id=customer.user_id,
                first_name=customer.first_name,
                language_code=customer.language_code,
            )
            return account
        if same_email is not None:
            merge_into(account, same_email)
        account.user_id = customer.user_id
        account.email = customer.email
        account.first_name = customer.first_name or account.first_name
        account.language_code = customer.language_code or account.language_code
        account.save(update_fields=["user", "email", "first_name", "language_code", "updated_at"])
        if same_email is not None:
            rebuild(account, now=timezone.now())
        return account


def merge_into(account: FanProfile, guest: FanProfile) -> None:
    """Move a guest's history into the account and delete the guest profile.

    The guest's id stays an alias of the account, so links mailed to the guest (they name
    its id, and an opt-out link must work for a year) act on the account.
    """
    keep_key = {tp.key: tp for tp in account.touchpoints.all()}
    for tp in guest.touchpoints.all():
        mine = keep_key.get(tp.key)
        if mine is None:
            continue
        # One occurrence, two rows: keep whichever went further, so nothing is sent twice.
        if _progress(tp) > _progress(mine):
            mine.delete()
        else:
            tp.delete()
    for answers in (NpsResponse, FanSurveyResponse):
        # One answer per customer per occasion, after a merge too: the account's own answer stays.
        taken = answers.objects.filter(profile=account).values("occasion")
        answers.objects.filter(profile=guest, occasion__in=taken).delete()
    for kind, occasions in _winback_occasions(account).items():
        WinbackResponse.objects.filter(profile=guest, kind=kind, occasion__in=occasions).delete()
    for model in (
        Purchase,
        Touchpoint,
        NpsResponse,
        FanSurveyResponse,
        ReturnRequest,
        Inquiry,
        WinbackResponse,
        ConsentChange,
        FollowUp,
    ):
        model.objects.filter(profile=guest).update(profile=account)
    account.badges = sorted(set(account.badges) | set(guest.badges))
    account.referral_code = account.referral_code or guest.referral_code
    opt_outs = [t for t in (account.unsubscribed_at, guest.unsubscribed_at) if t]
    account.unsubscribed_at = min(opt_outs) if opt_outs else None
    for field in ("nps", "nps_category", "nps_answered_at"):
        if guest.nps_answered_at and (not account.nps_answered_at or guest.nps_answered_at > account.nps_answered_at):
            setattr(account, field, getattr(guest, field))
    if not account.fan_degree and guest.fan_degree:
        account.fan_degree, account.liking, account.segment = guest.fan_degree, guest.liking, guest.segment
    account.save()
    ProfileAlias.objects.filter(profile=guest).update(profile=account)
    ProfileAlias.objects.create(old_profile_id=guest.pk, profile=account)
    guest.delete()


# How far a touchpoint went, for keeping the one of two rows of one occurrence that went further.
_PROGRESS = {
    TouchpointStatus.CANCELLED: 0,
    TouchpointStatus.SCHEDULED: 1,
    TouchpointStatus.SKIPPED: 2,
    TouchpointStatus.FAILED: 3,
    TouchpointStatus.SENDING: 4,
    TouchpointStatus.SENT: 5,
}


def _progress(tp: Touchpoint) -> int:
    return _PROGRESS[tp.status]


def _winback_occasions(profile: FanProfile) -> dict[str, list[str]]:
    taken: dict[str, list[str]] = {}
    for kind, occasion in WinbackResponse.objects.filter(profile=profile).values_list("kind", "occasion"):
        taken.setdefault(kind, []).append(occasion)
    return taken


def unsubscribe(profile_id: int, *, source: ConsentSource | str, now: datetime | None = None) -> FanProfile:
    """The customer opts out of marketing mail, recorded with its source; repeating it changes nothing (the
    first opt-out time stays, no second record)."""
    return _set_consent(profile_id, subscribed=False, source=source, now=now)


def resubscribe(profile_id: int, *, source: ConsentSource | str, now: datetime | None = None) -> FanProfile:
    """The customer opts back in to marketing mail, recorded with its source; touchpoints skipped meanwhile stay
    skipped (never sent late). Already subscribed: nothing changes."""
    return _set_consent(profile_id, subscribed=True, source=source, now=now)


def _set_consent(profile_id: int, *, subscribed: bool, source: ConsentSource | str, now: datetime | None) -> FanProfile:
    """One change of consent and its record in one transaction, the customer's row locked (two clicks: one)."""
    try:
        source = ConsentSource(source)
    except ValueError:
        raise ConveyorError(f"{source!r} is not a consent source.", field="source") from None
    now = now or timezone.now()
    with transaction.atomic():
        profile = profile_qs_select_for_update().filter(pk=profile_id).first()
        if profile is None:
            raise ConveyorError("No such customer.", code=ErrorCode.NOT_FOUND)
        if (profile.unsubscribed_at is None) == subscribed:
            return profile
        profile.unsubscribed_at = None if subscribed else now
        profile.save(update_fields=["unsubscribed_at", "updated_at"])
        ConsentChange.objects.create(profile=profile, subscribed=subscribed, source=source.value, created_at=now)
        return profile
