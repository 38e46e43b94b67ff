package wire

import (
	"testing"
	"time"
)

// The service writes date-times in .NET's round-trip form with the
// fraction's trailing zeros trimmed; these are recorded values.
func TestFormatTimeAsTheService(t *testing.T) {
	cases := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2022, 11, 16, 9, 47, 55, 688402000, time.UTC), "2022-11-16T09:47:55.688402+00:00"},
		{time.Date(2023, 6, 28, 7, 30, 12, 703938300, time.UTC), "2023-06-28T07:30:12.7039383+00:00"},
		{time.Date(2025, 4, 14, 15, 32, 27, 0, time.UTC), "2025-04-14T15:32:27+00:00"},
		{time.Date(2025, 4, 14, 15, 32, 27, 500000000, time.UTC), "2025-04-14T15:32:27.5+00:00"},
		// Digits beyond .NET's 100 ns tick are not written.
		{time.Date(2025, 4, 14, 15, 32, 27, 123456789, time.UTC), "2025-04-14T15:32:27.1234567+00:00"},
		// Any zone is written as UTC.
		{time.Date(2025, 4, 14, 17, 32, 27, 0, time.FixedZone("CEST", 2*3600)), "2025-04-14T15:32:27+00:00"},
	}
	for _, c := range cases {
		if got := FormatTime(c.in); got != c.want {
			t.Errorf("FormatTime(%v) = %q, want %q", c.in, got, c.want)
		}
		b, _ := Time{c.in}.MarshalJSON()
		if string(b) != `"`+c.want+`"` {
			t.Errorf("MarshalJSON(%v) = %s", c.in, b)
		}
		back, err := ParseTime(c.want)
		if err != nil || !back.Equal(c.in.Truncate(100*time.Nanosecond)) {
			t.Errorf("ParseTime(%q) = %v, %v", c.want, back, err)
		}
	}
}
