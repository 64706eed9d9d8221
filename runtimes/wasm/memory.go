package wasm

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// wasmPageSize is the size of one Wasm memory page.
const wasmPageSize = 64 << 10

// memoryLimit caps one module instance's linear memory. It is handed to
// wazero as the instance's experimental.MemoryAllocator, so the limit is per
// instance while every instance shares one runtime and its compiled code; a
// refused growth is recorded so that the exit can be reported as OOMKilled.
type memoryLimit struct {
	limit     uint64 // bytes, a whole number of pages
	byDefault bool   // the driver's default: the task asked for no limit
	refused   atomic.Bool
	peak      atomic.Uint64 // largest size the guest asked for, refused or not
	initial   atomic.Uint64 // size the module started with
}

// newMemoryLimit rounds limitBytes down to whole pages: a guest may never
// exceed what the pod asked for.
func newMemoryLimit(limitBytes int64) *memoryLimit {
	return &memoryLimit{limit: uint64(limitBytes) / wasmPageSize * wasmPageSize}
}

// note is added to the messages about the limit: a container author who
// set no limit should learn where this one comes from.
func (l *memoryLimit) note() string {
	if !l.byDefault {
		return ""
	}
	return " (the node's default for Wasm containers without resources.limits.memory; set one to change it)"
}

// Allocate implements experimental.MemoryAllocator.
func (l *memoryLimit) Allocate(capBytes, _ uint64) experimental.LinearMemory {
	return &limitedMemory{l: l, buf: make([]byte, 0, min(capBytes, l.limit))}
}

// limitedMemory is a []byte that grows like wazero's own memory but never
// past its limit.
type limitedMemory struct {
	l         *memoryLimit
	buf       []byte
	allocated bool // the initial Reallocate happened
}

// Reallocate implements experimental.LinearMemory. It returns nil, which
// the guest sees as a failed memory.grow, when size is over the limit. The
// first call (the module's initial memory) never fails, as wazero panics if
// it does: the driver checks the initial size against the limit before
// instantiating when the module exports its memory, and after
// instantiating, from initial, when it does not.
func (m *limitedMemory) Reallocate(size uint64) []byte {
	for {
		peak := m.l.peak.Load()
		if size <= peak || m.l.peak.CompareAndSwap(peak, size) {
			break
		}
	}
	if !m.allocated {
		m.allocated = true
		m.l.initial.Store(size)
	} else if size > m.l.limit {
		m.l.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		// Wasm memory never shrinks, so the bytes past len were never
		// written and are still zero.
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow by a quarter at least, as append would, but never reserve more
	// than the limit.
	newCap := max(size, uint64(cap(m.buf))+uint64(cap(m.buf))/4)
	if m.l.limit >= size {
		newCap = min(newCap, m.l.limit)
	}
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *limitedMemory) Free() { m.buf = nil }
