"""Connecting to RabbitMQ with aio-pika: a failed or cancelled connect leaves nothing behind."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aio_pika.connection import make_url


async def connect_robust(
    url: str, timeout: float, reconnect_interval: float = 1.0
) -> AbstractRobustConnection:
    """`aio_pika.connect_robust`, closed again when the first connect fails or is cancelled.

    aio-pika's reconnect loop starts with the first attempt and, when that
    attempt is cancelled (a shutdown while the broker is down), it goes on
    retrying and swallows every later cancellation until `close()` is called:
    shutdown would hang. aio-pika 10.2, https://github.com/mosquito/aio-pika/issues/414
    """
    connection = aio_pika.RobustConnection(make_url(url, reconnect_interval=reconnect_interval))
    try:
        await connection.connect(timeout=timeout)
    except BaseException:
        await connection.close()
        raise
    return connection
