package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gemmatool/gemmatool/convert"
)

// A verb given a Hugging Face checkpoint directory where it wants a model file (run, chat,
// logits, verify …) converts the directory once into a cache file and opens that. The cache file
// is named by the checkpoint's fingerprint, so that the next run reuses it and a changed
// checkpoint gets a new one:
//
//	$GEMMATOOL_CACHE (default: the user cache directory + /gemmatool)/<name>-<16 hex digits>.gmt
//
// The fingerprint is SHA-256 over, for every regular file of the directory in name order, its
// name and size, and for the JSON files (config, tokenizer, index) their whole content, for the
// safetensors files their first and last 1 MiB (the header with every tensor's name, dtype,
// shape and offsets, and the end of the data): reading the whole weights on every start would
// cost as much as converting them.

// fingerprintSample is how much of the start and of the end of a weight file enters the
// fingerprint.
const fingerprintSample = 1 << 20

// isCheckpointDir reports whether path is a directory (the caller then treats it as a
// checkpoint).
func isCheckpointDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// checkpointFingerprint returns the fingerprint of the checkpoint directory dir.
func checkpointFingerprint(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return "", err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, st.Size())
		switch {
		case strings.HasSuffix(n, ".json") && st.Size() <= 64<<20:
			_, err = io.Copy(h, f)
		case strings.HasSuffix(n, ".safetensors") || strings.HasSuffix(n, ".json"):
			_, err = io.Copy(h, io.NewSectionReader(f, 0, min(st.Size(), fingerprintSample)))
			if err == nil && st.Size() > fingerprintSample {
				off := max(fingerprintSample, st.Size()-fingerprintSample)
				_, err = io.Copy(h, io.NewSectionReader(f, off, st.Size()-off))
			}
		}
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// cacheDir returns the directory of converted checkpoints.
func cacheDir() (string, error) {
	if d := os.Getenv("GEMMATOOL_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for converted checkpoints (set GEMMATOOL_CACHE): %w", err)
	}
	return filepath.Join(d, "gemmatool"), nil
}

// modelFromCheckpoint returns the path of the model file converted from the checkpoint
// directory dir, converting it (in its source precision) on first use. The note printed on
// stderr names the cache file.
func modelFromCheckpoint(dir string, stderr io.Writer, quiet bool) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s is a directory without config.json: --model wants a gemmatool file (.gmt) or a Hugging Face checkpoint directory", dir)
		}
		return "", err
	}
	fp, err := checkpointFingerprint(dir)
	if err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	cd, err := cacheDir()
	if err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(dir)
	out := filepath.Join(cd, filepath.Base(abs)+"-"+fp+".gmt")
	if _, err := os.Stat(out); err == nil {
		fmt.Fprintf(stderr, "gemmatool: note: %s is a checkpoint directory; using its converted copy %s\n", dir, out)
		return out, nil
	}
	if err := os.MkdirAll(cd, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "gemmatool: note: %s is a checkpoint directory; converting it once into %s (gemmatool convert %s -o FILE does the same)\n", dir, out, dir)
	bar := newProgress(stderr, "convert", 0, "B", quiet)
	rep, err := convert.Run(dir, out, convert.Options{ToolVersion: version}, func(done, total int64) { bar.total = total; bar.Update(done) })
	bar.Done()
	if err != nil {
		return "", err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(stderr, "gemmatool: warning: %s\n", w)
	}
	return out, nil
}
