package api

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST cases must not depend on the machine's zoneinfo
)

func cronUTC(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCronNextInUTC(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		after string
		want  string
	}{
		{name: "every 15 minutes", spec: "*/15 * * * *", after: "2024-01-01 10:07:30", want: "2024-01-01 10:15:00"},
		{name: "strictly after an exact match", spec: "30 10 * * *", after: "2024-01-01 10:30:00", want: "2024-01-02 10:30:00"},
		{name: "a second before a match", spec: "30 10 * * *", after: "2024-01-01 10:29:59", want: "2024-01-01 10:30:00"},
		{name: "hourly macro", spec: "@hourly", after: "2024-01-01 10:59:59", want: "2024-01-01 11:00:00"},
		{name: "daily macro", spec: "@daily", after: "2024-01-01 00:00:00", want: "2024-01-02 00:00:00"},
		{name: "midnight macro", spec: "@midnight", after: "2024-01-31 23:59:00", want: "2024-02-01 00:00:00"},
		{name: "weekly macro is Sunday midnight", spec: "@weekly", after: "2024-01-01 00:00:00", want: "2024-01-07 00:00:00"},
		{name: "monthly macro", spec: "@monthly", after: "2024-01-15 12:00:00", want: "2024-02-01 00:00:00"},
		{name: "yearly wraps the year", spec: "@yearly", after: "2024-06-01 00:00:00", want: "2025-01-01 00:00:00"},
		{name: "annually equals yearly", spec: "@ANNUALLY", after: "2024-12-31 23:59:00", want: "2025-01-01 00:00:00"},
		{name: "feb 29 in a leap year", spec: "0 0 29 2 *", after: "2023-03-01 00:00:00", want: "2024-02-29 00:00:00"},
		{name: "feb 29 four years on", spec: "0 0 29 2 *", after: "2024-02-29 00:00:00", want: "2028-02-29 00:00:00"},
		{name: "feb 29 skips 2100", spec: "0 0 29 2 *", after: "2096-03-01 00:00:00", want: "2104-02-29 00:00:00"},
		{name: "31st skips short months", spec: "0 0 31 * *", after: "2024-04-01 00:00:00", want: "2024-05-31 00:00:00"},
		{name: "weekday range", spec: "0 9 * * MON-FRI", after: "2024-01-06 12:00:00", want: "2024-01-08 09:00:00"},
		{name: "7 is Sunday", spec: "0 0 * * 7", after: "2024-01-01 00:00:00", want: "2024-01-07 00:00:00"},
		{name: "range ending in SUN", spec: "0 0 * * sat-sun", after: "2024-01-01 00:00:00", want: "2024-01-06 00:00:00"},
		{name: "month names any case", spec: "0 12 1 jan,Jul *", after: "2024-01-02 00:00:00", want: "2024-07-01 12:00:00"},
		{name: "start with step", spec: "5/20 * * * *", after: "2024-01-01 10:26:00", want: "2024-01-01 10:45:00"},
		{name: "range with step", spec: "10-30/10 * * * *", after: "2024-01-01 10:30:00", want: "2024-01-01 11:10:00"},
		{name: "list", spec: "0 6,18 * * *", after: "2024-01-01 07:00:00", want: "2024-01-01 18:00:00"},
		{name: "day-of-month or day-of-week: the Friday", spec: "0 0 13 * FRI", after: "2024-01-01 00:00:00", want: "2024-01-05 00:00:00"},
		{name: "day-of-month or day-of-week: the 13th", spec: "0 0 13 * FRI", after: "2024-01-12 00:00:00", want: "2024-01-13 00:00:00"},
		{name: "a stepped day-of-month counts as restricted", spec: "0 0 */2 * MON", after: "2024-01-01 00:00:00", want: "2024-01-03 00:00:00"},
		{name: "day-of-week alone ignores day-of-month star", spec: "0 0 * * WED", after: "2024-01-01 00:00:00", want: "2024-01-03 00:00:00"},
		{name: "question mark is a star", spec: "0 0 1 * ?", after: "2024-01-05 00:00:00", want: "2024-02-01 00:00:00"},
		{name: "month end rolls over", spec: "59 23 * * *", after: "2023-12-31 23:59:00", want: "2024-01-01 23:59:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseCron(tt.spec)
			if err != nil {
				t.Fatalf("ParseCron(%q): %v", tt.spec, err)
			}
			got := s.Next(cronUTC(tt.after))
			if want := cronUTC(tt.want); !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("Next(%s) = %v, want %v", tt.after, got, want)
			}
		})
	}
}

