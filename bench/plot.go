package main

// plot.go draws the results as one SVG, written by hand with fmt: start
// time per runtime and mode (bars: median, whisker to the 90th
// percentile), and box's start time per image layer count (a line, with
// crun's median for scale). Plain SVG 1.1, no scripts, no fonts beyond
// sans-serif, so it reads the same in a browser and on GitHub.

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"time"
)

// Geometry of the plot, in SVG user units (pixels).
const (
	plotWidth  = 820
	labelWidth = 170 // left of the bars: the runtime's name
	barHeight  = 16
	barGap     = 6
	marginX    = 20
)

// writePlot writes the SVG to file; caption says how and where it was
// measured.
func writePlot(file, caption string, modes []mode, results [][]summary, layers, layerRef []summary, when time.Time) error {
	var b bytes.Buffer
	y := 0.0
	body := &bytes.Buffer{}
	text := func(x, y float64, anchor, style, s string) {
		fmt.Fprintf(body, `<text x="%.1f" y="%.1f" text-anchor="%s" %s>%s</text>`+"\n", x, y, anchor, style, html.EscapeString(s))
	}
	y += 28
	text(marginX, y, "start", `font-size="16" font-weight="bold"`, "box start-up: run --rm IMAGE /bin/true, next to crun and runc")
	y += 18
	text(marginX, y, "start", `font-size="11" fill="#555"`, fmt.Sprintf("%s, %s", caption, when.UTC().Format("2006-01-02 15:04 MST")))
	y += 14
	text(marginX, y, "start", `font-size="11" fill="#555"`, "bar: median, whisker: 90th percentile; the ratio is to crun's row of the same kind")
	y += 14

	// Bars: one group per mode, all on one scale.
	var longest time.Duration
	for _, rows := range results {
		for _, s := range rows {
			longest = max(longest, s.p90)
		}
	}
	scale := niceCeil(ms(longest))
	barsLeft, barsRight := float64(marginX+labelWidth), float64(plotWidth-marginX-60)
	xOf := func(v float64) float64 { return barsLeft + (barsRight-barsLeft)*v/scale }
	for i, m := range modes {
		y += 26
		text(marginX, y, "start", `font-size="13" font-weight="bold"`, m.name)
		y += 6
		top := y
		axis(body, text, top-2, top+float64(len(results[i])*(barHeight+barGap)), scale, xOf)
		for _, s := range results[i] {
			ref, ok := reference(results[i], s.name)
			label := fmt.Sprintf("%.1f ms", ms(s.median))
			if ok && ref.name != s.name {
				label += fmt.Sprintf("  %.2fx %s", float64(s.median)/float64(ref.median), ref.name)
			}
			fmt.Fprintf(body, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"/>`+"\n",
				barsLeft, y, xOf(ms(s.median))-barsLeft, barHeight, color(s.name))
			mid := y + barHeight/2
			fmt.Fprintf(body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", xOf(ms(s.median)), mid, xOf(ms(s.p90)), mid)
			fmt.Fprintf(body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", xOf(ms(s.p90)), mid-4, xOf(ms(s.p90)), mid+4)
			text(barsLeft-8, mid+4, "end", `font-size="12"`, s.name)
			text(xOf(ms(s.p90))+6, mid+4, "start", `font-size="11" fill="#333"`, label)
			y += barHeight + barGap
		}
		y += 18
	}

	// The layer-count line.
	if len(layers) > 0 {
		y += 30
		text(marginX, y, "start", `font-size="13" font-weight="bold"`, "box run, back to back, by the number of image layers")
		y += 14
		top, height := y, 180.0
		left, right := float64(marginX+60), float64(plotWidth-marginX-20)
		crun, _ := reference(layerRef, "crun")
		yMax := 0.0
		for _, s := range layers {
			yMax = math.Max(yMax, ms(s.p90))
		}
		yMax = niceCeil(math.Max(yMax, ms(crun.median)))
		minL, maxL := math.Log2(float64(layers[0].layers)), math.Log2(float64(layers[len(layers)-1].layers))
		xL := func(n int) float64 {
			if maxL == minL {
				return (left + right) / 2
			}
			return left + (right-left)*(math.Log2(float64(n))-minL)/(maxL-minL)
		}
		yV := func(v float64) float64 { return top + height - height*v/yMax }
		for k := 0; k <= 4; k++ {
			v := yMax * float64(k) / 4
			fmt.Fprintf(body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, yV(v), right, yV(v))
			text(left-6, yV(v)+4, "end", `font-size="10" fill="#555"`, fmt.Sprintf("%g ms", v))
		}
		if crun.median > 0 {
			fmt.Fprintf(body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 4"/>`+"\n",
				left, yV(ms(crun.median)), right, yV(ms(crun.median)), color("crun"))
			text(right, yV(ms(crun.median))-5, "end", `font-size="11" fill="#555"`, fmt.Sprintf("crun run, in the same turns: %.1f ms", ms(crun.median)))
		}
		var path bytes.Buffer
		for i, s := range layers {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, xL(s.layers), yV(ms(s.median)))
		}
		fmt.Fprintf(body, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", path.String(), color("box"))
		for _, s := range layers {
			x := xL(s.layers)
			fmt.Fprintf(body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x, yV(ms(s.median)), x, yV(ms(s.p90)))
			fmt.Fprintf(body, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", x, yV(ms(s.median)), color("box"))
			text(x, top+height+16, "middle", `font-size="11"`, fmt.Sprint(s.layers))
			text(x+5, yV(ms(s.median))-6, "start", `font-size="10" fill="#333"`, fmt.Sprintf("%.1f", ms(s.median)))
		}
		text((left+right)/2, top+height+32, "middle", `font-size="11" fill="#555"`, "image layers (log scale); dot: median, line up to the 90th percentile")
		y = top + height + 40
	}
	y += 10
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif">`+"\n",
		plotWidth, y, plotWidth, y)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	b.Write(body.Bytes())
	b.WriteString("</svg>\n")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the plot: %w", err)
	}
	return nil
}

// axis draws the time axis of a group of bars: gridlines and labels.
func axis(body *bytes.Buffer, text func(x, y float64, anchor, style, s string), top, bottom, scale float64, xOf func(float64) float64) {
	for k := 0; k <= 5; k++ {
		v := scale * float64(k) / 5
		x := xOf(v)
		fmt.Fprintf(body, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, bottom)
		text(x, bottom+11, "middle", `font-size="10" fill="#555"`, fmt.Sprintf("%g ms", v))
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for an axis.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// color is a runtime's color in the plot: box's blue, crun's green,
// runc's orange; the OCI rows and box's variants in lighter shades.
func color(name string) string {
	switch name {
	case "box":
		return "#1f77b4"
	case "box-userns-host", "box-no-init", "box-as-crun":
		return "#6baed6"
	case "box-runc":
		return "#9ecae1"
	case "crun":
		return "#2ca02c"
	case "crun-oci":
		return "#98df8a"
	case "runc":
		return "#ff7f0e"
	case "runc-oci":
		return "#ffbb78"
	}
	return "#999"
}
