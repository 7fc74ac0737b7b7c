"""The payment use cases, one module per operation, each read top to bottom:

    create    a pending payment and its payment.created event
    confirm   charge it through the rail the payer chose, record the outcome
    act       the payer's answer to a step the rail asked for (OTP, 3-D Secure)
    cancel    end a pending or processing payment
    refund    give back all or part of a completed one
    expire    the sweep that cancels pending payments whose session ended
    rail      what an asynchronous rail sends later (its callback, its time-out)

They decide with the Payment (domain.py: its rules raise PaymentRefused) and write
through the store adapter (payment_writes.py: `Locked` in a unit of work, or `Shared`
for calls written together); none knows HTTP. `record` is how each status change is
written with its event and history row.
"""
