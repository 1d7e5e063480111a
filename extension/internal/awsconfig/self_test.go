package awsconfig

import (
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// kinko's listeners in Lambda: 127.0.0.1 and [::1] on its port.
var ownListeners = []net.Addr{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2773}, &net.TCPAddr{IP: net.IPv6loopback, Port: 2773}}

// Every spelling of kinko's own address is kinko; another port, another host, or a name that
// would need a lookup is not.
func TestPointsAtKinkoInEverySpelling(t *testing.T) {
	noInterfaces := func() ([]net.Addr, error) { return nil, errors.New("not asked") }
	for url, want := range map[string]bool{
		"http://localhost:2773":                          true,
		"http://LOCALHOST.:2773/":                        true,
		"http://kinko.localhost:2773":                    true,
		"http://127.0.0.1:2773":                          true,
		"http://127.1:2773":                              true,
		"http://2130706433:2773":                         true,
		"http://0x7f.1:2773":                             true,
		"http://0177.0.0.1:2773":                         true,
		"http://[::1]:2773/secretsmanager":               true,
		"http://[::ffff:127.0.0.1]:2773":                 true,
		"http://0.0.0.0:2773":                            true,
		"http://[::]:2773":                               true,
		"http://localhost:2774":                          false,
		"http://127.0.0.2:2773":                          false,
		"http://localhost":                               false, // port 80
		"https://127.0.0.1":                              false, // port 443
		"http://kinko.internal:2773":                     false, // not looked up: the hop header catches it
		"https://secretsmanager.us-east-1.amazonaws.com": false,
		"http://127.0.0.1.5:2773":                        false,
		"http://256.1:2773":                              false,
		"http://127.16777216:2773":                       false,
		"not a url":                                      false,
		"http://%zz:2773":                                false,
	} {
		if got := PointsAt(url, ownListeners, noInterfaces); got != want {
			t.Errorf("PointsAt(%q) = %t, want %t", url, got, want)
		}
	}
	// A kinko bound to every address (outside Lambda) is also reached at the host's own addresses.
	any := []net.Addr{&net.TCPAddr{IP: net.IPv4zero, Port: 2773}}
	ifaces := func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.IPv4(10, 1, 2, 3), Mask: net.CIDRMask(24, 32)}}, nil
	}
	if !PointsAt("http://10.1.2.3:2773", any, ifaces) || !PointsAt("http://127.0.0.5:2773", any, ifaces) || PointsAt("http://10.1.2.4:2773", any, ifaces) {
		t.Error("a kinko on 0.0.0.0: want its interface addresses and the loopback, nothing else")
	}
}

// An endpoint variable pointing at kinko is the function's: kinko falls back to
// AWS_ENDPOINT_URL if that is not kinko too, else to AWS's endpoint, and says which it skipped.
func TestEndpointsAvoidKinkoItself(t *testing.T) {
	e, ignored := EndpointsAvoiding(envOf(map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://localhost:2773",
		"AWS_ENDPOINT_URL_SSM":             "http://127.1:2773/parameterstore",
		"AWS_ENDPOINT_URL":                 "http://moto:5000",
	}), ownListeners)
	if e[kinko.SecretsManager] != "http://moto:5000" || e[kinko.SSM] != "http://moto:5000" ||
		!slices.Equal(ignored, []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SSM"}) {
		t.Fatalf("endpoints %v, ignored %v; want AWS_ENDPOINT_URL for both, the two service variables ignored", e, ignored)
	}
	e, ignored = EndpointsAvoiding(envOf(map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://localhost:2773",
		"AWS_ENDPOINT_URL":                 "http://[::1]:2773",
	}), ownListeners)
	if e[kinko.SecretsManager] != "" || e[kinko.SSM] != "" || !slices.Equal(ignored, []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"}) {
		t.Fatalf("endpoints %v, ignored %v; want AWS's endpoints, both variables ignored once each", e, ignored)
	}
	// Without listeners (nothing bound yet) nothing is kinko.
	if e, ignored := EndpointsAvoiding(envOf(map[string]string{"AWS_ENDPOINT_URL_SSM": "http://localhost:2773"}), nil); e[kinko.SSM] == "" || ignored != nil {
		t.Fatalf("no listeners: %v %v", e, ignored)
	}
}

// FIPS with the endpoint variables pointing at kinko is not the conflict AWS's SDK refuses:
// kinko calls AWS's FIPS endpoint itself.
func TestFIPSWithTheEndpointAtKinko(t *testing.T) {
	if _, err := Load(staticEnv("AWS_USE_FIPS_ENDPOINT", "true", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://localhost:2773",
		"AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:2773")); err != nil {
		t.Fatalf("FIPS with the endpoints at kinko: %v", err)
	}
	if _, err := Load(staticEnv("AWS_USE_FIPS_ENDPOINT", "true", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "3000",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://localhost:3000")); err != nil {
		t.Fatalf("FIPS with the endpoint at kinko on its configured port: %v", err)
	}
	if _, err := Load(staticEnv("AWS_USE_FIPS_ENDPOINT", "true", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://localhost:2773",
		"AWS_ENDPOINT_URL", "http://127.0.0.1:4566")); err == nil {
		t.Fatal("FIPS with another custom endpoint beside kinko's: want the init error")
	}
}
