package testservers

import (
	"regexp"
	"testing"
)

func TestUnique(t *testing.T) {
	t.Parallel()
	a, b := Unique(t), Unique(t)
	if a == b {
		t.Errorf("Unique gave %q twice", a)
	}
	if !regexp.MustCompile(`^t_testunique_[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("Unique = %q, want t_testunique_<8 hex>", a)
	}
	t.Run("a long/Name with Ünïcode and more and more", func(t *testing.T) {
		u := Unique(t)
		if !regexp.MustCompile(`^t_[a-z0-9_]{24}_[0-9a-f]{8}$`).MatchString(u) {
			t.Errorf("Unique = %q, want t_<24 of [a-z0-9_]>_<8 hex>", u)
		}
	})
}
