"""The notifier's e-mail: the `email.requested` consumer (events.py), the message and its
rules (domain.py), the record of sends and the per-address cap (store.py), SMTP (mailer.py)."""
