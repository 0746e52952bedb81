"""The async_client strategy: every outside call through a maintained asyncio client.

The tutorial's clients (tornado-redis, tornadis, asyncmongo, momoko, Pika's
TornadoConnection...) are dead: since Tornado 5 runs on asyncio, any asyncio
client works, so this project uses the maintained ones:
{%- if cookiecutter.__broker == "none" %}
Tornado's own AsyncHTTPClient for an HTTP upstream (upstream.py).
{%- elif cookiecutter.__broker == "redis" %}
redis.asyncio, part of redis-py (redis_channels.py).
{%- else %}
aio-pika for RabbitMQ (amqp_channels.py).
{%- endif %}
"""

{% if cookiecutter.__broker == "none" -%}
from .upstream import make_strategy

__all__ = ["make_strategy"]
{% else -%}
from .{{ {"redis": "redis_channels", "rabbitmq": "amqp_channels"}[cookiecutter.__broker] }} import DEFAULT_URL, SERVICE, URL_VARIABLE, make_strategy

__all__ = ["DEFAULT_URL", "SERVICE", "URL_VARIABLE", "make_strategy"]
{% endif -%}
