"""The AMQP topology, written down once.

    {ns}.events                  topic exchange; routing key = event type
    {ns}.{consumer}.{purpose}    durable quorum queue of one consumer and purpose,
                                 bound to the event types it handles
    {ns}.delay.{N}ms             fanout exchange per retry delay, feeding
    {ns}.retry.{N}ms             a quorum queue with that TTL; a message waits
                                 there, then is dead-lettered through the
                                 default exchange back to the queue named in
                                 its routing key (the consumer's own queue)
    {ns}.dlx / {queue}.dlq       where a message lands when retries run out or
                                 it cannot be parsed; kept for operators

Retry queues dead-letter through the default exchange with the original queue
as routing key, so one set of delay queues serves every consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue


@dataclass(frozen=True)
class Topology:
    namespace: str

    @property
    def exchange(self) -> str:
        return f"{self.namespace}.events"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dlx"

    def queue(self, consumer: str, purpose: str) -> str:
        return f"{self.namespace}.{consumer}.{purpose}"

    def retry_queue(self, delay_seconds: float) -> str:
        return f"{self.namespace}.retry.{int(delay_seconds * 1000)}ms"

    @staticmethod
    def dead_letter_queue(queue: str) -> str:
        return f"{queue}.dlq"

    async def declare_exchange(self, channel: AbstractChannel) -> AbstractExchange:
        return await channel.declare_exchange(
            self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)

    async def declare_consumer_queue(self, channel: AbstractChannel, consumer: str,
                                     purpose: str, bindings: list[str]) -> AbstractQueue:
        exchange = await self.declare_exchange(channel)
        dlx = await channel.declare_exchange(
            self.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True)
        name = self.queue(consumer, purpose)
        dlq = await channel.declare_queue(
            self.dead_letter_queue(name), durable=True, arguments={"x-queue-type": "quorum"})
        await dlq.bind(dlx, routing_key=name)
        queue = await channel.declare_queue(name, durable=True, arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": name,
        })
        for key in bindings:
            await queue.bind(exchange, routing_key=key)
        return queue

    def delay_exchange(self, delay_seconds: float) -> str:
        return f"{self.namespace}.delay.{int(delay_seconds * 1000)}ms"

    async def declare_delay(self, channel: AbstractChannel,
                            delay_seconds: float) -> AbstractExchange:
        """Publish to the returned exchange with routing_key=<target queue>."""
        exchange = await channel.declare_exchange(
            self.delay_exchange(delay_seconds), aio_pika.ExchangeType.FANOUT, durable=True)
        # Quorum with at-least-once dead-lettering: the hop back to the consumer's
        # queue is confirmed inside RabbitMQ, so a retried message cannot vanish.
        queue = await channel.declare_queue(self.retry_queue(delay_seconds), durable=True,
                                            arguments={
                                                "x-queue-type": "quorum",
                                                "x-message-ttl": int(delay_seconds * 1000),
                                                "x-dead-letter-exchange": "",
                                                "x-dead-letter-strategy": "at-least-once",
                                                "x-overflow": "reject-publish",
                                            })
        await queue.bind(exchange)
        return exchange
