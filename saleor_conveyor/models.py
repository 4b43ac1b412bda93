"""The conveyor's tables. Only `conveyor/` (the service) writes them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Now
from django.utils import timezone
from django_prices.models import MoneyField

from .engine import FanDegree, FanStage, Liking, NpsCategory, WinbackKind

MONEY = {"max_digits": 12, "decimal_places": 3}


def _choices(enum) -> list[tuple[str, str]]:
    return [(member.value, member.value.replace("_", " ").title()) for member in enum]


class TouchpointKind(models.TextChoices):
    EMAIL = "EMAIL"
    COUPON = "COUPON"
    BADGE = "BADGE"
    STAFF_TASK = "STAFF_TASK"


class TouchpointStatus(models.TextChoices):
    SCHEDULED = "SCHEDULED"
    # Claimed by a worker, not yet confirmed: never sent again, resolved by the sweep.
    SENDING = "SENDING"
    SENT = "SENT"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class ReturnReason(models.TextChoices):
    DAMAGED = "DAMAGED"
    WRONG_ITEM = "WRONG_ITEM"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    CHANGED_MIND = "CHANGED_MIND"
    OTHER = "OTHER"


class ReturnStatus(models.TextChoices):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    RECEIVED = "RECEIVED"
    REFUNDED = "REFUNDED"


class InquiryTopic(models.TextChoices):
    PRODUCT = "PRODUCT"
    ORDER = "ORDER"
    SHIPPING = "SHIPPING"
    RETURN = "RETURN"
    OTHER = "OTHER"


class InquiryStatus(models.TextChoices):
    OPEN = "OPEN"
    ANSWERED = "ANSWERED"
    CLOSED = "CLOSED"


class FanProfile(models.Model):
    """One customer on the conveyor: a registered user, or a guest known by email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fan_profile",
    )
    email = models.CharField(max_length=254)  # unique: see Meta (no LIKE index needed)
    first_name = models.CharField(max_length=256, blank=True, default="", db_default="")
    language_code = models.CharField(max_length=35, blank=True, default="", db_default="")

    stage = models.CharField(max_length=16, choices=_choices(FanStage), null=True, blank=True)
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    purchase_count = models.PositiveIntegerField(default=0, db_default=0)
    currency = models.CharField(max_length=3, blank=True, default="", db_default="")
    total_spent_amount = models.DecimalField(default=0, db_default=0, **MONEY)
    total_spent = MoneyField(amount_field="total_spent_amount", currency_field="currency")
    average_order_value_amount = models.DecimalField(null=True, blank=True, **MONEY)
    average_order_value = MoneyField(amount_field="average_order_value_amount", currency_field="currency")
    lifetime_value_amount = models.DecimalField(null=True, blank=True, **MONEY)
    lifetime_value = MoneyField(amount_field="lifetime_value_amount", currency_field="currency")
    first_purchase_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)

    nps = models.PositiveSmallIntegerField(null=True, blank=True)
    nps_category = models.CharField(max_length=16, choices=_choices(NpsCategory), null=True, blank=True)
    nps_answered_at = models.DateTimeField(null=True, blank=True)
    fan_degree = models.CharField(max_length=32, choices=_choices(FanDegree), null=True, blank=True)
    liking = models.CharField(max_length=32, choices=_choices(Liking), null=True, blank=True)
    segment = models.CharField(max_length=16, blank=True, default="", db_default="")

    badges = models.JSONField(default=list, blank=True, db_default=Value([], output_field=models.JSONField()))
    referral_code = models.CharField(max_length=255, blank=True, default="", db_default="")
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        # Prefixed: Saleor looks permissions up by bare codename, so "manage_users" here would
        # duplicate Saleor's own MANAGE_USERS (see migration 0002).
        permissions = [
            ("conveyor_manage_users", "Staff: read fan profiles and inquiries (sandbox host)"),
            ("conveyor_manage_orders", "Staff: read stats and decide returns (sandbox host)"),
            ("conveyor_manage_plugins", "Staff: edit the conveyor's rule book (sandbox host)"),
        ]
        constraints = [models.UniqueConstraint(fields=["email"], name="conveyor_profile_email_unique")]
        indexes = [
            models.Index(fields=["stage"], name="conveyor_profile_stage"),
            models.Index(fields=["last_purchase_at"], name="conveyor_profile_last_buy"),
            models.Index(fields=["first_purchase_at"], name="conveyor_profile_first_buy"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.stage or 'no purchase'})"


