package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CronSchedule is a parsed standard cron schedule: five fields (minute,
// hour, day-of-month, month, day-of-week) or a macro such as @daily. It is
// what a CronJob's spec.schedule means.
//
// # Notes
//
//   - When both day-of-month and day-of-week are restricted (neither is
//     "*"), a day matches if either matches, as in Vixie cron and
//     Kubernetes. "*/2" counts as restricted, as it does in Kubernetes.
//   - Times are local to the location of the time handed to Next. A local
//     time that does not exist (skipped by a daylight-saving change) is not
//     run; a local time that occurs twice runs once, at its first
//     occurrence.
type CronSchedule struct {
	spec                        string
	minute, hour, dom, mon, dow uint64 // bit i set: value i matches
	domStar, dowStar            bool
}

// cronField describes one of the five fields.
type cronField struct {
	name     string
	min, max int
	names    map[string]int // upper-case names, for month and day-of-week
	nameHelp string
}

func cronFields() [5]cronField {
	months := map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	days := map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
	return [5]cronField{
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day-of-month", min: 1, max: 31},
		{name: "month", min: 1, max: 12, names: months, nameHelp: " or a month name (JAN-DEC)"},
		// 7 is Sunday as well as 0; parseCronField folds it onto 0.
		{name: "day-of-week", min: 0, max: 7, names: days, nameHelp: " or a weekday name (SUN-SAT)"},
	}
}

func cronMacro(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "@yearly", "@annually":
		return "0 0 1 1 *", true
	case "@monthly":
		return "0 0 1 * *", true
	case "@weekly":
		return "0 0 * * 0", true
	case "@daily", "@midnight":
		return "0 0 * * *", true
	case "@hourly":
		return "0 * * * *", true
	}
	return "", false
}

// ParseCron parses a standard five-field cron schedule or one of the macros
// @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly.
// Each field takes "*", a number, a name (JAN–DEC, SUN–SAT, any case), a
// range "a-b", a step "*/n", "a-b/n" or "a/n" (a to the end, every n), and
// comma-separated lists of those. Day-of-week 7 is Sunday.
//
// The error names the field and the bad value ("minute 61 is out of range
// 0-59"). A schedule that can never fire ("0 0 30 2 *") is an error too.
func ParseCron(spec string) (*CronSchedule, error) {
	text := strings.TrimSpace(spec)
	if text == "" {
		return nil, fmt.Errorf("schedule is empty")
	}
	upper := strings.ToUpper(text)
	if strings.HasPrefix(upper, "TZ=") || strings.HasPrefix(upper, "CRON_TZ=") {
		return nil, fmt.Errorf("TZ and CRON_TZ are not supported in the schedule: set spec.timeZone instead")
	}
	if strings.HasPrefix(text, "@") {
		expanded, ok := cronMacro(text)
		if !ok {
			return nil, fmt.Errorf("unknown macro %q: use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly", text)
		}
		text = expanded
	}
	parts := strings.Fields(text)
	if len(parts) != 5 {
		return nil, fmt.Errorf("expected 5 fields (minute hour day-of-month month day-of-week) or a macro like @daily, found %d", len(parts))
	}
	s := &CronSchedule{spec: spec}
	fields := cronFields()
	sets := [5]*uint64{&s.minute, &s.hour, &s.dom, &s.mon, &s.dow}
	stars := [5]bool{}
	for i, f := range fields {
		bits, star, err := parseCronField(parts[i], f)
		if err != nil {
			return nil, err
		}
		*sets[i], stars[i] = bits, star
	}
	s.domStar, s.dowStar = stars[2], stars[4]
	if !s.reachable() {
		return nil, fmt.Errorf("day-of-month %q never occurs in month %q, so the schedule would never run", parts[2], parts[3])
	}
	return s, nil
}

// String returns the schedule as it was written.
func (s *CronSchedule) String() string { return s.spec }

// parseCronField parses one field into a bit set. star reports that the
// field is unrestricted ("*" or "?", without a step greater than 1).
func parseCronField(text string, f cronField) (bits uint64, star bool, err error) {
	for _, part := range strings.Split(text, ",") {
		if part == "" {
			return 0, false, fmt.Errorf("%s %q has an empty list element", f.name, text)
		}
		b, st, err := parseCronPart(part, f)
		if err != nil {
			return 0, false, err
		}
		bits |= b
		star = star || st
	}
	if f.name == "day-of-week" && bits&(1<<7) != 0 {
		bits = bits&^(1<<7) | 1 // 7 is Sunday
	}
	return bits, star, nil
}

