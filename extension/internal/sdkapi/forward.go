package sdkapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// forwardedHeaders are the caller's headers a forwarded call keeps: what says what the call is
// and who made it. The signature, its time and token, the host and the hop-by-hop headers are
// kinko's to set.
func forwardedHeaders() [6]string {
	return [...]string{"Content-Type", "X-Amz-Target", "User-Agent", "X-Amz-User-Agent", "Amz-Sdk-Invocation-Id", "Amz-Sdk-Request"}
}

// answerHeaders are AWS's answer headers passed back to the caller.
func answerHeaders() [4]string {
	return [...]string{"Content-Type", "X-Amzn-Requestid", "X-Amzn-Errortype", "X-Amz-Crc32"}
}

// forwardSigned forwards c if it is signed; why says why a cached read became a forward.
func (h *Handler) forwardSigned(w http.ResponseWriter, r *http.Request, c call, why string) *kinko.Error {
	if !c.signed {
		return h.tokenOnly(c, why)
	}
	h.forward(w, r, c)
	return nil
}

func (h *Handler) tokenOnly(c call, why string) *kinko.Error {
	owner := h.d.HTTP.Owner
	return &kinko.Error{Code: kinko.AccessDenied, Message: why + ", so kinko forwards it to AWS with " + owner + "'s role, " +
		"and that needs a SigV4 signature with " + owner + "'s own credentials: " + "X-Aws-Parameters-Secrets-Token alone " +
		"allows only the reads kinko answers from its cache (" + kinko.Clip(c.target) + " is not one of them as sent)"}
}

// forward sends c to AWS as it came, signed with kinko's credentials, and passes AWS's answer
// back. A write drops what the cache holds for the ids it names before the caller sees the
// answer, whatever it is (a write whose answer was lost may still have been made), so the
// caller's next read through kinko fetches.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, c call) {
	if !c.signed {
		writeError(w, h.tokenOnly(c, c.op+" is not answered from kinko's cache"))
		return
	}
	// A call that acts with the function's role is forwarded once per signature: a captured
	// request replayed does nothing. A caller repeating the same call within the second its
	// signature covers (botocore signs no per-call header) is told to retry, which signs anew.
	if err := h.d.Verify.Once(c.sig); err != nil {
		e := refusal(err)
		h.d.Logger.Warn("SDK endpoint request refused", "target", c.target, "code", e.Type(), "message", e.Message)
		writeError(w, e)
		return
	}
	hdr := make(http.Header, 6)
	for _, k := range forwardedHeaders() {
		if v := r.Header.Values(k); len(v) > 0 {
			hdr[k] = v
		}
	}
	resp, err := h.d.Forward.Forward(r.Context(), c.kind, hdr, c.body)
	if ids := writtenIDs(c); len(ids) > 0 {
		n := h.d.Cache.Drop(func(req kinko.Request) bool {
			for _, id := range ids {
				if kinko.Touches(c.kind, id, req) {
					return true
				}
			}
			return false
		})
		h.d.Logger.Info("write forwarded; dropped what kinko held for its ids", "target", c.target, "ids", len(ids), "entries", n)
	}
	if err != nil {
		var e *kinko.Error
		if ke, ok := err.(*kinko.Error); ok {
			e = ke
		} else {
			e = &kinko.Error{Code: kinko.Internal, Message: "the call could not be forwarded; see kinko's log", Err: err}
		}
		h.d.Logger.Warn("forward failed", "target", c.target, "code", e.Type(), "message", e.Message)
		writeError(w, e)
		return
	}
	defer resp.Body.Close()
	out := w.Header()
	for _, k := range answerHeaders() {
		if v := resp.Header.Values(k); len(v) > 0 {
			out[k] = v
		}
	}
	if resp.ContentLength >= 0 {
		out.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	out.Set("Cache-Status", "kinko; fwd=bypass; fwd-status="+strconv.Itoa(resp.StatusCode))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// writtenIDs are the secret ids or parameter names a forwarded call may change, empty for a
// call that only reads. For Secrets Manager every operation but the reads (Get*, Describe*,
// List*, BatchGet*, Validate*) acts on the secret it names in SecretId (CreateSecret: Name):
// PutSecretValue, UpdateSecret, UpdateSecretVersionStage, RotateSecret, CancelRotateSecret,
// DeleteSecret, RestoreSecret, CreateSecret, PutResourcePolicy, DeleteResourcePolicy,
// TagResource, UntagResource, ReplicateSecretToRegions, RemoveRegionsFromReplication,
// StopReplicationToReplica, and any added later. For SSM, whose API spans far more than
// parameters, the operations that change a parameter's value or what a selector names:
// PutParameter, DeleteParameter, DeleteParameters, LabelParameterVersion,
// UnlabelParameterVersion.
func writtenIDs(c call) []string {
	var in struct {
		SecretId, Name string
		Names          []string
	}
	switch {
	case c.kind == kinko.SecretsManager:
		for _, read := range []string{"Get", "Describe", "List", "BatchGet", "Validate"} {
			if strings.HasPrefix(c.op, read) {
				return nil
			}
		}
	case c.op == "PutParameter", c.op == "DeleteParameter", c.op == "DeleteParameters",
		c.op == "LabelParameterVersion", c.op == "UnlabelParameterVersion":
	default:
		return nil
	}
	_ = json.Unmarshal(c.body, &in) // a body AWS refuses writes nothing
	var ids []string
	for _, id := range append([]string{in.SecretId, in.Name}, in.Names...) {
		if id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}
