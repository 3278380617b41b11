package runtime

import "testing"

// TestKVCacheBytes checks the size formula against a session's cache filled to ctx positions.
func TestKVCacheBytes(t *testing.T) {
	m := loadTestModel(t, writeTestModel(t, goldenA, t.TempDir()))
	for _, ctx := range []int{1, 5, m.Config.SlidingWindow + 3} {
		s := m.NewSession(&SessionOptions{MaxContext: ctx + 1})
		ids := make([]int32, ctx)
		for i := range ids {
			ids[i] = int32(1 + i%5)
		}
		if _, err := s.Forward(&Batch{Tokens: ids}); err != nil {
			t.Fatal(err)
		}
		if got, want := m.KVCacheBytes(ctx), s.Cache().Bytes(); got != want {
			t.Errorf("ctx %d: KVCacheBytes %d, the cache holds %d", ctx, got, want)
		}
	}
}
