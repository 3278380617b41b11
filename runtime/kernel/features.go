package kernel

import "fmt"

// feature is an instruction-set extension the kernels use. The registry below is the one
// place that says which are present: detected once at start-up (features_amd64.go, from
// golang.org/x/sys/cpu, which honours GODEBUG=cpu.*=off; nothing in purego builds), and
// switched off one at a time by tests ([disableFeatures]) to run every implementation.
type feature int

const (
	featAVX2   feature = iota // AVX2 + FMA + F16C
	featAVX512                // AVX-512 F, BW, VL, DQ
	featVNNI                  // AVX-512 VNNI (VPDPBUSD): the int8 kernels and the int8 prefill
	featVBMI                  // AVX-512 VBMI (VPERMI2B): the 8-bit float table kernels
	featBF16                  // AVX-512 BF16 (VDPBF16PS): ModeBF16's matrix products
	numFeatures
)

var featureNames = [numFeatures]string{"avx2", "avx512", "vnni", "vbmi", "bf16"}

func (f feature) String() string { return featureNames[f] }

// needs lists the features each feature builds on: it is on only when they are.
var needs = [numFeatures][]feature{
	featAVX512: {featAVX2},
	featVNNI:   {featAVX512},
	featVBMI:   {featAVX512},
	featBF16:   {featAVX512},
}

// detected is what the CPU offers; enabled is what the kernels use (detected unless a test
// switched it off). Matrices pick their kernels from enabled when they are created.
var detected, enabled [numFeatures]bool

func (f feature) on() bool { return enabled[f] }

// setDetected records the start-up detection (called once from an init function).
func setDetected(d [numFeatures]bool) {
	for f := range numFeatures {
		ok := d[f]
		for _, g := range needs[f] {
			ok = ok && d[g]
		}
		detected[f] = ok
	}
	enabled = detected
}

// disableFeatures switches the features fs off (and those that need them) for later
// matrices and vector calls, and returns the function that restores the previous state. It
// is for tests: nothing may run kernels concurrently.
func disableFeatures(fs ...feature) (restore func()) {
	saved := enabled
	for _, f := range fs {
		if f < 0 || f >= numFeatures {
			panic(fmt.Sprintf("kernel: disableFeatures: no feature %d", f))
		}
		enabled[f] = false
	}
	for f := range numFeatures {
		for _, g := range needs[f] {
			enabled[f] = enabled[f] && enabled[g]
		}
	}
	return func() { enabled = saved }
}
