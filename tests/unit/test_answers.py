"""The answer check (shared/http/answers.py): a documented route's success that its
model does not describe is a bug the test suite must see, whatever the family."""

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared.http.answers import Answer, AnswerNotAsDocumented, answer_checker, check, result_of
from shared.http.openapi import RouteDoc, build_spec


class Thing(Answer):
    thing_id: str
    amount: str
    count: int
    note: str | None = None


PAY = RouteDoc("GET", "/api/v2/things/{thingId}", "A thing", response=Thing)
NORAH = RouteDoc("GET", "/api/v1/things", "Things", response=list[Thing])


def _norpay(result):
    return {"status": "1", "message": "OK", "result": result}


def test_an_answer_as_documented_passes():
    check(PAY, _norpay({"thingId": "t_1", "amount": "100", "count": 2}))
    check(NORAH, {"statusCode": 200, "data": [{"thingId": "t_1", "amount": "1", "count": 0,
                                                "note": None}]})


@pytest.mark.parametrize("result, why", [
    ({"thingId": "t_1", "amount": "100", "count": 2, "secret": "x"}, "extra"),
    ({"thingId": "t_1", "amount": 100, "count": 2}, "amount"),   # money as a number
    ({"thingId": "t_1", "amount": "100", "count": "2"}, "count"),  # a number as a string
    ({"thingId": "t_1", "count": 2}, "amount"),                   # a required field missing
    ([{"thingId": "t_1", "amount": "100", "count": 2}], "Thing"),  # a list for one
])
def test_an_answer_its_model_does_not_describe_is_refused(result, why):
    with pytest.raises(AnswerNotAsDocumented) as caught:
        check(PAY, _norpay(result))
    assert why in str(caught.value) and "/api/v2/things/{thingId}" in str(caught.value)


def test_each_family_is_checked_inside_its_envelope():
    assert result_of(PAY, _norpay({"a": 1})) == {"a": 1}
    assert result_of(NORAH, {"data": [1], "pagination": {}}) == [1]
    prices = RouteDoc("GET", "/prices/{appId}", "Prices", response=list[Thing])
    assert result_of(prices, {"data": [2]}) == [2]
    bare = RouteDoc("POST", "/api/v1/auth/sign-in", "Sign in", response=Thing, bare=True)
    assert result_of(bare, {"accessToken": "x"}) == {"accessToken": "x"}


def test_the_document_publishes_the_model_open_to_new_fields():
    spec = build_spec("t", [PAY, NORAH])
    thing = spec["components"]["schemas"]["Thing"]
    assert set(thing["properties"]) == {"thingId", "amount", "count", "note"}
    assert set(thing["required"]) == {"thingId", "amount", "count"}
    assert "additionalProperties" not in thing  # a client accepts a field added later
    ok = spec["paths"]["/api/v2/things/{thingId}"]["get"]["responses"]["200"]
    result = ok["content"]["application/json"]["schema"]["properties"]["result"]
    assert result == {"$ref": "#/components/schemas/Thing"}
    listed = spec["paths"]["/api/v1/things"]["get"]["responses"]["200"]
    data = listed["content"]["application/json"]["schema"]["properties"]["data"]
    assert data == {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}


async def test_the_middleware_checks_a_route_whose_parameter_is_named_otherwise():
    async def handler(request: web.Request) -> web.Response:
        extra = {"secret": "x"} if request.query.get("leak") else {}
        return web.json_response({"status": "1", "message": "OK", "result": {
            "thingId": request.match_info["anyName"], "amount": "1", "count": 1, **extra}})

    app = web.Application(middlewares=[answer_checker([PAY])])
    app.router.add_get("/api/v2/things/{anyName}", handler)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert (await client.get("/api/v2/things/t_1")).status == 200
        # An undeclared field: the check raises, and the request fails (the services'
        # context middleware renders it as the catalogue's 500).
        assert (await client.get("/api/v2/things/t_1", params={"leak": "1"})).status == 500
    finally:
        await client.close()


def test_two_models_of_one_name_are_refused_not_merged():
    # A request model and an answer model both called Thing: one would silently describe
    # the other (the widget's request and answer once did).
    class Other(Answer):
        other: str

    Other.__name__ = "Thing"
    with pytest.raises(ValueError, match="Thing"):
        build_spec("t", [PAY, RouteDoc("POST", "/api/v2/others", "Others", request=Other)])
