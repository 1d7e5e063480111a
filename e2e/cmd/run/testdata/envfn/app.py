# A function that reads a secret from its environment, as a function under kinko-exec does. It
# answers lengths and whether the reference was left as text, never the value.
import os


def handler(event, context):
    value = os.environ.get("DB_PASSWORD", "")
    print("DB_PASSWORD has", len(value), "characters")
    return {"reference_left": value.startswith("kinko:"), "chars": len(value),
            "request_id": bool(context.aws_request_id), "time_left": context.get_remaining_time_in_millis() > 0}
