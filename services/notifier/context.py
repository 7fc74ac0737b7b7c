"""What the notifier's webhook handlers, consumer and dispatcher share."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.notifier.webhooks.dispatch import Dispatcher
from services.notifier.webhooks.merchant_secrets import SECRET_EVENTS, MerchantSecrets
from shared.crypto import SecretBox
from shared.events import UnitOfWork
from shared.events.subscriber import Subscriber
from shared.http.app import BROKER, POOL, RELAY, TOPOLOGY
from shared.http.client import InternalClient
from shared.http.middleware import SETTINGS
from shared.settings import Settings

BOX = web.AppKey("webhook_secret_box", SecretBox)
CLIENT = web.AppKey("internal_client", InternalClient)
DISPATCHER = web.AppKey("webhook_dispatcher", Dispatcher)


class Shared:
    """Filled in at start-up; the consumer's handlers are built before the app runs,
    so they reach the pool, client and dispatcher through this holder."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.box = SecretBox(settings, "webhook-secrets")
        self.client = InternalClient(settings, caller="notifier", timeout=5, retries=1)
        self.dispatcher: Dispatcher | None = None

    def wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()


def context_ctx(shared: Shared):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[BOX] = shared.box
        app[CLIENT] = shared.client
        secrets = MerchantSecrets(shared.client, app[SETTINGS].api_key_cache_seconds)
        if app.get(BROKER) is not None:
            await Subscriber(app[BROKER], app[TOPOLOGY], keys=list(SECRET_EVENTS),
                             on_event=secrets.on_event, on_resync=secrets.on_resync,
                             name="merchant-secrets").start()
        else:  # no events to hear of a regenerate: never keep a secret
            secrets.never()
        dispatcher = Dispatcher(app[POOL], app[SETTINGS], shared.box, shared.client,
                                relay=app.get(RELAY), secrets=secrets)
        shared.dispatcher = dispatcher
        app[DISPATCHER] = dispatcher
        await dispatcher.start()
        try:
            yield
        finally:
            shared.dispatcher = None
            await dispatcher.stop()
            await secrets.close()
            await shared.client.close()
    return ctx


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="notifier", relay=request.app.get(RELAY))
