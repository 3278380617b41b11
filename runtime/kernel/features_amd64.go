//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

func init() {
	x := &cpu.X86
	var d [numFeatures]bool
	d[featAVX2] = x.HasAVX2 && x.HasFMA && x.HasF16C
	d[featAVX512] = x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512DQ
	d[featVNNI] = x.HasAVX512VNNI
	d[featVBMI] = x.HasAVX512VBMI
	d[featBF16] = x.HasAVX512BF16
	setDetected(d)
}
