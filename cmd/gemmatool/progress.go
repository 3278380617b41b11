package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress draws a one-line bar with rate and ETA on a terminal and stays silent otherwise
// (pipes, files, --json, tests).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	label string
	total int64
	start time.Time
	last  time.Time
	unit  string // "B" for bytes, "" for counts
	drawn bool
}

// newProgress returns a bar on w when w is a terminal and quiet is false.
func newProgress(w io.Writer, label string, total int64, unit string, quiet bool) *progress {
	p := &progress{w: w, label: label, total: total, unit: unit, start: time.Now()}
	if f, ok := w.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		p.on = true
	}
	return p
}

// Update reports done units out of the total; it redraws at most ten times a second.
func (p *progress) Update(done int64) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < p.total {
		return
	}
	p.last = now
	frac := 0.0
	if p.total > 0 {
		frac = float64(done) / float64(p.total)
	}
	const width = 30
	n := int(frac * width)
	if n > width {
		n = width
	}
	bar := make([]byte, width)
	for i := range bar {
		if i < n {
			bar[i] = '#'
		} else {
			bar[i] = '.'
		}
	}
	el := now.Sub(p.start)
	eta := "--"
	if frac > 0.01 {
		eta = (time.Duration(float64(el)/frac) - el).Round(time.Second).String()
	}
	rate := ""
	if p.unit == "B" && el > 0 {
		rate = fmt.Sprintf(" %6.1f MB/s", float64(done)/el.Seconds()/1e6)
	}
	fmt.Fprintf(p.w, "\r%s [%s] %5.1f%%%s ETA %s   ", p.label, bar, 100*frac, rate, eta)
	p.drawn = true
}

// Done clears the bar line.
func (p *progress) Done() {
	if p == nil || !p.on || !p.drawn {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r%*s\r", 100, "")
	p.drawn = false
}
