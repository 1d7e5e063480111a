package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// pingTimeout bounds kinko --ping: a health check that hangs is a failed one.
const pingTimeout = 2 * time.Second

// Ping asks the kinko that s describes for /ping, as a health check of an image without a shell
// does (ECS healthCheck, a Kubernetes exec probe): over its first address (an address that
// listens on every interface is asked over loopback), over TLS pinned to its own certificate
// when it has one. It returns nil when kinko answers "healthy".
func Ping(ctx context.Context, s Settings) error {
	if len(s.Bind) == 0 {
		return errors.New("no address to ask")
	}
	a := s.Bind[0]
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", a.Unix)
	}
	target := "http://localhost/ping"
	if a.Unix == "" {
		port := a.Port
		if port < 0 {
			port = s.Port
		}
		if port == 0 {
			return errors.New("kinko's port is 0 (picked at start): --ping needs a fixed port")
		}
		host := a.Host
		switch host {
		case "0.0.0.0":
			host = "127.0.0.1"
		case "::":
			host = "::1"
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}
		if loopbackIP(host) {
			target = "http://" + addr + "/ping"
		} else {
			target = "http://" + net.JoinHostPort(a.Host, strconv.Itoa(port)) + "/ping"
		}
	}
	tr := &http.Transport{DialContext: dial, Proxy: nil, DisableKeepAlives: true}
	if s.TLS != nil && a.Unix == "" {
		target = "https" + target[len("http"):]
		pinned, err := pin(s.TLS)
		if err != nil {
			return err
		}
		tr.TLSClientConfig = pinned
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("kinko did not answer /ping: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, []byte("healthy")) {
		return fmt.Errorf("kinko answered /ping with %d", resp.StatusCode)
	}
	return nil
}

// pin is a client configuration that trusts exactly the server's own certificate (the file it
// was given), whatever names it carries: the check dials kinko's own address.
func pin(server *tls.Config) (*tls.Config, error) {
	if len(server.Certificates) == 0 || len(server.Certificates[0].Certificate) == 0 {
		return nil, errors.New("no certificate to pin")
	}
	want := server.Certificates[0].Certificate[0]
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and the name are not what is checked: the leaf must be kinko's own, byte for byte.
		InsecureSkipVerify: true, //nolint:gosec // pinned below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
				return errors.New("the server's certificate is not kinko's (KINKO_TLS_CERT)")
			}
			return nil
		},
	}, nil
}

func loopbackIP(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
