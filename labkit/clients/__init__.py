"""Producer, consumer and admin helpers on confluent-kafka."""

from labkit.clients.admin import GroupDescription, Groups, TopicDescription, Topics
from labkit.clients.config import check_reachable, client_config
from labkit.clients.consumer import Consumer, read, settle
from labkit.clients.exceptions import ClientError, DeliveryError, TopicError
from labkit.clients.producer import Producer, ProduceResult, produce_all
from labkit.clients.records import Record, to_dataframe

__all__ = [
    "ClientError",
    "Consumer",
    "DeliveryError",
    "GroupDescription",
    "Groups",
    "ProduceResult",
    "Producer",
    "Record",
    "TopicDescription",
    "TopicError",
    "Topics",
    "check_reachable",
    "client_config",
    "produce_all",
    "read",
    "settle",
    "to_dataframe",
]
