package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/kinko-dev/kinko/client"
)

// openAIKey reads the key with kinko's jsonKey, falling back to the whole secret
// when kinko answers 400: the secret is not a JSON object, or the extension is
// AWS's, which has no jsonKey. keyFromSecret then does the picking itself.
// cacheStatus is the Cache-Status of the read that gave the key (empty when it failed):
// kinko's, or "client; hit; ttl=N" when the kinko client answered from its memory. The
// answer shows it so a caller can see the caches at work.
// opts (RefreshNow) apply to both reads.
func (h *handler) openAIKey(ctx context.Context, opts ...client.SecretOption) (key, cacheStatus string, herr *httpError) {
	name, jsonKey := h.cfg.secretName, h.cfg.secretJSONKey
	v, err := h.secrets.SecretJSONKey(ctx, name, jsonKey, append(opts, client.CacheStatusTo(&cacheStatus))...)
	if err == nil {
		if v = strings.TrimSpace(v); v == "" {
			return "", "", fail(http.StatusServiceUnavailable, "key %q of secret %q is empty: store the OpenAI key there", jsonKey, name)
		}
		return v, cacheStatus, nil
	}
	var kerr *client.Error
	if errors.As(err, &kerr) && ctx.Err() == nil {
		switch {
		case kerr.Status == http.StatusBadRequest:
			s, err := h.secrets.Secret(ctx, name, opts...)
			if err != nil {
				return "", "", h.secretError(ctx, err)
			}
			key, herr := h.keyFromSecret(s)
			if herr != nil {
				return "", "", herr
			}
			return key, s.CacheStatus, nil
		case kerr.Status == http.StatusNotFound && kerr.Code != "ResourceNotFoundException":
			return "", "", fail(http.StatusServiceUnavailable,
				"secret %q is a JSON object without key %q: add the key or set SECRET_JSON_KEY", name, jsonKey)
		}
	}
	return "", "", h.secretError(ctx, err)
}

// keyFromSecret picks the key out of a whole secret: the SECRET_JSON_KEY member of a
// JSON object, else the string itself.
func (h *handler) keyFromSecret(s *client.SecretValue) (string, *httpError) {
	name, jsonKey := h.cfg.secretName, h.cfg.secretJSONKey
	v := s.SecretString
	if v == "" {
		if len(s.SecretBinary) > 0 {
			return "", fail(http.StatusServiceUnavailable, "secret %q holds SecretBinary: store the key as SecretString", name)
		}
		return "", fail(http.StatusServiceUnavailable, "secret %q is empty: store the OpenAI key in it", name)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(v), &obj) == nil && obj != nil {
		raw, ok := obj[jsonKey]
		if !ok {
			return "", fail(http.StatusServiceUnavailable,
				"secret %q is a JSON object without key %q: add the key or set SECRET_JSON_KEY", name, jsonKey)
		}
		if json.Unmarshal(raw, &v) != nil {
			return "", fail(http.StatusServiceUnavailable, "key %q of secret %q is not a JSON string", jsonKey, name)
		}
	}
	if v = strings.TrimSpace(v); v == "" {
		return "", fail(http.StatusServiceUnavailable, "the OpenAI key in secret %q is empty", name)
	}
	return v, nil
}

// secretError explains a failed read: 504 when our own deadline ran out, else 503
// with what went wrong and what to do. kinko's messages hold no secret values.
func (h *handler) secretError(ctx context.Context, err error) *httpError {
	name := h.cfg.secretName
	if ctx.Err() != nil {
		return fail(http.StatusGatewayTimeout, "deadline reached while reading secret %q from kinko", name)
	}
	var kerr *client.Error
	switch {
	case errors.Is(err, client.ErrNoToken), errors.Is(err, client.ErrUnreachable):
		return fail(http.StatusServiceUnavailable, "%v", err)
	case !errors.As(err, &kerr):
		return fail(http.StatusServiceUnavailable, "secret %q unavailable: %v", name, err)
	case kerr.Code == "ResourceNotFoundException":
		return fail(http.StatusServiceUnavailable,
			"secret %q not found (ResourceNotFoundException): create it in Secrets Manager or set SECRET_NAME", name)
	case kerr.Status == http.StatusUnauthorized:
		return fail(http.StatusServiceUnavailable,
			"kinko refused the session token (%d %s): the function and the extension must see the same AWS_SESSION_TOKEN",
			kerr.Status, kerr.Code)
	case kerr.Code == "AccessDeniedException":
		return fail(http.StatusServiceUnavailable,
			"the function's role may not read secret %q (AccessDeniedException): allow secretsmanager:GetSecretValue on it", name)
	default:
		return fail(http.StatusServiceUnavailable, "secret %q unavailable: kinko answered %s",
			name, strings.TrimPrefix(kerr.Error(), "kinko: "))
	}
}