class Purchase(models.Model):
    """The purchase ledger: one row per order, whatever happens to it later."""

    order_id = models.CharField(max_length=64)  # unique: see Meta (no LIKE index needed)
    order_number = models.CharField(max_length=64, blank=True)
    # Looked up through the (profile, placed_at) index; no separate index needed.
    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="purchases", db_index=False)
    channel = models.CharField(max_length=255)
    currency = models.CharField(max_length=3)
    total_gross_amount = models.DecimalField(**MONEY)
    total_gross = MoneyField(amount_field="total_gross_amount", currency_field="currency")
    used_voucher = models.BooleanField(default=False)
    used_sale = models.BooleanField(default=False)
    used_campaign = models.BooleanField(default=False)
    # The order is a present for someone else (the host says so; Saleor: the order's "gift" metadata).
    gift = models.BooleanField(default=False, db_default=False)
    placed_at = models.DateTimeField()
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["profile", "placed_at"], name="conveyor_purchase_history"),
            models.Index(fields=["placed_at"], name="conveyor_purchase_placed"),
            # The counted purchases in each customer's (profile, placed_at) order with what the measures read:
            # their window passes (stage flow, cohorts, monthly repeaters, rule performance) scan it, no sort.
            models.Index(
                fields=["profile", "placed_at"],
                include=["used_voucher", "used_sale", "used_campaign", "currency", "total_gross_amount"],
                condition=Q(cancelled_at__isnull=True, returned_at__isnull=True),
                name="conveyor_purchase_counted",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["order_id"], name="conveyor_purchase_order_unique"),
            models.CheckConstraint(condition=Q(total_gross_amount__gte=0), name="conveyor_purchase_total_gte_0"),
        ]

    def __str__(self) -> str:
        return f"order {self.order_number or self.order_id}"

    @property
    def discounted(self) -> bool:
        return self.used_voucher or self.used_sale or self.used_campaign

    @property
    def counts(self) -> bool:
        return self.cancelled_at is None and self.returned_at is None


class Touchpoint(models.Model):
    """The outbox: one row per occurrence of a rule for a customer, delivered at most once."""

    # Looked up through the (profile, key) unique index; no separate index needed.
    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="touchpoints", db_index=False)
    rule = models.CharField(max_length=64)
    key = models.CharField(max_length=160)
    kind = models.CharField(max_length=16, choices=TouchpointKind.choices)
    status = models.CharField(max_length=16, choices=TouchpointStatus.choices, default=TouchpointStatus.SCHEDULED)
    # When the rule wants it; `due_at` is when it goes out (later if paced by quiet hours).
    planned_at = models.DateTimeField()
    due_at = models.DateTimeField()
    order_id = models.CharField(max_length=64, null=True, blank=True)
    marketing = models.BooleanField(default=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    outcome = models.TextField(blank=True)
    detail = models.TextField(blank=True)
    # The experiment arm the customer was assigned when the row was made (engine/experiments.py): the
    # experiment id and the variant ("" for the rule's own template); a held-out row is SKIPPED, outcome "holdout".
    experiment = models.CharField(max_length=64, blank=True, default="", db_default="")
    variant = models.CharField(max_length=64, blank=True, default="", db_default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # A staff task's: who did it (the staff member's email address) and what they noted (console/tasks.py).
    done_by = models.CharField(max_length=254, blank=True, default="", db_default="")
    note = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "key"], name="conveyor_touchpoint_once"),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="SCHEDULED"), name="conveyor_touchpoint_due"),
            # rulePerformance reads sent and held-out touchpoints by due time (stats.rule_performance).
            models.Index(
                fields=["due_at"],
                condition=Q(status="SENT") | Q(status="SKIPPED", outcome="holdout"),
                name="conveyor_touchpoint_measured",
            ),
            # ... and groups them per customer and arm in this order (measures.rule_performance: no sort).
            models.Index(
                fields=["profile", "rule", "experiment", "variant", "status"],
                include=["due_at"],
                condition=Q(status="SENT") | Q(status="SKIPPED", outcome="holdout"),
                name="conveyor_touchpoint_arms",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} [{self.status}]"


