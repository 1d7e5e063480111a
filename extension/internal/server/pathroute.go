package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// pathSecret answers a path route, prefix<secret id> (AWS Secrets Manager Agent's GET /v1/<id>,
// AWS Cloud Extensions' GET /secretsmanager/<id>): the id is the rest of the path, slashes
// included, percent-decoded (ServeMux decodes the wildcard), and the request is the query
// route's.
func (h *Handler) pathSecret(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := h.readQuery(r, pathParams)
		if err != nil {
			fail(w, kinko.BadRequest, err.Error())
			return
		}
		if _, given := q.Get("secretId"); given {
			fail(w, kinko.BadRequest,
				"secretId is not taken by "+prefix+"<secret id>: the id is the rest of the path; drop one of the two")
			return
		}
		id := r.PathValue("id")
		switch err := kinko.CheckID(id); {
		case id == "":
			h.secretVersion(w, r, q, "", errors.New("the secret id is missing; ask "+prefix+"NAME-or-ARN"))
		case err != nil:
			h.secretVersion(w, r, q, "", fmt.Errorf("the secret id %w", err))
		default:
			h.secretVersion(w, r, q, id, nil)
		}
	}
}

// badSecretPath refuses a path route whose path is not clean: an empty or dot segment, or a
// trailing slash. ServeMux would redirect it to another path, another secret's name.
func badSecretPath(w http.ResponseWriter, r *http.Request) {
	fail(w, kinko.BadRequest, fmt.Sprintf("the secret id in %q has an empty, . or .. segment, or a trailing slash; "+
		"send such an id percent-encoded (%sa%%2F%%2Fb), or as /secretsmanager/get?secretId=", kinko.Clip(r.URL.EscapedPath()), SecretPrefix))
}
