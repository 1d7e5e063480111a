// Package kinko is what kinko serves, in one place: the kinds of service a value comes from
// (one table of their facts), a request for one value and its normal form, the ids a request
// may name and their limits, the sandbox's home (which ids name the same value), and the
// vocabulary of failures. The other packages speak it: config reads the variables each kind
// names, reference parses into these kinds, the cache is keyed by Request, upstream answers with
// *Error, and only the server turns an Error into an HTTP status.
//
// It imports only small standard packages (no fmt, net/http or log/slog): config imports it,
// the early start links config, and whatever is linked there initialises before kinko
// registers with Lambda; /opt/kinko-exec links it through package reference as well.
package kinko

// Kind is the AWS service a value comes from.
type Kind uint8

const (
	SecretsManager Kind = iota + 1
	SSM
)

// Kinds returns every kind, in order.
func Kinds() [2]Kind { return [...]Kind{SecretsManager, SSM} }

// facts is what kinko knows of one kind: everything that differs between the two services, so
// that no other package branches on the kind to know it.
type facts struct {
	name        string // kinko's name: references (kinko:NAME:...), ARNs' service field, logs
	service     string // how messages name the AWS service
	noun        string // what one value is called
	ttlVar      string // the variable of its cache lifetime
	timeoutVar  string // the variable of its per-call timeout
	endpointVar string // the SDK's variable overriding its endpoint
	idName      string // what an id names, in messages
	idChars     string // the characters AWS allows in an id, in words
	idExtra     string // allowed beyond letters, digits and /_.-: (AWS's documented sets)
}

// table holds each kind's facts, indexed by Kind; entry 0 is what an unknown kind reads as.
// It is never written.
var table = [...]facts{
	{name: "unknown", service: "an unknown service", noun: "value", idName: "id", idChars: "letters, digits and /_.-:"},
	SecretsManager: {
		name:        "secretsmanager",
		service:     "Secrets Manager",
		noun:        "secret",
		ttlVar:      "SECRETS_MANAGER_TTL",
		timeoutVar:  "SECRETS_MANAGER_TIMEOUT_MILLIS",
		endpointVar: "AWS_ENDPOINT_URL_SECRETS_MANAGER",
		idName:      "secret name or ARN",
		idChars:     "letters, digits and /_+=.@-:",
		idExtra:     "+=@",
	},
	SSM: {
		name:        "ssm",
		service:     "SSM Parameter Store",
		noun:        "parameter",
		ttlVar:      "SSM_PARAMETER_STORE_TTL",
		timeoutVar:  "SSM_PARAMETER_STORE_TIMEOUT_MILLIS",
		endpointVar: "AWS_ENDPOINT_URL_SSM",
		idName:      "parameter name or ARN",
		idChars:     "letters, digits and /_.-:",
	},
}

func (k Kind) facts() *facts {
	if int(k) >= len(table) {
		return &table[0]
	}
	return &table[k]
}

// String is kinko's name of the kind: secretsmanager, ssm.
func (k Kind) String() string { return k.facts().name }

// MarshalText writes the kind by its name (in JSON log lines).
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// ParseKind reads a kind's name (String), exactly: "ssm", not "SSM".
func ParseKind(name string) (Kind, bool) {
	for _, k := range Kinds() {
		if k.String() == name {
			return k, true
		}
	}
	return 0, false
}

// Service is how messages name the kind's AWS service: "Secrets Manager", "SSM Parameter Store".
func (k Kind) Service() string { return k.facts().service }

// Noun is what one value of the kind is called: "secret", "parameter".
func (k Kind) Noun() string { return k.facts().noun }

// TTLVariable is the variable that sets the kind's cache lifetime.
func (k Kind) TTLVariable() string { return k.facts().ttlVar }

// TimeoutVariable is the variable that sets the kind's per-call timeout.
func (k Kind) TimeoutVariable() string { return k.facts().timeoutVar }

// EndpointVariable is the SDK-standard variable that overrides the kind's endpoint (beside
// AWS_ENDPOINT_URL, which overrides every service's).
func (k Kind) EndpointVariable() string { return k.facts().endpointVar }

// IDName is what an id of the kind names, for messages: "secret name or ARN".
func (k Kind) IDName() string { return k.facts().idName }

// IDChars says in words which characters AWS allows in an id of the kind.
func (k Kind) IDChars() string { return k.facts().idChars }

// AllowedInID reports whether AWS allows c in an id of the kind: letters, digits and /_.-: for
// both (':' for ARNs, and SSM's :version and :label selectors), and +=@ in secret names.
func (k Kind) AllowedInID(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '/', c == '_', c == '.', c == '-', c == ':':
		return true
	}
	for i := 0; i < len(k.facts().idExtra); i++ {
		if k.facts().idExtra[i] == c {
			return true
		}
	}
	return false
}
