package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SecretValue is the extension's GetSecretValue answer.
type SecretValue struct {
	ARN           string
	Name          string
	VersionId     string // the wire name, as in the AWS SDK
	SecretString  string
	SecretBinary  []byte
	VersionStages []string
	CreatedDate   time.Time // zero when the extension sent none or an unreadable one
	// CacheStatus is the answer's Cache-Status header, e.g. "kinko; hit; ttl=287", or
	// "client; hit; ttl=120" when the client answered from its own memory.
	CacheStatus string
}

// clone copies v with slices of its own, so what a caller does to its copy never reaches
// the one the cache keeps.
func (v *SecretValue) clone() *SecretValue {
	c := *v
	if v.SecretBinary != nil {
		c.SecretBinary = append([]byte(nil), v.SecretBinary...)
	}
	if v.VersionStages != nil {
		c.VersionStages = append([]string(nil), v.VersionStages...)
	}
	return &c
}

// SecretOption selects a version or bypasses the cache.
type SecretOption func(*secretQuery)

type secretQuery struct {
	stage, id string
	refresh   bool
	status    *string // where CacheStatusTo stores the answer's Cache-Status
}

// VersionStage asks for the version with this staging label, e.g. "AWSPREVIOUS".
func VersionStage(stage string) SecretOption { return func(q *secretQuery) { q.stage = stage } }

// VersionID asks for this version id.
func VersionID(id string) SecretOption { return func(q *secretQuery) { q.id = id } }

// RefreshNow bypasses the client's and the extension's caches: use it when the cached value
// was rejected. The answer replaces what the client kept.
func RefreshNow() SecretOption { return func(q *secretQuery) { q.refresh = true } }

// CacheStatusTo stores the Cache-Status of a successful answer in *dst (e.g. "kinko; hit;
// ttl=287", or "client; hit; ttl=120" from the client's memory), for calls like
// SecretJSONKey whose result has no field for it. It says how the answer was served, never
// what the secret holds.
func CacheStatusTo(dst *string) SecretOption { return func(q *secretQuery) { q.status = dst } }

func secretQueryOf(id string, opts []SecretOption) (secretQuery, error) {
	if id == "" {
		return secretQuery{}, errors.New("kinko: empty secret id: pass a secret name or ARN")
	}
	if len(opts) == 0 {
		return secretQuery{}, nil // no option func to hand &q to: q stays off the heap
	}
	return secretQueryWith(id, opts)
}

func secretQueryWith(id string, opts []SecretOption) (secretQuery, error) {
	var q secretQuery
	for _, o := range opts {
		o(&q)
	}
	if q.stage != "" && q.id != "" {
		return q, fmt.Errorf("kinko: secret %q: VersionStage and VersionID exclude each other; pass one", id)
	}
	return q, nil
}

func (q *secretQuery) values(id string) url.Values {
	v := url.Values{"secretId": {id}}
	if q.stage != "" {
		v.Set("versionStage", q.stage)
	}
	if q.id != "" {
		v.Set("versionId", q.id)
	}
	if q.refresh {
		v.Set("refreshNow", "true")
	}
	return v
}

// wireSecret is the JSON shape; dates are decoded leniently (RFC 3339 or epoch seconds).
type wireSecret struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  string
	SecretBinary  []byte
	VersionStages []string
	CreatedDate   json.RawMessage
}

// Secret returns the secret's current value (or the version the options select).
func (c *Client) Secret(ctx context.Context, id string, opts ...SecretOption) (*SecretValue, error) {
	q, err := secretQueryOf(id, opts)
	if err != nil {
		return nil, err
	}
	k := cacheKey{kind: kindSecret, id: id, stage: q.stage, version: q.id}
	v, left, sent, hit := c.cached(k, q.refresh)
	if hit {
		s := v.(*SecretValue).clone()
		s.CacheStatus = clientStatus(left)
		if q.status != nil {
			*q.status = s.CacheStatus
		}
		return s, nil
	}
	return c.fetchSecret(ctx, k, sent, id, q)
}

