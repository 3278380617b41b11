package kernel

import "testing"

// impl is one implementation of the kernels, selected by the feature flags.
type impl struct {
	name         string
	avx2, avx512 bool
	available    func() bool
}

var impls = []impl{
	{"generic", false, false, func() bool { return true }},
	{"avx2", true, false, hasAVX2},
	{"avx512", true, true, hasAVX512},
}

// forEachImpl runs f once per implementation available on this machine (in purego builds only
// the generic one), with the feature flags set accordingly, and restores the flags.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	save2, save512 := useAVX2, useAVX512
	defer func() { useAVX2, useAVX512 = save2, save512 }()
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			if !im.available() {
				t.Skipf("%s not available on this CPU/build", im.name)
			}
			// Respect GODEBUG=cpu.* switches: never enable what start-up detection disabled.
			if (im.avx2 && !save2) || (im.avx512 && !save512) {
				t.Skipf("%s disabled at start-up", im.name)
			}
			useAVX2, useAVX512 = im.avx2, im.avx512
			defer func() { useAVX2, useAVX512 = save2, save512 }()
			f(t)
		})
	}
}

// forEachImplB is forEachImpl for benchmarks.
func forEachImplB(b *testing.B, f func(b *testing.B)) {
	save2, save512 := useAVX2, useAVX512
	defer func() { useAVX2, useAVX512 = save2, save512 }()
	for _, im := range impls {
		if !im.available() || (im.avx2 && !save2) || (im.avx512 && !save512) {
			continue
		}
		b.Run(im.name, func(b *testing.B) {
			useAVX2, useAVX512 = im.avx2, im.avx512
			defer func() { useAVX2, useAVX512 = save2, save512 }()
			f(b)
		})
	}
}