func TestCronNextKeepsTheLocationOfItsArgument(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	s, err := ParseCron("0 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Next(time.Date(2024, 3, 1, 9, 0, 0, 0, ist))
	if want := time.Date(2024, 3, 2, 9, 0, 0, 0, ist); !got.Equal(want) || got.Location() != ist {
		t.Fatalf("Next = %v, want %v in IST", got, want)
	}
}

func TestCronNextAcrossDaylightSaving(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		spec       string
		after      time.Time
		want       time.Time
		wantOffset int
	}{
		// 2024-03-10 02:00 EST jumps to 03:00 EDT: 02:30 does not exist that day.
		{name: "a time in the spring gap is skipped", spec: "30 2 * * *", after: time.Date(2024, 3, 9, 12, 0, 0, 0, ny), want: time.Date(2024, 3, 11, 2, 30, 0, 0, ny), wantOffset: -4 * 3600},
		// 2024-11-03 02:00 EDT falls back to 01:00 EST: 01:30 happens twice.
		{name: "a repeated time runs once", spec: "30 1 * * *", after: time.Date(2024, 11, 3, 1, 30, 0, 0, ny), want: time.Date(2024, 11, 4, 1, 30, 0, 0, ny), wantOffset: -5 * 3600},
		{name: "hourly keeps running through the fall back", spec: "0 * * * *", after: time.Date(2024, 11, 3, 0, 30, 0, 0, ny), want: time.Date(2024, 11, 3, 1, 0, 0, 0, ny), wantOffset: -4 * 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseCron(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Next(tt.after)
			if _, off := got.Zone(); !got.Equal(tt.want) || off != tt.wantOffset {
				t.Fatalf("Next(%v) = %v, want %v (offset %d)", tt.after, got, tt.want, tt.wantOffset)
			}
		})
	}
}

