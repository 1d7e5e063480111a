// Package wire holds the facts of Lambda's Extensions API that kinko's two clients of it share:
// package extensionsapi (net/http, for the extension's whole life) and package earlystart (raw
// sockets, during package initialisation). It imports nothing, so earlystart may use it and
// still initialise before net/http.
//
// AWS documents the API as "Lambda Extensions API" (base
// http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension); CONTRACT.md section 2 says how kinko
// uses it.
package wire

// Paths, under the Runtime API's address.
const (
	Base      = "/2020-01-01/extension"
	Register  = Base + "/register"
	Next      = Base + "/event/next"
	InitError = Base + "/init/error"
	ExitError = Base + "/exit/error"
)

// Headers.
const (
	// Name is the extension's name on /register: its file's name, or Lambda refuses it.
	Name = "Lambda-Extension-Name"
	// Identifier is /register's answer, sent back with every later call.
	Identifier = "Lambda-Extension-Identifier"
	// AcceptFeature asks /register for more in its answer: FeatureAccountID is the account id.
	AcceptFeature    = "Lambda-Extension-Accept-Feature"
	FeatureAccountID = "accountId"
	// ErrorType is the reason of an /init/error or /exit/error: "Extension." and a word.
	ErrorType = "Lambda-Extension-Function-Error-Type"
)

// Events, as /register's list names them and /event/next's answer carries them in eventType.
const (
	Invoke   = "INVOKE"
	Shutdown = "SHUTDOWN"
)

// RegisterBody is /register's JSON body for events (whose names need no escaping).
func RegisterBody(events []string) string {
	b := `{"events":[`
	for i, e := range events {
		if i > 0 {
			b += ","
		}
		b += `"` + e + `"`
	}
	return b + `]}`
}
