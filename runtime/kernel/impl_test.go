package kernel

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"weak"
)

// impl is one configuration of the CPU feature registry the tests run the kernels under.
type impl struct {
	name  string
	off   []feature // features switched off
	noNib bool      // the permuted-activation kernels switched off
}

// impls turn the features off from the top: all that the CPU has; AVX-512 without VNNI, VBMI
// and the permuted-activation kernels (the plain AVX-512 row kernels, the AVX2 int8 kernels);
// AVX2; the Go references.
var impls = []impl{
	{name: "all"},
	{name: "avx512-plain", off: []feature{featVNNI, featVBMI}, noNib: true},
	{name: "avx2", off: []feature{featAVX512}},
	{name: "generic", off: []feature{featAVX2}},
}

// testMatrices are the matrices the tests made (weakly held): when a test switches features,
// they choose their kernels again, as if made under the new features.
var testMatrices struct {
	sync.Mutex
	ws []weak.Pointer[Matrix]
}

func track(w *Matrix) *Matrix {
	testMatrices.Lock()
	defer testMatrices.Unlock()
	testMatrices.ws = slices.DeleteFunc(testMatrices.ws, func(p weak.Pointer[Matrix]) bool { return p.Value() == nil })
	testMatrices.ws = append(testMatrices.ws, weak.Make(w))
	return w
}

func rechooseAll(tb testing.TB) {
	testMatrices.Lock()
	defer testMatrices.Unlock()
	for _, p := range testMatrices.ws {
		if w := p.Value(); w != nil {
			rechoose(tb, w)
		}
	}
}

// rechoose chooses w's kernels again, after a test changed its data (NewMatrix of the changed
// data would choose the same).
func rechoose(tb testing.TB, w *Matrix) {
	k, err := chooseKernels(w)
	if err != nil {
		tb.Fatal(err)
	}
	w.k = k
}

// use switches to configuration im and returns the restore function, or "" and a reason if
// the CPU lacks what im needs (a configuration identical to "all" is skipped too).
func (im impl) use(tb testing.TB) (restore func(), skip string) {
	if im.name != "all" {
		any := false
		for _, f := range im.off {
			any = any || enabled[f]
		}
		if !any && !(im.noNib && featAVX512.on()) {
			return nil, im.name + ": nothing to switch off on this CPU/build"
		}
	}
	restoreFeat := disableFeatures(im.off...)
	saveNib := useNib
	useNib = !im.noNib
	rechooseAll(tb)
	return func() {
		restoreFeat()
		useNib = saveNib
		rechooseAll(tb)
	}, ""
}

// forEachImpl runs f once per configuration the CPU supports (in purego builds only the
// generic one), and restores the registry.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			restore, skip := im.use(t)
			if skip != "" {
				t.Skip(skip)
			}
			defer restore()
			f(t)
		})
	}
}

// forEachImplB is forEachImpl for benchmarks.
func forEachImplB(b *testing.B, f func(b *testing.B)) {
	for _, im := range impls {
		restore, skip := im.use(b)
		if skip != "" {
			continue
		}
		b.Run(im.name, f)
		restore()
	}
}

// TestDisableFeatures checks that switching a feature off switches off those that need it,
// and that restore brings the start-up state back.
func TestDisableFeatures(t *testing.T) {
	start := enabled
	restore := disableFeatures(featAVX2)
	for f := range numFeatures {
		if enabled[f] {
			t.Errorf("%v still on after switching avx2 off", f)
		}
	}
	restore()
	if enabled != start {
		t.Fatalf("restore: %v, want %v", enabled, start)
	}
	restore = disableFeatures(featVNNI)
	if enabled[featVNNI] || enabled[featAVX512] != start[featAVX512] || enabled[featVBMI] != start[featVBMI] {
		t.Errorf("switching vnni off: %v (start %v)", enabled, start)
	}
	restore()
}

// TestEveryImplementationRuns runs, for every stored type, every registered implementation
// (exact and int8) whose features this CPU has, against the references: MatVec, MatMul (the
// prefill path too) and DequantRow. It fails, not skips, if some implementation the CPU
// supports was never chosen: a table entry no configuration reaches is dead or misregistered.
func TestEveryImplementationRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	ran := map[string]bool{}
	for _, im := range impls {
		restore, skip := im.use(t)
		if skip != "" {
			continue
		}
		for _, typ := range allTypes {
			for _, c := range []int{96, 1152} {
				const rows = 7
				cols := alignCols(typ, c)
				w := track(randMatrix(t, rng, typ, rows, cols))
				name := typ.String() + " exact/" + w.exact().name
				ran[name] = true
				x := randVec(rng, 64*cols)
				y := make([]float32, 64*rows)
				Exec{}.MatVec(y, w, x)
				for r := range rows {
					want, tol := refDot(refDecode(typ, w.Layout, w.Data, r, w.Scale), x[:cols])
					if !checkClose(y[r], want, tol) {
						t.Fatalf("%s (%s) %d×%d: MatVec[%d] = %v, want %v ± %g", name, im.name, rows, cols, r, y[r], want, tol)
					}
				}
				Exec{}.MatMul(y, w, x, 3)
				for r := range rows {
					want, tol := refDot(refDecode(typ, w.Layout, w.Data, r, w.Scale), x[2*cols:3*cols])
					if got := y[2*rows+r]; !checkClose(got, want, tol) {
						t.Fatalf("%s (%s) %d×%d: MatMul[2,%d] = %v, want %v ± %g", name, im.name, rows, cols, r, got, want, tol)
					}
				}
				got := make([]float32, cols)
				DequantRow(got, w, rows-1)
				for c, v := range refDecode(typ, w.Layout, w.Data, rows-1, w.Scale) {
					if !sameBits(got[c], v) {
						t.Fatalf("%s (%s): DequantRow[%d] = %v, want %v", name, im.name, c, got[c], v)
					}
				}
				if w.k.int8 == nil {
					continue
				}
				name8 := typ.String() + " int8/" + w.k.int8.name
				ran[name8] = true
				for _, n := range []int{1, 64} { // 64 ≥ every gemmMin: the prefill kernel where there is one
					Exec{Mode: ModeInt8}.MatMul(y, w, x, n)
					for r := range rows {
						want, tol, _ := int8Ref(w, r, x[(n-1)*cols:n*cols])
						if got := float64(y[(n-1)*rows+r]); math.Abs(got-want) > tol+1e-30 {
							t.Fatalf("%s (%s) %d×%d n=%d: row %d = %v, want %v ± %g", name8, im.name, rows, cols, n, r, got, want, tol)
						}
					}
				}
			}
		}
		restore()
	}
	for _, typ := range allTypes {
		for _, im := range exactImpls[typ] {
			if name := typ.String() + " exact/" + im.name; allDetected(im.needs) && !ran[name] {
				t.Errorf("%s: the CPU supports it but no configuration ran it", name)
			}
		}
		for _, im := range int8Impls[typ] {
			if name := typ.String() + " int8/" + im.name; allDetected(im.needs) && !ran[name] {
				t.Errorf("%s: the CPU supports it but no configuration ran it", name)
			}
		}
	}
	t.Logf("ran %d implementations: %v", len(ran), slices.Sorted(func(yield func(string) bool) {
		for k := range ran {
			if !yield(k) {
				return
			}
		}
	}))
}

func allDetected(fs []feature) bool {
	for _, f := range fs {
		if !detected[f] {
			return false
		}
	}
	return true
}
