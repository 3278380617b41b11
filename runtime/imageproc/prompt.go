package imageproc

import (
	"fmt"
	"strings"
)

// Gemma 3's image tokens (tokenizer.json of the released multimodal checkpoints).
const (
	// BOIToken starts an image; the chat template emits one per image.
	BOIToken = "<start_of_image>"
	// EOIToken ends an image.
	EOIToken = "<end_of_image>"
	// ImageToken is the soft token whose embedding the vision features replace.
	ImageToken = "<image_soft_token>"
	// ImageTokenID is the id of ImageToken in the released vocabulary.
	ImageTokenID = 262144
)

// cropsIntro and cropsOutro are the sentence Gemma3Processor wraps around an image
// that has pan-and-scan crops.
const (
	cropsIntro = "Here is the original image "
	cropsOutro = " and here are some crops to help you see better "
)

// ExpandPrompt rewrites text the way Gemma3Processor does before tokenizing. The i-th
// BOIToken stands for image i, which has numCrops[i] pan-and-scan crops. An image with
// N > 0 crops becomes
//
//	"Here is the original image " + S + " and here are some crops to help you see better " + S + " " + S … (N times S)
//
// and an image without crops becomes S, where S is the full image sequence
//
//	"\n\n" + BOIToken + imageSeqLen × ImageToken + EOIToken + "\n\n".
//
// The number of BOIToken in text must equal len(numCrops) ([ErrMismatch] otherwise).
func ExpandPrompt(text string, numCrops []int, imageSeqLen int) (string, error) {
	if imageSeqLen < 1 || imageSeqLen > MaxImageSeqLength {
		return "", fmt.Errorf("%w: expand prompt: image sequence length %d, want 1..%d",
			ErrUnsupported, imageSeqLen, MaxImageSeqLength)
	}
	parts := strings.Split(text, BOIToken)
	if n := len(parts) - 1; n != len(numCrops) {
		return "", fmt.Errorf("%w: expand prompt: text has %d %s markers, %d images given",
			ErrMismatch, n, BOIToken, len(numCrops))
	}
	for i, n := range numCrops {
		if n < 0 || n > MaxCrops {
			return "", fmt.Errorf("%w: expand prompt: image %d has %d crops, want 0..%d", ErrUnsupported, i, n, MaxCrops)
		}
	}
	full := "\n\n" + BOIToken + strings.Repeat(ImageToken, imageSeqLen) + EOIToken + "\n\n"
	var b strings.Builder
	b.WriteString(parts[0])
	for i, n := range numCrops {
		if n > 0 {
			b.WriteString(cropsIntro)
			b.WriteString(full)
			b.WriteString(cropsOutro)
			for j := range n {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(full)
			}
		} else {
			b.WriteString(full)
		}
		b.WriteString(parts[i+1])
	}
	return b.String(), nil
}

// TokenTypeIDs returns the token_type_ids Gemma3Processor produces: 1 where
// ids[t] == imageToken, else 0 (BOI, EOI and the surrounding newlines are text).
func TokenTypeIDs(ids []int32, imageToken int32) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		if id == imageToken {
			out[i] = 1
		}
	}
	return out
}

// ImageRuns returns the maximal runs of consecutive imageToken ids as half-open
// [start, end) index pairs, in order. Each run is one image or crop, whose tokens attend
// to each other bidirectionally.
func ImageRuns(ids []int32, imageToken int32) [][2]int {
	var runs [][2]int
	start := -1
	for i, id := range ids {
		switch {
		case id == imageToken && start < 0:
			start = i
		case id != imageToken && start >= 0:
			runs = append(runs, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		runs = append(runs, [2]int{start, len(ids)})
	}
	return runs
}
