from services.billing.app import build_spec
from shared.http.app import run_service

# Guarded: a process spawned by this one (billing matches reconciliation files in
# one) imports this module again and must not start a second service.
if __name__ == "__main__":
    run_service(build_spec)
