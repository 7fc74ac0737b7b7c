"""The webhooks consumer: fans merchant-facing events out into deliveries, and keeps
the implicit endpoints of each merchant's and each company's webServiceUrl in step
with its account."""

from __future__ import annotations

from services.notifier.webhooks import domain, use_cases
from shared.events import Event, UnitOfWork, bind_event, handles_batches
from shared.events.payloads import CompanyCreated, MerchantCreated, MerchantUpdated
from shared.logging import get_logger

log = get_logger(__name__)


def webhook_handlers(shared) -> dict:
    """`shared` is the notifier's context holder (services/notifier/context.py)."""

    async def on_events(events: list[Event], uow: UnitOfWork) -> None:
        dispatcher = shared.dispatcher
        fanned, leased = await use_cases.fan_out(uow.conn, events, dispatcher)
        for event, created in fanned:
            bind_event(event)
            log.info("webhook_fanned_out", event_id=str(event.id), event_type=event.type,
                     deliveries=len(created))
        if leased:
            # Sent at once when the transaction commits, without a claim; given back
            # if it does not.
            uow.after_commit(lambda: dispatcher.send_leased(leased))
            uow.after_rollback(lambda: dispatcher.unreserve(leased))
        if sum(len(created) for _, created in fanned) > len(leased):
            uow.after_commit(shared.wake)  # the dispatcher must see the committed rows

    async def on_merchant(event: Event, uow: UnitOfWork) -> None:
        if event.type == "merchant.updated":
            if "webServiceUrl" not in event.payload(MerchantUpdated).changed:
                return
            merchant_id = event.payload(MerchantUpdated).merchant_id
        else:
            merchant_id = event.payload(MerchantCreated).merchant_id
        # The account is the source of truth; auth down raises and the consumer retries.
        info = await use_cases.merchant_info(shared.client, merchant_id)
        if info is None:
            return
        await use_cases.sync_merchant_endpoint(
            uow.conn, shared.box, shared.settings, merchant_id=info.merchant_id,
            company_id=info.company_id, url=info.web_service_url)

    async def on_company(event: Event, uow: UnitOfWork) -> None:
        company_id = event.payload(CompanyCreated).company_id
        if not domain.digits(company_id):
            return
        # The company's URL is read from auth, as a merchant's is (auth down: retried).
        info = await use_cases.company_info(shared.client, int(company_id))
        if info is None:
            return
        await use_cases.sync_company_endpoint(uow.conn, shared.box, shared.settings,
                                             company_id=info.company_id,
                                             url=info.web_service_url)

    on_event = handles_batches(on_events)
    handlers = {t: on_event for t in domain.EVENT_TYPES}
    handlers.update({t: on_merchant for t in domain.MERCHANT_EVENTS})
    handlers.update({t: on_company for t in domain.COMPANY_EVENTS})
    return handlers
