package api

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Quantity is a resource amount written as in Kubernetes: "128Mi", "1G",
// "500m", "0.5", "2". It keeps the text as written; Value and MilliValue
// interpret it. YAML and JSON numbers are accepted as well as strings.
type Quantity string

// UnmarshalJSON accepts a string or a number.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*q = Quantity(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("quantity must be a string or a number")
	}
	*q = Quantity(n.String())
	return nil
}

var quantitySuffixes = map[string]*big.Rat{
	"":   big.NewRat(1, 1),
	"m":  big.NewRat(1, 1000),
	"k":  big.NewRat(1000, 1),
	"M":  big.NewRat(1000*1000, 1),
	"G":  big.NewRat(1000*1000*1000, 1),
	"T":  big.NewRat(1000*1000*1000*1000, 1),
	"Ki": big.NewRat(1<<10, 1),
	"Mi": big.NewRat(1<<20, 1),
	"Gi": big.NewRat(1<<30, 1),
	"Ti": big.NewRat(1<<40, 1),
}

// Parse returns the quantity as an exact rational number, or an error that
// says what a quantity looks like.
func (q Quantity) Parse() (*big.Rat, error) {
	s := strings.TrimSpace(string(q))
	if s == "" {
		return nil, fmt.Errorf("quantity is empty")
	}
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	num, suffix := s[:i], s[i:]
	mult, ok := quantitySuffixes[suffix]
	if !ok || num == "" || strings.HasPrefix(num, "-") || strings.HasPrefix(num, "+") {
		return nil, fmt.Errorf("%q is not a quantity (like 500m, 2, 128Mi or 1G)", string(q))
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok || r.Sign() < 0 {
		return nil, fmt.Errorf("%q is not a quantity (like 500m, 2, 128Mi or 1G)", string(q))
	}
	return r.Mul(r, mult), nil
}

// Value is the quantity rounded up to a whole number (bytes for memory).
// It is 0 when the quantity does not parse; validation rejects those.
func (q Quantity) Value() int64 { return q.scaled(1) }

// MilliValue is the quantity times 1000, rounded up (millicores for cpu).
func (q Quantity) MilliValue() int64 { return q.scaled(1000) }

func (q Quantity) scaled(by int64) int64 {
	r, err := q.Parse()
	if err != nil {
		return 0
	}
	r.Mul(r, big.NewRat(by, 1))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if new(big.Rat).SetInt(n).Cmp(r) < 0 {
		n.Add(n, big.NewInt(1))
	}
	if !n.IsInt64() {
		return math.MaxInt64
	}
	return n.Int64()
}
