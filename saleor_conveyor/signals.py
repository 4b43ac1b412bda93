"""Signals other code connects to in order to extend the conveyor. All are sent after commit."""

from django.dispatch import Signal

# profile, previous (FanStage | None), stage (FanStage | None)
stage_changed = Signal()
# touchpoint_ids: list[int], profile_id: int, touchpoints: list[Touchpoint] (as committed: id, kind, due_at)
touchpoint_scheduled = Signal()
# response (NpsResponse), profile (FanProfile)
nps_recorded = Signal()
