package cache

import "time"

// maxCallsPerTTL bounds what the default refresh-ahead costs at steady load (CONTRACT.md
// section 4): its earliest point is 1/maxCallsPerTTL of the TTL. A RefreshAhead the user sets
// is used as given: they chose more calls for fresher values.
const maxCallsPerTTL = 1.2

// age is how old e is at (now, wall): the larger of its monotonic and wall-clock ages, so a
// clock that stood still never makes a value younger. A wall clock stepped back (NTP) makes
// the wall age negative, and the monotonic age rules.
func (e *entry[K, V]) age(now, wall time.Time) time.Duration {
	return max(now.Sub(e.stored), wall.Sub(e.wall))
}

// clocks reads the monotonic clock and the wall clock: Options.Wall when set, else the wall
// reading that Now's time.Time already carries (Round(0) strips the monotonic one).
func (c *Cache[K, V]) clocks() (now, wall time.Time) {
	now = c.o.Now()
	return now, c.wall(now)
}

// wall is the wall-clock reading to go with now (see clocks).
func (c *Cache[K, V]) wall(now time.Time) time.Time {
	if c.o.Wall == nil {
		return now.Round(0)
	}
	return c.o.Wall()
}

// left is the freshness of an answer taken from cl at now.
func (cl *call[V]) left(now time.Time) time.Duration {
	if cl.life == 0 {
		return 0 // not stored (a Forget came, or a newer value won)
	}
	return max(0, cl.life-now.Sub(cl.storedAt))
}

// lifetimes draws a new value's lifetime (a random 90-100% of ttl, never longer: the TTL is a
// promise about age, and sandboxes started together then do not refresh in the same second)
// and its refresh-ahead point: RefreshAhead of the lifetime when it is set; by default spread
// at random over the earliest three quarters of the time between 1/1.2 of the TTL and the
// lifetime, so at steady load a key costs at most 1.2 upstream calls per TTL.
func (c *Cache[K, V]) lifetimes(ttl time.Duration) (life, refreshAt time.Duration) {
	life = ttl - time.Duration(c.o.Rand()*float64(ttl)/10)
	switch {
	case c.o.RefreshAhead >= 1:
		return life, life
	case c.o.RefreshAhead > 0:
		return life, time.Duration(c.o.RefreshAhead * float64(life))
	}
	lo := time.Duration(float64(ttl) / maxCallsPerTTL)
	if lo >= life {
		return life, life
	}
	// The last quarter of the window is kept as lead, so that a refresh started at the
	// latest point still has time to land before the value expires.
	return life, lo + time.Duration(c.o.Rand()*float64(life-lo)*3/4)
}
