"""Python test handlers; every one prints a line so the emulator answers without its 50 ms log wait."""

import base64
import json
import os
import time


def echo(event, context):
    print("echo", context.function_name)
    return {"event": event, "function": context.function_name, "tag": os.environ.get("TAG", "")}


def hello(event, context):
    print("hello")
    return {"message": f"Hello {event.get('first_name', '')} {event.get('last_name', '')}!", "foo": "hidden"}


def array(event, context):
    print("array")
    return [{"id": 1}, {"id": 2}]


def scalar(event, context):
    print("scalar")
    return "plain text"


def boom(event, context):
    print("boom")
    raise ValueError("boom: x")


def sleepy(event, context):
    print("sleepy")
    time.sleep(float(event.get("sleep", 10)))
    return {"slept": True}


def apigw(event, context):
    """An API Gateway-style function: answers with a proxy-integration envelope."""
    print("apigw", event.get("version"))
    query = event.get("queryStringParameters") or {}
    status = int(query.get("status", "200"))
    body = {"seen": event}
    if query.get("binary"):
        return {
            "statusCode": status,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(b"\x00\x01binary").decode(),
            "isBase64Encoded": True,
        }
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "X-Function": "apigw", "Content-Length": "1"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps(body),
    }
