//go:build linux

package wasm

import (
	"syscall"
	"time"
	"unsafe"
)

// threadClocksSupported: Linux has a CPU-time clock per thread that any
// thread of the process may read.
const threadClocksSupported = true

// threadClock is the CPU-time clock of one thread (clockid_t).
type threadClock int32

// currentThreadClock is the clock of the calling thread: the kernel's
// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED), as glibc's
// pthread_getcpuclockid builds it.
func currentThreadClock() (threadClock, error) {
	tid := syscall.Gettid()
	return threadClock(int32(^uint32(tid)<<3 | 6)), nil
}

// read returns the CPU time the thread has used (user and system).
func (c threadClock) read() (time.Duration, error) {
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(uint32(c)), uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0, errno
	}
	return time.Duration(ts.Nano()), nil
}
