"""A function written for API Gateway (HTTP API, payload 2.0): it reads the event and answers
with a proxy-integration envelope; krakenpy applies the status and headers and filters the body."""

import json

ITEMS = {"1": {"id": "1", "name": "Analytical Engine", "secret": "s3"}, "2": {"id": "2", "name": "Difference Engine"}}


def handler(event, context):
    print("api", event.get("routeKey"))
    item = ITEMS.get((event.get("pathParameters") or {}).get("id", ""))
    if item is None:
        return {"statusCode": 404, "headers": {"Content-Type": "application/json"}, "body": '{"error": "no such item"}'}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": "max-age=60"},
        # runs on the function's runtime, which has no orjson
        "body": json.dumps({"item": item, "tenant": event.get("headers", {}).get("x-tenant")}),  # noqa: TID251
    }
