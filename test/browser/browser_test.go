// Package browser tests the HTML report in a real browser: Debian's chromium, headless,
// driven over the DevTools protocol with chromedp. It runs with AUDITOR_INTEGRATION=1
// (hack/test.sh sets it, and hack/ensure-deps.sh installs chromium); otherwise it skips.
package browser

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/internal/ruledocs"
	"github.com/storage-auditor/auditor/pkg/audit"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/storage-auditor/auditor/internal/demo"
	"github.com/storage-auditor/auditor/pkg/report"
	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

var update = flag.Bool("update", false, "write the screenshot to docs/report-html.png (the README's picture)")

const (
	chromium = "/usr/bin/chromium"
	// screenshotPath is the README's picture, from this package's directory.
	screenshotPath = "../../docs/report-html.png"
	// maxScreenshot keeps the committed picture small enough for the repository.
	maxScreenshot = 400 << 10
)

// writeHTML renders rep as the HTML page, with the catalog's rule docs, into a file.
func writeHTML(t *testing.T, rep *audit.Report) string {
	t.Helper()
	var html bytes.Buffer
	if err := report.WriteHTML(&html, rep, report.Options{Rules: ruledocs.For(catalog.All())}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// tab is one headless chromium tab and every request its page made.
type tab struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
}

// newTab starts chromium with a fresh profile. Its own network activity (updates,
// sync, field trials) is switched off, so what the page requests is all there is.
func newTab(t *testing.T) *tab {
	t.Helper()
	if os.Getenv("AUDITOR_INTEGRATION") != "1" {
		t.Skip("browser test: set AUDITOR_INTEGRATION=1 to run it (it needs Debian's chromium; hack/ensure-deps.sh installs it)")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: the HTML report's browser test needs Debian's chromium package; run hack/ensure-deps.sh as root, or sudo apt-get install -y --no-install-recommends chromium", chromium)
	}
	var output bytes.Buffer
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers have a small /dev/shm
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&output),
	)
	tb := &tab{}
	// A generous bound so a hung browser fails the test instead of the whole run; it
	// is no assertion about speed.
	ctx, cancelTime := context.WithTimeout(alloc, 5*time.Minute)
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			tb.mu.Lock()
			tb.requests = append(tb.requests, e.Request.URL)
			tb.mu.Unlock()
		}
	}))
	tb.ctx = ctx
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and removes nothing but its profile
		cancelTab()
		cancelTime()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v\n%s", chromium, err, output.String())
	}
	return tb
}

func (tb *tab) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// row is a findings-table row as the browser shows it.
type row struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Visible  bool   `json:"visible"`
	// RuleText is the rule cell's rendered text (innerText: empty when not shown).
	RuleText string `json:"ruleText"`
}

const rowsJS = `Array.from(document.querySelectorAll('#findings-table tbody tr.finding')).map(tr => ({
	rule: tr.dataset.rule,
	severity: tr.dataset.severity,
	visible: tr.getClientRects().length > 0 && tr.cells[1].getBoundingClientRect().height > 0,
	ruleText: tr.cells[1].innerText.trim(),
}))`

func visibleRules(rows []row) []string {
	var out []string
	for _, r := range rows {
		if r.Visible {
			out = append(out, r.Rule)
		}
	}
	return out
}

// layout is what overflows at a viewport width.
type layout struct {
	Viewport   int `json:"viewport"`
	PageWidth  int `json:"pageWidth"`
	BodyWidth  int `json:"bodyWidth"`
	TableWidth int `json:"tableWidth"`
	TableBox   int `json:"tableBox"`
}

const layoutJS = `({
	viewport: document.documentElement.clientWidth,
	pageWidth: document.documentElement.scrollWidth,
	bodyWidth: document.body.scrollWidth,
	tableWidth: document.querySelector('#findings-table').scrollWidth,
	tableBox: document.querySelector('#findings-table').parentElement.clientWidth,
})`