# What an answer is about: its order's id, else the survey window it falls in (see engine.surveys).
OCCASION_MAX = 96


def own_occasion() -> str:
    """An answer stored without an occasion (fixtures, imports) is an occasion of its own; the service names one."""
    return f"response-{uuid.uuid4().hex}"


class NpsResponse(models.Model):
    """One NPS answer; at most one per customer per occasion, held by the database."""

    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="nps_responses")
    order_id = models.CharField(max_length=64, null=True, blank=True)
    occasion = models.CharField(max_length=OCCASION_MAX, default=own_occasion)
    channel = models.CharField(max_length=255, blank=True)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # Until when the customer may still change this answer (the survey page's one-click links), and its
    # follow-ups wait: null for an answer that is final at once (the API's).
    replaceable_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "occasion"], name="conveyor_nps_once_per_occasion"),
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=10), name="conveyor_nps_score_0_10"),
        ]
        indexes = [models.Index(fields=["created_at"], name="conveyor_nps_created")]

    def __str__(self) -> str:
        return f"NPS {self.score} from {self.profile_id}"


class FanSurveyResponse(models.Model):
    """One fan-degree answer; at most one per customer per survey window, held by the database."""

    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="fan_surveys")
    occasion = models.CharField(max_length=OCCASION_MAX, default=own_occasion)
    fan_degree = models.CharField(max_length=32, choices=_choices(FanDegree))
    liking = models.CharField(max_length=32, choices=_choices(Liking))
    segment = models.CharField(max_length=16)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "occasion"], name="conveyor_fan_survey_once_per_occasion"),
        ]

    def __str__(self) -> str:
        return f"{self.segment} from {self.profile_id}"


class WinbackResponse(models.Model):
    """A win-back answer (a lapsed customer: why they stopped) or an improvement answer (a detractor: what to
    improve); at most one per customer per survey and occasion, held by the database. Staff follow them up."""

    # Looked up through the (profile, kind, occasion) unique index; no separate index needed.
    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="winback_responses", db_index=False)
    kind = models.CharField(max_length=16, choices=[(kind.value, kind.value.title()) for kind in WinbackKind])
    occasion = models.CharField(max_length=OCCASION_MAX, default=own_occasion)
    # Codes of engine.WinbackReason (win-back) or engine.ImprovementArea (improvement), in the survey's order.
    reasons = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "kind", "occasion"], name="conveyor_winback_once"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="conveyor_winback_created"),
            models.Index(fields=["kind", "created_at"], name="conveyor_winback_kind_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} answer from {self.profile_id}"


class ConsentSource(models.TextChoices):
    """Where a customer's marketing-mail consent was changed."""

    PREFERENCES_PAGE = "preferences_page"
    ONE_CLICK = "one_click"  # the mailbox provider's unsubscribe button (RFC 8058)
    API = "api"
    STAFF = "staff"


class ConsentChange(models.Model):
    """The record of a marketing-mail opt-out or opt-in: when, and through what (no client address is kept)."""

    # Looked up through the (profile, created_at) index; no separate index needed.
    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="consent_changes", db_index=False)
    subscribed = models.BooleanField()
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["profile", "created_at"], name="conveyor_consent_history"),
            models.Index(fields=["created_at"], name="conveyor_consent_created"),
        ]

    def __str__(self) -> str:
        return f"{'subscribed' if self.subscribed else 'unsubscribed'} {self.profile_id} ({self.source})"


