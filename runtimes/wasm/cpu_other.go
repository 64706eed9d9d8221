//go:build !linux

package wasm

import (
	"errors"
	"time"
)

// threadClocksSupported: elsewhere the driver cannot read one thread's CPU
// time, so it enforces no CPU limit (Capabilities.CPULimit is false).
const threadClocksSupported = false

type threadClock int32

func currentThreadClock() (threadClock, error) {
	return 0, errors.New("thread CPU clocks are not supported on this platform")
}

func (threadClock) read() (time.Duration, error) {
	return 0, errors.New("thread CPU clocks are not supported on this platform")
}
