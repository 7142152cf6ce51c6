"""The unified dispatcher: consume a queue, validate, batch across the Ray hop, reply, ack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from beds_actors.amqp import topology
from beds_actors.brokers.admission import Admission, Pending, delivery_lineage
from beds_actors.brokers.parking import (
    Parking,
    attempt_of,
    counts_returns_itself,
    returns_of,
)
from beds_actors.config import BedsConfig
from beds_actors.core.errors import RETRYABLE, BedsError, ErrorCode
from beds_actors.core.namaste import Call, Outcome
from beds_actors.core.payload import Request, decode_request, error_reply, ok_reply
from beds_actors.events.model import EVENTS_TYPE, Step, now_us
from beds_actors.events.recorder import EventRecorder
from beds_actors.events.tracer import Tracer, Where, db_detail, step
from beds_actors.registry import Registry

log = logging.getLogger("beds.broker")

# Sends one batch of calls to a store's adapter and returns one Outcome per call, in order.
BatchRunner = Callable[[str, Sequence[Call]], Awaitable[list[Outcome]]]


@dataclass
class Lane:
    """Greedy batching for one store: whatever arrived while the previous batch ran goes next."""

    store: str
    queue: list[Pending] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    """One batch's trip to the adapter and back."""

    sent_us: int
    back_us: int
    size: int


@dataclass
class DispatcherStats:
    received: int = 0
    # Deliveries RabbitMQ flagged as delivered before: their broker crashed or lost the link.
    redelivered: int = 0
    replied_ok: int = 0
    replied_error: int = 0
    dropped_no_reply_to: int = 0
    batches: int = 0
    largest_batch: int = 0
    retried: int = 0
    dead_lettered: int = 0
    restamped: int = 0
    events_written: int = 0  # events this broker stored (logs brokers)