class ProfileAlias(models.Model):
    """A merged profile's id, so links mailed to it (they name the id) keep working on the profile it joined."""

    old_profile_id = models.BigIntegerField(primary_key=True)
    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="aliases")

    def __str__(self) -> str:
        return f"profile {self.old_profile_id} -> {self.profile_id}"


class ReturnRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="return_requests")
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="return_requests")
    reason = models.CharField(max_length=32, choices=ReturnReason.choices)
    comment = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED)
    note = models.TextField(blank=True)
    decided_by = models.CharField(max_length=254, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    host_reference = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="conveyor_return_status")]

    def __str__(self) -> str:
        return f"return {self.id} [{self.status}]"


class ReturnLine(models.Model):
    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    order_line_id = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    product_name = models.CharField(max_length=386, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="conveyor_return_line_qty_gte_1"),
            models.UniqueConstraint(fields=["request", "order_line_id"], name="conveyor_return_line_once"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x line {self.order_line_id}"


class Inquiry(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    profile = models.ForeignKey(FanProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="inquiries")
    email = models.CharField(max_length=254)
    name = models.CharField(max_length=256, blank=True)
    order_id = models.CharField(max_length=64, null=True, blank=True)
    topic = models.CharField(max_length=16, choices=InquiryTopic.choices)
    message = models.TextField()
    status = models.CharField(max_length=16, choices=InquiryStatus.choices, default=InquiryStatus.OPEN)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Staff's side (the console's Inquiries queue): an internal note the customer never sees, and when it moved.
    note = models.TextField(blank=True, default="", db_default="")
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.CharField(max_length=254, blank=True, default="", db_default="")

    class Meta:
        indexes = [
            models.Index(fields=["email", "created_at"], name="conveyor_inquiry_email"),
            models.Index(fields=["client_address", "created_at"], name="conveyor_inquiry_client"),
            models.Index(fields=["status", "created_at"], name="conveyor_inquiry_status"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} inquiry from {self.email}"


class ReplyMailStatus(models.TextChoices):
    PENDING = "PENDING"  # recorded; the mail goes out after commit
    SENT = "SENT"
    FAILED = "FAILED"  # the host's mail refused or did not answer: `mail_outcome` says what; staff may send again


class InquiryReply(models.Model):
    """Staff's answer to an inquiry, mailed to the customer after commit; a failed send stays visible here."""

    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="replies")
    at = models.DateTimeField()
    by = models.CharField(max_length=254)  # the staff member's email address
    message = models.TextField()
    mail_status = models.CharField(max_length=16, choices=ReplyMailStatus.choices, default=ReplyMailStatus.PENDING)
    mail_outcome = models.TextField(blank=True, default="")
    mail_attempts = models.PositiveSmallIntegerField(default=0)
    mailed_at = models.DateTimeField(null=True, blank=True)
    # When it was last handed to the mailer (recorded, or sent again); null on replies made before 0015: `at`.
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["inquiry", "at"], name="conveyor_inquiry_reply_at")]

    def __str__(self) -> str:
        return f"reply to {self.inquiry_id} by {self.by} [{self.mail_status}]"


class FollowUpSource(models.TextChoices):
    DETRACTOR = "DETRACTOR"  # an NPS answer of 0-6
    WINBACK = "WINBACK"  # a lapsed customer's win-back answer


class FollowUpStatus(models.TextChoices):
    OPEN = "OPEN"
    CONTACTED = "CONTACTED"
    CLOSED = "CLOSED"


class FollowUpOutcome(models.TextChoices):
    RESOLVED = "RESOLVED"
    NO_ANSWER = "NO_ANSWER"
    NOT_RESOLVABLE = "NOT_RESOLVABLE"


