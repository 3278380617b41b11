//go:build !unix

package main

// processCPUSeconds returns 0: the CPU time is not measured on this platform.
func processCPUSeconds() float64 { return 0 }
