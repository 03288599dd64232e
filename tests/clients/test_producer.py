"""Producer internals that matter for speed and resources, without a broker."""

from __future__ import annotations

import gc
import weakref

from labkit.clients.producer import Producer, key_function


def test_one_delivery_callback_and_no_reference_cycle():
    gc.disable()  # only reference counting: a cycle would keep the producer alive
    try:
        producer = Producer("127.0.0.1:9")  # nothing listens there; nothing is sent
        # the same callable for every record (a bound method per record costs the garbage
        # collector about 1 us a record), holding the counters rather than the producer
        assert producer._on_delivery is producer._on_delivery
        assert producer.acked == {} and producer.failures == []
        ref = weakref.ref(producer)
        del producer
        assert ref() is None  # librdkafka's handle and threads go with it
    finally:
        gc.enable()


def test_key_function_takes_a_field_name_a_callable_or_nothing():
    assert key_function("orderId")({"orderId": "O1"}) == "O1"
    assert key_function(len)("abc") == 3
    assert key_function(None)({"orderId": "O1"}) is None