class FollowUp(models.Model):
    """Staff closing the loop with a customer: opened by a detractor's NPS answer or a win-back answer, exactly one
    per answer (held by the database), contacted, closed with an outcome."""

    profile = models.ForeignKey(FanProfile, on_delete=models.CASCADE, related_name="follow_ups")
    source = models.CharField(max_length=16, choices=FollowUpSource.choices)
    nps_response = models.OneToOneField(
        NpsResponse, null=True, blank=True, on_delete=models.CASCADE, related_name="follow_up"
    )
    winback_response = models.OneToOneField(
        WinbackResponse, null=True, blank=True, on_delete=models.CASCADE, related_name="follow_up"
    )
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN)
    outcome = models.CharField(max_length=16, choices=FollowUpOutcome.choices, null=True, blank=True)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    first_contact_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=254, blank=True, default="")
    updated_by = models.CharField(max_length=254, blank=True, default="")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One answer, one follow-up: the source names which answer, and only that one is set.
            models.CheckConstraint(
                condition=(
                    Q(source="DETRACTOR", nps_response__isnull=False, winback_response__isnull=True)
                    | Q(source="WINBACK", winback_response__isnull=False, nps_response__isnull=True)
                ),
                name="conveyor_follow_up_one_answer",
            ),
            models.CheckConstraint(
                condition=Q(status="CLOSED", outcome__isnull=False, closed_at__isnull=False) | ~Q(status="CLOSED"),
                name="conveyor_follow_up_closed_has_outcome",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="conveyor_follow_up_status"),
            models.Index(fields=["created_at"], name="conveyor_follow_up_created"),
        ]

    def __str__(self) -> str:
        return f"{self.source} follow-up of {self.profile_id} [{self.status}]"


class BackfillCheckpoint(models.Model):
    """Where a backfill run got to, so a stopped run resumes without counting twice."""

    name = models.CharField(max_length=64, unique=True)
    last_created_at = models.DateTimeField(null=True, blank=True)
    last_order_id = models.CharField(max_length=64, blank=True)
    processed = models.PositiveBigIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"backfill {self.name}: {self.processed} orders"


class DashboardApp(models.Model):
    """The Saleor app installed from the plugin's manifest (one row per installation, the live one last):
    Dashboard tokens are accepted only for an app registered here, and its own token is kept for the plugin."""

    app_id = models.PositiveBigIntegerField(unique=True)  # Saleor's App primary key (no foreign key: no Saleor here)
    auth_token = models.CharField(max_length=128)  # what Saleor posted to tokenTargetUrl; never shown
    saleor_api_url = models.CharField(max_length=2048, blank=True)
    saleor_domain = models.CharField(max_length=255, blank=True)
    registered_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Dashboard app {self.app_id}"


class RuleBookChange(models.Model):
    """One save of the rule book (the console's rule editor, `updateRuleBook`): who, when, the book before and
    after, what changed in words, and the rebuild that applies it to every customer's outbox (done of total).

    In the sandbox the latest row's `after` is also the rule book in force (hosts/django.py); in Saleor the
    plugin's configuration is, and these rows are its history.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    changed_by = models.CharField(max_length=254, blank=True)
    before = models.JSONField()
    after = models.JSONField()
    summary = models.JSONField(default=list, blank=True)  # ["step_day7: days 7 → 10", ...]
    rebuild_total = models.PositiveIntegerField(null=True, blank=True)  # customers when the rebuild started
    rebuild_done = models.PositiveIntegerField(default=0)
    rebuild_after_id = models.BigIntegerField(default=0)  # the last profile rebuilt: a stopped rebuild resumes here
    rebuild_started_at = models.DateTimeField(null=True, blank=True)
    rebuild_finished_at = models.DateTimeField(null=True, blank=True)
    rebuild_outcome = models.CharField(max_length=255, blank=True)  # "done", "superseded", an error

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"rule book change {self.pk} by {self.changed_by or 'unknown'}"
