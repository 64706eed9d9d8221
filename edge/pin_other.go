//go:build !linux

package edge

import (
	"errors"
	"os"
)

var errNoPinning = errors.New("hostPath and subPath volumes need Linux (openat2)")

func pinExact(string) (*os.File, error) { return nil, errNoPinning }

func pinBeneath(string, string) (*os.File, error) { return nil, errNoPinning }