class Dispatcher:
    """One broker instance. Lifecycle: start() → consuming; stop() drains in-flight and closes."""

    def __init__(
        self,
        cfg: BedsConfig,
        role: str,
        broker: str,
        instance: int,
        registry: Registry,
        run_batch: BatchRunner,
    ) -> None:
        self.cfg = cfg
        self.role = role
        self.broker = broker
        self.bcfg = cfg.broker(role, broker)
        self.instance = instance
        self.registry = registry
        self.run_batch = run_batch
        self.origin = cfg.routing_key(broker, role)
        self.admission = Admission(cfg, self.bcfg, self.origin, registry)
        self.max_attempts = cfg.max_attempts(broker, role)
        self.stats = DispatcherStats()
        self.parking = Parking(cfg, role, broker)
        self.recorder = EventRecorder(cfg, cfg.events.route)
        self.tracer = Tracer(self.recorder, Where(cfg.node.name, role, broker, instance))
        self._lanes: dict[str, Lane] = {}
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._inflight = 0  # received and not yet acked
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def name(self) -> str:
        """Stable, readable instance name, also the Ray actor name."""
        return f"beds/{self.role}/{self.broker}/{self.instance}"

    @property
    def inflight(self) -> int:
        """Messages received and not yet acked."""
        return self._inflight

    async def start(self) -> None:
        """Connect, declare this broker's queues, and start consuming with manual acks."""
        bcfg = self.bcfg
        self._connection = await topology.connect(self.cfg.amqp, self.name)
        # on_return_raises: a retry or DLQ publish that no queue takes must fail, not vanish.
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self.parking.channel = self._channel
        await self._channel.set_qos(prefetch_count=bcfg.prefetch)
        exchange = await topology.declare_exchange(self._channel, self.cfg.amqp)
        self._queue = await topology.declare_broker_queue(
            self._channel, self.cfg, self.broker, exchange, self.role
        )
        await self.recorder.start(self._connection)
        self._consumer_tag = await self._queue.consume(self._on_message, no_ack=False)
        log.info("%s consuming %s (prefetch %d)", self.name, self._queue.name, bcfg.prefetch)

    async def stop(self) -> None:
        """Stop consuming, answer everything already received, then close the connection."""
        if self._queue is not None and self._consumer_tag is not None:
            await self._queue.cancel(self._consumer_tag)
            self._consumer_tag = None
        await self._drained.wait()
        for lane in self._lanes.values():
            if lane.task is not None:
                lane.task.cancel()
                await asyncio.gather(lane.task, return_exceptions=True)
        await self.recorder.stop()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        log.info("%s stopped: %s", self.name, self.stats)

    # --- per message -----------------------------------------------------------------

    def _settled(self, count: int) -> None:
        self._inflight -= count
        if self._inflight == 0:
            self._drained.set()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._inflight += 1
        self._drained.clear()
        received = now_us()
        queued = False
        try:
            self.stats.received += 1
            if message.redelivered:
                self.stats.redelivered += 1
            if await self._guard_redelivery(message):
                return
            pending = await self._admit(message, received)
            if pending is None:
                return
            store = self.registry.templates[pending.calls[0].template].store
            lane = self._lane(store)
            lane.queue.append(pending)
            lane.wake.set()
            queued = True
        except Exception as exc:  # never let one message kill the consumer; answer it instead
            log.exception("%s: unexpected error handling a message", self.name)
            lin = delivery_lineage(message, None)
            body = error_reply(lin.request_id, None, ErrorCode.INTERNAL_ERROR, repr(exc))
            with contextlib.suppress(Exception):
                await self._reply(message, body, ok=False)
                await message.ack()
        finally:
            if not queued:
                self._settled(1)

    async def _admit(self, message: AbstractIncomingMessage, received: int) -> Pending | None:
        """Admit a delivery; a refused one is answered (or parked, for events) and acked here."""
        if message.type == EVENTS_TYPE and self.admission.takes_events:
            try:
                return self.admission.events(message, received)
            except BedsError as exc:  # a BEDS process sent what this broker cannot store
                await self.parking.dead_letter(message, exc.code.value, exc.message, 1)
                self.stats.dead_lettered += 1
                await message.ack()
                return None
        request: Request | None = None
        try:
            request = decode_request(message.body, self.cfg.limits.max_body_bytes)
            lin = delivery_lineage(message, request)
            return self.admission.request(message, request, lin, received)
        except BedsError as exc:
            lin = delivery_lineage(message, request)
            parent = request.parent_event_id if request else None
            body = error_reply(lin.request_id, parent, exc.code, exc.message)
            await self._reply(message, body, ok=False)
            self.tracer.delivery(
                lin,
                call=None,
                attempt=attempt_of(message),
                message_id=message.message_id,
                started_us=received,
                ended_us=now_us(),
                status="error",
                code=exc.code.value,
                detail=exc.message,
            )
            await message.ack()
            return None

    async def _guard_redelivery(self, message: AbstractIncomingMessage) -> bool:
        """Park a request that keeps coming back unanswered (poison); True when handled here.

        A request is redelivered when the broker holding it died or lost RabbitMQ. Quorum
        queues count that themselves; on classic queues the count travels in a header, so a
        redelivered request is re-published once with the count and the original acked.
        """
        returns = returns_of(message)
        if returns >= self.cfg.retry.max_deliveries:
            text = (
                f"request was delivered {returns + 1} times without being answered (its broker "
                f"crashed or lost RabbitMQ each time); parked in {self.parking.dlq}"
            )
            await self.parking.dead_letter(
                message, "poison_message", text, attempt_of(message), returns
            )
            self.stats.dead_lettered += 1
            event_id = delivery_lineage(message, None).request_id
            body = error_reply(event_id, None, ErrorCode.INTERNAL_ERROR, text)
            await self._reply(message, body, ok=False)
            await message.ack()
            return True
        if message.redelivered and not counts_returns_itself(message):
            await self.parking.restamp(message, returns)
            self.stats.restamped += 1
            await message.ack()
            return True
        return False

    # --- batches ---------------------------------------------------------------------

    def _lane(self, store: str) -> Lane:
        lane = self._lanes.get(store)
        if lane is None:
            lane = self._lanes[store] = Lane(store)
            lane.task = asyncio.create_task(self._drain(lane), name=f"{self.name}/lane/{store}")
        return lane

    async def _drain(self, lane: Lane) -> None:
        """Greedy batching: the next batch is everything that queued while the last one ran.

        Normally one batch is in flight, which keeps batches large. A batch that runs past
        `batch_stall_ms` (a slow procedure, a sick database) does not hold up the queue: the
        next batch goes out beside it, up to `max_batches_in_flight`.
        """
        bcfg = self.bcfg
        stall_s = bcfg.batch_stall_ms / 1000
        running: set[asyncio.Task[None]] = set()
        while True:
            await lane.wake.wait()
            lane.wake.clear()
            while lane.queue:
                if running:
                    done, _ = await asyncio.wait(running, timeout=stall_s)
                    running -= done
                if len(running) >= bcfg.max_batches_in_flight:
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    running -= done
                batch = lane.queue[: bcfg.max_batch]
                del lane.queue[: bcfg.max_batch]
                task = asyncio.create_task(self._run(lane.store, batch))
                running.add(task)
                task.add_done_callback(running.discard)

    async def _run(self, store: str, batch: list[Pending]) -> None:
        """Settle each delivery (reply, retry or DLQ copy confirmed), then ack it: none is lost."""
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        try:
            sent = now_us()
            outcomes = iter(await self._outcomes(store, batch))
            hop = Hop(sent, now_us(), len(batch))
            results = await asyncio.gather(
                *(
                    self._settle_and_ack(item, [next(outcomes) for _ in item.calls], hop)
                    for item in batch
                ),
                return_exceptions=True,
            )
            unsettled = [(item, r) for item, r in zip(batch, results, strict=True) if r is not None]
            if unsettled:
                # Typically the connection dropped: unacked messages return to the queue and
                # are redelivered. If the channel survived, hand them back now.
                log.warning(
                    "%s: %d of a batch of %d not settled (%r); requeued",
                    self.name,
                    len(unsettled),
                    len(batch),
                    unsettled[0][1],
                )
                for item, _ in unsettled:
                    with contextlib.suppress(Exception):
                        await item.message.nack(requeue=True)
        finally:
            self._settled(len(batch))

    async def _settle_and_ack(self, item: Pending, outcomes: list[Outcome], hop: Hop) -> None:
        # Ack as soon as this delivery's own reply/retry/DLQ copy is confirmed: a crash between
        # the two is the only way a request is answered twice, so the gap is kept short.
        if item.is_events:
            await self._settle_events(item, outcomes)
        else:
            await self._settle(item, outcomes[0], hop)
        await item.message.ack()

    async def _settle(self, item: Pending, outcome: Outcome, hop: Hop) -> None:
        """Reply, schedule a retry with backoff, or park in the DLQ, as the outcome calls for.

        Each step is timed and travels with the delivery's one event (events/model.py).
        """
        lin, attempt = item.lineage, item.attempt
        assert lin is not None
        steps = [step("b", hop.sent_us, hop.back_us, f"{hop.size} delivery(ies) in the batch")]
        if outcome.started_us:
            steps.append(
                step("c", outcome.started_us, outcome.ended_us, db_detail(outcome), outcome)
            )
        status, code, text = "ok", ErrorCode(outcome.code) if outcome.code else None, ""
        if code is None:
            body = ok_reply(lin.request_id, item.client_parent, outcome.data)
        else:
            status, text = "error", outcome.message or ""
            if code in RETRYABLE and attempt < self.max_attempts:
                started = now_us()
                await self.parking.retry(item.message, attempt + 1, text, lin.request_id)
                self.stats.retried += 1
                delay = self.cfg.retry.delay_ms(attempt + 1)
                steps.append(step("s", started, now_us(), f"try {attempt + 1} in {delay} ms"))
                self._delivered(item, "retry", code, text, steps)
                return
            if code in RETRYABLE:
                started = now_us()
                await self.parking.dead_letter(item.message, code.value, text, attempt)
                self.stats.dead_lettered += 1
                steps.append(step("d", started, now_us(), self.parking.dlq))
                text = f"{text} — gave up after {attempt} attempts; parked in {self.parking.dlq}"
            body = error_reply(lin.request_id, item.client_parent, code, text)
        started = now_us()
        await self._reply(item.message, body, ok=code is None)
        steps.append(step("y", started, now_us(), "" if item.message.reply_to else "no reply_to"))
        self._delivered(item, status, code, text, steps)

    def _delivered(
        self, item: Pending, status: str, code: ErrorCode | None, detail: str, steps: list[Step]
    ) -> None:
        assert item.lineage is not None
        self.tracer.delivery(
            item.lineage,
            call=item.calls[0],
            attempt=item.attempt,
            message_id=item.message.message_id,
            started_us=item.received_us,
            ended_us=now_us(),
            status=status,
            code=code.value if code else "",
            detail=detail,
            steps=steps,
        )

    async def _settle_events(self, item: Pending, outcomes: list[Outcome]) -> None:
        """Stored, or retried while the logger store is away, or parked: never dropped."""
        (outcome,) = outcomes
        if outcome.ok:
            self.stats.events_written += len(item.calls[0].rows)
            return
        code, text = ErrorCode(outcome.code or ErrorCode.INTERNAL_ERROR), outcome.message or ""
        if code in RETRYABLE and item.attempt < self.max_attempts:
            await self.parking.retry(item.message, item.attempt + 1, text, "")
            self.stats.retried += 1
            return
        # Parked whole; replaying it stores each event once (the guids derive from event ids).
        await self.parking.dead_letter(item.message, code.value, text, item.attempt)
        self.stats.dead_lettered += 1

    async def _outcomes(self, store: str, batch: list[Pending]) -> list[Outcome]:
        calls = [call for item in batch for call in item.calls]
        budget = self.cfg.limits.request_timeout_s + 5.0
        try:
            async with asyncio.timeout(budget):
                return await self.run_batch(store, calls)
        except Exception as exc:  # the adapter actor died, hung, or its store is gone
            log.warning("%s: batch of %d to store %s failed: %r", self.name, len(calls), store, exc)
            message = f"store {store!r} adapter unavailable: {type(exc).__name__}"
            return [Outcome(code=ErrorCode.BACKEND_UNAVAILABLE, message=message)] * len(calls)

    async def _reply(
        self, message: AbstractIncomingMessage, body: bytes, *, ok: bool = True
    ) -> None:
        """Publish a reply to `reply_to` and wait for the broker's confirm."""
        if not message.reply_to:
            # Fire-and-forget request: it was executed; there is nobody to answer.
            self.stats.dropped_no_reply_to += 1
            return
        assert self._channel is not None
        reply = aio_pika.Message(
            body,
            correlation_id=message.correlation_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        )
        # mandatory=False: a client that left before its reply must not fail the batch.
        await self._channel.default_exchange.publish(
            reply, routing_key=message.reply_to, mandatory=False
        )
        if ok:
            self.stats.replied_ok += 1
        else:
            self.stats.replied_error += 1