// TestHTMLReportInChromium loads the demo dump's HTML report and uses it as a person
// would: every rule is shown, the severity filter and the sort work through their
// controls, the cost chart has a bar per namespace, the page fits 1280 px and 390 px
// screens, and it requests nothing but itself.
func TestHTMLReportInChromium(t *testing.T) {
	tb := newTab(t)
	rep := demo.Report(t)
	file := writeHTML(t, rep)
	pageURL := (&url.URL{Scheme: "file", Path: file}).String()
	tb.do(t, "loading the report",
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS("#filters")), // the script shows the filters
	)

	t.Run("every finding's rule is visible", func(t *testing.T) {
		rows := eval[[]row](t, tb, rowsJS)
		if len(rows) != len(rep.Findings) {
			t.Fatalf("%d rows, want %d findings", len(rows), len(rep.Findings))
		}
		for _, f := range rep.Findings {
			shown := false
			for _, r := range rows {
				shown = shown || (r.Rule == f.RuleID && r.Visible && r.RuleText == f.RuleID)
			}
			if !shown {
				t.Errorf("rule %s (on %s) is not visible in the table", f.RuleID, f.Object)
			}
		}
	})

	t.Run("severity filter", func(t *testing.T) {
		// Leave only critical: untick warning and info with the mouse.
		tb.do(t, "unticking warning and info",
			chromedp.Click(chromedp.CSS(`#filters input[name=severity][value=warning]`)),
			chromedp.Click(chromedp.CSS(`#filters input[name=severity][value=info]`)),
		)
		rows := eval[[]row](t, tb, rowsJS)
		shown := 0
		for _, r := range rows {
			if r.Visible != (r.Severity == "critical") {
				t.Errorf("only critical ticked: %s row of %s visible=%v", r.Severity, r.Rule, r.Visible)
			}
			if r.Visible {
				shown++
			}
		}
		if shown != rep.Summary.Critical || shown == 0 {
			t.Errorf("%d rows shown, want the %d critical ones", shown, rep.Summary.Critical)
		}
		count := eval[string](t, tb, `document.getElementById('filter-count').textContent`)
		if want := fmt.Sprintf("Showing %d of %d findings.", rep.Summary.Critical, len(rep.Findings)); count != want {
			t.Errorf("count line %q, want %q", count, want)
		}
		// Text search narrows further; "Clear filters" brings every row back.
		tb.do(t, "searching", chromedp.SendKeys(chromedp.CSS(`#filters input[name=q]`), "zookeeper"))
		for _, r := range eval[[]row](t, tb, rowsJS) {
			if r.Visible && r.Rule != "pod-node-missing" {
				t.Errorf("critical + \"zookeeper\": %s (%s) still shown", r.Rule, r.Severity)
			}
		}
		tb.do(t, "clearing the filters", chromedp.Click(chromedp.CSS(`#filters button.clear`)))
		if got := len(visibleRules(eval[[]row](t, tb, rowsJS))); got != len(rep.Findings) {
			t.Errorf("after Clear filters %d rows shown, want %d", got, len(rep.Findings))
		}
	})

	t.Run("sorting", func(t *testing.T) {
		ruleHeader := chromedp.CSS(`#findings-table thead th:nth-child(2) button.sort`)
		tb.do(t, "sorting by rule", chromedp.Click(ruleHeader))
		got := visibleRules(eval[[]row](t, tb, rowsJS))
		if !sort.StringsAreSorted(got) {
			t.Errorf("sorted by rule, the rows read %v", got)
		}
		if s := eval[string](t, tb, `document.querySelector('#findings-table thead th:nth-child(2)').getAttribute('aria-sort')`); s != "ascending" {
			t.Errorf("aria-sort %q after one click, want ascending", s)
		}
		tb.do(t, "sorting by rule, descending", chromedp.Click(ruleHeader))
		got = visibleRules(eval[[]row](t, tb, rowsJS))
		if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i] > got[j] }) || got[0] == got[len(got)-1] {
			t.Errorf("sorted by rule descending, the rows read %v", got)
		}
		// Back to most severe first.
		tb.do(t, "sorting by severity", chromedp.Click(chromedp.CSS(`#findings-table thead th:nth-child(1) button.sort`)))
		rows := eval[[]row](t, tb, rowsJS)
		rank := map[string]int{"critical": 3, "warning": 2, "info": 1}
		for i := 1; i < len(rows); i++ {
			if rank[rows[i].Severity] > rank[rows[i-1].Severity] {
				t.Errorf("sorted by severity, %s comes after %s", rows[i].Severity, rows[i-1].Severity)
			}
		}
	})

	t.Run("a finding opens to its details", func(t *testing.T) {
		tb.do(t, "opening the first finding", chromedp.Click(chromedp.CSS(`#finding-1 td.message summary`)))
		text := eval[string](t, tb, `document.querySelector('#finding-1 .finding-details').innerText`)
		f := rep.Findings[0]
		for _, want := range []string{f.Fingerprint, "What to do", "Read the documentation of " + f.RuleID} {
			if !strings.Contains(text, want) {
				t.Errorf("opened finding lacks %q:\n%s", want, text)
			}
		}
		// The link to the rule's documentation opens it.
		// The page opens it on hashchange, an event dispatched after the click returns:
		// waited for, not read at once.
		tb.do(t, "following the documentation link", chromedp.Click(chromedp.CSS(`#finding-1 a[href="#rule-`+f.RuleID+`"]`)))
		tb.do(t, "the documentation of "+f.RuleID+" opening", chromedp.Poll[chromedp.Void](
			`document.getElementById('rule-`+f.RuleID+`').open`, chromedp.WithPollingTimeout(10*time.Second)))
		tb.do(t, "closing the finding", chromedp.Click(chromedp.CSS(`#finding-1 td.message summary`)))
	})

	t.Run("one bar per namespace", func(t *testing.T) {
		type bar struct {
			Name  string  `json:"name"`
			Width float64 `json:"width"`
		}
		bars := eval[[]bar](t, tb, `Array.from(document.querySelectorAll('figure[data-chart=namespace] svg rect.bar')).map(r => ({name: r.dataset.name, width: r.getBoundingClientRect().width}))`)
		if len(bars) != len(rep.Cost.ByNamespace) {
			t.Fatalf("%d bars in the namespace chart, want one per namespace: %d", len(bars), len(rep.Cost.ByNamespace))
		}
		width := map[string]float64{}
		for _, b := range bars {
			width[b.Name] = b.Width
		}
		for i, l := range rep.Cost.ByNamespace {
			w, ok := width[l.Name]
			switch {
			case !ok:
				t.Errorf("no bar for namespace %q", l.Name)
			case l.Monthly["USD"] > 0 && w <= 0:
				t.Errorf("namespace %q costs %.2f USD but its bar is not drawn", l.Name, l.Monthly["USD"])
			case i > 0 && w > width[rep.Cost.ByNamespace[i-1].Name]+0.5:
				t.Errorf("namespace %q's bar (%.1fpx) is longer than the more expensive %q's", l.Name, w, rep.Cost.ByNamespace[i-1].Name)
			}
		}
	})

	t.Run("fits 1280 and 390 px", func(t *testing.T) {
		// Open every finding: the widest the page gets.
		tb.do(t, "opening every finding", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('details').forEach(d => d.open = true)`))
		for _, w := range []int64{1280, 390} {
			tb.do(t, "resizing", chromedp.EmulateViewport(w, 900, chromedp.EmulateScale(1)))
			l := eval[layout](t, tb, layoutJS)
			if l.PageWidth > l.Viewport || l.BodyWidth > l.Viewport {
				t.Errorf("at %d px the page is %d px wide (body %d px): it scrolls sideways", w, l.PageWidth, l.BodyWidth)
			}
			if w == 1280 && l.TableWidth > l.TableBox {
				t.Errorf("at 1280 px the findings table needs %d px of its %d px: it scrolls sideways", l.TableWidth, l.TableBox)
			}
			t.Logf("%d px: page %d px, findings table %d of %d px", w, l.PageWidth, l.TableWidth, l.TableBox)
		}
		tb.do(t, "closing every finding", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('details').forEach(d => d.open = false)`))
	})

	t.Run("prints expanded", func(t *testing.T) {
		// Print media with every <details> closed: the CSS alone must show their content
		// (the script's beforeprint handler is a second line for older browsers) and hide
		// the filters.
		media := func(m string) chromedp.Action[chromedp.Void] {
			return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
				return err
			})
		}
		tb.do(t, "print media", chromedp.EmulateViewport(1280, 900, chromedp.EmulateScale(1)), media("print"))
		defer tb.do(t, "screen media", media(""))
		closed := eval[int](t, tb, `document.querySelectorAll('details[open]').length`)
		shown := eval[int](t, tb, `Array.from(document.querySelectorAll('.finding-details, .rule-doc .doc')).filter(e => e.getBoundingClientRect().height > 0).length`)
		all := eval[int](t, tb, `document.querySelectorAll('.finding-details, .rule-doc .doc').length`)
		if closed != 0 || shown != all {
			t.Errorf("printing with %d details open: %d of %d finding details and rule docs are shown, want all", closed, shown, all)
		}
		if eval[bool](t, tb, `document.getElementById('filters').getBoundingClientRect().height > 0`) {
			t.Error("the filters are printed")
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		// A fresh load at 1280 px: the page as it opens, not as the tests above left it.
		tb.do(t, "reloading at 1280 px",
			chromedp.EmulateViewport(1280, 1000, chromedp.EmulateScale(1)),
			chromedp.Navigate(pageURL),
			chromedp.WaitVisible(chromedp.CSS("#filters")),
		)
		png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		dir := os.Getenv("AUDITOR_ARTIFACTS")
		if dir == "" {
			dir = t.TempDir()
		}
		path := filepath.Join(dir, "report-html-1280.png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d KB)", path, len(png)>>10)
		if *update {
			if len(png) > maxScreenshot {
				t.Fatalf("the screenshot is %d KB, more than the %d KB the repository should carry", len(png)>>10, maxScreenshot>>10)
			}
			if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", screenshotPath)
		}
	})

	// Last, after every interaction: nothing but the page itself was requested.
	tb.mu.Lock()
	requests := append([]string(nil), tb.requests...)
	tb.mu.Unlock()
	sawPage := false
	for _, u := range requests {
		switch {
		case u == pageURL:
			sawPage = true
		case strings.HasPrefix(u, "data:"), strings.HasPrefix(u, "about:"):
		default:
			t.Errorf("the page requested %s: the report must load nothing", u)
		}
	}
	if !sawPage {
		t.Errorf("the network listener saw no request for the page itself (%s), so it proves nothing: saw %v", pageURL, requests)
	}
}

