package runtime

import "testing"

// TestKVCacheBytes checks the size formula against a session's cache filled to ctx positions,
// for both element types (bf16 holds half of f32).
func TestKVCacheBytes(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	for _, kv := range []KVType{KVF32, KVBF16} {
		for _, ctx := range []int{1, 5, m.Config.SlidingWindow + 3} {
			s := m.NewSession(&SessionOptions{MaxContext: ctx + 1, KVType: kv})
			ids := make([]int32, ctx)
			for i := range ids {
				ids[i] = int32(1 + i%5)
			}
			if _, err := s.Forward(&Batch{Tokens: ids}); err != nil {
				t.Fatal(err)
			}
			if got, want := m.KVCacheBytes(ctx, kv), s.Cache().Bytes(); got != want {
				t.Errorf("%v ctx %d: KVCacheBytes %d, the cache holds %d", kv, ctx, got, want)
			}
			if kv == KVBF16 && 2*m.KVCacheBytes(ctx, kv) != m.KVCacheBytes(ctx, KVF32) {
				t.Errorf("ctx %d: bf16 %d bytes, f32 %d", ctx, m.KVCacheBytes(ctx, kv), m.KVCacheBytes(ctx, KVF32))
			}
			if a := s.Cache().AllocatedBytes(); a < s.Cache().Bytes() {
				t.Errorf("%v ctx %d: %d bytes allocated, fewer than the %d in use", kv, ctx, a, s.Cache().Bytes())
			}
		}
	}
}
