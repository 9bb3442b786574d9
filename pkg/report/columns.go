package report

import (
	"io"
	"strings"

	"github.com/clipperhouse/displaywidth"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Columns renders a borderless table that fits width: every column but the last keeps its
// natural width up to maxCol (0: unlimited), the last (a title or message) takes the rest.
// Cells are wrapped here, not by tablewriter, because its wrapper cuts words longer than
// the column and a truncated object name is worse than a wrapped one.
func Columns(w io.Writer, width, maxCol int, header []string, rows [][]string) error {
	if width <= 0 {
		width = 120
	}
	n := len(header)
	widths := make([]int, n)
	used := 0
	for c := 0; c < n-1; c++ {
		wc := displaywidth.String(header[c])
		for _, r := range rows {
			wc = max(wc, displaywidth.String(stripANSI(r[c])))
		}
		if maxCol > 0 {
			wc = min(wc, maxCol)
		}
		widths[c] = wc
		used += wc + 2 // one space of padding on each side of a cell
	}
	// Give the last column at least minLast by narrowing the widest other column (down
	// to minOther); on very narrow terminals the table may still overflow.
	const minLast, minOther = 24, 10
	for used+2+minLast > width {
		widest := 0
		for c := 1; c < n-1; c++ {
			if widths[c] > widths[widest] {
				widest = c
			}
		}
		if widths[widest] <= minOther {
			break
		}
		shrink := min(widths[widest]-minOther, used+2+minLast-width)
		widths[widest] -= shrink
		used -= shrink
	}
	widths[n-1] = max(width-used-2, minLast)
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenRows: tw.Off, BetweenColumns: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
			},
			Row: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
			},
		}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	hdr := make([]any, n)
	for i, h := range header {
		hdr[i] = h
	}
	t.Header(hdr...)
	for _, r := range rows {
		cells := make([]string, n)
		for c := range r {
			cells[c] = wrap(r[c], widths[c])
		}
		if err := t.Append(cells); err != nil {
			return err
		}
	}
	return t.Render()
}

// wrap breaks s into lines of at most width display columns: at spaces where it can,
// after '/', '-' or ',' inside long names, and hard inside a token as a last resort.
// It never drops a character. Text holding ANSI escapes is returned as it is (they are
// only used on short severity cells).
func wrap(s string, width int) string {
	if width <= 0 || displaywidth.String(s) <= width || strings.Contains(s, "\x1b") {
		return s
	}
	var lines []string
	line := ""
	flush := func() {
		if line != "" {
			lines = append(lines, line)
			line = ""
		}
	}
	for _, word := range strings.Fields(s) {
		for displaywidth.String(word) > width {
			// Fill the current line if there is room for a useful piece, else start fresh.
			room := width
			if line != "" {
				room = width - displaywidth.String(line) - 1
				if room < 8 {
					flush()
					room = width
				}
			}
			cut := breakPoint(word, room)
			piece := word[:cut]
			if line != "" {
				line += " " + piece
			} else {
				line = piece
			}
			flush()
			word = word[cut:]
		}
		switch {
		case line == "":
			line = word
		case displaywidth.String(line)+1+displaywidth.String(word) <= width:
			line += " " + word
		default:
			flush()
			line = word
		}
	}
	flush()
	return strings.Join(lines, "\n")
}

// breakPoint returns where to cut word so the first part fits in room columns, preferring
// just after a separator.
func breakPoint(word string, room int) int {
	limit := 0
	for i := range word {
		if displaywidth.String(word[:i]) > room {
			break
		}
		limit = i
	}
	if limit == 0 {
		limit = len(word[:1])
	}
	for i := limit; i > limit/2; i-- {
		if strings.ContainsRune("/-,:=", rune(word[i-1])) {
			return i
		}
	}
	return limit
}

// stripANSI removes colour escapes so widths are measured on visible text.
func stripANSI(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}