// TestHTMLReportWithoutJavaScript: with scripts off the report is still complete: every
// finding listed, details open on a click, and no filter controls that could not work.
func TestHTMLReportWithoutJavaScript(t *testing.T) {
	tb := newTab(t)
	rep := demo.Report(t)
	file := writeHTML(t, rep)
	noScript := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	tb.do(t, "loading the report without scripts",
		noScript,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate((&url.URL{Scheme: "file", Path: file}).String()),
		chromedp.WaitVisible(chromedp.CSS("#findings-table")),
	)
	// Evaluate runs as the debugger, which scripts-off does not stop; the page's own
	// script did not run, so the filters stay hidden.
	if eval[bool](t, tb, `!document.getElementById('filters').hidden`) {
		t.Error("without JavaScript the filter controls are shown, but cannot work")
	}
	if got := len(visibleRules(eval[[]row](t, tb, rowsJS))); got != len(rep.Findings) {
		t.Errorf("%d of %d findings shown without JavaScript", got, len(rep.Findings))
	}
	tb.do(t, "opening a finding", chromedp.Click(chromedp.CSS(`#finding-2 td.message summary`)))
	if !eval[bool](t, tb, `document.querySelector('#finding-2 td.message details').open && document.querySelector('#finding-2 .finding-details').getBoundingClientRect().height > 0`) {
		t.Error("without JavaScript a finding does not open")
	}
}
