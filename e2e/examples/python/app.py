import json, os, urllib.error, urllib.parse, urllib.request

KINKO = "http://localhost:" + os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773")

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None  # the token goes to kinko only: a redirect is an error, never followed

# No proxy either: HTTP_PROXY would otherwise see the token.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)

def kinko_get(path, **query):
    req = urllib.request.Request(KINKO + path + "?" + urllib.parse.urlencode(query),
        headers={"X-Aws-Parameters-Secrets-Token": os.environ["AWS_SESSION_TOKEN"]})
    try:
        with opener.open(req, timeout=3) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:  # kinko's body says what failed and names the id
        raise RuntimeError(f"kinko: {e.code} {e.read().decode()}") from None

def get_secret(secret_id, json_key=None):
    if json_key:  # kinko extra: the value of one top-level key of a JSON secret
        return kinko_get("/secretsmanager/get", secretId=secret_id, jsonKey=json_key)
    return json.loads(kinko_get("/secretsmanager/get", secretId=secret_id))["SecretString"]

def get_parameter(name, decrypt=True):
    body = kinko_get("/systemsmanager/parameters/get", name=name, withDecryption=str(decrypt).lower())
    return json.loads(body)["Parameter"]["Value"]

def handler(event, context):
    api_key = get_secret("OPENAI_API_KEY", json_key="OPENAI_API_KEY")
    db_password = get_parameter("/app/db/password")
    # ... use them; never return or log them
    return {"api_key_chars": len(api_key), "db_password_chars": len(db_password)}
