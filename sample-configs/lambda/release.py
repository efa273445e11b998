"""The canary target: every published version answers with its own RELEASE label."""

import os


def handler(event, context):
    print("release", context.function_version)
    return {"release": os.environ.get("RELEASE", "unknown"), "version": context.function_version}
