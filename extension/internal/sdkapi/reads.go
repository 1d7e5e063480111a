package sdkapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/cache"
	"github.com/kinko-dev/kinko/extension/internal/cachestatus"
	"github.com/kinko-dev/kinko/extension/internal/document"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/upstream"
)

// read is one cache read's outcome.
type read struct {
	v   document.Value
	st  cache.Status
	err error
}

// get reads req through the cache, its id checked first as the GET routes check theirs.
func (h *Handler) get(ctx context.Context, req kinko.Request) read {
	if err := kinko.CheckID(req.ID); err != nil {
		return read{err: invalid(req.Kind, req.Kind.IDName()+" "+err.Error())}
	}
	v, st, err := h.d.Reads.Get(ctx, req.Normalize())
	return read{v: v, st: st, err: err}
}

// getAll reads every request at once (at most MaxBatch of them), each answer at its index.
func (h *Handler) getAll(ctx context.Context, reqs []kinko.Request) []read {
	out := make([]read, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() { out[i] = h.get(ctx, req) })
	}
	wg.Wait()
	return out
}

// failed is a read's error in kinko's words, for req.
func (x read) failed(req kinko.Request) *kinko.Error {
	var e *kinko.Error
	if errors.As(x.err, &e) {
		return e
	}
	return cacheError(req, x.err)
}

// setStatus sets Cache-Status for an answer made of reads: one read's own; for several, a hit
// when every one was, with the least freshness left, else a forward.
func setStatus(w http.ResponseWriter, reads []read) {
	if len(reads) == 1 {
		w.Header().Set("Cache-Status", cachestatus.Render(reads[0].st, reads[0].err))
		return
	}
	ttl := time.Duration(-1)
	for _, x := range reads {
		if x.err != nil || x.st.Outcome != cache.Hit {
			w.Header().Set("Cache-Status", "kinko; fwd=miss")
			return
		}
		if ttl < 0 || x.st.TTL < ttl {
			ttl = x.st.TTL
		}
	}
	w.Header().Set("Cache-Status", cachestatus.Render(cache.Status{Outcome: cache.Hit, TTL: ttl}, nil))
}

// secretsmanager.GetSecretValue: SecretId, VersionId, VersionStage.
func (h *Handler) getSecretValue(w http.ResponseWriter, r *http.Request, c call) *kinko.Error {
	var in struct{ SecretId, VersionId, VersionStage string }
	if e := decode(c, &in); e != nil {
		return e
	}
	req := kinko.Request{Kind: kinko.SecretsManager, ID: in.SecretId, VersionID: in.VersionId, Stage: in.VersionStage}
	x := h.get(r.Context(), req)
	setStatus(w, []read{x})
	if x.err != nil {
		return x.failed(req)
	}
	var buf bytes.Buffer
	if err := writeSecret(&buf, x.v.Body); err != nil {
		return unreadable(req, err)
	}
	writeJSON(w, buf.Bytes())
	return nil
}

