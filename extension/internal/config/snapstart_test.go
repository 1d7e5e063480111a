package config

import (
	"strings"
	"testing"
)

// KINKO_SNAPSTART_INIT_READS is the knowing opt-in to reads during a SnapStart init: refuse (the
// default) or allow, in any case; anything else fails init naming the variable.
func TestSnapStartInitReads(t *testing.T) {
	for _, tc := range []struct {
		value string
		allow bool
	}{{"", false}, {"refuse", false}, {" Refuse ", false}, {"allow", true}, {"ALLOW", true}} {
		c, err := Load(env(map[string]string{"KINKO_SNAPSTART_INIT_READS": tc.value}))
		if err != nil || c.AllowSnapStartInitReads != tc.allow {
			t.Errorf("KINKO_SNAPSTART_INIT_READS=%q: allow %t, %v; want allow %t", tc.value, c.AllowSnapStartInitReads, err, tc.allow)
		}
	}
	for _, bad := range []string{"true", "yes", "1", "allowed"} {
		c, err := Load(env(map[string]string{"KINKO_SNAPSTART_INIT_READS": bad}))
		if err == nil || !strings.Contains(err.Error(), "KINKO_SNAPSTART_INIT_READS") || !strings.Contains(err.Error(), "allow") || c.AllowSnapStartInitReads {
			t.Errorf("KINKO_SNAPSTART_INIT_READS=%q: %v (allow %t); want an error naming the variable and its values, and no reads allowed", bad, err, c.AllowSnapStartInitReads)
		}
	}
}
