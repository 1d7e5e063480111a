package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve answers /ping on ls until the test ends.
func serve(t *testing.T, ls []net.Listener) {
	t.Helper()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			_, _ = w.Write([]byte("healthy"))
			return
		}
		http.NotFound(w, r)
	})}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() { _ = srv.Serve(l) })
	}
	t.Cleanup(func() { _ = srv.Close(); wg.Wait() })
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// With port 0 the first TCP address picks a port and the others take the same one, as in
// Lambda; --ping finds the server there.
func TestListenLoopbackPicksOnePort(t *testing.T) {
	s, err := load(t, map[string]string{"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Listen(s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	port := ls[0].Addr().(*net.TCPAddr).Port
	for _, l := range ls[1:] {
		if p := l.Addr().(*net.TCPAddr).Port; p != port {
			t.Errorf("%s: port %d, want the first address's %d", l.Addr(), p, port)
		}
	}
	serve(t, ls)
	s.Port = port
	if err := Ping(t.Context(), s); err != nil {
		t.Errorf("ping: %v", err)
	}
	s.Port = 0
	if err := Ping(t.Context(), s); err == nil || !strings.Contains(err.Error(), "fixed port") {
		t.Errorf("ping with port 0: %v", err)
	}
}

// A Unix socket gets mode 0660; one left behind by a kinko that died is replaced; a live one,
// or a file that is not a socket, is refused, naming the path.
func TestListenUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kinko.sock")
	s, err := load(t, map[string]string{"KINKO_BIND": "unix:" + path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Listen(s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %v: mode %v, want a socket with 0660", err, fi.Mode())
	}
	serve(t, ls)
	if err := Ping(t.Context(), s); err != nil {
		t.Errorf("ping over the socket: %v", err)
	}
	if _, err := Listen(s, quiet()); err == nil || !strings.Contains(err.Error(), "another process is serving") {
		t.Errorf("a second listener on a live socket: %v", err)
	}

	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false) // as a killed process leaves it
	l.Close()
	s.Bind = []Address{{Unix: stale}}
	ls, err = Listen(s, quiet())
	if err != nil {
		t.Fatalf("a stale socket: %v", err)
	}
	ls[0].Close()

	plain := filepath.Join(dir, "plain")
	_ = os.WriteFile(plain, nil, 0o600)
	s.Bind = []Address{{Unix: plain}}
	if _, err := Listen(s, quiet()); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("a plain file: %v", err)
	}
}

// selfSigned writes a certificate for kinko.internal and its key, as PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kinko.internal"},
		DNSNames: []string{"kinko.internal"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// With KINKO_TLS_CERT and KINKO_TLS_KEY every TCP listener speaks TLS (1.2 at least); --ping
// trusts exactly kinko's own certificate; a plain HTTP client gets no answer.
func TestListenTLS(t *testing.T) {
	cert, key := selfSigned(t)
	s, err := load(t, map[string]string{"KINKO_TLS_CERT": cert, "KINKO_TLS_KEY": key, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Listen(s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ls)
	s.Port = ls[0].Addr().(*net.TCPAddr).Port
	if err := Ping(t.Context(), s); err != nil {
		t.Errorf("ping over TLS: %v", err)
	}
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	if resp, err := plain.Get("http://" + ls[0].Addr().String() + "/ping"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was answered 200 on a TLS listener")
		}
	}
	old := &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true} //nolint:gosec // a handshake that must fail
	if c, err := tls.Dial("tcp", ls[0].Addr().String(), old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// A server with another certificate is not kinko, for --ping.
	other, otherKey := selfSigned(t)
	s2, err := load(t, map[string]string{"KINKO_TLS_CERT": other, "KINKO_TLS_KEY": otherKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.Bind, s2.Port = s.Bind, s.Port
	if err := Ping(t.Context(), s2); err == nil || !strings.Contains(err.Error(), "not kinko's") {
		t.Errorf("ping pinned to another certificate: %v", err)
	}
	if _, err := load(t, map[string]string{"KINKO_TLS_CERT": cert, "KINKO_TLS_KEY": cert}, nil); err == nil ||
		!strings.Contains(err.Error(), "cannot load the certificate") {
		t.Errorf("a certificate given as its key: %v", err)
	}
}

// An address that cannot be bound is an error naming it and what to do; what was bound before
// it is closed.
func TestListenPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	s, err := load(t, map[string]string{"KINKO_BIND": "127.0.0.2:0,127.0.0.1:" + strconv.Itoa(port)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(s, quiet()); err == nil || !strings.Contains(err.Error(), "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
		t.Errorf("a taken port: %v", err)
	}
}
