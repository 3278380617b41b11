package verify

// ImageItem is the comparison over one image's answer tokens.
type ImageItem struct {
	Image   string  `json:"image"`
	Prompt  string  `json:"prompt"`
	Tokens  int     `json:"tokens"`
	KLDMean float64 `json:"kld_mean"`
	KLDMax  float64 `json:"kld_max"`
	SameTop float64 `json:"same_top"`
}

// ImageReport compares a model's answer-token distributions with its vision tower quantized
// (Vision names the type) against the exact tower, per image and over all answer tokens
// (KL in nats per token, as [KLDStats]).
type ImageReport struct {
	Vision    string      `json:"vision"`
	Tokens    int         `json:"tokens"`
	KLDMean   float64     `json:"kld_mean"`
	KLDStderr float64     `json:"kld_stderr"`
	SameTop   float64     `json:"same_top"`
	Items     []ImageItem `json:"items"`
}

// CompareLogits compares one position's reference logits p with test logits q (full softmax,
// float64) when the next token is target; see [TokenKL].
func CompareLogits(p, q []float32, target int32) (TokenKL, error) {
	return compareRow(RefRow{Logits: p}, q, target, &rowScratch{})
}

// SummarizeImages fills the totals of an image report from the per-image token comparisons
// (toks[i] belongs to r.Items[i]).
func SummarizeImages(r *ImageReport, toks [][]TokenKL) {
	var all []TokenKL
	for i, ts := range toks {
		it := &r.Items[i]
		it.Tokens = len(ts)
		if st := Summarize(ts); st != nil {
			it.KLDMean, it.KLDMax, it.SameTop = st.KLDMean, st.KLD.Max, st.SameTop
		}
		all = append(all, ts...)
	}
	if st := Summarize(all); st != nil {
		r.Tokens, r.KLDMean, r.KLDStderr, r.SameTop = st.Tokens, st.KLDMean, st.KLDStderr, st.SameTop
	}
}