// secretsmanager.BatchGetSecretValue by SecretIdList: each id read through the cache at
// AWSCURRENT; an id AWS answered with an error (not found, access denied, decryption) goes in
// Errors, as AWS reports it; kinko's own failures (a timeout) fail the call, so the SDK retries
// it. With Filters, or paging asked for, it is forwarded: AWS lists the secrets.
func (h *Handler) batchGetSecretValue(w http.ResponseWriter, r *http.Request, c call) *kinko.Error {
	var in struct {
		SecretIdList []string
		Filters      json.RawMessage
		MaxResults   *int32
		NextToken    *string
	}
	if e := decode(c, &in); e != nil {
		return e
	}
	if len(in.SecretIdList) == 0 || len(in.Filters) > 0 && string(in.Filters) != "null" || in.MaxResults != nil || in.NextToken != nil {
		return h.forwardSigned(w, r, c, "BatchGetSecretValue with Filters or paging lists secrets in AWS")
	}
	if len(in.SecretIdList) > MaxBatch {
		return invalid(c.kind, "SecretIdList holds "+strconv.Itoa(len(in.SecretIdList))+" ids; at most "+strconv.Itoa(MaxBatch)+" per call")
	}
	ids := unique(in.SecretIdList)
	reqs := make([]kinko.Request, len(ids))
	for i, id := range ids {
		reqs[i] = kinko.Request{Kind: kinko.SecretsManager, ID: id}
	}
	reads := h.getAll(r.Context(), reqs)
	setStatus(w, reads)
	var buf bytes.Buffer
	buf.WriteString(`{"Errors":[`)
	n := 0
	for i, x := range reads {
		if x.err == nil {
			continue
		}
		e := x.failed(reqs[i])
		if !e.FromAWS() || e.Transient() {
			return e
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		item, _ := json.Marshal(struct{ ErrorCode, Message, SecretId string }{e.Type(), e.Message, ids[i]})
		buf.Write(item)
	}
	buf.WriteString(`],"SecretValues":[`)
	n = 0
	for i, x := range reads {
		if x.err != nil {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		if err := writeSecret(&buf, x.v.Body); err != nil {
			return unreadable(reqs[i], err)
		}
	}
	buf.WriteString(`]}`)
	writeJSON(w, buf.Bytes())
	return nil
}

// parameterRequest is the request for an SSM name as GetParameter takes it: a name or ARN,
// with a :version or :label selector split off into the request's version or label, as the
// GET route gives them.
func parameterRequest(name string, decrypt bool) kinko.Request {
	r := kinko.Request{Kind: kinko.SSM, ID: name, Decrypt: decrypt}
	start := 0
	if strings.HasPrefix(name, "arn:") {
		// arn:partition:service:region:account:parameter/NAME[:selector]
		for range 5 {
			i := strings.IndexByte(name[start:], ':')
			if i < 0 {
				return r
			}
			start += i + 1
		}
	}
	i := strings.LastIndexByte(name[start:], ':')
	if i < 0 {
		return r
	}
	base, sel := name[:start+i], name[start+i+1:]
	if base == "" || sel == "" {
		return r
	}
	r.ID = base
	if _, err := strconv.ParseInt(sel, 10, 64); err == nil {
		r.VersionID = sel
	} else {
		r.Stage = sel
	}
	return r
}

// AmazonSSM.GetParameter: Name (with a selector), WithDecryption.
func (h *Handler) getParameter(w http.ResponseWriter, r *http.Request, c call) *kinko.Error {
	var in struct {
		Name           string
		WithDecryption bool
	}
	if e := decode(c, &in); e != nil {
		return e
	}
	req := parameterRequest(in.Name, in.WithDecryption)
	x := h.get(r.Context(), req)
	setStatus(w, []read{x})
	if x.err != nil {
		return x.failed(req)
	}
	obj, err := parameterObject(x.v.Body)
	var buf bytes.Buffer
	buf.WriteString(`{"Parameter":`)
	if err == nil {
		err = writeParameterObject(&buf, obj)
	}
	if err != nil {
		return unreadable(req, err)
	}
	buf.WriteByte('}')
	writeJSON(w, buf.Bytes())
	return nil
}

// AmazonSSM.GetParameters: up to MaxNames names, each read through the cache; a name that does
// not exist goes in InvalidParameters with a 200, as AWS answers; any other failure fails the
// call.
func (h *Handler) getParameters(w http.ResponseWriter, r *http.Request, c call) *kinko.Error {
	var in struct {
		Names          []string
		WithDecryption bool
	}
	if e := decode(c, &in); e != nil {
		return e
	}
	if len(in.Names) == 0 || len(in.Names) > MaxNames {
		return invalid(c.kind, "Names holds "+strconv.Itoa(len(in.Names))+" names; give 1 to "+strconv.Itoa(MaxNames))
	}
	names := unique(in.Names)
	reqs := make([]kinko.Request, len(names))
	for i, n := range names {
		reqs[i] = parameterRequest(n, in.WithDecryption)
	}
	reads := h.getAll(r.Context(), reqs)
	setStatus(w, reads)
	var invalidNames []string
	var buf bytes.Buffer
	buf.WriteString(`{"InvalidParameters":`)
	for i, x := range reads {
		if x.err == nil {
			continue
		}
		if e := x.failed(reqs[i]); e.Code != kinko.NotFound {
			return e
		}
		invalidNames = append(invalidNames, names[i])
	}
	list, _ := json.Marshal(append([]string{}, invalidNames...))
	buf.Write(list)
	buf.WriteString(`,"Parameters":[`)
	n := 0
	for i, x := range reads {
		if x.err != nil {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		obj, err := parameterObject(x.v.Body)
		if err == nil {
			err = writeParameterObject(&buf, obj)
		}
		if err != nil {
			return unreadable(reqs[i], err)
		}
	}
	buf.WriteString(`]}`)
	writeJSON(w, buf.Bytes())
	return nil
}

// AmazonSSM.GetParametersByPath: the path is read whole through the cache (Recursive and
// WithDecryption part of its key) and paged here, MaxResults (1 to 10, default 10) at a time,
// with a NextToken of kinko's own. With ParameterFilters it is forwarded: AWS filters.
func (h *Handler) getParametersByPath(w http.ResponseWriter, r *http.Request, c call) *kinko.Error {
	var in struct {
		Path             string
		Recursive        bool
		WithDecryption   bool
		MaxResults       *int32
		NextToken        string
		ParameterFilters json.RawMessage
	}
	if e := decode(c, &in); e != nil {
		return e
	}
	if len(in.ParameterFilters) > 0 && string(in.ParameterFilters) != "null" && string(in.ParameterFilters) != "[]" {
		return h.forwardSigned(w, r, c, "GetParametersByPath with ParameterFilters is filtered by AWS")
	}
	size := 10
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10 {
			return invalid(c.kind, "MaxResults is "+strconv.Itoa(int(*in.MaxResults))+"; give 1 to 10")
		}
		size = int(*in.MaxResults)
	}
	req := kinko.Request{Kind: kinko.SSM, ID: in.Path, Decrypt: in.WithDecryption, Path: kinko.PathChildren}
	if in.Recursive {
		req.Path = kinko.PathRecursive
	}
	offset := 0
	if in.NextToken != "" {
		var ok bool
		if offset, ok = readToken(in.NextToken, req); !ok {
			return &kinko.Error{Code: kinko.BadRequest, AWSCode: "InvalidNextToken", AWSStatus: http.StatusBadRequest,
				Message: "NextToken is not one kinko gave for this path, recursion and decryption; start again without it"}
		}
	}
	x := h.get(r.Context(), req)
	setStatus(w, []read{x})
	if x.err != nil {
		if errors.Is(x.err, upstream.ErrPathTooLarge) && c.signed {
			h.forward(w, r, c)
			return nil
		}
		return x.failed(req)
	}
	items, err := document.PathItems(x.v)
	if err != nil {
		return unreadable(req, err)
	}
	offset = min(offset, len(items))
	end := min(offset+size, len(items))
	var buf bytes.Buffer
	buf.WriteByte('{')
	if end < len(items) {
		buf.WriteString(`"NextToken":"` + token(end, req) + `",`)
	}
	buf.WriteString(`"Parameters":[`)
	for i, it := range items[offset:end] {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := writeParameterObject(&buf, it); err != nil {
			return unreadable(req, err)
		}
	}
	buf.WriteString(`]}`)
	writeJSON(w, buf.Bytes())
	return nil
}

// token is kinko's NextToken for a path read: the offset of the next page, bound to the
// request, so a token is not taken for another path.
func token(offset int, req kinko.Request) string {
	return strconv.Itoa(offset) + "." + tokenCheck(req)
}

func readToken(t string, req kinko.Request) (int, bool) {
	n, check, ok := strings.Cut(t, ".")
	offset, err := strconv.Atoi(n)
	return offset, ok && err == nil && offset > 0 && check == tokenCheck(req)
}

func tokenCheck(req kinko.Request) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(int(req.Path)) + strconv.FormatBool(req.Decrypt) + req.ID))
	return hex.EncodeToString(sum[:6])
}

// unreadable is a cached document kinko cannot convert: a bug, said without its content.
func unreadable(req kinko.Request, err error) *kinko.Error {
	return &kinko.Error{Code: kinko.Internal, Message: "kinko could not write the answer for " + req.Describe() + "; see kinko's log", Err: err}
}

// unique is ids without repeats, in their first order.
func unique(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		dup := false
		for _, o := range out {
			if o == id {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, id)
		}
	}
	return out
}
