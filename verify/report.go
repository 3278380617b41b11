package verify

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The report is one self-contained HTML page: inline CSS and inline SVG, no scripts, no fonts
// or images fetched from anywhere. Plots are written here by hand rather than with a plotting
// library: five plot kinds (lines, bars, histogram, step CDF, grouped lines) need about as much
// code as configuring one, the SVG stays small and readable, and every mark carries data
// attributes that tests (and readers of the source) can check against the JSON.
//
// Every figure printed as text is an element with data-key (the JSON member it shows, as a
// path such as "kld.kld_mean") and data-value (the value at full precision); every plot is an
// <svg class="plot" id="…"> whose marks have class "mark".

// Report writes the HTML report of the verify documents docs (any verbs, in any order; the
// first document of each verb is used).
func Report(w io.Writer, title string, docs []*Doc) error {
	var b strings.Builder
	by := map[string]*Doc{}
	for _, d := range docs {
		if d.Schema != Schema {
			return fmt.Errorf("verify: report: document of schema %q, want %q", d.Schema, Schema)
		}
		if by[d.Verb] == nil {
			by[d.Verb] = d
		}
	}
	esc := html.EscapeString
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}code,pre{font:12px ui-monospace,monospace;background:#f5f5f5}
pre{padding:.6em;overflow-x:auto;white-space:pre-wrap}figure{margin:1em 0}figcaption{color:#555;font-size:.9em}
svg.plot{background:#fff;border:1px solid #ddd}svg text{font:11px sans-serif;fill:#333}
polyline.ref{stroke:#1f77b4}polyline.test{stroke:#d62728}text.ref{fill:#1f77b4}text.test{fill:#d62728}.bar{fill:#4c72b0}
polyline.s0{stroke:#1f77b4}polyline.s1{stroke:#ff7f0e}polyline.s2{stroke:#2ca02c}polyline.s3{stroke:#d62728}polyline.s4{stroke:#9467bd}
text.s0{fill:#1f77b4}text.s1{fill:#ff7f0e}text.s2{fill:#2ca02c}text.s3{fill:#d62728}text.s4{fill:#9467bd}
table.prov td{text-align:left}
</style></head><body>
<h1>%s</h1>
`, esc(title), esc(title))
	// Provenance and recipe from the first document that has them.
	for _, d := range docs {
		if d.Provenance == nil && d.Quantization == nil {
			continue
		}
		b.WriteString("<h2>Model, provenance and recipe</h2>\n<table class=\"prov\">")
		row := func(k, v string) { fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td></tr>", esc(k), esc(v)) }
		row("model", d.Model)
		if d.Reference != "" {
			row("reference", d.Reference)
		}
		if p := d.Provenance; p != nil {
			row("source", p.Name)
			if p.Dir != "" {
				row("source directory", p.Dir)
			}
			if p.From != "" {
				row("re-packed from", p.From)
			}
			for _, f := range p.Files {
				row("  "+f.Name, fmt.Sprintf("%d bytes, SHA-256 %s", f.Bytes, f.SHA256))
			}
		}
		if q := d.Quantization; q != nil {
			row("preset", q.Preset)
			if q.QAT != "" {
				row("QAT target", q.QAT+" ("+q.QATEvidence+")")
			}
			for _, r := range q.Rules {
				row("rule "+r.Pattern, r.DType+"  "+r.Why)
			}
		}
		b.WriteString("</table>\n")
		break
	}
	if d := by["kld"]; d != nil && d.KLD != nil {
		reportKLD(&b, d)
	}
	if d := by["perplexity"]; d != nil && d.Perplexity != nil {
		b.WriteString("<h2>Perplexity</h2>\n<table>")
		figRow(&b, "perplexity", "perplexity.ppl", d.Perplexity.PPL, "± ", "perplexity.ppl_stderr", d.Perplexity.PPLStderr)
		figRow(&b, "tokens", "perplexity.tokens", float64(d.Perplexity.Tokens), "", "", 0)
		b.WriteString("</table>\n")
	}
	if d := by["tensors"]; d != nil && d.Tensors != nil {
		reportTensors(&b, d)
	}
	if d := by["activations"]; d != nil && d.Activations != nil {
		reportActivations(&b, d)
	}
	if d := by["images"]; d != nil && d.Images != nil {
		reportImages(&b, d)
	}
	b.WriteString("<h2>Commands that reproduce this report</h2>\n<pre>")
	for _, d := range docs {
		fmt.Fprintf(&b, "%s --json > %s.json\n", esc(d.Command), esc(d.Verb))
	}
	var names []string
	for _, d := range docs {
		names = append(names, d.Verb+".json")
	}
	fmt.Fprintf(&b, "gemmatool verify report -o report.html %s\n</pre>\n</body></html>\n", esc(strings.Join(names, " ")))
	_, err := io.WriteString(w, b.String())
	return err
}

// num formats a figure with 6 significant digits.
func num(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return fmt.Sprint(x)
	}
	return strconv.FormatFloat(x, 'g', 6, 64)
}

// fig writes a text figure with its JSON key and full-precision value.
func fig(b *strings.Builder, key string, x float64) {
	fmt.Fprintf(b, `<span data-key="%s" data-value="%s">%s</span>`, key, strconv.FormatFloat(x, 'g', -1, 64), num(x))
}

func figRow(b *strings.Builder, label, key string, x float64, sep, key2 string, x2 float64) {
	fmt.Fprintf(b, "<tr><td>%s</td><td>", html.EscapeString(label))
	fig(b, key, x)
	if key2 != "" {
		b.WriteString(" " + html.EscapeString(sep))
		fig(b, key2, x2)
	}
	b.WriteString("</td></tr>")
}

func reportKLD(b *strings.Builder, d *Doc) {
	r := d.KLD
	fmt.Fprintf(b, "<h2>KL divergence and perplexity: %s against %s</h2>\n", html.EscapeString(d.Model), html.EscapeString(d.Reference))
	fmt.Fprintf(b, "<p>%d windows of %d tokens of <code>%s</code>; KL in nats per token over the full softmax.</p>\n<table>",
		len(r.Windows), d.Ctx, html.EscapeString(d.Text))
	figRow(b, "tokens", "kld.tokens", float64(r.Tokens), "", "", 0)
	figRow(b, "mean KL divergence", "kld.kld_mean", r.KLDMean, "±", "kld.kld_stderr", r.KLDStderr)
	if r.KLBoundMean > 0 {
		figRow(b, "KL truncation bound (saved reference)", "kld.kl_bound_mean", r.KLBoundMean, "", "", 0)
	}
	for _, q := range []struct {
		l, k string
		v    float64
	}{{"KL max", "max", r.KLD.Max}, {"KL 99.9 %", "p99_9", r.KLD.P999}, {"KL 99 %", "p99", r.KLD.P99}, {"KL 95 %", "p95", r.KLD.P95},
		{"KL 90 %", "p90", r.KLD.P90}, {"KL median", "median", r.KLD.P50}, {"KL min", "min", r.KLD.Min}} {
		figRow(b, q.l, "kld.kld."+q.k, q.v, "", "", 0)
	}
	figRow(b, "mean Δp (probability)", "kld.delta_p_mean", r.DeltaPMean, "±", "kld.delta_p_stderr", r.DeltaPStderr)
	figRow(b, "RMS Δp", "kld.delta_p_rms", r.DeltaPRMS, "±", "kld.delta_p_rms_stderr", r.DeltaPRMSStderr)
	figRow(b, "same top token (fraction)", "kld.same_top", r.SameTop, "±", "kld.same_top_stderr", r.SameTopStderr)
	figRow(b, "PPL reference", "kld.ppl_ref", r.PPLRef, "±", "kld.ppl_ref_stderr", r.PPLRefStderr)
	figRow(b, "PPL test", "kld.ppl_test", r.PPLTest, "±", "kld.ppl_test_stderr", r.PPLTestStderr)
	figRow(b, "PPL ratio test/reference", "kld.ppl_ratio", r.PPLRatio, "±", "kld.ppl_ratio_stderr", r.PPLRatioStderr)
	figRow(b, "correlation of per-token NLL", "kld.nll_correlation", r.NLLCorrelation, "", "", 0)
	b.WriteString("</table>\n")

	// PPL per window, both models.
	var xs, yr, yt []float64
	for _, w := range r.Windows {
		xs = append(xs, float64(w.Index+1))
		yr = append(yr, w.PPLRef)
		yt = append(yt, w.PPLTest)
	}
	lineChart(b, "ppl-windows", "window", "perplexity", xs, []series2{{"reference", "ref", yr}, {"test", "test", yt}}, false)
	b.WriteString("<figcaption>Perplexity of each window, reference (blue) and test (red).</figcaption></figure>\n")

	// KL histogram and CDF (log-spaced bins).
	var labels []string
	var counts, cum []float64
	var edges []float64
	total := 0
	for _, h := range r.Histogram {
		total += h.Count
	}
	acc := 0
	for i, h := range r.Histogram {
		l := ""
		if i%4 == 3 {
			l = num(h.Hi)
		}
		labels = append(labels, l)
		counts = append(counts, float64(h.Count))
		acc += h.Count
		cum = append(cum, float64(acc)/float64(max(total, 1)))
		edges = append(edges, math.Log10(h.Hi))
	}
	barChart(b, "kl-histogram", "KL (nats; decades marked at their upper edge)", "tokens", labels, counts, false)
	b.WriteString("<figcaption>Histogram of the per-token KL divergence, 4 bins per decade.</figcaption></figure>\n")
	lineChart(b, "kl-cdf", "log10 KL (nats)", "fraction of tokens ≤ x", edges, []series2{{"CDF", "test", cum}}, true)
	b.WriteString("<figcaption>Cumulative distribution of the per-token KL divergence.</figcaption></figure>\n")
}

func reportTensors(b *strings.Builder, d *Doc) {
	r := d.Tensors
	fmt.Fprintf(b, "<h2>Tensor errors: %s against %s</h2>\n", html.EscapeString(d.Model), html.EscapeString(d.Reference))
	var ln []string
	var lv []float64
	for _, g := range r.Layers {
		ln = append(ln, g.Name)
		lv = append(lv, g.RelL2)
	}
	barChart(b, "tensor-layers", "layer", "relative L2 error", ln, lv, true)
	b.WriteString("<figcaption>Relative L2 error of all weights of each layer.</figcaption></figure>\n")
	var tn []string
	var tv []float64
	for _, t := range r.Tensors[:min(30, len(r.Tensors))] {
		tn = append(tn, t.Name)
		tv = append(tv, t.RelL2)
	}
	barChart(b, "tensor-worst", "tensor", "relative L2 error", tn, tv, true)
	b.WriteString("<figcaption>The 30 tensors with the largest relative L2 error.</figcaption></figure>\n<table><tr><th>component</th><th>tensors</th><th>rel L2</th><th>SNR dB</th><th>max abs</th><th>cosine</th></tr>")
	for i, g := range r.Components {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%d</td><td>", html.EscapeString(g.Name), g.Tensors)
		fig(b, fmt.Sprintf("tensors.components.%d.rel_l2", i), g.RelL2)
		b.WriteString("</td><td>")
		fig(b, fmt.Sprintf("tensors.components.%d.snr_db", i), g.SNRdB)
		b.WriteString("</td><td>")
		fig(b, fmt.Sprintf("tensors.components.%d.max_abs", i), g.MaxAbs)
		b.WriteString("</td><td>")
		fig(b, fmt.Sprintf("tensors.components.%d.cosine", i), g.Cosine)
		b.WriteString("</td></tr>")
	}
	b.WriteString("</table>\n")
}

func reportActivations(b *strings.Builder, d *Doc) {
	r := d.Activations
	fmt.Fprintf(b, "<h2>Activation ranges: %s</h2>\n<p>%d positions. float16 overflows beyond 65504.</p>\n", html.EscapeString(d.Model), r.Tokens)
	bySite := map[string][]float64{}
	var layers []float64
	var order []string
	for _, s := range r.Sites {
		if bySite[s.Site] == nil {
			order = append(order, s.Site)
		}
		bySite[s.Site] = append(bySite[s.Site], math.Log10(max(s.MaxAbs, 1e-30)))
		if s.Site == "residual" {
			layers = append(layers, float64(s.Layer))
		}
	}
	var ss []series2
	for i, name := range order {
		ss = append(ss, series2{name, fmt.Sprintf("s%d", i), bySite[name]})
	}
	lineChart(b, "activation-max", "layer", "log10 max |x|", layers, ss, false)
	b.WriteString("<figcaption>Largest magnitude per layer at each site (log scale); float16's limit is log10 65504 = 4.82.</figcaption></figure>\n")
	b.WriteString("<table><tr><th>layer</th><th>site</th><th>max |x|</th><th>RMS</th><th>&gt; f16</th><th>&lt; f16 normal</th><th>top channels</th></tr>")
	for i, s := range r.Sites {
		fmt.Fprintf(b, "<tr><td>%d</td><td>%s</td><td>", s.Layer, s.Site)
		fig(b, fmt.Sprintf("activations.sites.%d.max_abs", i), s.MaxAbs)
		b.WriteString("</td><td>")
		fig(b, fmt.Sprintf("activations.sites.%d.rms", i), s.RMS)
		b.WriteString("</td><td>")
		fig(b, fmt.Sprintf("activations.sites.%d.over_f16", i), float64(s.OverF16))
		b.WriteString("</td><td>")
		fig(b, fmt.Sprintf("activations.sites.%d.below_f16_normal", i), float64(s.BelowF16))
		var ch []string
		for _, c := range s.TopChannels[:min(3, len(s.TopChannels))] {
			ch = append(ch, fmt.Sprintf("%d", c.Index))
		}
		fmt.Fprintf(b, "</td><td>%s</td></tr>", strings.Join(ch, ", "))
	}
	b.WriteString("</table>\n")
}

func reportImages(b *strings.Builder, d *Doc) {
	r := d.Images
	fmt.Fprintf(b, "<h2>Images: vision tower %s against exact</h2>\n<table>", html.EscapeString(r.Vision))
	figRow(b, "mean KL of answer tokens", "images.kld_mean", r.KLDMean, "±", "images.kld_stderr", r.KLDStderr)
	figRow(b, "same top token (fraction)", "images.same_top", r.SameTop, "", "", 0)
	b.WriteString("</table>\n")
	var names []string
	var v []float64
	for _, it := range r.Items {
		names = append(names, it.Image)
		v = append(v, it.KLDMean)
	}
	barChart(b, "image-kl", "image", "mean KL (nats/token)", names, v, false)
	b.WriteString("<figcaption>Mean KL divergence of each image's answer tokens.</figcaption></figure>\n")
}

// Plots.

const plotW, plotH, padL, padR, padT, padB = 760, 300, 70, 20, 20, 50

type series2 struct {
	name, class string
	y           []float64
}

func bounds(vs ...[]float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		for _, x := range v {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
	}
	if lo > hi {
		return 0, 1
	}
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	return lo, hi
}

func axes(b *strings.Builder, xlabel, ylabel string, ylo, yhi float64) {
	x0, y0, x1, y1 := padL, plotH-padB, plotW-padR, padT
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, x0, y0, x1, y0, x0, y0, x0, y1)
	for i := 0; i <= 4; i++ {
		v := ylo + (yhi-ylo)*float64(i)/4
		y := float64(y0) - float64(y0-y1)*float64(i)/4
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text><line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, x0-4, y+4, num(v), x0, y, x1, y)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, (x0+x1)/2, plotH-8, html.EscapeString(xlabel))
	fmt.Fprintf(b, `<text x="14" y="%d" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`, (y0+y1)/2, (y0+y1)/2, html.EscapeString(ylabel))
}

// lineChart plots series over xs; unitY fixes the y range to [0, 1].
func lineChart(b *strings.Builder, id, xlabel, ylabel string, xs []float64, ss []series2, unitY bool) {
	fmt.Fprintf(b, `<figure><svg class="plot" id="%s" width="%d" height="%d" viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg" role="img">`, id, plotW, plotH, plotW, plotH)
	var ys [][]float64
	for _, s := range ss {
		ys = append(ys, s.y)
	}
	ylo, yhi := bounds(ys...)
	if unitY {
		ylo, yhi = 0, 1
	}
	xlo, xhi := bounds(xs)
	axes(b, xlabel, ylabel, ylo, yhi)
	px := func(x float64) float64 { return padL + (x-xlo)/(xhi-xlo)*float64(plotW-padL-padR) }
	py := func(y float64) float64 { return float64(plotH-padB) - (y-ylo)/(yhi-ylo)*float64(plotH-padB-padT) }
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="start">%s</text><text x="%d" y="%d" text-anchor="end">%s</text>`,
		padL, plotH-padB+14, num(xlo), plotW-padR, plotH-padB+14, num(xhi))
	for k, s := range ss {
		var pts []string
		for i, y := range s.y {
			if i < len(xs) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xs[i]), py(y)))
			}
		}
		fmt.Fprintf(b, `<polyline class="mark %s" data-series="%s" data-n="%d" fill="none" stroke-width="1.5" points="%s"/>`,
			s.class, html.EscapeString(s.name), len(pts), strings.Join(pts, " "))
		if len(ss) > 1 {
			fmt.Fprintf(b, `<text x="%d" y="%d" class="%s" stroke="none">%s</text>`, plotW-padR-140, padT+14+14*k, s.class, html.EscapeString(s.name))
		}
	}
	b.WriteString("</svg>")
}

// barChart plots one bar per label; logY plots log10 of the values.
func barChart(b *strings.Builder, id, xlabel, ylabel string, labels []string, v []float64, logY bool) {
	fmt.Fprintf(b, `<figure><svg class="plot" id="%s" width="%d" height="%d" viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg" role="img">`, id, plotW, plotH+60, plotW, plotH+60)
	y := slices.Clone(v)
	if logY {
		for i := range y {
			y[i] = math.Log10(max(y[i], 1e-30))
		}
		ylabel = "log10 " + ylabel
	}
	ylo, yhi := bounds(y)
	if !logY {
		ylo = min(ylo, 0)
	} else {
		ylo = math.Floor(ylo)
	}
	axes(b, xlabel, ylabel, ylo, yhi)
	n := max(len(y), 1)
	bw := float64(plotW-padL-padR) / float64(n)
	for i, val := range y {
		h := (val - ylo) / (yhi - ylo) * float64(plotH-padB-padT)
		x := float64(padL) + float64(i)*bw
		fmt.Fprintf(b, `<rect class="mark bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" data-label="%s" data-value="%s"><title>%s: %s</title></rect>`,
			x+1, float64(plotH-padB)-h, max(bw-2, 1), max(h, 0), html.EscapeString(labels[i]), strconv.FormatFloat(v[i], 'g', -1, 64),
			html.EscapeString(labels[i]), num(v[i]))
		if n <= 40 && labels[i] != "" {
			fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-60 %.1f %d)">%s</text>`, x+bw/2, plotH-padB+12, x+bw/2, plotH-padB+12, html.EscapeString(labels[i]))
		}
	}
	b.WriteString("</svg>")
}
