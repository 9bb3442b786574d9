package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// costTopLines is how many lines of each cost breakdown the table and Markdown show; the
// JSON and YAML documents carry them all.
const costTopLines = 10

// bucketTitles name the waste buckets for people.
var bucketTitles = map[string]string{
	"released":         "Released volumes",
	"available":        "Available volumes nobody claims",
	"unused":           "Claims nobody uses",
	"retained-ordinal": "Retained StatefulSet ordinals",
}

func bucketTitle(b string) string {
	if t, ok := bucketTitles[b]; ok {
		return t
	}
	return b
}

// moneyList renders an amount per currency, currencies in alphabetical order, never added
// together: "2,800.00 CNY, 29.60 USD"; "no price" when empty.
func moneyList(m audit.Money) string {
	var parts []string
	for _, c := range m.Currencies() {
		parts = append(parts, audit.FormatMoney(m[c], c))
	}
	if len(parts) == 0 {
		return "no price"
	}
	return strings.Join(parts, ", ")
}

// wasteShare renders waste per currency with its share of that currency's monthly cost.
func wasteShare(c *audit.Cost) string {
	var parts []string
	for _, cur := range c.Waste.Currencies() {
		p := audit.FormatMoney(c.Waste[cur], cur)
		if total := c.Monthly[cur]; total > 0 {
			p += fmt.Sprintf(" (%.0f%%)", 100*c.Waste[cur]/total)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// costSummary is the section's first lines, shared by the table and Markdown.
func costSummary(c *audit.Cost) (monthly, waste string) {
	monthly = fmt.Sprintf("%s a month for %d %s", moneyList(c.Monthly), c.Volumes, plural(c.Volumes, "volume", "volumes"))
	if len(c.Monthly) == 0 {
		monthly = fmt.Sprintf("no volume has a price (%d %s)", c.Volumes, plural(c.Volumes, "volume", "volumes"))
	}
	if c.Unpriced > 0 && len(c.Monthly) > 0 {
		monthly += fmt.Sprintf("; %d without a price %s not counted", c.Unpriced, plural(c.Unpriced, "is", "are"))
	}
	wasted := 0
	for _, l := range c.WasteByBucket {
		wasted += l.Volumes
	}
	if wasted > 0 {
		waste = fmt.Sprintf("%d %s nobody uses", wasted, plural(wasted, "volume", "volumes"))
		if len(c.Waste) > 0 {
			waste = wasteShare(c) + " a month on " + waste
		}
	}
	return monthly, waste
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func gibText(g float64) string { return strconv.FormatFloat(g, 'f', -1, 64) }

// costBreakdown is one line table of the section; name renders a line's name.
type costBreakdown struct {
	title string
	lines []audit.CostLine
	name  func(string) string
}

// costBreakdowns are the line tables of the section, in the order they are shown.
func costBreakdowns(c *audit.Cost) []costBreakdown {
	same := func(s string) string { return s }
	return []costBreakdown{
		{"namespace", c.ByNamespace, same},
		{"StorageClass", c.ByStorageClass, same},
		{"workload", c.ByWorkload, same},
		{"kind of waste", c.WasteByBucket, bucketTitle},
	}
}

// WriteCostTable renders the cost section for a terminal: the monthly cost and waste, the
// ten most expensive namespaces, StorageClasses and workloads, the waste by kind and the
// most expensive wasted volumes.
func WriteCostTable(w io.Writer, c *audit.Cost, o Options) error {
	width := o.Width
	if width <= 0 {
		width = 120
	}
	monthly, waste := costSummary(c)
	fmt.Fprintln(w, "Storage cost: "+monthly+".")
	if waste != "" {
		fmt.Fprintln(w, paint(o.Color, ansiYellow, "Waste: "+waste+"."))
	}
	for _, b := range costBreakdowns(c) {
		if len(b.lines) == 0 {
			continue
		}
		fmt.Fprintln(w)
		rows := make([][]string, 0, min(len(b.lines), costTopLines))
		for _, l := range b.lines[:min(len(b.lines), costTopLines)] {
			rows = append(rows, []string{b.name(l.Name), moneyList(l.Monthly), strconv.Itoa(l.Volumes), gibText(l.GiB)})
		}
		header := []string{strings.ToUpper(b.title), "PER MONTH", "VOLUMES", "GIB"}
		if err := Columns(w, width, 48, header, rows); err != nil {
			return err
		}
		if more := len(b.lines) - costTopLines; more > 0 {
			fmt.Fprintf(w, "… and %d more (-o json lists every %s)\n", more, b.title)
		}
	}
	if len(c.TopWaste) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(c.TopWaste))
		for _, v := range c.TopWaste {
			rows = append(rows, []string{audit.FormatMoney(v.Monthly, v.Currency), gibText(v.GiB), v.RuleID, shortRef(v.Object)})
		}
		if err := Columns(w, width, 34, []string{"WASTED PER MONTH", "GIB", "RULE", "VOLUME"}, rows); err != nil {
			return err
		}
	}
	return nil
}

// WriteCostMarkdown renders the cost section as Markdown (a "## Storage cost" section).
func WriteCostMarkdown(w io.Writer, c *audit.Cost) error {
	bw := bufio.NewWriter(w)
	(&mdWriter{w: bw}).cost(c)
	return bw.Flush()
}

func (m *mdWriter) cost(c *audit.Cost) {
	monthly, waste := costSummary(c)
	m.line("## Storage cost")
	m.line("")
	m.line("**Cost**: %s.", mdText(monthly))
	if waste != "" {
		m.line("")
		m.line("**Waste**: %s.", mdText(waste))
	}
	m.line("")
	for _, b := range costBreakdowns(c) {
		if len(b.lines) == 0 {
			continue
		}
		title := strings.ToUpper(b.title[:1]) + b.title[1:]
		m.line("### By %s", b.title)
		m.line("")
		rows := make([][]string, 0, min(len(b.lines), costTopLines))
		for _, l := range b.lines[:min(len(b.lines), costTopLines)] {
			rows = append(rows, []string{mdText(b.name(l.Name)), mdText(moneyList(l.Monthly)), strconv.Itoa(l.Volumes), gibText(l.GiB)})
		}
		m.table([]string{title, "Per month", "Volumes", "GiB"}, rows)
		if more := len(b.lines) - costTopLines; more > 0 {
			m.line("… and %d more (the JSON report lists every %s).", more, mdText(b.title))
			m.line("")
		}
	}
	if len(c.TopWaste) > 0 {
		m.line("### Most expensive wasted volumes")
		m.line("")
		rows := make([][]string, 0, len(c.TopWaste))
		for _, v := range c.TopWaste {
			rows = append(rows, []string{mdCode(shortRef(v.Object)), mdText(bucketTitle(v.Bucket)), mdCode(v.RuleID),
				mdText(audit.FormatMoney(v.Monthly, v.Currency)), gibText(v.GiB)})
		}
		m.table([]string{"Volume", "Kind of waste", "Rule", "Per month", "GiB"}, rows)
	}
}
