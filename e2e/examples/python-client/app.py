import kinko  # the kinko layer's client (/opt/python): no AWS SDK to import

def handler(event, context):
    api_key = kinko.get_secret("OPENAI_API_KEY", json_key="OPENAI_API_KEY")
    db_password = kinko.get_parameter("/app/db/password")  # decrypted
    # ... use them; never return or log them. A warm invoke reads them from memory.
    return {"api_key_chars": len(api_key), "db_password_chars": len(db_password)}
