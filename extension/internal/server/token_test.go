package server

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The token check compares the guess with subtle.ConstantTimeCompare (with itself when its
// length is not the token's), so its time depends on the guess's length (which the caller
// knows) and on nothing else: not on whether or where the guess matches the token, nor on the
// token's length. A timing test cannot prove that; it catches a regression that would make it
// plainly false, such as comparing bytes with == or returning early on a length mismatch with
// the token. So guesses are compared with random guesses of their own length.
func TestTokenCheckTimeDependsOnlyOnTheGuessLength(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef" // 32 bytes
	h := NewHandler(newFake(), tok, slog.New(slog.DiscardHandler))
	groups := [][2]string{
		{"right", tok},
		{"first byte differs", "X" + tok[1:]},
		{"last byte differs", tok[:len(tok)-1] + "X"},
		{"random, same length", "zyxwvutsrqponmlkjihgfedcbaZYXWVU"},
		{"one byte short", tok[:len(tok)-1]},
		{"random, one byte short", "zyxwvutsrqponmlkjihgfedcbaZYXWV"},
		{"one byte more", tok + "X"},
		{"random, one byte more", "zyxwvutsrqponmlkjihgfedcbaZYXWVUT"},
	}
	// Rounds interleave the guesses so that a slow moment of the machine falls on all of them.
	const rounds, batch = 301, 200
	samples := make([][]time.Duration, len(groups))
	for range rounds {
		for i, g := range groups {
			req := httptest.NewRequest("GET", "/secretsmanager/get?secretId=app", nil)
			req.Header.Set(TokenHeader, g[1])
			start := time.Now()
			for range batch {
				if (h.checkToken(req) == "") != (g[1] == tok) {
					t.Fatalf("%s: wrong verdict", g[0])
				}
			}
			samples[i] = append(samples[i], time.Since(start)/batch)
		}
	}
	byLength := map[int][]time.Duration{}
	var report []string
	for i, g := range groups {
		slices.Sort(samples[i])
		median := samples[i][len(samples[i])/2]
		byLength[len(g[1])] = append(byLength[len(g[1])], median)
		report = append(report, fmt.Sprintf("%s (%d B) %s", g[0], len(g[1]), median))
	}
	t.Logf("token check, median per call: %s", strings.Join(report, "; "))
	for n, medians := range byLength {
		if lo, hi := slices.Min(medians), slices.Max(medians); float64(hi) > 1.5*float64(lo) {
			t.Errorf("guesses of %d bytes: check times differ by more than 1.5x (%s to %s)", n, lo, hi)
		}
	}
}

// CheckToken runs on every token-only SDK request with options shared by all of them: it reads
// them and writes nothing (under -race, a write to the shared header names fails this), and its
// messages name the token as the options do, Lambda's words when they are empty.
func TestCheckTokenSharesItsOptions(t *testing.T) {
	shared := Options{TokenHeaders: []string{"x-vault-token", "x-aws-parameters-secrets-token"}, TokenName: "the token kinko reads from AWS_TOKEN"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			r := httptest.NewRequest("POST", "/", nil)
			if got := CheckToken(r, []byte("tok"), shared); got != "missing header "+TokenHeader+"; send the token kinko reads from AWS_TOKEN in it" {
				t.Errorf("missing token: %q", got)
			}
		})
	}
	wg.Wait()
	if shared.TokenHeaders[0] != "x-vault-token" {
		t.Errorf("the shared options were changed: %q", shared.TokenHeaders)
	}
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set(TokenHeader, "wrong")
	if got := CheckToken(r, []byte("tok"), Options{}); !strings.HasSuffix(got, "must equal the function's AWS_SESSION_TOKEN") {
		t.Errorf("Lambda's words: %q", got)
	}
	if got := CheckToken(r, nil, Options{}); !strings.Contains(got, "neither AWS_SESSION_TOKEN nor AWS_CONTAINER_AUTHORIZATION_TOKEN") {
		t.Errorf("no token, Lambda's words: %q", got)
	}
}

// WithDefaults canonicalises a copy of the header names: the caller's slice stays as given.
func TestWithDefaultsLeavesTheCallersHeaderNamesAlone(t *testing.T) {
	names := []string{"x-vault-token"}
	o := Options{TokenHeaders: names}.WithDefaults()
	if names[0] != "x-vault-token" || o.TokenHeaders[0] != "X-Vault-Token" || o.Owner != "the function" {
		t.Fatalf("caller's %q, defaults' %q, owner %q", names, o.TokenHeaders, o.Owner)
	}
}
