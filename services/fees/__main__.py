from services.fees.app import build_spec
from shared.http.app import run_service

run_service(build_spec)
