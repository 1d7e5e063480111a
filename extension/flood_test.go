package main

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 22 point 10: a loop over a missing id costs one call to AWS per KINKO_NOT_FOUND_TTL,
// and the secret appears once created and that time has passed.
func TestMissingIDIsRememberedBriefly(t *testing.T) {
	a := startAWS(t)
	x := startExtension(t, a, map[string]string{"KINKO_NOT_FOUND_TTL": "2"})
	x.waitLog(`"msg":"ready"`, `"not_found_ttl_s":2`)
	a.proxy.ResetCounts()
	const path = "/secretsmanager/get?secretId=flood/missing"
	for range 20 {
		if r := x.get(path); !notFoundStatus(r.status) || !strings.Contains(r.body, `"__type":"ResourceNotFoundException"`) {
			t.Fatalf("missing id: %d %s, want ResourceNotFoundException", r.status, redact(r.body))
		}
	}
	if n := a.proxy.Calls("GetSecretValue"); n != 1 {
		t.Fatalf("20 reads of a missing id made %d calls to AWS, want 1", n)
	}
	const value = "s3cr3t-flood-created-91c2"
	a.createSecret(t, "flood/missing", value)
	waitFor(t, "the created secret to be served", 10*time.Second, func() bool { return x.get(path).status == 200 })
	x.assertNoSecrets(a, value)
}

// Issue 22 point 10: refreshNow in a loop from 8 threads costs at most one call to AWS a
// second, and every answer is the value.
func TestRefreshNowFloodIsFloored(t *testing.T) {
	a := startAWS(t)
	const value = "s3cr3t-flood-refreshed-5e07"
	a.createSecret(t, "flood/hot", value)
	x := startExtension(t, a, nil)
	x.waitLog(`"msg":"ready"`)
	a.proxy.ResetCounts()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := 0
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < 2*time.Second {
				r := x.get("/secretsmanager/get?secretId=flood/hot&refreshNow=true")
				if r.status != 200 || !strings.Contains(r.body, value) {
					t.Errorf("refreshNow: %d, want 200 with the value", r.status)
					return
				}
				mu.Lock()
				answers++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if n, most := a.proxy.Calls("GetSecretValue"), int(took/time.Second)+1; n > most {
		t.Fatalf("%d refreshNow in %s made %d calls to AWS, want at most %d (one a second)", answers, took, n, most)
	}
	x.assertNoSecrets(a, value)
}
