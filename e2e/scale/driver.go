package scale

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Read is one secret read by a function: what it asked, when, how long it waited, what it got.
type Read struct {
	Sandbox, Secret int
	First           bool          // the sandbox's first read of this secret
	At              time.Duration // sent, since the scenario's epoch
	Wait            time.Duration
	Status          int    // HTTP status; 0 when the read failed without one (the budget ran out)
	CacheStatus     string // kinko's Cache-Status header
	Version         int    // the version answered (VersionID's number); 0 for none
}

// Stale says whether kinko answered from a value past its freshness (`hit;
// detail=stale-if-error` or `detail=stale-while-revalidate`); `fwd=stale` is a fresh value
// fetched because the stored one was stale.
func (r Read) Stale() bool { return strings.Contains(r.CacheStatus, "detail=stale") }

// Reader reads one secret for sandbox i and fills Status, CacheStatus and Version.
type Reader func(ctx context.Context, i, secret int) Read

// Workload drives every sandbox as a function would: invokes arrive at Pace a second (a
// Poisson process, as independent users make), one at a time, and each reads every secret in
// turn. All loops end at Until.
type Workload struct {
	Sandboxes int
	Secrets   int
	Pace      float64
	Epoch     time.Time // Read.At counts from here
	// Begin blocks until sandbox i may be invoked and says when its first invoke is; false
	// when it never may (it did not start).
	Begin func(ctx context.Context, i int) (time.Time, bool)
	Until time.Time   // no invoke starts after this
	Stop  func() bool // ends the run early when true (checked between invokes); nil: never
	Seed  uint64      // for the arrival times: the same seed, the same schedule
	Read  Reader

	mu      sync.Mutex
	reads   []Read
	invokes int
}

// Run drives the sandboxes until Until and returns every read, in no particular order, and
// the number of invokes made.
func (w *Workload) Run(ctx context.Context) ([]Read, int) {
	var wg sync.WaitGroup
	for i := range w.Sandboxes {
		wg.Go(func() { w.sandbox(ctx, i) })
	}
	wg.Wait()
	return w.reads, w.invokes
}

func (w *Workload) sandbox(ctx context.Context, i int) {
	rng := rand.New(rand.NewPCG(w.Seed, uint64(i)))
	next, ok := w.Begin(ctx, i)
	if !ok {
		return
	}
	mean := float64(time.Second) / w.Pace
	var mine []Read
	invokes := 0
	for first := true; next.Before(w.Until); first = false {
		if !sleepUntil(ctx, next) || w.Stop != nil && w.Stop() {
			break
		}
		invokes++
		for k := range w.Secrets {
			sent := time.Now()
			r := w.Read(ctx, i, k)
			r.Sandbox, r.Secret, r.First = i, k, first
			r.At, r.Wait = sent.Sub(w.Epoch), time.Since(sent)
			mine = append(mine, r)
		}
		// The next user arrives an exponential gap after this one did, capped at four means so
		// the loop stays bounded; a sandbox busy past it takes the next invoke at once.
		next = next.Add(time.Duration(min(rng.ExpFloat64(), 4) * mean))
	}
	w.mu.Lock()
	w.reads = append(w.reads, mine...)
	w.invokes += invokes
	w.mu.Unlock()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// KinkoReader reads through each sandbox's kinko, as the function does over loopback.
// budget is how long a function waits for one read.
func KinkoReader(f *Fleet, secrets []string, budget time.Duration) (Reader, func()) {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: budget}
	paths := make([]string, len(secrets))
	for k, s := range secrets {
		paths[k] = "/secretsmanager/get?" + url.Values{"secretId": {s}}.Encode()
	}
	return func(ctx context.Context, i, k int) Read {
		resp, err := f.Sandboxes[i].get(ctx, client, paths[k])
		if err != nil {
			return Read{}
		}
		defer resp.Body.Close()
		r := Read{Status: resp.StatusCode, CacheStatus: resp.Header.Get("Cache-Status")}
		var doc struct{ VersionId string }
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
			if resp.StatusCode == http.StatusOK {
				r.Status = 0 // a 200 cut short is no answer
			}
			return r
		}
		r.Version = versionNumber(doc.VersionId)
		return r
	}, tr.CloseIdleConnections
}

// SDKReader reads with the AWS SDK on every invoke, straight from the stand-in: what a fleet
// without kinko does. Each sandbox has its own client (and connections), signing with its own
// access key id.
func SDKReader(n int, endpoint string, secrets []string, budget time.Duration) (Reader, func()) {
	clients := make([]*secretsmanager.Client, n)
	var closers []func()
	for i := range n {
		hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.Proxy = nil })
		clients[i] = secretsmanager.New(secretsmanager.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(endpoint),
			Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID(i), "scale-secret-key", ""),
			HTTPClient:   hc,
		})
		closers = append(closers, func() { hc.GetTransport().CloseIdleConnections() })
	}
	return func(ctx context.Context, i, k int) Read {
			ctx, cancel := context.WithTimeout(ctx, budget)
			defer cancel()
			out, err := clients[i].GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secrets[k])})
			if err != nil {
				var re *awshttp.ResponseError
				if errors.As(err, &re) {
					return Read{Status: re.HTTPStatusCode()}
				}
				return Read{}
			}
			return Read{Status: http.StatusOK, Version: versionNumber(aws.ToString(out.VersionId))}
		}, func() {
			for _, c := range closers {
				c()
			}
		}
}

// versionNumber is VersionID's inverse; 0 for an id it did not make.
func versionNumber(id string) int {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil {
		return 0
	}
	return n
}