func parseCronPart(part string, f cronField) (uint64, bool, error) {
	rng, stepText, hasStep := strings.Cut(part, "/")
	step := 1
	if hasStep {
		n, err := cronNumber(stepText)
		switch {
		case err != nil:
			return 0, false, fmt.Errorf("%s step %q in %q is not a number", f.name, stepText, part)
		case n < 1:
			return 0, false, fmt.Errorf("%s step %d in %q must be at least 1", f.name, n, part)
		}
		step = n
	}
	var lo, hi int
	star := false
	switch {
	case rng == "*" || rng == "?":
		lo, hi = f.min, f.max
		if f.name == "day-of-week" {
			hi = 6 // 7 would be Sunday twice
		}
		star = step == 1
	case strings.Contains(rng, "-"):
		a, b, _ := strings.Cut(rng, "-")
		if a == "" || b == "" {
			return 0, false, fmt.Errorf("%s range %q needs a start and an end, like 1-5", f.name, rng)
		}
		var err error
		if lo, err = cronValue(a, f); err != nil {
			return 0, false, err
		}
		if hi, err = cronValue(b, f); err != nil {
			return 0, false, err
		}
		if f.name == "day-of-week" && hi == 0 && lo > 0 {
			hi = 7 // FRI-SUN means 5-7
		}
		if lo > hi {
			return 0, false, fmt.Errorf("%s range %q is backwards: %d is after %d", f.name, rng, lo, hi)
		}
	default:
		v, err := cronValue(rng, f)
		if err != nil {
			return 0, false, err
		}
		lo, hi = v, v
		if hasStep { // "a/n" means from a to the end of the range
			hi = f.max
		}
	}
	var bits uint64
	for v := lo; v <= hi; v += step {
		bits |= 1 << uint(v)
	}
	return bits, star, nil
}

// cronValue reads one number or name of field f and checks its range.
func cronValue(text string, f cronField) (int, error) {
	if v, ok := f.names[strings.ToUpper(text)]; ok {
		return v, nil
	}
	n, err := cronNumber(text)
	if err != nil {
		if isDigits(text) { // too many digits for an int
			return 0, fmt.Errorf("%s %s is out of range %d-%d", f.name, text, f.min, f.max)
		}
		return 0, fmt.Errorf("%s %q is not a number%s", f.name, text, f.nameHelp)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%s %d is out of range %d-%d", f.name, n, f.min, f.max)
	}
	return n, nil
}

// cronNumber accepts only decimal digits (no sign, no spaces).
func cronNumber(text string) (int, error) {
	if !isDigits(text) {
		return 0, fmt.Errorf("not a number")
	}
	return strconv.Atoi(text)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// reachable reports whether some date matches. It is false for schedules
// whose only days do not exist, such as the 30th of February: Kubernetes
// accepts those and never runs the job, which is almost always a mistake
// worth reporting.
func (s *CronSchedule) reachable() bool {
	if !s.dowStar {
		return true // every month has every weekday
	}
	longest := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if s.mon&(1<<uint(m)) == 0 {
			continue
		}
		for d := 1; d <= longest[m]; d++ {
			if s.dom&(1<<uint(d)) != 0 {
				return true
			}
		}
	}
	return false
}

// cronSearchYears bounds Next's search. Every schedule ParseCron accepts
// fires at least once in any 9 years (February 29 may be 8 years away,
// around 2100).
const cronSearchYears = 9

const cronMaxSteps = 1 << 20

// Next returns the first time the schedule fires strictly after after, in
// after's location, with zero seconds. It returns the zero time only when
// no such time exists within the search bound, which for a schedule
// ParseCron accepted happens only at the extremes of time.Time's range.
func (s *CronSchedule) Next(after time.Time) time.Time {
	loc := after.Location()
	// c walks the local wall clock; it is kept in UTC, which has no
	// daylight-saving gaps, and converted to loc only for a match.
	c := time.Date(after.Year(), after.Month(), after.Day(), after.Hour(), after.Minute(), 0, 0, time.UTC).Add(time.Minute)
	limit := c.AddDate(cronSearchYears, 0, 0)
	// The loop takes a few thousand steps; the cap only guards against
	// arithmetic at the ends of time.Time's range.
	for steps := 0; c.Before(limit) && steps < cronMaxSteps; steps++ {
		switch {
		case s.mon&(1<<uint(c.Month())) == 0:
			c = time.Date(c.Year(), c.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.dayMatches(c):
			c = time.Date(c.Year(), c.Month(), c.Day()+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<uint(c.Hour())) == 0:
			c = time.Date(c.Year(), c.Month(), c.Day(), c.Hour()+1, 0, 0, 0, time.UTC)
		case s.minute&(1<<uint(c.Minute())) == 0:
			c = c.Add(time.Minute)
		default:
			t := time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), 0, 0, loc)
			if sameWallClock(t, c) && t.After(after) {
				return t
			}
			c = c.Add(time.Minute)
		}
	}
	return time.Time{}
}

func (s *CronSchedule) dayMatches(c time.Time) bool {
	dom := s.dom&(1<<uint(c.Day())) != 0
	dow := s.dow&(1<<uint(c.Weekday())) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// sameWallClock reports whether t shows the wall-clock minute c (it does
// not when c falls in a daylight-saving gap of t's location).
func sameWallClock(t, c time.Time) bool {
	return t.Year() == c.Year() && t.Month() == c.Month() && t.Day() == c.Day() && t.Hour() == c.Hour() && t.Minute() == c.Minute()
}
