package verify

import "github.com/gemmatool/gemmatool/format"

// Schema names the JSON document of every `gemmatool verify` verb ([Doc]).
const Schema = "gemmatool-verify/1"

// Doc is the one JSON document every `gemmatool verify` verb prints with --json, and what
// `gemmatool verify report` reads back. The envelope says what ran; exactly the member of the
// verb that ran is set (perplexity, kld, tensors, activations or images). Units are those of
// the member's type: nats per token for NLL and KL, probabilities (not percent) for Δp and
// agreement, decibels for SNR.
//
//	{
//	  "schema": "gemmatool-verify/1",
//	  "verb": "kld",                         // perplexity | kld | tensors | activations | images
//	  "command": "gemmatool verify kld …",   // reproduces the document
//	  "model": "q4.gmt", "reference": "bf16.gmt",
//	  "text": "wiki.txt", "ctx": 512, "stride": 511, "chunks": 20,
//	  "provenance": {…},                     // the model file's source (format.Source)
//	  "quantization": {…},                   // the model file's recipe and per-tensor errors
//	  "kld": {…}                             // KLDResult: KLDStats + "windows" + "histogram"
//	}
type Doc struct {
	Schema    string `json:"schema"`
	Verb      string `json:"verb"`
	Command   string `json:"command"`
	Model     string `json:"model,omitempty"`
	Reference string `json:"reference,omitempty"`
	Text      string `json:"text,omitempty"`
	Ctx       int    `json:"ctx,omitempty"`
	Stride    int    `json:"stride,omitempty"`
	Chunks    int    `json:"chunks,omitempty"`

	Provenance   *format.Source       `json:"provenance,omitempty"`
	Quantization *format.Quantization `json:"quantization,omitempty"`

	Perplexity  *PerplexityResult `json:"perplexity,omitempty"`
	KLD         *KLDResult        `json:"kld,omitempty"`
	Tensors     *TensorReport     `json:"tensors,omitempty"`
	Activations *ActivationReport `json:"activations,omitempty"`
	Images      *ImageReport      `json:"images,omitempty"`
}
