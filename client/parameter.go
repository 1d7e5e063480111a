package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Parameter is the extension's SSM GetParameter answer.
type Parameter struct {
	ARN              string
	DataType         string
	LastModifiedDate time.Time
	Name             string
	Selector         string
	SourceResult     string
	Type             string
	Value            string
	Version          int64
	CacheStatus      string // the answer's Cache-Status header, or "client; hit; ttl=N" from the client's memory
}

// ParameterOption selects a parameter's version or label, or bypasses the caches.
type ParameterOption func(*paramQuery)

type paramQuery struct {
	version int64
	label   string
	refresh bool
}

// ParameterVersion asks for this version of the parameter (1 or more).
func ParameterVersion(v int64) ParameterOption { return func(q *paramQuery) { q.version = v } }

// ParameterLabel asks for the version with this label.
func ParameterLabel(l string) ParameterOption { return func(q *paramQuery) { q.label = l } }

// ParameterRefreshNow bypasses the client's and the extension's caches, like RefreshNow.
func ParameterRefreshNow() ParameterOption { return func(q *paramQuery) { q.refresh = true } }

// Parameter returns an SSM parameter; withDecryption decrypts a SecureString.
func (c *Client) Parameter(ctx context.Context, name string, withDecryption bool, opts ...ParameterOption) (*Parameter, error) {
	if name == "" {
		return nil, errors.New("kinko: empty parameter name: pass a name, ARN or name:version")
	}
	var pq paramQuery
	for _, o := range opts {
		o(&pq)
	}
	switch {
	case pq.version < 0:
		return nil, fmt.Errorf("kinko: parameter %q: version %d: versions start at 1", name, pq.version)
	case pq.version > 0 && pq.label != "":
		return nil, fmt.Errorf("kinko: parameter %q: ParameterVersion and ParameterLabel exclude each other; pass one", name)
	}
	k := cacheKey{kind: kindParameter, id: name, stage: pq.label, pver: pq.version, decrypt: withDecryption}
	v, left, sent, hit := c.cached(k, pq.refresh)
	if hit {
		p := *v.(*Parameter)
		p.CacheStatus = clientStatus(left)
		return &p, nil
	}
	return c.fetchParameter(ctx, k, sent, name, withDecryption, pq)
}

// fetchParameter asks kinko for a parameter the client's memory did not answer.
func (c *Client) fetchParameter(ctx context.Context, k cacheKey, sent time.Time, name string, withDecryption bool, pq paramQuery) (*Parameter, error) {
	what := fmt.Sprintf("parameter %q", name)
	p, shared, err := fetch(c, ctx, k, pq.refresh, what, func(ctx context.Context) (*Parameter, error) {
		q := url.Values{"name": {name}}
		if withDecryption {
			q.Set("withDecryption", "true")
		}
		if pq.version > 0 {
			q.Set("version", strconv.FormatInt(pq.version, 10))
		}
		if pq.label != "" {
			q.Set("label", pq.label)
		}
		if pq.refresh {
			q.Set("refreshNow", "true")
		}
		body, hdr, err := c.get(ctx, "/systemsmanager/parameters/get", q, what)
		if err != nil {
			return nil, err
		}
		var w struct {
			Parameter *struct {
				ARN, DataType, Name, Selector, SourceResult, Type, Value string
				LastModifiedDate                                         json.RawMessage
				Version                                                  int64
			}
		}
		if err := json.Unmarshal(body, &w); err != nil || w.Parameter == nil {
			return nil, fmt.Errorf("kinko: %s: the answer is not a GetParameter JSON document (%d bytes, Content-Type %q)",
				what, len(body), hdr.Get("Content-Type"))
		}
		wp := w.Parameter
		p := &Parameter{
			ARN: wp.ARN, DataType: wp.DataType, Name: wp.Name, Selector: wp.Selector,
			SourceResult: wp.SourceResult, Type: wp.Type, Value: wp.Value, Version: wp.Version,
			LastModifiedDate: parseTime(wp.LastModifiedDate),
			CacheStatus:      hdr.Get("Cache-Status"),
		}
		kept := *p
		c.keep(k, sent, hdr, &kept)
		return p, nil
	})
	if err != nil || !shared {
		return p, err
	}
	own := *p // each caller its own copy
	return &own, nil
}
