//go:build !linux

package containerd

import "github.com/skiff-sh/skiff/runtimes"

// bindDescriptorMounts leaves mounts as they are: containers run on Linux
// only (see pinned_linux.go).
func bindDescriptorMounts(mounts []runtimes.Mount) ([]runtimes.Mount, func(), error) {
	return mounts, func() {}, nil
}
