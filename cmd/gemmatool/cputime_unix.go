//go:build unix

package main

import "syscall"

// processCPUSeconds returns the user and system CPU time the process has used, 0 where unknown.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
