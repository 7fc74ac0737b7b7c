"""The notifier's signed webhooks: the routes (api.py), the use cases (use_cases.py), the
rules and models (domain.py), their SQL (store.py), the event consumer (events.py), the
sender with durable retries (dispatch.py) and the merchants' signing secrets
(merchant_secrets.py)."""
