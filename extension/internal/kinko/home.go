package kinko

import (
	"strings"
	"sync/atomic"
)

// Home is the account and region kinko runs in: what makes an ARN local, so that its bare name
// means the same secret. Safe for concurrent use; the account may be set after construction
// (Lambda gives it at /register with the accountId feature).
type Home struct {
	region  string
	account atomic.Pointer[string]
}

// NewHome returns the home of a sandbox in region, account not known yet.
func NewHome(region string) *Home { return &Home{region: region} }

// SetAccount records the account id. Until it is set, no ARN is aliased to a bare name.
func (h *Home) SetAccount(id string) { h.account.Store(&id) }

// Aliases are the other requests that the answer to r, whose ARN and Name AWS gave as arn and
// name, also answers: only where the identity is certain, in exact forms a request could use,
// of the same kind, version and stage.
//   - The answer's full ARN, always: it names exactly this secret or parameter. (An SSM ARN
//     names the latest version, so a request with a selector in its name, `/p:1`, has none.)
//   - The bare name, only for a request by ARN whose account and region are this sandbox's: a
//     name resolves in the local account, and another account's `prod/db` is not ours.
//   - Nothing for an SSM request with a selector in its name: its answer's Name is the base
//     name, which asks for the latest version.
func (h *Home) Aliases(r Request, arn, name string) []Request {
	if r.Kind == SSM && hasSelector(r.ID) {
		return nil
	}
	var out []Request
	add := func(id string) {
		if id != "" && id != r.ID {
			a := r
			a.ID = id
			out = append(out, a)
		}
	}
	parts, ok := parseARN(arn)
	if !ok || parts.service != r.Kind.String() {
		return nil
	}
	add(arn)
	if strings.HasPrefix(r.ID, "arn:") && h.local(parts) {
		add(name)
	}
	return out
}

func (h *Home) local(a arnParts) bool {
	acct := h.account.Load()
	return acct != nil && *acct != "" && a.account == *acct && h.region != "" && a.region == h.region
}

type arnParts struct{ service, region, account, resource string }

// parseARN splits arn:partition:service:region:account:resource.
func parseARN(s string) (arnParts, bool) {
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" {
		return arnParts{}, false
	}
	return arnParts{service: f[2], region: f[3], account: f[4], resource: f[5]}, true
}

// hasSelector reports whether an SSM name or ARN carries a version or label (`/p:1`, `/p:Dev`).
func hasSelector(id string) bool {
	if a, ok := parseARN(id); ok {
		return strings.Contains(a.resource, ":")
	}
	return strings.Contains(id, ":")
}
