"""KrakenD's classic Lambda example: a greeting from the first_name/last_name params."""


def handler(event, context):
    print("hello", event)  # a log line also lets the emulator answer without its 50 ms log wait
    return {"message": f"Hello {event.get('first_name', '')} {event.get('last_name', '')}!"}
