package main

import (
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinko-dev/kinko/extension/internal/jsonfield"
	"github.com/kinko-dev/kinko/extension/internal/kinko"
	"github.com/kinko-dev/kinko/extension/internal/rawhttp"
	"github.com/kinko-dev/kinko/extension/internal/reference"
)

// tokenHeader is the header kinko (and AWS's extension) wants the sandbox's token in.
const tokenHeader = "X-Aws-Parameters-Secrets-Token"

// maxAnswer bounds what is read: a secret is at most 64 KiB, a parameter 8 KiB, escaped in JSON.
const maxAnswer = 1 << 20

type client struct {
	port     int
	token    string
	deadline time.Time // for everything
	refused  time.Time // until when a refused connection is tried again
	refusedL time.Duration
	backoff  time.Duration
}

func newClient(env []string, lim limits) (*client, error) {
	token := lookup(env, "AWS_SESSION_TOKEN")
	if token == "" {
		token = lookup(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")
	}
	if token == "" {
		return nil, errorString("no session token: neither AWS_SESSION_TOKEN nor AWS_CONTAINER_AUTHORIZATION_TOKEN is set, and kinko answers nothing without one (Lambda sets one; set it yourself when running locally)")
	}
	port := 2773
	if p := strings.TrimSpace(lookup(env, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errorString("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=" + strconv.Quote(p) + " is not a port number (1-65535)")
		}
		port = n
	}
	now := time.Now()
	return &client{port: port, token: token, deadline: now.Add(lim.Total), refused: now.Add(min(lim.Refused, lim.Total)), refusedL: min(lim.Refused, lim.Total), backoff: lim.Backoff}, nil
}

// resolve reads one reference's value through kinko.
func (c *client) resolve(r reference.Reference) (string, error) {
	var target string
	if r.Kind == kinko.SSM {
		target = "/systemsmanager/parameters/get?name=" + escape(r.ID) + "&withDecryption=true"
	} else {
		target = "/secretsmanager/get?secretId=" + escape(r.ID)
		if r.HasKey {
			target += "&jsonKey=" + escape(r.JSONKey)
		}
	}
	a, err := c.get(target)
	if err != nil {
		return "", err
	}
	if a.status != 200 {
		return "", a.problem()
	}
	if r.Kind == kinko.SSM {
		p, _, found, err := jsonfield.Field(a.body, "Parameter")
		if err == nil && found {
			var v string
			var isString bool
			if v, isString, found, err = jsonfield.Field([]byte(p), "Value"); err == nil && found && isString {
				return v, nil
			}
		}
		return "", errorString("kinko's answer is not a GetParameter document (" + strconv.Itoa(len(a.body)) + " bytes)")
	}
	if r.HasKey && !strings.HasPrefix(a.contentType, "application/json") {
		return string(a.body), nil // kinko's jsonKey answer: the value itself
	}
	s, isString, found, err := jsonfield.Field(a.body, "SecretString")
	if err != nil || (found && !isString && s != "null") {
		return "", errorString("kinko's answer is not a GetSecretValue document (" + strconv.Itoa(len(a.body)) + " bytes)")
	}
	if !isString {
		if b, _, _, _ := jsonfield.Field(a.body, "SecretBinary"); b != "" && b != "null" {
			return "", errorString("the secret is binary (SecretBinary); an environment variable holds text: store it as a SecretString")
		}
		return "", errorString("the answer has no SecretString")
	}
	if !r.HasKey {
		return s, nil
	}
	// An extension without kinko's jsonKey (AWS's) answers the whole document: pick the key here.
	v, isString, found, err := jsonfield.Field([]byte(s), r.JSONKey)
	switch {
	case err != nil:
		return "", errorString("the secret is not a JSON object; drop #" + r.JSONKey + " to read the whole string")
	case !found:
		return "", errorString("the secret has no top-level key " + strconv.Quote(r.JSONKey))
	case isString:
		return v, nil
	}
	return v, nil // a number, boolean, object or array, as JSON text (as kinko answers it)
}

// resolvePath reads a path reference's parameters through kinko, one GetParametersByPath read
// (kinko's GET /systemsmanager/parameters/getbypath: every page, one cache entry).
func (c *client) resolvePath(r reference.Reference) ([]variable, error) {
	a, err := c.get("/systemsmanager/parameters/getbypath?path=" + escape(r.ID) + "&withDecryption=true")
	if err != nil {
		return nil, err
	}
	if a.status != 200 {
		return nil, a.problem()
	}
	notDocument := errorString("kinko's answer is not a GetParametersByPath document (" + strconv.Itoa(len(a.body)) + " bytes)")
	list, isString, found, err := jsonfield.Field(a.body, "Parameters")
	if err != nil || !found || isString {
		return nil, notDocument
	}
	params, err := jsonfield.Elements([]byte(list))
	if err != nil {
		return nil, notDocument
	}
	vars := make([]variable, 0, len(params))
	for _, p := range params {
		name, nameIsString, _, err1 := jsonfield.Field([]byte(p), "Name")
		value, valueIsString, _, err2 := jsonfield.Field([]byte(p), "Value")
		if err1 != nil || err2 != nil || !nameIsString || !valueIsString {
			return nil, notDocument
		}
		vars = append(vars, variable{parameter: name, value: value})
	}
	return vars, nil
}

type answer struct {
	status      int
	contentType string
	errorType   string
	location    string // of a redirect, which get never follows: the token goes to kinko only
	body        []byte
}

// problem says what an error answer means, with kinko's message: kinko never puts a value in one.
func (a answer) problem() error {
	code, msg := a.errorType, ""
	if t, isString, found, err := jsonfield.Field(a.body, "__type"); err == nil && found && isString {
		code = t
	}
	if m, isString, found, err := jsonfield.Field(a.body, "message"); err == nil && found && isString {
		msg = m
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "..."
	}
	var what string
	switch {
	case code == "ResourceNotFoundException" || code == "ParameterNotFound":
		what = "not found"
	case code == "JsonKeyNotFound":
		what = "no such JSON key"
	case a.status == 401:
		what = "kinko refused the session token"
	case code == "AccessDeniedException" || code == "AccessDenied" || a.status == 403:
		what = "access denied: allow the function's role to read it (secretsmanager:GetSecretValue, ssm:GetParameter, kms:Decrypt)"
	case a.status == 504:
		what = "AWS did not answer in time"
	case a.status >= 300 && a.status < 400:
		to := a.location
		if r := []rune(to); len(r) > 200 {
			to = string(r[:200]) + "..."
		}
		if to == "" {
			to = "nowhere (no Location)"
		}
		// kinko never redirects; following would hand the session token to whoever this is.
		what = "kinko's port answered " + strconv.Itoa(a.status) + ", a redirect to " + to +
			", not followed: kinko never redirects, so something else is listening there"
	default:
		what = "kinko answered " + strconv.Itoa(a.status)
	}
	if code != "" {
		what += " (" + code + ")"
	}
	if msg != "" {
		what += ": " + msg
	}
	return errorString(what)
}

// get sends one GET over loopback and reads the answer (HTTP/1.0: package rawhttp).
func (c *client) get(target string) (answer, error) {
	fd, err := c.connect()
	if err != nil {
		return answer{}, err
	}
	defer syscall.Close(fd)
	req := rawhttp.Request("GET", target, "127.0.0.1:"+strconv.Itoa(c.port),
		[]string{tokenHeader + ": " + c.token, "User-Agent: kinko-exec"}, "")
	if err := rawhttp.Send(fd, req); err != nil {
		return answer{}, c.ioError("sending the request", err)
	}
	raw, err := rawhttp.Receive(fd, maxAnswer+64<<10, c.deadline)
	switch {
	case err == rawhttp.ErrTooLong:
		return answer{}, errorString("kinko's answer is larger than " + strconv.Itoa(maxAnswer) + " bytes; is something else listening on 127.0.0.1:" + strconv.Itoa(c.port) + "?")
	case err != nil:
		return answer{}, c.ioError("reading the answer", err)
	}
	return parseAnswer(raw)
}

// connect dials 127.0.0.1:port, trying a refused connection again until c.refused.
func (c *client) connect() (int, error) {
	addr := &syscall.SockaddrInet4{Port: c.port, Addr: [4]byte{127, 0, 0, 1}}
	wait := c.backoff
	for {
		// Every read, write and connect on this socket gives up when the deadline passes.
		left := time.Until(c.deadline)
		if left <= 0 {
			return -1, c.ioError("connecting", rawhttp.ErrTimeout)
		}
		fd, err := rawhttp.Dial(addr, left)
		if err == nil {
			return fd, nil
		}
		if err != syscall.ECONNREFUSED {
			return -1, c.ioError("connecting", err)
		}
		if !time.Now().Add(wait).Before(c.refused) {
			return -1, errorString("kinko is not listening on 127.0.0.1:" + strconv.Itoa(c.port) +
				" (connection refused for " + c.refusedFor() + "): is the kinko layer attached, and did its extension start? See its log lines")
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}

func (c *client) refusedFor() string {
	return strconv.FormatInt(int64(c.refusedL/time.Millisecond), 10) + " ms"
}

func (c *client) ioError(doing string, err error) error {
	if rawhttp.IsTimeout(err) {
		return errorString("kinko at 127.0.0.1:" + strconv.Itoa(c.port) + " did not answer in time (" + doing + "); see kinko's log lines")
	}
	return errorString(doing + " to kinko at 127.0.0.1:" + strconv.Itoa(c.port) + ": " + err.Error())
}

// parseAnswer reads an HTTP/1.x answer (package rawhttp), in kinko-exec's words when it cannot.
func parseAnswer(raw []byte) (answer, error) {
	a, err := rawhttp.Parse(raw)
	switch err {
	case nil:
	case rawhttp.ErrUnfinished:
		return answer{}, errorString("kinko's answer ended before its headers did (" + strconv.Itoa(len(raw)) + " bytes)")
	case rawhttp.ErrNotHTTP:
		return answer{}, errorString("the answer on kinko's port is not HTTP; is something else listening there?")
	case rawhttp.ErrLength:
		return answer{}, errorString("kinko's answer has a bad Content-Length")
	case rawhttp.ErrShort:
		return answer{}, errorString("kinko's answer was cut short (" + strconv.Itoa(len(a.Body)) + " of " + a.Header("Content-Length") + " bytes)")
	case rawhttp.ErrEncoded:
		return answer{}, errorString("kinko's answer to an HTTP/1.0 request is " + a.Header("Transfer-Encoding") + "-encoded, which HTTP/1.0 does not allow")
	default:
		return answer{}, errorString("kinko's answer: " + err.Error())
	}
	errorType, _, _ := strings.Cut(a.Header("X-Amzn-Errortype"), ":")
	return answer{status: a.Status, contentType: strings.ToLower(a.Header("Content-Type")), errorType: errorType,
		location: a.Header("Location"), body: a.Body}, nil
}

// escape percent-encodes s for a query: everything but RFC 3986's unreserved characters.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
