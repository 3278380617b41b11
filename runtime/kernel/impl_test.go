package kernel

import "testing"

// impl is one implementation of the kernels, selected by the feature flags.
type impl struct {
	name         string
	avx2, avx512 bool
	available    func() bool
	nib          bool // the AVX-512 nibble kernels (nibble.go)
}

var impls = []impl{
	{"generic", false, false, func() bool { return true }, false},
	{"avx2", true, false, hasAVX2, false},
	{"avx512", true, true, hasAVX512, true},
	{"avx512-nonib", true, true, hasAVX512, false},
}

// forEachImpl runs f once per implementation available on this machine (in purego builds only
// the generic one), with the feature flags set accordingly, and restores the flags.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	save2, save512, saveNib := useAVX2, useAVX512, useNib
	defer func() { useAVX2, useAVX512, useNib = save2, save512, saveNib }()
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			if !im.available() {
				t.Skipf("%s not available on this CPU/build", im.name)
			}
			// Respect GODEBUG=cpu.* switches: never enable what start-up detection disabled.
			if (im.avx2 && !save2) || (im.avx512 && !save512) {
				t.Skipf("%s disabled at start-up", im.name)
			}
			useAVX2, useAVX512, useNib = im.avx2, im.avx512, im.nib
			defer func() { useAVX2, useAVX512, useNib = save2, save512, saveNib }()
			f(t)
		})
	}
}

// forEachImplB is forEachImpl for benchmarks.
func forEachImplB(b *testing.B, f func(b *testing.B)) {
	save2, save512, saveNib := useAVX2, useAVX512, useNib
	defer func() { useAVX2, useAVX512, useNib = save2, save512, saveNib }()
	for _, im := range impls {
		if !im.available() || (im.avx2 && !save2) || (im.avx512 && !save512) {
			continue
		}
		b.Run(im.name, func(b *testing.B) {
			useAVX2, useAVX512, useNib = im.avx2, im.avx512, im.nib
			defer func() { useAVX2, useAVX512, useNib = save2, save512, saveNib }()
			f(b)
		})
	}
}