// TestCronNextIsTheFirstMatch compares Next with a minute-by-minute walk.
func TestCronNextIsTheFirstMatch(t *testing.T) {
	specs := []string{"*/7 3-5 * * *", "0 0 1,15 * MON", "17 */5 * FEB,MAR SUN", "0 12 * * 1-5", "45 23 31 * *"}
	starts := []time.Time{cronUTC("2024-02-27 22:13:00"), cronUTC("2023-12-30 23:59:59"), cronUTC("2025-03-01 00:00:00")}
	for _, spec := range specs {
		s, err := ParseCron(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, start := range starts {
			want := time.Time{}
			for m := start.Truncate(time.Minute).Add(time.Minute); m.Before(start.AddDate(0, 2, 0)); m = m.Add(time.Minute) {
				if cronMatches(s, m) {
					want = m
					break
				}
			}
			if want.IsZero() {
				t.Fatalf("%q: no match within two months of %v; pick another start", spec, start)
			}
			if got := s.Next(start); !got.Equal(want) {
				t.Errorf("%q Next(%v) = %v, want %v", spec, start, got, want)
			}
		}
	}
}

func cronMatches(s *CronSchedule, t time.Time) bool {
	return s.minute&(1<<uint(t.Minute())) != 0 && s.hour&(1<<uint(t.Hour())) != 0 &&
		s.mon&(1<<uint(t.Month())) != 0 && s.dayMatches(t)
}

func TestParseCronErrorsNameTheFieldAndValue(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{give: "61 * * * *", want: "minute 61 is out of range 0-59"},
		{give: "* 24 * * *", want: "hour 24 is out of range 0-23"},
		{give: "* * 0 * *", want: "day-of-month 0 is out of range 1-31"},
		{give: "* * * 13 *", want: "month 13 is out of range 1-12"},
		{give: "* * * * 8", want: "day-of-week 8 is out of range 0-7"},
		{give: "* * * FOO *", want: `month "FOO" is not a number or a month name (JAN-DEC)`},
		{give: "* * * * funday", want: `day-of-week "funday" is not a number or a weekday name (SUN-SAT)`},
		{give: "x * * * *", want: `minute "x" is not a number`},
		{give: "+5 * * * *", want: `minute "+5" is not a number`},
		{give: "99999999999999999999 * * * *", want: "minute 99999999999999999999 is out of range 0-59"},
		{give: "*/0 * * * *", want: `minute step 0 in "*/0" must be at least 1`},
		{give: "*/x * * * *", want: `minute step "x" in "*/x" is not a number`},
		{give: "5-2 * * * *", want: `minute range "5-2" is backwards`},
		{give: "-1 * * * *", want: `minute range "-1" needs a start and an end`},
		{give: "1,,2 * * * *", want: `minute "1,,2" has an empty list element`},
		{give: "* * * *", want: "expected 5 fields (minute hour day-of-month month day-of-week) or a macro like @daily, found 4"},
		{give: "0 * * * * *", want: "found 6"},
		{give: "@often", want: `unknown macro "@often"`},
		{give: "@every 5m", want: `unknown macro "@every 5m"`},
		{give: "   ", want: "schedule is empty"},
		{give: "TZ=UTC 0 * * * *", want: "set spec.timeZone instead"},
		{give: "CRON_TZ=UTC 0 * * * *", want: "set spec.timeZone instead"},
		{give: "0 0 30 2 *", want: `day-of-month "30" never occurs in month "2"`},
		{give: "0 0 31 APR,JUN *", want: "never occurs"},
	}
	for _, tt := range tests {
		s, err := ParseCron(tt.give)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCron(%q) = %v, %v; want an error containing %q", tt.give, s, err, tt.want)
		}
	}
}

func TestParseCronAcceptsImpossibleDatesWhenTheWeekdayMayMatch(t *testing.T) {
	// Either field may match, so Mondays still fire.
	s, err := ParseCron("0 0 30 2 MON")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Next(cronUTC("2024-01-01 00:00:00")), cronUTC("2024-02-05 00:00:00"); !got.Equal(want) {
		t.Fatalf("Next = %v, want %v", got, want)
	}
	if s.String() != "0 0 30 2 MON" {
		t.Fatalf("String() = %q", s.String())
	}
}

// FuzzCron: ParseCron never panics, and Next returns a whole minute in its
// argument's location, strictly after it, that the schedule matches.
func FuzzCron(f *testing.F) {
	f.Add("*/15 * * * *", int64(1704103650), int16(0))
	f.Add("0 0 29 2 *", int64(4000000000), int16(330))
	f.Add("0 0 13 * FRI", int64(-86400*365*30), int16(-300))
	f.Add("5/20 1-5/2 1,15 JAN-jun sun-sat", int64(0), int16(60))
	f.Add("@weekly", int64(253402300000), int16(0))
	f.Add("59 23 31 12 7", int64(-62135596800), int16(-720))
	f.Fuzz(func(t *testing.T, spec string, unix int64, offsetMinutes int16) {
		s, err := ParseCron(spec)
		if err != nil {
			return
		}
		loc := time.FixedZone("fuzz", int(offsetMinutes%(18*60))*60)
		after := time.Unix(unix, 0).In(loc)
		next := s.Next(after)
		if next.IsZero() {
			if y := after.Year(); y > 1 && y < 100000 {
				t.Fatalf("%q: no time after %v", spec, after)
			}
			return
		}
		if !next.After(after) {
			t.Fatalf("%q: Next(%v) = %v, not after it", spec, after, next)
		}
		if next.Location() != loc || next.Second() != 0 || next.Nanosecond() != 0 {
			t.Fatalf("%q: Next(%v) = %v, not a whole minute in the argument's location", spec, after, next)
		}
		if !cronMatches(s, next) {
			t.Fatalf("%q: Next(%v) = %v, which the schedule does not match", spec, after, next)
		}
	})
}
