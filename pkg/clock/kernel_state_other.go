//go:build !linux

package clock

import "errors"

// ReadKernel is not available on this system.
func ReadKernel() (KernelState, error) {
	return KernelState{}, errors.New("kernel clock state: not supported on this system")
}
