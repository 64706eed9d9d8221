package bench

import (
	"fmt"
	"time"

	"github.com/skiff-sh/skiff/config"
)

// securityMode is how a benchmark's cluster runs: with TLS and NATS
// authentication (the default) or with config Insecure, which turns both
// off. Benchmarks that report the cost of security run the same code once
// per mode, in the same run, and differ only in this switch.
type securityMode struct {
	// name is "secure" or "insecure", as in progress lines.
	name     string
	insecure bool
}

var (
	secure   = securityMode{name: "secure"}
	insecure = securityMode{name: "insecure", insecure: true}
	// securityModes are both, secure first.
	securityModes = []securityMode{secure, insecure}
)

// configure applies the mode to a config (servers and agents alike).
func (m securityMode) configure(cfg *config.Config) { cfg.Insecure = m.insecure }

// securityCost formats secure/insecure with two decimals (it is close to
// 1, where ratio's one decimal would hide it); "inf" when insecure is 0.
func securityCost(secure, insecure float64) string {
	if insecure == 0 {
		return "inf"
	}
	return fmt.Sprintf("%.2f", secure/insecure)
}

// durationCost is securityCost of two durations.
func durationCost(secure, insecure time.Duration) string {
	return securityCost(float64(secure), float64(insecure))
}