// fetchSecret asks kinko for a secret the client's memory did not answer.
func (c *Client) fetchSecret(ctx context.Context, k cacheKey, sent time.Time, id string, q secretQuery) (*SecretValue, error) {
	what := fmt.Sprintf("secret %q", id)
	s, shared, err := fetch(c, ctx, k, q.refresh, what, func(ctx context.Context) (*SecretValue, error) {
		body, hdr, err := c.get(ctx, "/secretsmanager/get", q.values(id), what)
		if err != nil {
			return nil, err
		}
		var w wireSecret
		if err := json.Unmarshal(body, &w); err != nil {
			// The decoder's message may quote part of the body, which holds the secret: say only where.
			return nil, fmt.Errorf("kinko: %s: the answer is not a GetSecretValue JSON document (%d bytes, Content-Type %q)",
				what, len(body), hdr.Get("Content-Type"))
		}
		s := &SecretValue{
			ARN:           w.ARN,
			Name:          w.Name,
			VersionId:     w.VersionId,
			SecretString:  w.SecretString,
			SecretBinary:  w.SecretBinary,
			VersionStages: w.VersionStages,
			CreatedDate:   parseTime(w.CreatedDate),
			CacheStatus:   hdr.Get("Cache-Status"),
		}
		c.keep(k, sent, hdr, s.clone())
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	if shared {
		s = s.clone() // each caller its own slices
	}
	if q.status != nil {
		*q.status = s.CacheStatus
	}
	return s, nil
}

// SecretJSONKey returns the string value of top-level key of a JSON SecretString,
// using kinko's jsonKey parameter. kinko answers 404 (*Error) when the key is absent
// and 400 when the secret is not a JSON object.
func (c *Client) SecretJSONKey(ctx context.Context, id, key string, opts ...SecretOption) (string, error) {
	if key == "" {
		return "", fmt.Errorf("kinko: secret %q: empty JSON key: pass the name of a top-level key", id)
	}
	q, err := secretQueryOf(id, opts)
	if err != nil {
		return "", err
	}
	k := cacheKey{kind: kindSecretKey, id: id, stage: q.stage, version: q.id, jsonKey: key}
	v, left, sent, hit := c.cached(k, q.refresh)
	if hit {
		if q.status != nil {
			*q.status = clientStatus(left)
		}
		return v.(string), nil
	}
	return c.fetchSecretJSONKey(ctx, k, sent, id, key, q)
}

// jsonKeyAnswer is a jsonKey read's value and the Cache-Status it came with.
type jsonKeyAnswer struct{ value, status string }

// fetchSecretJSONKey asks kinko for a key the client's memory did not answer.
func (c *Client) fetchSecretJSONKey(ctx context.Context, k cacheKey, sent time.Time, id, key string, q secretQuery) (string, error) {
	what := fmt.Sprintf("secret %q key %q", id, key)
	a, _, err := fetch(c, ctx, k, q.refresh, what, func(ctx context.Context) (jsonKeyAnswer, error) {
		vals := q.values(id)
		vals.Set("jsonKey", key)
		body, hdr, err := c.get(ctx, "/secretsmanager/get", vals, what)
		if err != nil {
			return jsonKeyAnswer{}, err
		}
		status := hdr.Get("Cache-Status")
		if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			s := string(body) // kinko's text/plain answer
			c.keep(k, sent, hdr, s)
			return jsonKeyAnswer{s, status}, nil
		}
		// An extension without jsonKey (AWS's) may ignore it and send the whole document:
		// pick the key here, with the errors kinko would have answered.
		var doc struct{ SecretString string }
		if json.Unmarshal(body, &doc) != nil {
			return jsonKeyAnswer{}, fmt.Errorf("kinko: %s: the answer is neither text nor a GetSecretValue JSON document (%d bytes)", what, len(body))
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(doc.SecretString), &obj) != nil || obj == nil {
			return jsonKeyAnswer{}, fmt.Errorf("%s: %w", what, &Error{Status: http.StatusBadRequest, Message: "the secret is not a JSON object"})
		}
		var s string
		if raw, ok := obj[key]; !ok || json.Unmarshal(raw, &s) != nil {
			return jsonKeyAnswer{}, fmt.Errorf("%s: %w", what, &Error{Status: http.StatusNotFound, Message: "the secret has no string key " + strconv.Quote(key)})
		}
		c.keep(k, sent, hdr, s)
		return jsonKeyAnswer{s, status}, nil
	})
	if err != nil {
		return "", err
	}
	if q.status != nil {
		*q.status = a.status
	}
	return a.value, nil
}
