package cache

import "time"

// Outcome says how an answer was produced; the server turns it into Cache-Status.
type Outcome uint8

const (
	Bypass               Outcome = iota // caching is off for this key: fetched, not stored
	Hit                                 // fresh entry
	Miss                                // no usable entry: this request's attempt fetched and stored
	Collapsed                           // no usable entry: joined an attempt another request started
	Expired                             // entry expired (inside the stale window): refetched within MaxWait
	StaleIfError                        // entry expired, the upstream failed transiently (or kinko backs off): served stale
	StaleWhileRevalidate                // entry expired, the refetch outlasted MaxWait: served stale, refetch goes on
	Refreshed                           // caller asked to bypass the cache (refreshNow): fetched and stored
)

// Status describes one answer.
type Status struct {
	Outcome Outcome
	// TTL is the freshness left for every fresh answer (Hit, Miss, Collapsed, Expired,
	// Refreshed); zero for stale answers, bypassed ones and errors.
	TTL time.Duration
}

// Observer counts what the cache does (metrics). All methods must be safe for concurrent use.
type Observer interface {
	Hit()
	Miss()
	Collapsed()
	StaleServed() // every stale answer, whatever the reason
	// StaleWhileRevalidate counts the stale answers given because the refetch was slower than
	// MaxWait (also counted by StaleServed); the rest were given because the upstream failed.
	StaleWhileRevalidate()
}

type nopObserver struct{}

func (nopObserver) Hit()                  {}
func (nopObserver) Miss()                 {}
func (nopObserver) Collapsed()            {}
func (nopObserver) StaleServed()          {}
func (nopObserver) StaleWhileRevalidate() {}

func (o Outcome) String() string {
	switch o {
	case Bypass:
		return "bypass"
	case Hit:
		return "hit"
	case Miss:
		return "miss"
	case Collapsed:
		return "collapsed"
	case Expired:
		return "expired"
	case StaleIfError:
		return "stale-if-error"
	case StaleWhileRevalidate:
		return "stale-while-revalidate"
	case Refreshed:
		return "refreshed"
	}
	return "unknown"
}
