"""The outbox relay's settings: OutboxRelayFunction's Environment in template.yaml, read once (saga_common.settings)."""

from dataclasses import dataclass

from saga_common.settings import FunctionSettings, load


@dataclass(frozen=True)
class OutboxRelaySettings(FunctionSettings):
    order_events_topic_arn: str  # the SNS FIFO topic of order events
    event_source: str  # the events' `source`
    poison_records_queue_url: str  # where a record that can never make an event is kept whole


def settings() -> OutboxRelaySettings:
    return load(OutboxRelaySettings)
